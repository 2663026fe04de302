//! One module per page of the console.

pub mod alarms;
pub mod audit;
pub mod browse;
pub mod connection_detail;
pub mod connections;
pub mod dashboard;
pub mod login;
pub mod namespaces;
pub mod password;
pub mod publish;
pub mod topic_detail;
pub mod topics;
pub mod users;

//! One module per page of the console.

pub mod audit;
pub mod browse;
pub mod connections;
pub mod dashboard;
pub mod login;
pub mod namespaces;
pub mod password;
pub mod publish;
pub mod topics;
pub mod users;

//! Connection options.

use std::time::Duration;

/// How to reach and talk to a broker.
///
/// ```
/// use std::time::Duration;
/// use pulsemq_client::ClientOptions;
///
/// let opts = ClientOptions::new("127.0.0.1", 5555, 5556, "alice", "0123abcd")
///     .request_timeout(Duration::from_secs(5))
///     .subscription_capacity(50_000);
/// assert_eq!(opts.pub_port, 5555);
/// ```
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Broker host name or IP address.
    pub host: String,
    /// Command port (`server.pub_port`, default 5555).
    pub pub_port: u16,
    /// Delivery port (`server.sub_port`, default 5556).
    pub sub_port: u16,
    /// MQ username.
    pub username: String,
    /// The user's token.
    pub token: String,
    /// How long a request waits for its reply (default 10 s).
    pub request_timeout: Duration,
    /// How long AUTH + ATTACH may take in [`Client::connect`](crate::Client::connect) (default 10 s).
    pub connect_timeout: Duration,
    /// Heartbeat period; `None` (default) uses the broker's `ping_interval` from AUTH_OK.
    pub ping_interval: Option<Duration>,
    /// How long a heartbeat PING may wait for its PONG before it counts as missed (default 10 s).
    pub ping_timeout: Duration,
    /// Messages buffered per [`Subscription`](crate::Subscription) before new ones are
    /// dropped for it (and counted) (default 10 000).
    pub subscription_capacity: usize,
    /// Commands (publishes, …) queued towards the I/O thread before the async
    /// calls wait for room (default 65 536).
    pub command_capacity: usize,
    /// ZeroMQ send high-water mark of the command socket, in messages (default 100 000).
    pub send_hwm: i32,
    /// ZeroMQ receive high-water mark of both sockets, in messages (default 100 000).
    pub recv_hwm: i32,
    /// How long unsent messages are kept when the client closes (default 200 ms).
    pub linger: Duration,
    /// Re-AUTH, re-ATTACH and re-SUB by itself when the broker answers
    /// "not authenticated" (code 2), e.g. after a broker restart (default on).
    pub reauth: bool,
}

impl ClientOptions {
    /// Options with the defaults listed on each field.
    pub fn new(
        host: impl Into<String>,
        pub_port: u16,
        sub_port: u16,
        username: impl Into<String>,
        token: impl Into<String>,
    ) -> Self {
        ClientOptions {
            host: host.into(),
            pub_port,
            sub_port,
            username: username.into(),
            token: token.into(),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            ping_interval: None,
            ping_timeout: Duration::from_secs(10),
            subscription_capacity: 10_000,
            command_capacity: 65_536,
            send_hwm: 100_000,
            recv_hwm: 100_000,
            linger: Duration::from_millis(200),
            reauth: true,
        }
    }

    /// Sets [`ClientOptions::request_timeout`].
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }

    /// Sets [`ClientOptions::connect_timeout`].
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Sets [`ClientOptions::ping_interval`], overriding the broker's.
    pub fn ping_interval(mut self, d: Duration) -> Self {
        self.ping_interval = Some(d);
        self
    }

    /// Sets [`ClientOptions::ping_timeout`].
    pub fn ping_timeout(mut self, d: Duration) -> Self {
        self.ping_timeout = d;
        self
    }

    /// Sets [`ClientOptions::subscription_capacity`] (at least 1).
    pub fn subscription_capacity(mut self, n: usize) -> Self {
        self.subscription_capacity = n.max(1);
        self
    }

    /// Sets [`ClientOptions::command_capacity`] (at least 1).
    pub fn command_capacity(mut self, n: usize) -> Self {
        self.command_capacity = n.max(1);
        self
    }

    /// Sets [`ClientOptions::send_hwm`] and [`ClientOptions::recv_hwm`].
    pub fn hwm(mut self, send: i32, recv: i32) -> Self {
        self.send_hwm = send;
        self.recv_hwm = recv;
        self
    }

    /// Sets [`ClientOptions::linger`].
    pub fn linger(mut self, d: Duration) -> Self {
        self.linger = d;
        self
    }

    /// Sets [`ClientOptions::reauth`].
    pub fn reauth(mut self, on: bool) -> Self {
        self.reauth = on;
        self
    }

    pub(crate) fn endpoint(&self, port: u16) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("tcp://[{}]:{port}", self.host)
        } else {
            format!("tcp://{}:{port}", self.host)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let o = ClientOptions::new("127.0.0.1", 1, 2, "u", "t");
        assert_eq!(o.endpoint(o.pub_port), "tcp://127.0.0.1:1");
        let o = ClientOptions::new("::1", 1, 2, "u", "t");
        assert_eq!(o.endpoint(o.sub_port), "tcp://[::1]:2");
    }
}

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
    /// Re-establish the session by itself (re-AUTH, re-ATTACH, re-SUB) when
    /// the connection drops, heartbeats go unanswered or the broker answers
    /// "not authenticated" (code 2), e.g. after a broker restart (default on).
    /// Off: the client stops at the first loss and reports it.
    pub reconnect: bool,
    /// First back-off delay between reconnect attempts (default 1 s); doubles per failure.
    pub reconnect_initial_delay: Duration,
    /// Longest back-off delay (default 30 s).
    pub reconnect_max_delay: Duration,
    /// Attempts before giving up and closing the client (default 10).
    pub reconnect_max_attempts: u32,
    /// Requests the broker refused with "not authenticated" because their
    /// session was lost are sent again once in the new session (default on).
    /// Costs a copy of each acknowledged publish while it is in flight.
    pub resend_on_session_loss: bool,
    /// Compression applied by [`Client::publish`](crate::Client::publish) and
    /// [`Client::publish_payload`](crate::Client::publish_payload) (default none).
    pub compression: Option<pulsemq_shared::Compression>,
    /// Payloads smaller than this are never compressed (default 1024 bytes).
    pub compression_threshold: usize,
    /// Events buffered per [`Client::events`](crate::Client::events) stream (default 1024).
    pub events_capacity: usize,
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
            reconnect: true,
            reconnect_initial_delay: Duration::from_secs(1),
            reconnect_max_delay: Duration::from_secs(30),
            reconnect_max_attempts: 10,
            resend_on_session_loss: true,
            compression: None,
            compression_threshold: 1024,
            events_capacity: 1024,
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

    /// Sets [`ClientOptions::reconnect`].
    pub fn reconnect(mut self, on: bool) -> Self {
        self.reconnect = on;
        self
    }

    /// Sets the back-off: first delay, longest delay, attempts (at least 1).
    pub fn reconnect_backoff(mut self, initial: Duration, max: Duration, attempts: u32) -> Self {
        self.reconnect_initial_delay = initial;
        self.reconnect_max_delay = max.max(initial);
        self.reconnect_max_attempts = attempts.max(1);
        self
    }

    /// Sets [`ClientOptions::resend_on_session_loss`].
    pub fn resend_on_session_loss(mut self, on: bool) -> Self {
        self.resend_on_session_loss = on;
        self
    }

    /// Sets the default compression and its threshold.
    pub fn compression(mut self, algo: Option<pulsemq_shared::Compression>, threshold: usize) -> Self {
        self.compression = algo;
        self.compression_threshold = threshold;
        self
    }

    /// Sets [`ClientOptions::events_capacity`] (at least 1).
    pub fn events_capacity(mut self, n: usize) -> Self {
        self.events_capacity = n.max(1);
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

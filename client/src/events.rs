//! Connection and data-quality events, as a stream per listener.
//!
//! A trading strategy must know when it may have missed data: the client
//! reports lost connections, reconnections, gaps in a topic's sequence
//! numbers and subscriptions whose buffer overflowed. Every
//! [`Client::events`](crate::Client::events) call gets its own bounded
//! stream; a listener that does not keep up loses events (counted in
//! [`ClientStats::events_lost`](crate::ClientStats::events_lost)) rather
//! than slowing the I/O thread down.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use tokio::sync::mpsc;

use crate::error::ClientError;

/// Something that happened to the connection or to the data flow.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The connection or the session was lost (broker restart, network cut,
    /// missed heartbeats). With reconnect on, [`Event::Reconnecting`] follows.
    Disconnected {
        /// Why, in words.
        reason: String,
    },
    /// A re-authentication attempt is starting (or, when the broker is
    /// still unreachable, an attempt has been used up waiting for it).
    Reconnecting {
        /// 1-based attempt number.
        attempt: u32,
        /// [`ClientOptions::reconnect_max_attempts`](crate::ClientOptions::reconnect_max_attempts).
        max_attempts: u32,
        /// How long until the next attempt if this one fails.
        next_delay: Duration,
    },
    /// A new session is up: authenticated, attached, every subscription
    /// re-subscribed (their SUB requests are on their way).
    Reconnected {
        /// Attempts it took.
        attempts: u32,
        /// Wire subscriptions re-sent.
        resubscribed: usize,
    },
    /// Reconnection gave up after the configured attempts: the client is
    /// closed, subscription streams end, calls fail with `Disconnected`.
    ReconnectFailed {
        /// Attempts made.
        attempts: u32,
    },
    /// A topic's sequence jumped: `received - expected` messages were missed
    /// (dropped by the broker for a slow session, or published while the
    /// connection was down).
    SequenceGap {
        /// Namespace of the topic.
        namespace: String,
        /// The concrete topic.
        topic: String,
        /// The sequence number that should have come next.
        expected: u64,
        /// The sequence number that came.
        received: u64,
    },
    /// A subscription's buffer is full: messages for it are being dropped
    /// (one event per episode; the count keeps growing in
    /// [`Subscription::dropped`](crate::Subscription::dropped)).
    SlowConsumer {
        /// Namespace subscribed in.
        namespace: String,
        /// The subscription's pattern.
        pattern: String,
        /// Messages dropped for it so far.
        dropped: u64,
    },
    /// A delivered message could not be decompressed (corrupt, unknown
    /// algorithm or inflating past its format's limit) and was skipped.
    Undecodable {
        /// Namespace of the message.
        namespace: String,
        /// Its topic.
        topic: String,
        /// Its sequence number.
        seq: u64,
        /// What was wrong.
        error: ClientError,
    },
}

impl Event {
    /// For a [`Event::SequenceGap`], how many messages were missed.
    pub fn missed(&self) -> u64 {
        match self {
            Event::SequenceGap { expected, received, .. } => received.saturating_sub(*expected),
            _ => 0,
        }
    }
}

/// A stream of [`Event`]s from one client (see [`Client::events`](crate::Client::events)).
/// Ends when the client stops.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::Receiver<Event>,
}

impl Events {
    pub(crate) fn new(rx: mpsc::Receiver<Event>) -> Self {
        Events { rx }
    }

    /// The next event; `None` once the client has stopped.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// An event already queued, without waiting.
    pub fn try_next(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }
}

impl Stream for Events {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.get_mut().rx.poll_recv(cx)
    }
}

//! Taps for the console's live message browser: copies of the publishes a
//! watcher's (namespace, pattern) matches, handed to the admin side through a
//! bounded channel. The engine never waits on a watcher: a full channel
//! counts the message as missed for that watcher alone (shown with the next
//! one it gets). With nobody watching the cost is one `is_empty` per publish.

use pulsemq_shared::{Format, Pattern};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::Sender;

use super::delivery::Outgoing;

/// At most this much of a payload is copied for the browser (a preview).
pub const PREVIEW_MAX: usize = 256 * 1024;

/// One published message as the browser sees it.
#[derive(Debug, Clone)]
pub struct Tapped {
    pub namespace: String,
    pub topic: String,
    pub publisher: String,
    pub format: Format,
    pub flags: u8,
    pub timestamp_ms: i64,
    pub seq: u64,
    pub broker_time_us: u64,
    /// Payload bytes as published (`payload` may hold only the first
    /// [`PREVIEW_MAX`] of them).
    pub size: usize,
    pub payload: Vec<u8>,
    /// Messages this watcher missed just before this one (its channel was full).
    pub missed_before: u64,
}

struct Tap {
    id: u64,
    namespace: String,
    pattern: Pattern,
    tx: Sender<Tapped>,
    missed: u64,
}

/// Every open watcher.
#[derive(Default)]
pub struct Taps {
    taps: Vec<Tap>,
    next_id: u64,
}

impl Taps {
    pub fn is_empty(&self) -> bool {
        self.taps.is_empty()
    }

    /// Adds a watcher; returns its id (for [`Taps::remove`]).
    pub(super) fn add(&mut self, namespace: String, pattern: Pattern, tx: Sender<Tapped>) -> u64 {
        self.next_id += 1;
        self.taps.push(Tap { id: self.next_id, namespace, pattern, tx, missed: 0 });
        self.next_id
    }

    pub fn remove(&mut self, id: u64) {
        self.taps.retain(|t| t.id != id);
    }

    /// Offers a publish to every watcher it matches; forgets watchers whose
    /// stream is gone.
    pub(super) fn offer(&mut self, out: &Outgoing) {
        let payload = out.payload_bytes();
        self.taps.retain_mut(|t| {
            if t.namespace != out.namespace || !t.pattern.matches(out.topic) {
                return true;
            }
            let m = Tapped {
                namespace: out.namespace.to_owned(),
                topic: out.topic.to_owned(),
                publisher: out.publisher.to_owned(),
                format: out.format,
                flags: out.flags,
                timestamp_ms: out.timestamp_ms,
                seq: out.seq,
                broker_time_us: out.broker_time_us,
                size: payload.len(),
                payload: payload[..payload.len().min(PREVIEW_MAX)].to_vec(),
                missed_before: t.missed,
            };
            match t.tx.try_send(m) {
                Ok(()) => {
                    t.missed = 0;
                    true
                }
                Err(TrySendError::Full(_)) => {
                    t.missed += 1;
                    true
                }
                Err(TrySendError::Closed(_)) => false,
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::delivery::Body;
    use super::*;

    fn out<'a>(topic: &'a str, payload: &'a [u8]) -> Outgoing<'a> {
        Outgoing {
            namespace: "md",
            topic,
            publisher: "feed",
            format: Format::String,
            flags: 0,
            timestamp_ms: 1,
            payload: Body::Shared(payload),
            seq: 7,
            broker_time_us: 2,
        }
    }

    #[test]
    fn a_watcher_gets_its_matches_and_counts_what_its_full_channel_missed() {
        let mut taps = Taps::default();
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        taps.add("md".into(), Pattern::parse("sz000651.>").unwrap(), tx);
        taps.offer(&out("sz000651.tick", b"a"));
        taps.offer(&out("sz000652.tick", b"not mine"));
        taps.offer(&out("sz000651.kline.1m", b"missed: the channel holds one"));
        let first = rx.try_recv().unwrap();
        assert_eq!((first.topic.as_str(), first.seq, first.missed_before), ("sz000651.tick", 7, 0));
        taps.offer(&out("sz000651.tick", b"c"));
        let next = rx.try_recv().unwrap();
        assert_eq!((next.payload.as_slice(), next.missed_before), (&b"c"[..], 1));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_closed_stream_is_forgotten_and_a_large_payload_is_cut() {
        let mut taps = Taps::default();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        taps.add("md".into(), Pattern::parse(">").unwrap(), tx);
        let (tx2, mut rx2) = tokio::sync::mpsc::channel(4);
        taps.add("md".into(), Pattern::parse(">").unwrap(), tx2);
        drop(rx);
        let big = vec![1u8; PREVIEW_MAX + 10];
        taps.offer(&out("t", &big));
        assert_eq!(taps.taps.len(), 1);
        let m = rx2.try_recv().unwrap();
        assert_eq!((m.size, m.payload.len()), (PREVIEW_MAX + 10, PREVIEW_MAX));
    }
}

//! Drivers through the Rust SDK: clients, receivers, fan-out and paced latency runs.

use std::thread::JoinHandle;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use pulsemq_client::{Client, ClientOptions, Format, Subscription};

use super::{collect, err, paced, Bench, IDLE, NS, R, SMALL, TOPIC};
use crate::broker::HWM;
use crate::raw::{Received, PROBE_TOPIC};
use crate::report::{now_ns, read_stamp, stamp, Run};

impl Bench {
    pub(super) fn options(&self, capacity: usize) -> ClientOptions {
        let t = &self.target;
        ClientOptions::new(&t.host, t.pub_port, t.sub_port, &t.user, &t.token)
            .hwm(HWM, HWM)
            .subscription_capacity(capacity.max(1000))
    }

    pub(super) async fn client(&self, capacity: usize) -> R<Client> {
        Client::connect(self.options(capacity)).await.map_err(|e| format!("connect: {e}"))
    }

    /// Receives on an SDK subscription on its own thread: parked between
    /// messages (`next`, like most applications' consumers), or with
    /// `spin`, busy-polling that long before parking (`next_spin`).
    pub(super) fn sdk_receiver(
        &self,
        mut sub: Subscription,
        expect: u64,
        keep_lat: bool,
        spin: Option<Duration>,
    ) -> JoinHandle<Received> {
        let handle = self.rt.handle().clone();
        std::thread::spawn(move || {
            handle.block_on(async move {
                let mut r = Received {
                    lat_ns: Vec::with_capacity(if keep_lat { expect as usize } else { 0 }),
                    ..Default::default()
                };
                while r.count < expect {
                    let got = match spin {
                        None => tokio::time::timeout(IDLE, sub.next()).await,
                        Some(budget) => tokio::time::timeout(IDLE, sub.next_spin(budget)).await,
                    };
                    let Ok(Some(m)) = got else { break };
                    let now = now_ns();
                    if m.topic == PROBE_TOPIC {
                        continue;
                    }
                    r.count += 1;
                    r.last_ns = now;
                    if keep_lat {
                        r.lat_ns.push(now.saturating_sub(read_stamp(&m.payload)));
                    }
                }
                r
            })
        })
    }

    /// 1→`subs` through PulseMQ with the SDK: NO_ACK, or ACKs pipelined
    /// `window` deep.
    pub(super) fn sdk_fanout(&self, subs: usize, count: u64, window: Option<usize>) -> R<Run> {
        self.rt.block_on(async {
            let publ = self.client(0).await?;
            let mut receivers = Vec::new();
            let mut keep = Vec::new();
            for _ in 0..subs {
                let c = self.client(count as usize + 16).await?;
                let sub = c.subscribe(NS, TOPIC).await.map_err(err)?;
                receivers.push(self.sdk_receiver(sub, count, true, None));
                keep.push(c);
            }
            let start = now_ns();
            match window {
                None => {
                    for _ in 0..count {
                        let mut p = vec![0u8; SMALL];
                        stamp(&mut p);
                        publ.publish_no_ack(NS, TOPIC, Format::Bytes, p).await.map_err(err)?;
                    }
                }
                Some(w) => {
                    let failed = stream::iter(0..count)
                        .map(|_| {
                            let c = publ.clone();
                            let mut p = vec![0u8; SMALL];
                            stamp(&mut p);
                            async move { c.publish(NS, TOPIC, Format::Bytes, p).await.is_err() }
                        })
                        .buffer_unordered(w)
                        .fold(0u64, |n, failed| async move { n + failed as u64 })
                        .await;
                    if failed > 0 {
                        return Err(format!("{failed} acknowledged publishes failed"));
                    }
                }
            }
            let got: Vec<Received> = receivers.into_iter().map(|h| h.join().expect("receiver")).collect();
            for c in keep {
                c.close().await;
            }
            publ.close().await;
            Ok(collect(start, count * subs as u64, SMALL, got))
        })
    }

    /// One publisher, one subscriber through the SDK at a fixed rate; the
    /// consumer parks (`spin: None`) or spins that long first.
    pub(super) fn sdk_latency(&self, rate: u64, count: u64, spin: Option<Duration>) -> R<Run> {
        self.rt.block_on(async {
            let publ = self.client(0).await?;
            let subc = self.client(count as usize).await?;
            let sub = subc.subscribe(NS, TOPIC).await.map_err(err)?;
            let h = self.sdk_receiver(sub, count, true, spin);
            let handle = self.rt.handle().clone();
            let p2 = publ.clone();
            let sender = std::thread::spawn(move || {
                paced(rate, count, |p| {
                    stamp(p);
                    handle
                        .block_on(p2.publish_no_ack(NS, TOPIC, Format::Bytes, p.to_vec()))
                        .map(|_| ())
                        .expect("publish")
                })
            });
            let start = sender.join().map_err(|_| "sender panicked".to_string())?;
            let r = h.join().expect("receiver");
            subc.close().await;
            publ.close().await;
            Ok::<_, String>(collect(start, count, SMALL, vec![r]))
        })
    }
}

//! A 10 MB Arrow DataFrame, round trip through the SDK and one way through bare sockets.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use pulsemq_client::arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use pulsemq_client::{Format, Payload};

use super::{err, Bench, IDLE, NS, R};
use crate::raw::{self, RawSession, PROBE_TOPIC};
use crate::report::{fmt_ns, now_ns, read_stamp, Lat, Row};

impl Bench {
    pub fn arrow(&mut self) -> R<Vec<Row>> {
        let c = self.counts();
        let rows = 10 * 1024 * 1024 / 48;
        let batch = ohlcv_batch(rows)?;
        let encoded_len = Payload::arrow(std::slice::from_ref(&batch)).map_err(err)?.len();
        // Reference: the same number of bytes through the ROUTER forwarder.
        let fwd = {
            let ready = Arc::new(AtomicUsize::new(0));
            let (ctx, r2, out) = (self.zctx.clone(), ready.clone(), self.router.output());
            let (tx, rx) = mpsc::channel::<u64>();
            let n = c.arrow;
            let h = std::thread::spawn(move || {
                let s = raw::socket(&ctx, zmq::DEALER, &out);
                s.send(&b"hello"[..], 0).expect("hello");
                let mut parts = Vec::new();
                let mut got = 0;
                while got < n && raw::recv_parts(&s, &mut parts, IDLE) {
                    r2.fetch_add(1, Ordering::SeqCst);
                    if parts.len() == 6 && &parts[2][..] != PROBE_TOPIC.as_bytes() {
                        got += 1;
                        let _ = tx.send(now_ns().saturating_sub(read_stamp(&parts[raw::PAYLOAD_FRAME])));
                    }
                }
            });
            let publ = raw::socket(&self.zctx, zmq::DEALER, &self.router.input());
            raw::await_ready(&publ, &ready, 1);
            let header = raw::pub_header_as(Format::DfArrow, encoded_len);
            let mut samples = Vec::new();
            for _ in 0..c.arrow {
                let mut p = vec![7u8; encoded_len];
                raw::send_pub(&publ, &header, NS, "df", &mut p);
                samples.push(rx.recv_timeout(Duration::from_secs(10)).map_err(|_| "reference 10 MB lost")?);
            }
            let _ = h.join();
            Lat::from_samples(samples).ok_or("no samples")?
        };
        let (total, parts) = self.rt.block_on(async {
            let publ = self.client(0).await?;
            let subc = self.client(16).await?;
            let mut sub = subc.subscribe(NS, "df").await.map_err(err)?;
            let (tx, rx) = mpsc::channel::<(u64, u64, usize)>();
            let handle = self.rt.handle().clone();
            let h = std::thread::spawn(move || {
                handle.block_on(async move {
                    while let Ok(Some(m)) = tokio::time::timeout(IDLE, sub.next()).await {
                        let got = now_ns();
                        let n = m.record_batches().map(|b| b.iter().map(|b| b.num_rows()).sum()).unwrap_or(0);
                        let _ = tx.send((got, now_ns(), n));
                    }
                })
            });
            let (mut total, mut enc, mut wire, mut dec) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for _ in 0..c.arrow {
                let t0 = now_ns();
                let payload = Payload::arrow(std::slice::from_ref(&batch)).map_err(err)?;
                let t1 = now_ns();
                publ.publish_payload(NS, "df", payload).await.map_err(err)?;
                let (got, decoded, n) = rx.recv_timeout(Duration::from_secs(10)).map_err(|_| "10 MB DataFrame lost")?;
                if n != rows {
                    return Err(format!("decoded {n} rows, sent {rows}"));
                }
                total.push(decoded - t0);
                enc.push(t1 - t0);
                wire.push(got - t1);
                dec.push(decoded - got);
            }
            subc.close().await;
            publ.close().await;
            let _ = h.join();
            let p50 = |v: Vec<u64>| Lat::from_samples(v).map(|l| l.p50).unwrap_or(0);
            Ok::<_, String>((total, (p50(enc), p50(wire), p50(dec))))
        })?;
        // The same bytes through the broker with bare sessions (no SDK).
        let raw_lat = {
            let mut sub = RawSession::open(&self.zctx, &self.target, true)?;
            sub.subscribe_all(NS, &["df".to_string()])?;
            let publ = RawSession::open(&self.zctx, &self.target, false)?;
            let (tx, rx) = mpsc::channel::<u64>();
            let n = c.arrow;
            let h = std::thread::spawn(move || {
                let mut parts = Vec::new();
                for _ in 0..n {
                    if !raw::recv_parts(&sub.del, &mut parts, IDLE) {
                        break;
                    }
                    let _ = tx.send(now_ns().saturating_sub(read_stamp(&parts[raw::PAYLOAD_FRAME])));
                }
                sub
            });
            let header = raw::pub_header_as(Format::DfArrow, encoded_len);
            let mut samples = Vec::new();
            for _ in 0..c.arrow {
                let mut p = vec![7u8; encoded_len];
                raw::send_pub(&publ.cmd, &header, NS, "df", &mut p);
                samples.push(rx.recv_timeout(Duration::from_secs(10)).map_err(|_| "raw 10 MB lost")?);
            }
            h.join().map_err(|_| "receiver panicked")?.bye();
            publ.bye();
            Lat::from_samples(samples).ok_or("no samples")?
        };
        let lat = Lat::from_samples(total).ok_or("no samples")?;
        let reference = ("fwd 10 MB", fwd.p50);
        let raw_row =
            Row::round_trip("10 MB one way through the broker (raw sockets)", c.arrow, encoded_len, raw_lat, reference);
        let row = Row {
            target: "P50 ≤ 20ms".into(),
            met: Some(lat.p50 <= 20_000_000),
            ..Row::round_trip("10 MB Arrow DataFrame round trip (SDK)", c.arrow, encoded_len, lat, reference)
        };
        self.notes.push(format!(
            "arrow: one RecordBatch of {rows} rows × 6 columns (i64 + 5 × f64) = {:.1} MB as an Arrow IPC stream \
             (DF_ARROW), published with ACK; round trip = encode → publish → broker → subscriber → decode. \
             P50 split: encode {}, publish→receipt {}, decode {}.",
            encoded_len as f64 / 1e6,
            fmt_ns(parts.0),
            fmt_ns(parts.1),
            fmt_ns(parts.2)
        ));
        Ok(vec![row, raw_row])
    }
}

/// A K-line-like batch: ts (i64), open, high, low, close, volume (f64).
fn ohlcv_batch(rows: usize) -> R<RecordBatch> {
    let ts: ArrayRef = Arc::new(Int64Array::from_iter_values((0..rows as i64).map(|i| 1_700_000_000_000 + i * 60_000)));
    let col = |k: f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values((0..rows).map(|i| k + (i % 977) as f64 * 0.01)))
    };
    RecordBatch::try_from_iter([
        ("ts", ts),
        ("open", col(10.0)),
        ("high", col(10.5)),
        ("low", col(9.5)),
        ("close", col(10.2)),
        ("volume", col(1000.0)),
    ])
    .map_err(err)
}

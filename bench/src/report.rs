//! Clock, measurements and the one table the bench prints.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Instant;

static BASE: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the bench started: publisher and subscribers live in
/// this one process, so the stamps they exchange share this clock.
pub fn now_ns() -> u64 {
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Writes the send time into the first 8 bytes of a payload.
pub fn stamp(payload: &mut [u8]) {
    payload[..8].copy_from_slice(&now_ns().to_le_bytes());
}

/// The send time written by [`stamp`]; 0 for a payload too short to hold one.
pub fn read_stamp(payload: &[u8]) -> u64 {
    payload.get(..8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))).unwrap_or(0)
}

/// Latency percentiles, in nanoseconds.
#[derive(Debug, Clone, Copy)]
pub struct Lat {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
}

impl Lat {
    pub fn from_samples(mut v: Vec<u64>) -> Option<Lat> {
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let at = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Some(Lat { p50: at(0.50), p90: at(0.90), p99: at(0.99), p999: at(0.999) })
    }
}

/// What one measured run produced.
#[derive(Debug, Clone)]
pub struct Run {
    /// Messages expected at the receivers (sent × receivers).
    pub expected: u64,
    pub delivered: u64,
    /// From the first send to the last receipt.
    pub secs: f64,
    pub msg_bytes: usize,
    pub lat: Option<Lat>,
}

impl Run {
    pub fn rate(&self) -> f64 {
        self.delivered as f64 / self.secs.max(1e-9)
    }

    pub fn mbps(&self) -> f64 {
        self.rate() * self.msg_bytes as f64 / 1e6
    }

    pub fn loss(&self) -> u64 {
        self.expected.saturating_sub(self.delivered)
    }

    /// The faster of two runs of the same thing (noise only ever slows down).
    pub fn best(a: Run, b: Run) -> Run {
        if b.rate() > a.rate() {
            b
        } else {
            a
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub scenario: String,
    pub msgs: String,
    pub rate: String,
    pub mbps: String,
    pub lat: Option<Lat>,
    pub loss: String,
    pub reference: String,
    pub ratio: String,
    pub target: String,
    /// None: informational row, no target.
    pub met: Option<bool>,
}

impl Row {
    /// A throughput row measured against a reference run.
    pub fn throughput(scenario: &str, run: &Run, reference: Option<(&str, &Run)>) -> Row {
        let mut r = Row {
            scenario: scenario.into(),
            msgs: run.delivered.to_string(),
            rate: fmt_rate(run.rate()),
            mbps: format!("{:.1}", run.mbps()),
            lat: run.lat,
            loss: run.loss().to_string(),
            ..Row::default()
        };
        if let Some((name, rf)) = reference {
            r.reference = format!("{name} {}", fmt_rate(rf.rate()));
            r.ratio = format!("{:.2}×", run.rate() / rf.rate().max(1e-9));
        }
        r
    }

    /// A round-trip row: `msgs` transfers of `bytes` each, rate and MB/s
    /// derived from the P50, compared with the P50 of `reference`
    /// (label, e.g. `fwd 10 MB`, and its P50 in ns) for the same size.
    pub fn round_trip(scenario: &str, msgs: usize, bytes: usize, lat: Lat, reference: (&str, u64)) -> Row {
        let (name, ref_p50) = reference;
        Row {
            scenario: scenario.into(),
            msgs: msgs.to_string(),
            rate: format!("{:.0}", 1e9 / lat.p50 as f64),
            mbps: format!("{:.0}", bytes as f64 / lat.p50 as f64 * 1e3),
            lat: Some(lat),
            loss: "0".into(),
            reference: format!("{name} P50 {}", fmt_ns(ref_p50)),
            ratio: format!("{:.2}× P50", lat.p50 as f64 / ref_p50.max(1) as f64),
            ..Row::default()
        }
    }

    /// Adds a "ratio ≥ min" target.
    pub fn with_min_ratio(mut self, ratio: f64, min: f64) -> Row {
        self.target = format!("≥ {min:.1}×");
        self.met = Some(ratio >= min);
        self
    }
}

pub fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else if r >= 1e4 {
        format!("{:.0}k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

pub fn fmt_ns(ns: u64) -> String {
    let us = ns as f64 / 1e3;
    if us < 1000.0 {
        format!("{us:.0}µs")
    } else if us < 100_000.0 {
        format!("{:.1}ms", us / 1e3)
    } else {
        format!("{:.0}ms", us / 1e3)
    }
}

/// Renders the table as Markdown (readable as is in a terminal).
pub fn table(rows: &[Row]) -> String {
    let head = [
        "scenario",
        "msgs",
        "msg/s",
        "MB/s",
        "P50",
        "P90",
        "P99",
        "P99.9",
        "loss",
        "reference",
        "ratio",
        "target",
        "met",
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let l = |f: fn(&Lat) -> u64| r.lat.as_ref().map(|x| fmt_ns(f(x))).unwrap_or_else(|| "-".into());
            let dash = |s: &String| if s.is_empty() { "-".to_string() } else { s.clone() };
            vec![
                r.scenario.clone(),
                dash(&r.msgs),
                dash(&r.rate),
                dash(&r.mbps),
                l(|x| x.p50),
                l(|x| x.p90),
                l(|x| x.p99),
                l(|x| x.p999),
                dash(&r.loss),
                dash(&r.reference),
                dash(&r.ratio),
                dash(&r.target),
                match r.met {
                    Some(true) => "yes".into(),
                    Some(false) => "NO".into(),
                    None => "".into(),
                },
            ]
        })
        .collect();
    let width = |i: usize| cells.iter().map(|c| c[i].chars().count()).chain([head[i].len()]).max().unwrap_or(0);
    let widths: Vec<usize> = (0..head.len()).map(width).collect();
    let mut out = String::new();
    let line = |out: &mut String, vals: &[String]| {
        out.push('|');
        for (v, w) in vals.iter().zip(&widths) {
            let pad = w - v.chars().count();
            let _ = write!(out, " {v}{} |", " ".repeat(pad));
        }
        out.push('\n');
    };
    line(&mut out, &head.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    line(&mut out, &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>());
    for c in &cells {
        line(&mut out, c);
    }
    out
}

/// The 1-, 5- and 15-minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// CPU model and count, for the machine note.
pub fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{n} × {model}")
}

/// Resident memory of a process in KiB (VmRSS from /proc/<pid>/status).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let l = Lat::from_samples((1..=1000).collect()).unwrap();
        assert_eq!((l.p50, l.p90, l.p99, l.p999), (500, 900, 990, 999));
        assert!(Lat::from_samples(vec![]).is_none());
    }

    #[test]
    fn stamps_round_trip() {
        let mut p = vec![0u8; 100];
        stamp(&mut p);
        assert!(read_stamp(&p) <= now_ns());
        assert_eq!(read_stamp(&[1, 2]), 0);
    }

    #[test]
    fn table_aligns_columns() {
        let run = Run { expected: 10, delivered: 9, secs: 1.0, msg_bytes: 100, lat: None };
        let t = table(&[Row::throughput("x", &run, Some(("fwd", &run)))]);
        let lens: Vec<usize> = t.lines().map(|l| l.chars().count()).collect();
        assert!(lens.windows(2).all(|w| w[0] == w[1]), "{t}");
        assert!(t.contains("1.00×"));
    }
}

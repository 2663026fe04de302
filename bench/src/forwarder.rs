//! The reference: plain libzmq forwarders in their own process (like the
//! broker), with no auth, no parsing and no checks.
//!
//! - `router`: ROUTER in; ROUTER out where each subscriber's DEALER says
//!   hello once, and every message goes to every known subscriber by its
//!   routing id (what the broker does, minus everything else);
//! - `xpub`: ROUTER in, XPUB out (the original Python broker's delivery).
//!
//! Started by the bench as `pulsemq-bench --forwarder MODE`; prints
//! `PORTS <in> <out>` and runs until its stdin closes (the bench exited).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

use crate::broker::HWM;

fn bind(s: &zmq::Socket) -> u16 {
    s.bind("tcp://127.0.0.1:*").expect("bind");
    let ep = s.get_last_endpoint().expect("endpoint").expect("utf-8");
    ep.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port")
}

fn recv_all(sock: &zmq::Socket, parts: &mut Vec<zmq::Message>, first_flags: i32) -> bool {
    parts.clear();
    let mut flags = first_flags;
    loop {
        let mut m = zmq::Message::new();
        if sock.recv(&mut m, flags).is_err() {
            return false;
        }
        flags = 0;
        let more = m.get_more();
        parts.push(m);
        if !more {
            return true;
        }
    }
}

/// Runs a forwarder in this process until stdin closes.
pub fn serve(mode: &str) -> Result<(), String> {
    let xpub = match mode {
        "router" => false,
        "xpub" => true,
        other => return Err(format!("unknown forwarder mode '{other}' (router or xpub)")),
    };
    let ctx = zmq::Context::new();
    let input = ctx.socket(zmq::ROUTER).map_err(|e| e.to_string())?;
    input.set_rcvhwm(HWM).map_err(|e| e.to_string())?;
    input.set_sndhwm(HWM).map_err(|e| e.to_string())?;
    let output = ctx.socket(if xpub { zmq::XPUB } else { zmq::ROUTER }).map_err(|e| e.to_string())?;
    output.set_sndhwm(HWM).map_err(|e| e.to_string())?;
    output.set_rcvhwm(HWM).map_err(|e| e.to_string())?;
    if !xpub {
        output.set_router_mandatory(true).map_err(|e| e.to_string())?;
    }
    let (pin, pout) = (bind(&input), bind(&output));
    println!("PORTS {pin} {pout}");
    std::io::stdout().flush().ok();
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });

    let mut peers: Vec<Vec<u8>> = Vec::new();
    let mut parts: Vec<zmq::Message> = Vec::with_capacity(8);
    let mut ctl: Vec<zmq::Message> = Vec::with_capacity(4);
    loop {
        let (in_ready, out_ready) = {
            let mut items = [input.as_poll_item(zmq::POLLIN), output.as_poll_item(zmq::POLLIN)];
            if zmq::poll(&mut items, -1).is_err() {
                continue;
            }
            (items[0].is_readable(), items[1].is_readable())
        };
        if out_ready {
            while recv_all(&output, &mut ctl, zmq::DONTWAIT) {
                if !xpub {
                    let rid = ctl[0].to_vec();
                    if !peers.contains(&rid) {
                        peers.push(rid.clone());
                    }
                    let _ = output.send(&rid[..], zmq::SNDMORE);
                    let _ = output.send(&b"ok"[..], 0);
                }
            }
        }
        if in_ready {
            for _ in 0..512 {
                if !recv_all(&input, &mut parts, zmq::DONTWAIT) {
                    break;
                }
                // parts[0] is the publisher's routing id.
                if xpub {
                    let n = parts.len();
                    for (i, m) in parts.drain(1..).enumerate() {
                        let f = if i + 2 < n { zmq::SNDMORE } else { 0 };
                        let _ = output.send(m, f | zmq::DONTWAIT);
                    }
                    continue;
                }
                // Copies for all but the last peer, which gets the received
                // frames. A peer that went away is forgotten.
                let mut gone = false;
                let count = peers.len();
                for (pi, rid) in peers.iter_mut().enumerate() {
                    match output.send(&rid[..], zmq::SNDMORE | zmq::DONTWAIT) {
                        Ok(()) => {}
                        Err(zmq::Error::EHOSTUNREACH) => {
                            rid.clear();
                            gone = true;
                            continue;
                        }
                        Err(_) => continue,
                    }
                    let last_peer = pi + 1 == count;
                    let n = parts.len();
                    if last_peer {
                        for (i, m) in parts.drain(1..).enumerate() {
                            let _ = output.send(m, if i + 2 < n { zmq::SNDMORE } else { 0 });
                        }
                    } else {
                        for (i, m) in parts.iter().enumerate().skip(1) {
                            let _ = output.send(&m[..], if i + 1 < n { zmq::SNDMORE } else { 0 });
                        }
                    }
                }
                if gone {
                    peers.retain(|rid| !rid.is_empty());
                }
            }
        }
    }
}

/// A running forwarder child and its ports.
pub struct Forwarder {
    child: Child,
    pub in_port: u16,
    pub out_port: u16,
}

impl Forwarder {
    pub fn start(mode: &str) -> Result<Forwarder, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args(["--forwarder", mode])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the {mode} forwarder: {e}"))?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line).map_err(|e| e.to_string())?;
        let mut it = line.split_whitespace().skip(1).map(|p| p.parse::<u16>());
        match (it.next(), it.next()) {
            (Some(Ok(a)), Some(Ok(b))) => Ok(Forwarder { child, in_port: a, out_port: b }),
            _ => Err(format!("the {mode} forwarder did not report its ports ('{line}')")),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn input(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.in_port)
    }

    pub fn output(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.out_port)
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

//! Binding and tuning the engine's sockets.

use pulsemq_shared::Format;

use crate::control::WAKE_ENDPOINT;
use crate::error::{Error, Result};

/// The three sockets the engine polls.
pub struct EngineSockets {
    pub ctx: zmq::Context,
    /// Command ROUTER (`server.pub_port`).
    pub cmd: zmq::Socket,
    /// Delivery ROUTER (`server.sub_port`).
    pub delivery: zmq::Socket,
    /// Wake-ups from [`crate::control::EngineHandle`].
    pub wake: zmq::Socket,
    pub pub_port: u16,
    pub sub_port: u16,
}

/// Largest message accepted from a peer: the largest format limit plus
/// room for the other frames. Bigger frames make libzmq drop the peer's
/// connection before the engine sees a byte.
pub const MAX_MSG_SIZE: i64 = Format::MAX_LIMIT as i64 + 64 * 1024;

/// Largest frame accepted on the delivery port, which only ever receives
/// ATTACH, PING and PONG (well under 1 KiB): a peer, authenticated or not,
/// cannot make the broker buffer big frames there. libzmq applies the limit
/// per frame; a message of endless small frames is still only bounded by
/// the connection (see the README's security notes).
pub const MAX_DELIVERY_PORT_FRAME: i64 = 64 * 1024;

fn router(ctx: &zmq::Context, hwm: i32, max_frame: i64) -> Result<zmq::Socket> {
    let s = ctx.socket(zmq::ROUTER)?;
    s.set_router_mandatory(true)?;
    // A client reconnecting with its routing id takes over its old pipe.
    s.set_router_handover(true)?;
    s.set_sndhwm(hwm)?;
    s.set_rcvhwm(hwm)?;
    s.set_maxmsgsize(max_frame)?;
    // ZMTP heartbeats find dead TCP peers that never say goodbye.
    s.set_heartbeat_ivl(2_000)?;
    s.set_heartbeat_timeout(6_000)?;
    s.set_heartbeat_ttl(8_000)?;
    s.set_linger(0)?;
    s.set_tcp_keepalive(1)?;
    Ok(s)
}

fn bind(s: &zmq::Socket, host: &str, port: u16, what: &'static str, flag: &'static str) -> Result<u16> {
    let host = if host == "0.0.0.0" || host.is_empty() { "*" } else { host };
    let endpoint = if port == 0 { format!("tcp://{host}:*") } else { format!("tcp://{host}:{port}") };
    s.bind(&endpoint).map_err(|source| Error::Bind { what, endpoint: endpoint.clone(), flag, source })?;
    let last = s.get_last_endpoint()?.map_err(|_| Error::Other("bound endpoint is not UTF-8".into()))?;
    last.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| Error::Other(format!("cannot read the bound port from {last}")))
}

impl EngineSockets {
    /// Creates and binds both ROUTERs and the wake-up socket. Done on the
    /// calling thread so a taken port fails start-up before anything runs.
    pub fn bind(host: &str, pub_port: u16, sub_port: u16, hwm: i32) -> Result<Self> {
        let ctx = zmq::Context::new();
        let cmd = router(&ctx, hwm, MAX_MSG_SIZE)?;
        let delivery = router(&ctx, hwm, MAX_DELIVERY_PORT_FRAME)?;
        let pub_port = bind(&cmd, host, pub_port, "the command port", "--pub-port")?;
        let sub_port = bind(&delivery, host, sub_port, "the delivery port", "--sub-port")?;
        let wake = ctx.socket(zmq::PULL)?;
        wake.set_rcvhwm(0)?;
        wake.bind(WAKE_ENDPOINT)?;
        Ok(EngineSockets { ctx, cmd, delivery, wake, pub_port, sub_port })
    }
}

//! `GET /api/browse/stream?namespace=&pattern=`: the console's live message
//! browser. Server-Sent Events, one `message` event per publish that the
//! pattern matches, decoded for display by the SDK's own payload decoders
//! (decompression with its size caps, msgpack records, Arrow IPC).
//!
//! It uses the logged-in account's own MQ permissions, checked by the engine
//! as a SUB would be (an `admin_only` account has none), and costs the broker
//! nothing while nobody watches (see `engine::tap`). A browser that cannot
//! keep up misses messages (counted in the next event's `missed_before`);
//! the broker never waits for it.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use pulsemq_client::arrow_array::{cast::AsArray, types, Array, ArrayRef};
use pulsemq_client::arrow_schema::{DataType, TimeUnit};
use pulsemq_client::{decode_wire, rmpv, Data};
use pulsemq_shared::dto::{BrowsedMessage, Preview};
use pulsemq_shared::{Compression, ErrorCode};
use serde::Deserialize;

use super::auth::AdminUser;
use super::error::{ApiError, ApiQuery, ApiResult};
use super::sse::LoginCheck;
use super::AdminState;
use crate::control::Control;
use crate::engine::tap::Tapped;

/// Messages waiting for a slow browser before it misses some.
const BUFFER: usize = 256;
/// Rows and characters a preview shows.
const ROWS: usize = 20;
const TEXT_MAX: usize = 8 * 1024;
const HEX_MAX: usize = 256;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BrowseQuery {
    pub namespace: String,
    /// A subscription pattern (`*` one level, `>` the rest).
    pub pattern: String,
}

struct Cursor {
    rx: tokio::sync::mpsc::Receiver<Tapped>,
    login: LoginCheck,
    shutdown: tokio::sync::watch::Receiver<bool>,
    /// Stops the engine's tap when the browser goes away.
    _unwatch: Unwatch,
}

struct Unwatch {
    st: AdminState,
    id: u64,
}

impl Drop for Unwatch {
    fn drop(&mut self) {
        let _ = self.st.engine.send(Control::Unwatch { id: self.id });
    }
}

impl Cursor {
    async fn next_event(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        let m = tokio::select! {
            m = self.rx.recv() => m?,
            _ = self.shutdown.wait_for(|s| *s) => return None,
        };
        if !self.login.still_allowed().await {
            return None;
        }
        let event = Event::default()
            .event("message")
            .json_data(browsed(m))
            .unwrap_or_else(|_| Event::default().comment("encode error"));
        Some((Ok(event), self))
    }
}

#[utoipa::path(get, path = "/api/browse/stream", tag = "topics", params(BrowseQuery),
    responses((status = 200, description = "text/event-stream; each `message` event's data is a BrowsedMessage JSON object",
               content_type = "text/event-stream", body = BrowsedMessage),
              (status = 400, description = "Bad namespace or pattern", body = pulsemq_shared::dto::ErrorBody),
              (status = 403, description = "The account has no sub role in the namespace", body = pulsemq_shared::dto::ErrorBody)))]
pub async fn stream(
    State(st): State<AdminState>,
    user: AdminUser,
    ApiQuery(q): ApiQuery<BrowseQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let (tx, rx) = tokio::sync::mpsc::channel(BUFFER);
    let username = user.username.clone();
    let id = st
        .engine
        .request(|reply| Control::Watch { username, namespace: q.namespace, pattern: q.pattern, tx, reply })
        .await?
        .map_err(|(code, msg)| match code {
            ErrorCode::PermissionDenied => ApiError::Forbidden(msg),
            _ => ApiError::BadRequest(msg),
        })?;
    let cursor = Cursor {
        rx,
        shutdown: st.shutdown.clone(),
        _unwatch: Unwatch { st: st.clone(), id },
        login: LoginCheck::new(st, user),
    };
    Ok(Sse::new(stream::unfold(cursor, Cursor::next_event)).keep_alive(KeepAlive::default()))
}

/// A tapped message as the console shows it.
fn browsed(m: Tapped) -> BrowsedMessage {
    let truncated = m.payload.len() < m.size;
    BrowsedMessage {
        preview: preview(&m, truncated),
        namespace: m.namespace,
        topic: m.topic,
        publisher: m.publisher,
        seq: m.seq,
        timestamp_ms: m.timestamp_ms,
        broker_time_us: m.broker_time_us,
        format: m.format.name().to_owned(),
        compression: Compression::from_flags(m.flags).ok().flatten().map(|c| c.name().to_owned()),
        size: m.size as u64,
        truncated,
        missed_before: m.missed_before,
    }
}

fn preview(m: &Tapped, truncated: bool) -> Preview {
    let compressed = Compression::from_flags(m.flags).ok().flatten().is_some();
    if truncated && (compressed || m.format != pulsemq_shared::Format::String) {
        if m.format == pulsemq_shared::Format::Bytes && !compressed {
            return hex_preview(&m.payload);
        }
        return Preview::Unreadable {
            error: format!("{} bytes: too large to decode for a preview (first {} kept)", m.size, m.payload.len()),
        };
    }
    if truncated {
        return Preview::Text { text: cut(&String::from_utf8_lossy(&m.payload)) };
    }
    match decode_wire(m.format, m.flags, &m.payload) {
        Ok(Data::String(s)) => match serde_json::from_str::<serde_json::Value>(&s) {
            Ok(v) if v.is_object() || v.is_array() => {
                Preview::Json { text: cut(&serde_json::to_string_pretty(&v).unwrap_or(s)) }
            }
            _ => Preview::Text { text: cut(&s) },
        },
        Ok(Data::Bytes(b)) => hex_preview(&b),
        Ok(Data::Records(rows)) => records_table(&rows),
        Ok(Data::Arrow(batches)) => {
            let Some(first) = batches.first() else {
                return Preview::Table { columns: Vec::new(), rows: Vec::new(), total_rows: 0 };
            };
            let columns: Vec<String> = first.schema().fields().iter().map(|f| f.name().clone()).collect();
            let total_rows = batches.iter().map(|b| b.num_rows() as u64).sum();
            let mut rows = Vec::new();
            'outer: for b in &batches {
                for i in 0..b.num_rows() {
                    if rows.len() == ROWS {
                        break 'outer;
                    }
                    rows.push(b.columns().iter().map(|c| cell(c, i)).collect());
                }
            }
            Preview::Table { columns, rows, total_rows }
        }
        Err(e) => Preview::Unreadable { error: e.to_string() },
    }
}

fn cut(s: &str) -> String {
    if s.len() <= TEXT_MAX {
        return s.to_owned();
    }
    let mut end = TEXT_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn hex_preview(b: &[u8]) -> Preview {
    let shown = &b[..b.len().min(HEX_MAX)];
    let mut hex: Vec<String> = shown.iter().map(|x| format!("{x:02x}")).collect();
    if b.len() > HEX_MAX {
        hex.push("…".into());
    }
    Preview::Hex { hex: hex.join(" ") }
}

/// msgpack records (maps, as pandas `to_dict("records")` writes): the
/// columns are the keys in the order first seen.
fn records_table(rows: &[rmpv::Value]) -> Preview {
    let mut columns: Vec<String> = Vec::new();
    let key = |k: &rmpv::Value| k.as_str().map(str::to_owned).unwrap_or_else(|| k.to_string());
    for r in rows.iter().take(ROWS) {
        if let Some(map) = r.as_map() {
            for (k, _) in map {
                let k = key(k);
                if !columns.contains(&k) {
                    columns.push(k);
                }
            }
        }
    }
    let shown = rows
        .iter()
        .take(ROWS)
        .map(|r| {
            let map = r.as_map().map(Vec::as_slice).unwrap_or_default();
            columns
                .iter()
                .map(|c| map.iter().find(|(k, _)| key(k) == *c).map(|(_, v)| value(v)).unwrap_or_default())
                .collect()
        })
        .collect();
    Preview::Table { columns, rows: shown, total_rows: rows.len() as u64 }
}

fn value(v: &rmpv::Value) -> String {
    match v {
        rmpv::Value::String(s) => s.as_str().unwrap_or_default().to_owned(),
        rmpv::Value::Nil => String::new(),
        other => other.to_string(),
    }
}

/// One Arrow value as text: the types market data uses, and the type name
/// for anything else.
fn cell(col: &ArrayRef, i: usize) -> String {
    if col.is_null(i) {
        return String::new();
    }
    match col.data_type() {
        DataType::Int8 => col.as_primitive::<types::Int8Type>().value(i).to_string(),
        DataType::Int16 => col.as_primitive::<types::Int16Type>().value(i).to_string(),
        DataType::Int32 => col.as_primitive::<types::Int32Type>().value(i).to_string(),
        DataType::Int64 => col.as_primitive::<types::Int64Type>().value(i).to_string(),
        DataType::UInt8 => col.as_primitive::<types::UInt8Type>().value(i).to_string(),
        DataType::UInt16 => col.as_primitive::<types::UInt16Type>().value(i).to_string(),
        DataType::UInt32 => col.as_primitive::<types::UInt32Type>().value(i).to_string(),
        DataType::UInt64 => col.as_primitive::<types::UInt64Type>().value(i).to_string(),
        DataType::Float32 => col.as_primitive::<types::Float32Type>().value(i).to_string(),
        DataType::Float64 => col.as_primitive::<types::Float64Type>().value(i).to_string(),
        DataType::Boolean => col.as_boolean().value(i).to_string(),
        DataType::Utf8 => col.as_string::<i32>().value(i).to_owned(),
        DataType::LargeUtf8 => col.as_string::<i64>().value(i).to_owned(),
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => col.as_primitive::<types::TimestampSecondType>().value(i),
                TimeUnit::Millisecond => col.as_primitive::<types::TimestampMillisecondType>().value(i),
                TimeUnit::Microsecond => col.as_primitive::<types::TimestampMicrosecondType>().value(i),
                TimeUnit::Nanosecond => col.as_primitive::<types::TimestampNanosecondType>().value(i),
            };
            format!("{v} ({unit:?})")
        }
        other => format!("({other})"),
    }
}

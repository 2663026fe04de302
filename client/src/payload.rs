//! Payload codecs: what goes into a PUB and what comes out of a MSG.
//!
//! The four wire formats of design.md §3.1, with the encodings other SDKs
//! use so a Rust publisher and a Python subscriber (or the reverse) agree:
//! - BYTES: as is; STRING: UTF-8;
//! - DF_MSGPACK: an array of record maps, exactly what pandas
//!   `df.to_dict("records")` packed by `msgpack.packb(..., use_bin_type=True)`
//!   gives (strings as msgpack str, bytes as bin, floats as float64);
//! - DF_ARROW: an Arrow IPC *stream* (schema, then one or more batches).

use bytes::Bytes;
use pulsemq_shared::Format;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{ClientError, Result};

#[cfg(feature = "arrow")]
pub use arrow_array::RecordBatch;

/// Bytes ready to publish, with the format they are encoded in.
///
/// Build one with a constructor per format, or convert from `&str`/`String`
/// (STRING) and `Vec<u8>`/`&[u8]`/[`Bytes`] (BYTES):
///
/// ```
/// use pulsemq_client::{Format, Payload};
/// #[derive(serde::Serialize)]
/// struct Tick { symbol: String, price: f64, volume: i64 }
///
/// let p = Payload::records(&[Tick { symbol: "sz000651".into(), price: 10.5, volume: 100 }]).unwrap();
/// assert_eq!(p.format(), Format::DfMsgpack);
/// let s: Payload = "hello".into();
/// assert_eq!(s.format(), Format::String);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    format: Format,
    bytes: Vec<u8>,
}

impl Payload {
    /// Already-encoded bytes in `format` (no check until publish).
    pub fn raw(format: Format, bytes: impl Into<Vec<u8>>) -> Self {
        Payload { format, bytes: bytes.into() }
    }

    /// Opaque bytes (BYTES, ≤ 10 MiB).
    pub fn bytes(bytes: impl Into<Vec<u8>>) -> Self {
        Self::raw(Format::Bytes, bytes)
    }

    /// UTF-8 text (STRING, ≤ 8 KiB).
    pub fn string(text: impl Into<String>) -> Self {
        Self::raw(Format::String, text.into().into_bytes())
    }

    /// A DataFrame as MessagePack records (DF_MSGPACK, ≤ 1 MiB): one map per
    /// row, keyed by column name. Rows may be serde structs (fields become
    /// keys, in declaration order) or maps. Use `f64` for floating-point
    /// columns (pandas packs float64) and `serde_bytes` for binary columns.
    pub fn records<T: Serialize>(rows: &[T]) -> Result<Self> {
        let bytes = rmp_serde::to_vec_named(rows)
            .map_err(|e| ClientError::InvalidPayload(format!("cannot encode records: {e}")))?;
        Ok(Self::raw(Format::DfMsgpack, bytes))
    }

    /// A DataFrame as an Arrow IPC stream (DF_ARROW, ≤ 64 MiB). Every batch
    /// must have the schema of the first; at least one batch is required.
    #[cfg(feature = "arrow")]
    pub fn arrow(batches: &[RecordBatch]) -> Result<Self> {
        let first = batches.first().ok_or_else(|| ClientError::InvalidPayload("no record batch to send".into()))?;
        let bad = |e: arrow_schema::ArrowError| ClientError::InvalidPayload(format!("cannot encode Arrow IPC: {e}"));
        let mut w = arrow_ipc::writer::StreamWriter::try_new(Vec::new(), first.schema().as_ref()).map_err(bad)?;
        for b in batches {
            w.write(b).map_err(bad)?;
        }
        w.finish().map_err(bad)?;
        Ok(Self::raw(Format::DfArrow, w.into_inner().map_err(bad)?))
    }

    /// The wire format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The encoded bytes (before compression).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Size of the encoded bytes, the figure checked against the format's limit.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True for an empty payload.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub(crate) fn into_parts(self) -> (Format, Vec<u8>) {
        (self.format, self.bytes)
    }
}

impl From<&str> for Payload {
    fn from(s: &str) -> Self {
        Payload::string(s)
    }
}

impl From<String> for Payload {
    fn from(s: String) -> Self {
        Payload::string(s)
    }
}

impl From<Vec<u8>> for Payload {
    fn from(b: Vec<u8>) -> Self {
        Payload::bytes(b)
    }
}

impl From<&[u8]> for Payload {
    fn from(b: &[u8]) -> Self {
        Payload::bytes(b.to_vec())
    }
}

impl From<Bytes> for Payload {
    fn from(b: Bytes) -> Self {
        Payload::bytes(b.to_vec())
    }
}

/// A received payload decoded according to its format
/// (see [`Message::data`](crate::Message::data)).
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// BYTES.
    Bytes(Bytes),
    /// STRING.
    String(String),
    /// DF_MSGPACK: one `rmpv::Value::Map` per row. Use
    /// [`Message::records`](crate::Message::records) to get typed rows instead.
    Records(Vec<rmpv::Value>),
    /// DF_ARROW: every batch of the stream.
    #[cfg(feature = "arrow")]
    Arrow(Vec<RecordBatch>),
}

/// Decodes STRING bytes.
pub(crate) fn decode_text(b: &[u8]) -> Result<&str> {
    std::str::from_utf8(b).map_err(|e| ClientError::InvalidPayload(format!("not UTF-8: {e}")))
}

/// Decodes DF_MSGPACK bytes into typed rows.
pub(crate) fn decode_records<T: DeserializeOwned>(b: &[u8]) -> Result<Vec<T>> {
    rmp_serde::from_slice(b).map_err(|e| ClientError::InvalidPayload(format!("cannot decode records: {e}")))
}

/// Decodes DF_ARROW bytes into its batches. The batches' buffers point into
/// `b` (no copy) wherever they are suitably aligned.
#[cfg(feature = "arrow")]
pub(crate) fn decode_arrow(b: &Bytes) -> Result<Vec<RecordBatch>> {
    decode_arrow_shared(b).or_else(|_| decode_arrow_copied(b))
}

/// Zero-copy decoding over the payload's own memory.
#[cfg(feature = "arrow")]
fn decode_arrow_shared(b: &Bytes) -> std::result::Result<Vec<RecordBatch>, arrow_schema::ArrowError> {
    let mut buf = arrow_buffer::Buffer::from(b.clone());
    let mut decoder = arrow_ipc::reader::StreamDecoder::new();
    let mut batches = Vec::new();
    while !buf.is_empty() {
        if let Some(batch) = decoder.decode(&mut buf)? {
            batches.push(batch);
        }
    }
    decoder.finish()?;
    if decoder.schema().is_none() {
        return Err(arrow_schema::ArrowError::IpcError("no schema".into()));
    }
    Ok(batches)
}

/// The reader over a copy: the reference behaviour, and the error messages,
/// for anything the zero-copy decoder refuses.
#[cfg(feature = "arrow")]
fn decode_arrow_copied(b: &[u8]) -> Result<Vec<RecordBatch>> {
    let bad = |e: arrow_schema::ArrowError| ClientError::InvalidPayload(format!("bad Arrow IPC: {e}"));
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(b), None).map_err(bad)?;
    reader.map(|r| r.map_err(bad)).collect()
}

/// Decompresses (capped at the format's size limit) and decodes a payload
/// as it travelled, by its format and header flags: what a subscriber's
/// [`Message::data`](crate::Message::data) does, for payloads held elsewhere
/// (the broker's console message browser).
pub fn decode_wire(format: Format, flags: u8, wire: &[u8]) -> Result<Data> {
    let plain = crate::compression::decompress(flags, format, wire)?;
    decode(format, &Bytes::from(plain))
}

/// Decodes any payload by its format.
pub(crate) fn decode(format: Format, b: &Bytes) -> Result<Data> {
    Ok(match format {
        Format::Bytes => Data::Bytes(b.clone()),
        Format::String => Data::String(decode_text(b)?.to_owned()),
        Format::DfMsgpack => Data::Records(decode_records(b)?),
        #[cfg(feature = "arrow")]
        Format::DfArrow => Data::Arrow(decode_arrow(b)?),
        #[cfg(not(feature = "arrow"))]
        Format::DfArrow => {
            return Err(ClientError::InvalidPayload(
                "Arrow payload: build pulsemq-client with the `arrow` feature".into(),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Row {
        symbol: String,
        price: f64,
        volume: i64,
    }

    /// What Python produces for
    /// `msgpack.packb(pd.DataFrame({"symbol": ["sz000651"], "price": [10.5],
    /// "volume": [100]}).to_dict("records"), use_bin_type=True)`.
    fn pandas_bytes() -> Vec<u8> {
        let mut v = vec![0x91, 0x83];
        v.push(0xa6);
        v.extend(b"symbol");
        v.push(0xa8);
        v.extend(b"sz000651");
        v.push(0xa5);
        v.extend(b"price");
        v.push(0xcb);
        v.extend(10.5f64.to_be_bytes());
        v.push(0xa6);
        v.extend(b"volume");
        v.push(0x64);
        v
    }

    #[test]
    fn records_are_the_bytes_pandas_and_msgpack_produce() {
        let rows = [Row { symbol: "sz000651".into(), price: 10.5, volume: 100 }];
        let p = Payload::records(&rows).unwrap();
        assert_eq!(p.format(), Format::DfMsgpack);
        assert_eq!(p.as_bytes(), pandas_bytes().as_slice());
        // And back, typed or generic.
        let back: Vec<Row> = decode_records(&pandas_bytes()).unwrap();
        assert_eq!(back, rows);
        match decode(Format::DfMsgpack, &Bytes::from(pandas_bytes())).unwrap() {
            Data::Records(r) => {
                assert_eq!(r.len(), 1);
                let m = r[0].as_map().unwrap();
                assert_eq!(m[0].0.as_str(), Some("symbol"));
                assert_eq!(m[1].1.as_f64(), Some(10.5));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn maps_and_binary_columns() {
        let mut row = BTreeMap::new();
        row.insert("a", rmpv::Value::from(1));
        row.insert("b", rmpv::Value::Binary(vec![1, 2]));
        row.insert("c", rmpv::Value::from("x"));
        let p = Payload::records(&[row]).unwrap();
        let b = p.as_bytes();
        // bin 8 for bytes, fixstr for text.
        assert!(b.windows(4).any(|w| w == [0xc4, 2, 1, 2]));
        assert!(b.windows(2).any(|w| w == [0xa1, b'x']));
    }

    #[test]
    fn conversions_pick_the_format() {
        assert_eq!(Payload::from("a").format(), Format::String);
        assert_eq!(Payload::from(vec![1u8]).format(), Format::Bytes);
        assert_eq!(Payload::from(&b"x"[..]).format(), Format::Bytes);
        assert!(decode(Format::String, &Bytes::from_static(&[0xff])).is_err());
    }

    #[cfg(feature = "arrow")]
    #[test]
    fn arrow_stream_with_several_batches() {
        use arrow_array::{Float64Array, Int64Array, StringArray, TimestampMillisecondArray};
        use arrow_schema::{DataType, Field, Schema, TimeUnit};
        use std::sync::Arc;
        let schema = Arc::new(Schema::new(vec![
            Field::new("symbol", DataType::Utf8, false),
            Field::new("timestamp", DataType::Timestamp(TimeUnit::Millisecond, None), false),
            Field::new("price", DataType::Float64, true),
            Field::new("volume", DataType::Int64, false),
        ]));
        let batch = |n: i64| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(vec!["sz000651"; n as usize])),
                    Arc::new(TimestampMillisecondArray::from_iter_values(0..n)),
                    Arc::new(Float64Array::from_iter((0..n).map(|i| if i == 1 { None } else { Some(i as f64) }))),
                    Arc::new(Int64Array::from_iter_values(0..n)),
                ],
            )
            .unwrap()
        };
        let batches = vec![batch(3), batch(5)];
        let p = Payload::arrow(&batches).unwrap();
        assert_eq!(p.format(), Format::DfArrow);
        let wire = Bytes::copy_from_slice(p.as_bytes());
        let decoded = decode_arrow(&wire).unwrap();
        assert_eq!(decoded, batches);
        // The volumes are read in place, not copied out of the payload.
        let volume = decoded[1].column(3).to_data().buffers()[0].as_ptr() as usize;
        let range = wire.as_ptr() as usize..wire.as_ptr() as usize + wire.len();
        assert!(range.contains(&volume), "decoded without a copy");
        assert_eq!(decode_arrow_copied(p.as_bytes()).unwrap(), batches);
        assert!(Payload::arrow(&[]).is_err());
        assert!(decode_arrow(&Bytes::from_static(b"junk")).is_err());
        assert!(decode_arrow(&Bytes::new()).is_err());
    }
}

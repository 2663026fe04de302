//! Payload compression (zlib, lz4 frame, zstd): no sockets here.
//!
//! Publishers compress per message above a threshold and only when it pays
//! (a compressed payload at least as large as the original is sent as is).
//! Receivers inflate through a reader capped at the format's limit, so a
//! small hostile payload cannot expand into gigabytes (decompression bomb):
//! reading one byte past the limit is an error, whatever the stream claims.

use std::io::{Read, Write};

use pulsemq_shared::header::flags;
use pulsemq_shared::{Compression, Format};

use crate::error::{ClientError, Result};

/// Default level per algorithm: fast settings, market data is latency-bound.
const ZLIB_LEVEL: u32 = 6;
const ZSTD_LEVEL: i32 = 3;

/// Compresses `data` with `algo`.
pub(crate) fn compress(algo: Compression, data: &[u8]) -> Result<Vec<u8>> {
    let io = |e: std::io::Error| ClientError::Io(format!("{} compression: {e}", algo.name()));
    match algo {
        Compression::Zlib => {
            let mut enc = flate2::write::ZlibEncoder::new(
                Vec::with_capacity(data.len() / 2),
                flate2::Compression::new(ZLIB_LEVEL),
            );
            enc.write_all(data).map_err(io)?;
            enc.finish().map_err(io)
        }
        Compression::Lz4 => {
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(data.len() / 2));
            enc.write_all(data).map_err(io)?;
            enc.finish().map_err(|e| ClientError::Io(format!("lz4 compression: {e}")))
        }
        Compression::Zstd => zstd::bulk::compress(data, ZSTD_LEVEL).map_err(io),
    }
}

/// Applies `algo` when `data` is at least `threshold` bytes and compressing
/// makes it smaller. Returns the bytes to send and the flag bits to set.
pub(crate) fn maybe_compress(algo: Option<Compression>, threshold: usize, data: Vec<u8>) -> Result<(Vec<u8>, u8)> {
    let Some(algo) = algo else {
        return Ok((data, 0));
    };
    if data.len() < threshold {
        return Ok((data, 0));
    }
    let packed = compress(algo, &data)?;
    if packed.len() >= data.len() {
        return Ok((data, 0));
    }
    Ok((packed, flags::COMPRESSED | algo.bits()))
}

/// Inflates `data` compressed with the algorithm in `flag_bits`, refusing to
/// produce more than `format`'s limit.
pub(crate) fn decompress(flag_bits: u8, format: Format, data: &[u8]) -> Result<Vec<u8>> {
    let Some(algo) = Compression::from_flags(flag_bits)? else {
        return Ok(data.to_vec());
    };
    let limit = format.limit();
    let bad = |e: std::io::Error| ClientError::InvalidPayload(format!("{} decompression failed: {e}", algo.name()));
    let reader: Box<dyn Read + '_> = match algo {
        Compression::Zlib => Box::new(flate2::read::ZlibDecoder::new(data)),
        Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(data)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(data).map_err(bad)?),
    };
    let mut out = Vec::with_capacity((data.len() * 4).min(limit));
    // One byte more than allowed tells "at the limit" from "beyond it".
    reader.take(limit as u64 + 1).read_to_end(&mut out).map_err(bad)?;
    if out.len() > limit {
        return Err(ClientError::TooLarge { format: format.name(), size: out.len(), limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Compression; 3] = [Compression::Zlib, Compression::Lz4, Compression::Zstd];

    #[test]
    fn round_trip_every_algorithm() {
        let data: Vec<u8> = (0..50_000u32).flat_map(|i| (i % 97).to_le_bytes()).collect();
        for algo in ALL {
            let (packed, bits) = maybe_compress(Some(algo), 1024, data.clone()).unwrap();
            assert!(packed.len() < data.len(), "{algo:?}");
            assert_eq!(bits, flags::COMPRESSED | algo.bits());
            assert_eq!(Compression::from_flags(bits).unwrap(), Some(algo), "flag bits");
            let back = decompress(bits, Format::Bytes, &packed).unwrap();
            assert_eq!(back, data, "{algo:?}");
        }
    }

    #[test]
    fn below_threshold_or_incompressible_is_sent_as_is() {
        let small = b"tiny".to_vec();
        assert_eq!(maybe_compress(Some(Compression::Zstd), 1024, small.clone()).unwrap(), (small, 0));
        let noise: Vec<u8> = (0..4096).map(|_| rand::random::<u8>()).collect();
        let (out, bits) = maybe_compress(Some(Compression::Lz4), 16, noise.clone()).unwrap();
        assert_eq!((out, bits), (noise, 0));
        assert_eq!(maybe_compress(None, 0, b"x".to_vec()).unwrap(), (b"x".to_vec(), 0));
    }

    #[test]
    fn bombs_are_refused() {
        // 9 KiB of zeros compresses to a few bytes but inflates past STRING's 8 KiB.
        let zeros = vec![0u8; 9 * 1024];
        for algo in ALL {
            let packed = compress(algo, &zeros).unwrap();
            let bits = flags::COMPRESSED | algo.bits();
            let err = decompress(bits, Format::String, &packed).unwrap_err();
            assert!(matches!(err, ClientError::TooLarge { limit: 8192, .. }), "{algo:?}: {err:?}");
            // Exactly at the limit is fine.
            let packed = compress(algo, &zeros[..8192]).unwrap();
            assert_eq!(decompress(bits, Format::String, &packed).unwrap().len(), 8192);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for algo in ALL {
            let bits = flags::COMPRESSED | algo.bits();
            assert!(decompress(bits, Format::Bytes, b"definitely not compressed").is_err());
        }
        // Compressed flag with no algorithm bits.
        assert!(decompress(flags::COMPRESSED, Format::Bytes, b"x").is_err());
    }
}

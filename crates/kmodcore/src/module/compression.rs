//! Compressed module files: detection by magic bytes and decoders with an output cap.
//!
//! | format | magic                         | decoder                        |
//! |--------|-------------------------------|--------------------------------|
//! | zstd   | `28 B5 2F FD`                 | `zstd` (all frames)            |
//! | xz     | `FD 37 7A 58 5A 00`           | `liblzma` (all streams)        |
//! | gzip   | `1F 8B`                       | `flate2` (all members)         |
//!
//! Anything else is a plain file. The name of a file (`.ko.xz`) is never trusted.
//!
//! Every decoder stops with an error once it has produced more than the cap, so a
//! decompression bomb costs at most the cap in memory. A stream that ends early (a truncated
//! file) is an error, not a short module.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// How many bytes [`Compression::detect`] wants to see.
pub const MAGIC_LEN: usize = 6;

const MAGIC_ZSTD: &[u8] = &[0x28, 0xB5, 0x2F, 0xFD];
const MAGIC_XZ: &[u8] = &[0xFD, b'7', b'z', b'X', b'Z', 0x00];
const MAGIC_GZIP: &[u8] = &[0x1F, 0x8B];

/// A module file's compression format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Not compressed.
    None,
    /// gzip (`.ko.gz`).
    Gzip,
    /// xz (`.ko.xz`).
    Xz,
    /// zstd (`.ko.zst`).
    Zstd,
}

impl Compression {
    /// Detects the format from a file's first bytes (up to [`MAGIC_LEN`]).
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(MAGIC_ZSTD) {
            Compression::Zstd
        } else if head.starts_with(MAGIC_XZ) {
            Compression::Xz
        } else if head.starts_with(MAGIC_GZIP) {
            Compression::Gzip
        } else {
            Compression::None
        }
    }

    /// The name the kernel uses in `/sys/module/compression` (`gzip`, `xz`, `zstd`), or `none`.
    pub fn kernel_name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        }
    }
}

/// Decompresses `file` (of `len` bytes on disk) into memory, failing once the output exceeds
/// `cap` bytes. `path` only names the file in errors.
pub fn decompress(
    format: Compression,
    file: &File,
    len: u64,
    cap: u64,
    path: &Path,
) -> Result<Vec<u8>> {
    let input = crate::mmap::FileBytes::from_file(file, len).map_err(|e| Error::io(path, e))?;
    decode(format, &input, cap).map_err(|reason| Error::Decompress {
        path: path.to_path_buf(),
        format: format.kernel_name(),
        reason,
    })
}

/// Decodes `input` in `format`, failing once the output exceeds `cap` bytes.
fn decode(format: Compression, input: &[u8], cap: u64) -> std::result::Result<Vec<u8>, String> {
    let limit = cap.saturating_add(1);
    // Most modules compress 3-5x; start there and let the vector grow if needed.
    let hint = u64::try_from(input.len())
        .unwrap_or(u64::MAX)
        .saturating_mul(4)
        .min(limit)
        .min(64 * 1024 * 1024);
    let mut out = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
    let result = match format {
        Compression::None => return Err("not a compressed file".into()),
        Compression::Xz => return decode_xz(input, out, cap),
        Compression::Zstd => zstd::stream::read::Decoder::with_buffer(input)
            .map_err(|e| e.to_string())?
            .take(limit)
            .read_to_end(&mut out),
        Compression::Gzip => flate2::bufread::MultiGzDecoder::new(input)
            .take(limit)
            .read_to_end(&mut out),
    };
    match result {
        Ok(_) if out.len() as u64 > cap => Err(format!("output exceeds the limit of {cap} bytes")),
        Ok(_) => Ok(out),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err("unexpected end of compressed data (truncated file?)".into())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Decodes an xz file (all its streams) straight into `out`'s spare capacity, with no
/// intermediate buffer.
fn decode_xz(input: &[u8], mut out: Vec<u8>, cap: u64) -> std::result::Result<Vec<u8>, String> {
    use liblzma::stream::{Action, Status, Stream, CONCATENATED};
    let mut stream =
        Stream::new_stream_decoder(u64::MAX, CONCATENATED).map_err(|e| e.to_string())?;
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    loop {
        let consumed = usize::try_from(stream.total_in()).unwrap_or(usize::MAX);
        let rest = input.get(consumed..).unwrap_or_default();
        if out.len() == out.capacity() {
            if out.len() > cap {
                return Err(format!("output exceeds the limit of {cap} bytes"));
            }
            let grow = out
                .capacity()
                .max(64 * 1024)
                .min(cap.saturating_add(1) - out.len());
            out.reserve_exact(grow.max(1));
        }
        let action = if rest.is_empty() {
            Action::Finish
        } else {
            Action::Run
        };
        let before = (stream.total_in(), stream.total_out());
        match stream.process_vec(rest, &mut out, action) {
            Ok(Status::StreamEnd) => break,
            // liblzma's "no progress possible" (LZMA_BUF_ERROR) arrives as an Ok status: with
            // all input consumed and room to write, it means the file ended early.
            Ok(_) => {
                if (stream.total_in(), stream.total_out()) == before && rest.is_empty() {
                    return Err("unexpected end of compressed data (truncated file?)".into());
                }
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    if out.len() > cap {
        return Err(format!("output exceeds the limit of {cap} bytes"));
    }
    Ok(out)
}

/// Decompresses an in-memory buffer, detecting its format; plain data is returned as it is.
/// Used by tests, fuzzing and tools that already hold the bytes.
pub fn decompress_bytes(data: &[u8], cap: u64) -> std::result::Result<Vec<u8>, String> {
    match Compression::detect(data) {
        Compression::None => Ok(data.to_vec()),
        format => decode(format, data, cap),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn xz(data: &[u8]) -> Vec<u8> {
        let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 1);
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn zst(data: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(data, 1).unwrap()
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn detects_by_magic() {
        assert_eq!(Compression::detect(&xz(b"a")), Compression::Xz);
        assert_eq!(Compression::detect(&zst(b"a")), Compression::Zstd);
        assert_eq!(Compression::detect(&gz(b"a")), Compression::Gzip);
        assert_eq!(Compression::detect(b"\x7fELF"), Compression::None);
        assert_eq!(Compression::detect(b""), Compression::None);
        assert_eq!(Compression::detect(&[0xFD, b'7']), Compression::None);
    }

    #[test]
    fn round_trips_each_format() {
        let data = vec![7u8; 100_000];
        for packed in [xz(&data), zst(&data), gz(&data)] {
            assert_eq!(decompress_bytes(&packed, 1 << 20).unwrap(), data);
        }
    }

    #[test]
    fn truncated_streams_fail() {
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        for packed in [xz(&data), zst(&data), gz(&data)] {
            let cut = &packed[..packed.len() / 2];
            assert!(decompress_bytes(cut, 1 << 30).is_err());
        }
    }

    #[test]
    fn bombs_stop_at_the_cap() {
        let data = vec![0u8; 4 << 20];
        for packed in [xz(&data), zst(&data), gz(&data)] {
            let err = decompress_bytes(&packed, 1 << 20).unwrap_err();
            assert!(err.contains("limit"), "{err}");
        }
    }
}

//! Read-only file mappings: the one place in kmodcore where `unsafe` is allowed.
//!
//! [`memmap2::Mmap::map`] is `unsafe` because the mapped file could be changed underneath us by
//! another process. Everything that reads a mapping in kmodcore already treats its bytes as
//! hostile (checked offsets, bounded loops), so a concurrent change can at worst produce a
//! parse error, never memory unsafety in our own code. The mapping is private and read-only.
#![allow(unsafe_code)]

use std::fs::File;
use std::io::Read;
use std::ops::Deref;
use std::path::Path;

/// Files smaller than this are read into memory rather than mapped: a mapping costs more than
/// a short read.
const MAP_THRESHOLD: u64 = 16 * 1024;

/// The bytes of a whole file, either mapped or read into memory.
#[derive(Debug)]
pub enum FileBytes {
    /// A read-only private mapping of the file.
    Mapped(memmap2::Mmap),
    /// The file's bytes read into memory (small files, or files that cannot be mapped).
    Owned(Vec<u8>),
}

impl FileBytes {
    /// Maps (or, for small or unmappable files, reads) an open regular file.
    ///
    /// `len` is the size the caller got from `fstat`; it decides between mapping and reading.
    pub fn from_file(file: &File, len: u64) -> std::io::Result<FileBytes> {
        if len >= MAP_THRESHOLD {
            if let Ok(map_len) = usize::try_from(len) {
                // SAFETY: the mapping is read-only and private. A concurrent writer can change
                // the bytes we see, but every reader of FileBytes checks all offsets it derives
                // from them, so the worst outcome is a parse error. See the module
                // documentation. The length is the caller's fstat, so memmap2 need not ask
                // again.
                if let Ok(map) = unsafe { memmap2::MmapOptions::new().len(map_len).map(file) } {
                    return Ok(FileBytes::Mapped(map));
                }
            }
        }
        read_sized(file, len).map(FileBytes::Owned)
    }

    /// Opens `path` and maps or reads it whole.
    pub fn open(path: &Path) -> std::io::Result<FileBytes> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        FileBytes::from_file(&file, len)
    }
}

/// Reads a whole file whose size the caller has from `fstat`, in as few `read` calls as the
/// kernel allows: usually one, where `read_to_end` would also ask for the size and position
/// again and then read once more to see the end. A read that stops short once the told size
/// is in is the end (nothing is ever returned short of that size while the file has more);
/// a file that grew past the size is read to its new end.
pub fn read_sized(file: &File, len: u64) -> std::io::Result<Vec<u8>> {
    match read_told(file, len, u64::MAX) {
        (bytes, None) => Ok(bytes),
        (_, Some(error)) => Err(error),
    }
}

/// Fills `buf` from `file` at `offset` (the file's own position is not moved), reading again
/// after a short read; fewer bytes only at the end of the file. How many were read.
pub fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        let at = offset.saturating_add(u64::try_from(filled).unwrap_or(u64::MAX));
        match file.read_at(rest, at) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads a file as [`read_sized`] does, but at most `limit` bytes, and keeps what was read
/// before an error: the bytes, and the error that stopped the reading if one did.
pub fn read_told(file: &File, told: u64, limit: u64) -> (Vec<u8>, Option<std::io::Error>) {
    let limit_len = usize::try_from(limit).unwrap_or(usize::MAX);
    let told = usize::try_from(told).unwrap_or(usize::MAX).min(limit_len);
    // One byte more than told, to see the end in the same read; at most 1 GiB up front.
    let mut buf = vec![0u8; told.min(1 << 30).saturating_add(1).min(limit_len)];
    let mut filled = 0;
    let mut reader = file;
    while filled < buf.len() {
        let Some(spare) = buf.get_mut(filled..) else {
            break;
        };
        let asked = spare.len();
        match reader.read(spare) {
            Ok(0) => break,
            Ok(n) => {
                filled += n;
                if n < asked && filled >= told {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                buf.truncate(filled);
                return (buf, Some(e));
            }
        }
    }
    let full = filled == buf.len();
    buf.truncate(filled);
    if full {
        // Larger than told (it grew, or told was more than fits up front): read on to the end
        // or the limit.
        let rest = limit.saturating_sub(u64::try_from(filled).unwrap_or(u64::MAX));
        if let Err(error) = reader.take(rest).read_to_end(&mut buf) {
            return (buf, Some(error));
        }
    }
    (buf, None)
}

impl Deref for FileBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Mapped(map) => map,
            FileBytes::Owned(vec) => vec,
        }
    }
}

impl AsRef<[u8]> for FileBytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::{read_sized, read_told};
    use std::io::Write;

    fn file_with(bytes: &[u8]) -> std::fs::File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        std::io::Seek::rewind(&mut file).unwrap();
        file
    }

    #[test]
    fn reads_the_told_size() {
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(read_sized(&file_with(&bytes), 10_000).unwrap(), bytes);
        assert_eq!(read_sized(&file_with(b""), 0).unwrap(), b"");
    }

    /// A file larger than the size told (it grew after the fstat) is read to its end; one
    /// smaller (it shrank) gives what it has.
    #[test]
    fn a_file_that_grew_or_shrank_is_read_as_it_is_now() {
        let bytes: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
        for told in [0, 1, 4095, 4096, 69_999] {
            assert_eq!(
                read_sized(&file_with(&bytes), told).unwrap(),
                bytes,
                "told {told}"
            );
        }
        for told in [70_001, 1 << 20] {
            assert_eq!(
                read_sized(&file_with(&bytes), told).unwrap(),
                bytes,
                "told {told}"
            );
        }
    }

    /// At most `limit` bytes are read, whatever size was told.
    #[test]
    fn read_told_stops_at_the_limit() {
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 249) as u8).collect();
        for (told, limit) in [
            (10_000, 4096),
            (0, 4096),
            (10_000, 10_000),
            (1 << 40, 9_999),
        ] {
            let (got, error) = read_told(&file_with(&bytes), told, limit);
            assert!(error.is_none());
            assert_eq!(got, &bytes[..limit as usize], "told {told}, limit {limit}");
        }
    }
}

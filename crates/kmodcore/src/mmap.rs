//! Read-only file mappings: the one place in kmodcore where `unsafe` is allowed.
//!
//! [`memmap2::Mmap::map`] is `unsafe` because the mapped file could be changed underneath us by
//! another process. Everything that reads a mapping in kmodcore already treats its bytes as
//! hostile (checked offsets, bounded loops), so a concurrent change can at worst produce a
//! parse error, never memory unsafety in our own code. The mapping is private and read-only.
#![allow(unsafe_code)]

use std::fs::File;
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
        crate::fs::read_sized(file, len).map(FileBytes::Owned)
    }

    /// Opens `path` and maps or reads it whole.
    pub fn open(path: &Path) -> std::io::Result<FileBytes> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        FileBytes::from_file(&file, len)
    }
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

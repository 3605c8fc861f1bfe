//! Where an index's bytes come from: memory, or an open file read piece by piece.
//!
//! A lookup touches a few dozen nodes of an index of a megabyte or more. Mapping the file makes
//! each 64 KiB window the lookup lands in a page fault, and the mapping must be torn down again
//! at exit; in a run that lasts a millisecond (`modprobe --show-depends`) those faults were the
//! largest single cost left. [`IndexFile`] instead reads the few hundred bytes around each node
//! it is asked for with `pread`, keeps the pieces, and reads the whole file at once when a caller
//! walks everything ([`Source::load_all`]) or a search wanders over more pieces than a lookup
//! needs ([`MAX_PIECES`]).

use std::fs::File;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use super::IndexError;

/// Files up to this size are read whole on first use: one read is cheaper than several.
pub const SMALL_FILE: usize = 16 * 1024;

/// How many pieces an [`IndexFile`] reads before it reads the whole file instead. A lookup by
/// name reads a handful; a wildcard search of a modalias reads about twenty.
pub const MAX_PIECES: usize = 32;

/// How many bytes before the asked offset a piece starts: depmod writes nodes in pre-order
/// (kmod 34 and rkmod; children after their parent) or post-order (older kmods such as Debian
/// 12's kmod 30; children before), so a node's neighbours in a lookup lie on either side.
const PIECE_BEFORE: usize = 256;

/// How many bytes from the asked offset on a piece holds at least.
const PIECE_AFTER: usize = 512;

/// A request for more bytes than this reads the whole file: it is not a lookup's.
const LONG_READ: usize = 64 * 1024;

/// The bytes of an index, as the reader asks for them.
pub trait Source {
    /// The size of the index in bytes.
    fn size(&self) -> usize;

    /// The bytes from offset `pos` on: at least `want` of them, or all up to the end of the
    /// index when fewer are left. An offset past the end is [`IndexError::Truncated`].
    fn bytes_from(&self, pos: usize, want: usize) -> Result<&[u8], IndexError>;

    /// Makes every byte available at once, before a walk over the whole index.
    fn load_all(&self) -> Result<(), IndexError> {
        Ok(())
    }
}

impl<T: AsRef<[u8]>> Source for T {
    fn size(&self) -> usize {
        self.as_ref().len()
    }

    fn bytes_from(&self, pos: usize, _want: usize) -> Result<&[u8], IndexError> {
        self.as_ref()
            .get(pos..)
            .ok_or(IndexError::Truncated { offset: pos })
    }
}

/// Bytes read from the file, starting at `start`.
#[derive(Debug)]
struct Piece {
    start: usize,
    bytes: Box<[u8]>,
}

impl Piece {
    /// The piece's bytes from `pos` on, if it holds `pos..end`.
    fn covering(&self, pos: usize, end: usize) -> Option<&[u8]> {
        let stop = self.start.checked_add(self.bytes.len())?;
        if self.start <= pos && end <= stop {
            self.bytes.get(pos - self.start..)
        } else {
            None
        }
    }
}

/// An index file read on demand with `pread`: see the module documentation.
///
/// Pieces once read are kept until the value is dropped, so the slices it hands out live as
/// long as it does. A file that changes while it is read can give inconsistent pieces; the
/// reader checks every offset it derives from them, so that shows as a parse error at worst.
#[derive(Debug)]
pub struct IndexFile {
    file: File,
    size: usize,
    /// [`MAX_PIECES`] slots, made when the first piece is read (small files never need them).
    pieces: OnceLock<Box<[OnceLock<Piece>]>>,
    claimed: AtomicUsize,
    whole: OnceLock<Box<[u8]>>,
    /// The file mapped whole ([`IndexFile::mapped`]): served from there, nothing is read.
    map: Option<crate::mmap::FileBytes>,
}

impl IndexFile {
    /// Reads from `file`, whose size the caller got from `fstat`.
    pub fn new(file: File, size: u64) -> IndexFile {
        IndexFile {
            file,
            size: usize::try_from(size).unwrap_or(usize::MAX),
            pieces: OnceLock::new(),
            claimed: AtomicUsize::new(0),
            whole: OnceLock::new(),
            map: None,
        }
    }

    /// Reads from `file` through a mapping of the whole file, made now: for a long-lived
    /// reader (libkmod's context, as kmod's), which looks up thousands of keys. Only the pages
    /// the lookups touch are then resident, and they are the page cache's, shared with every
    /// other reader, where reading the file whole would copy it into this process. When the
    /// file cannot be mapped, it is read as [`IndexFile::new`] reads it.
    pub fn mapped(file: File, size: u64) -> IndexFile {
        let map = match crate::mmap::FileBytes::from_file(&file, size) {
            Ok(bytes @ crate::mmap::FileBytes::Mapped(_)) => Some(bytes),
            _ => None,
        };
        IndexFile {
            map,
            ..IndexFile::new(file, size)
        }
    }

    /// Reads `len` bytes at `start`; fewer than asked (the file shrank since its size was
    /// taken) is a truncation at the first byte missing.
    fn read(&self, start: usize, len: usize) -> Result<Box<[u8]>, IndexError> {
        let mut buf = vec![0u8; len].into_boxed_slice();
        let offset = u64::try_from(start).unwrap_or(u64::MAX);
        match crate::fs::read_full_at(&self.file, &mut buf, offset) {
            Ok(got) if got == len => Ok(buf),
            Ok(got) => Err(IndexError::Truncated {
                offset: start.saturating_add(got),
            }),
            Err(e) => Err(IndexError::Read {
                offset: start,
                errno: e.raw_os_error().unwrap_or(0),
            }),
        }
    }

    /// The whole file, read on first use.
    fn whole(&self) -> Result<&[u8], IndexError> {
        if let Some(bytes) = self.whole.get() {
            return Ok(bytes);
        }
        let bytes = self.read(0, self.size)?;
        Ok(self.whole.get_or_init(|| bytes))
    }

    /// The whole file from `pos` on.
    fn whole_from(&self, pos: usize) -> Result<&[u8], IndexError> {
        self.whole()?
            .get(pos..)
            .ok_or(IndexError::Truncated { offset: pos })
    }
}

impl Source for IndexFile {
    fn size(&self) -> usize {
        self.size
    }

    fn bytes_from(&self, pos: usize, want: usize) -> Result<&[u8], IndexError> {
        if pos > self.size {
            return Err(IndexError::Truncated { offset: pos });
        }
        if let Some(map) = &self.map {
            return map.get(pos..).ok_or(IndexError::Truncated { offset: pos });
        }
        // Once read whole, always from there; small files and long reads are read whole.
        if self.whole.get().is_some() || self.size <= SMALL_FILE || want > LONG_READ {
            return self.whole_from(pos);
        }
        let end = pos.saturating_add(want).min(self.size);
        let pieces = self
            .pieces
            .get_or_init(|| (0..MAX_PIECES).map(|_| OnceLock::new()).collect());
        let claimed = self.claimed.load(Ordering::Acquire).min(MAX_PIECES);
        for slot in pieces.iter().take(claimed) {
            if let Some(bytes) = slot.get().and_then(|piece| piece.covering(pos, end)) {
                return Ok(bytes);
            }
        }
        let slot = self.claimed.fetch_add(1, Ordering::AcqRel);
        let Some(piece) = pieces.get(slot) else {
            // A search that has read many pieces already: it may well read on.
            return self.whole_from(pos);
        };
        let start = pos.saturating_sub(PIECE_BEFORE);
        let stop = end.max(pos.saturating_add(PIECE_AFTER)).min(self.size);
        let bytes = self.read(start, stop - start)?;
        piece
            .get_or_init(|| Piece { start, bytes })
            .covering(pos, end)
            .ok_or(IndexError::Truncated { offset: pos })
    }

    fn load_all(&self) -> Result<(), IndexError> {
        if self.map.is_some() {
            return Ok(());
        }
        self.whole().map(|_| ())
    }
}

#[cfg(test)]
impl IndexFile {
    /// How many pieces were read, and whether the whole file was.
    fn reads(&self) -> (usize, bool) {
        let pieces = self
            .pieces
            .get()
            .map_or(0, |p| p.iter().filter(|s| s.get().is_some()).count());
        (pieces, self.whole.get().is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::{IndexFile, MAX_PIECES, SMALL_FILE};
    use crate::index::{Index, IndexBuilder, IndexError};
    use std::io::Write;

    /// An index with module-like keys, alias patterns, and values from a few bytes to past
    /// every read size (pieces, first asks, and the long-read limit).
    fn sample() -> Vec<u8> {
        let mut builder = IndexBuilder::new();
        for i in 0..3000u32 {
            let key = format!("mod_{:04}_{}", i, "x".repeat((i % 7) as usize));
            let len = match i % 500 {
                0 => 70_000,
                1 => 5000,
                2 => 1500,
                _ => (i % 40) as usize,
            };
            let value = format!("kernel/drivers/m{i}.ko: {}", "d".repeat(len));
            builder.insert(key.as_bytes(), value.as_bytes(), i).unwrap();
        }
        for i in 0..800u32 {
            let pattern = format!("pci:v{:08X}d*sv*sd*bc{:02X}sc*i*", 0x8000 + i % 97, i % 13);
            builder
                .insert(pattern.as_bytes(), format!("drv{i}").as_bytes(), i)
                .unwrap();
        }
        builder.insert(b"usb:v*p*d*dc*", b"catchall", 1).unwrap();
        builder.to_bytes().unwrap()
    }

    fn file_with(bytes: &[u8]) -> std::fs::File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        file
    }

    fn opened(bytes: &[u8]) -> Index<IndexFile> {
        let file = file_with(bytes);
        Index::from_bytes(IndexFile::new(file, bytes.len() as u64)).unwrap()
    }

    fn queries() -> Vec<Vec<u8>> {
        let mut queries: Vec<Vec<u8>> = [0u32, 1, 2, 3, 500, 501, 502, 1999, 2999]
            .iter()
            .map(|i| format!("mod_{:04}_{}", i, "x".repeat((i % 7) as usize)).into_bytes())
            .collect();
        queries.push(b"mod_".to_vec());
        queries.push(b"no_such_module".to_vec());
        for i in [0u32, 5, 96, 400] {
            let modalias = format!(
                "pci:v{:08X}d00001234sv00000000sd00000000bc{:02X}sc00i00",
                0x8000 + i % 97,
                i % 13
            );
            queries.push(modalias.into_bytes());
        }
        queries.push(b"usb:v1234p5678d0100dc00dsc00".to_vec());
        queries
    }

    /// Every lookup on a file read piece by piece answers what the same index in memory
    /// answers, each on a fresh file (a lookup alone) and all on one (many lookups, which end
    /// in a read of the whole file).
    #[test]
    fn a_file_read_in_pieces_answers_as_memory_does() {
        let bytes = sample();
        assert!(bytes.len() > 4 * SMALL_FILE);
        let memory = Index::from_bytes(bytes.clone()).unwrap();
        let shared = opened(&bytes);
        for key in queries() {
            let fresh = opened(&bytes);
            let expected = (
                memory.get(&key).unwrap(),
                memory.get_first(&key).unwrap(),
                memory.search_wildcard(&key).unwrap(),
            );
            for index in [&fresh, &shared] {
                let got = (
                    index.get(&key).unwrap(),
                    index.get_first(&key).unwrap(),
                    index.search_wildcard(&key).unwrap(),
                );
                assert_eq!(got, expected, "{}", String::from_utf8_lossy(&key));
            }
        }
        assert!(memory
            .iter()
            .map(Result::unwrap)
            .eq(shared.iter().map(Result::unwrap)));
    }

    /// A mapped file answers as memory does and reads nothing.
    #[test]
    fn a_mapped_file_answers_as_memory_does() {
        let bytes = sample();
        let memory = Index::from_bytes(bytes.clone()).unwrap();
        let file = file_with(&bytes);
        let mapped = Index::from_bytes(IndexFile::mapped(file, bytes.len() as u64)).unwrap();
        for key in queries() {
            assert_eq!(mapped.get(&key).unwrap(), memory.get(&key).unwrap());
            assert_eq!(
                mapped.search_wildcard(&key).unwrap(),
                memory.search_wildcard(&key).unwrap()
            );
        }
        assert!(memory
            .iter()
            .map(Result::unwrap)
            .eq(mapped.iter().map(Result::unwrap)));
        assert_eq!(mapped.source().reads(), (0, false));
    }

    /// A lookup reads pieces, not the whole file; a walk over everything reads it whole.
    #[test]
    fn a_lookup_reads_pieces_and_a_walk_reads_the_whole_file() {
        let bytes = sample();
        let index = opened(&bytes);
        let key = b"pci:v00008005d00001234sv00000000sd00000000bc05sc00i00";
        assert_eq!(index.search_wildcard(key).unwrap().len(), 1);
        let (pieces, whole) = index.source().reads();
        assert!(
            pieces > 0 && pieces < MAX_PIECES && !whole,
            "{pieces} {whole}"
        );
        assert!(index.get_first(b"mod_0003_xxx").unwrap().is_some());
        assert!(!index.source().reads().1);
        assert!(index.iter().count() > 3000);
        assert!(index.source().reads().1);
    }

    /// A small file is read whole at once.
    #[test]
    fn a_small_file_is_read_whole() {
        let mut builder = IndexBuilder::new();
        builder.insert(b"snd", b"kernel/snd.ko:", 0).unwrap();
        let bytes = builder.to_bytes().unwrap();
        let index = opened(&bytes);
        assert!(index.get_first(b"snd").unwrap().is_some());
        assert_eq!(index.source().reads(), (0, true));
    }

    /// A file shorter than the size it was opened with (it shrank) gives truncation errors,
    /// and a file that cannot be read gives a read error naming the system's reason.
    #[test]
    fn short_and_unreadable_files_are_errors() {
        let bytes = sample();
        let half = &bytes[..bytes.len() / 2];
        let told = bytes.len() as u64;
        // The pre-order root is at the start, so the header and root still read.
        let index = Index::from_bytes(IndexFile::new(file_with(half), told)).unwrap();
        let mut truncated = 0;
        for key in queries() {
            match index.search_wildcard(&key) {
                Err(IndexError::Truncated { .. }) => truncated += 1,
                Err(other) => panic!("{other}"),
                Ok(_) => {}
            }
        }
        assert!(truncated > 0);
        let dir = std::fs::File::open(env!("CARGO_MANIFEST_DIR")).unwrap();
        assert_eq!(
            Index::from_bytes(IndexFile::new(dir, 100_000)).unwrap_err(),
            IndexError::Read {
                offset: 0,
                errno: nix::errno::Errno::EISDIR as i32
            }
        );
        // Named with its file, a read error is an I/O error, not a corrupt index.
        let eio = nix::errno::Errno::EIO as i32;
        match crate::Error::index(
            "/m/modules.dep.bin",
            IndexError::Read {
                offset: 9,
                errno: eio,
            },
        ) {
            crate::Error::Io { path, source } => {
                assert_eq!(path, std::path::Path::new("/m/modules.dep.bin"));
                assert_eq!(source.raw_os_error(), Some(eio));
            }
            other => panic!("{other:?}"),
        }
    }
}

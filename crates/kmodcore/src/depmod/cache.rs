//! depmod's module cache: what [`super::symbols::read_module`] extracted from each module
//! file, kept between runs so that the next run decodes only the modules that changed.
//!
//! The cache is an accelerator only. Every output is computed from the cached extracts
//! exactly as from freshly read ones, so the outputs are the same bytes with or without it;
//! everything that is not a property of one module file (depmod.d, `-E`/`-F`, `-P`,
//! `modules.order`, `modules.builtin*`) is read anew on every run.
//!
//! # When an entry is used
//!
//! An entry belongs to a module path (the path depmod built, bytes) and records the file's
//! [`FileKey`]: device, inode, size, mode, and modification and status-change times to the
//! nanosecond. An entry is used only when `stat` of the path (following links, as the open
//! does) gives the same key. A file rewritten in place changes its ctime even when its size
//! and mtime are restored (`touch -r`), a replaced or renamed file changes its inode, a
//! recompressed one its size and times.
//!
//! Two rules close the remaining gaps:
//! - an entry is **stored** only for a file whose mtime and ctime are at least
//!   [`SETTLE_SECONDS`] older than the start of the run, so that a file changed again within
//!   the same timestamp tick (coarse file-system clocks) is never cached under a key it
//!   shares with its later contents;
//! - the key is the `fstat` of the descriptor the module was read from, never a later `stat`;
//!   a module that could not be read, or whose read reported a problem, is never stored.
//!
//! The whole cache is also tied to the code that produced it: its identity names kmodcore's
//! version and a hash of the source of the extraction code (`symbols.rs`) and of this file,
//! so a different rkmod build never trusts another build's extracts.
//!
//! # Where it lives
//!
//! `ROOT/var/cache/rkmod/depmod/KVER`, where ROOT is the output root (`-o`, else `-b`, else
//! `/`); see [`location`]. The directories are created only for the system's own tree (no
//! `-b`, no `-o`); under another root the cache is used only if `var/cache/rkmod/depmod`
//! already exists there, so `-b`/`-o` runs stay hermetic unless asked. A cache that cannot
//! be written (read-only `/var`) only costs speed.
//!
//! # Format
//!
//! All numbers little-endian.
//!
//! ```text
//! magic      "RKMODDC1"                      8 bytes
//! identity   u32 length, bytes               (see above; must match exactly)
//! count      u32                             number of entries
//! entry      u32 path length, path bytes
//!            key: dev u64, ino u64, size u64, mode u32,
//!                 mtime s i64, mtime ns u32, ctime s i64, ctime ns u32   (52 bytes)
//!            u32 payload length, payload
//! crc        u32                             CRC-32 (IEEE) of every byte before it
//!
//! payload    u32 arena length, arena bytes   (the names, concatenated)
//!            u32 n, n x (start u32, len u32, crc u64)          exports
//!            u8 0 | 1, then if 1: u32 n, n x (start u32, len u32, crc u64, weak u8)
//!                                                              imports (absent/present)
//!            3 x (u32 n, n x (start u32, len u32))              aliases, softdeps, weakdeps
//! ```
//!
//! Decoding checks the checksum before anything else, then every length and count against
//! the bytes that remain and every span against its arena: a truncated, corrupt, foreign or
//! hostile file is refused as a whole ([`CacheProblem`]) and rebuilt by the run.
//!
//! # Writing
//!
//! [`PendingCache::store`] writes `FILE.new` under an exclusive, non-blocking `flock` (a
//! concurrent run that holds it makes this run skip its store), then renames it over `FILE`:
//! a reader sees the old cache or the new one, never a mixture. There is no `fsync`: after a
//! crash the checksum catches a file the disk did not keep. depmod writes it on a thread of
//! its own while it links and renders the outputs ([`PendingCache::store_with`]), streamed
//! entry by entry, each freshly read module encoded from its extract as it is written.

use rustc_hash::FxHashMap as HashMap;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use super::symbols::{Arena, Export, Import, ModuleSymbols, Span};
use crate::mmap::FileBytes;

/// How much older than the run's start a file's mtime and ctime must be for it to be cached.
pub const SETTLE_SECONDS: i64 = 2;

/// The file's first bytes.
const MAGIC: &[u8; 8] = b"RKMODDC1";

/// The largest cache file read (a real tree's is a few MiB).
const MAX_CACHE_SIZE: u64 = 1 << 30;

/// The bytes of a [`FileKey`] on disk.
const KEY_LEN: usize = 52;

/// The smallest entry: empty path, key, empty payload length.
const MIN_ENTRY: usize = 4 + KEY_LEN + 4;

/// The directories under the output root, and the cache's parent.
const CACHE_DIR: &str = "var/cache/rkmod/depmod";

/// FNV-1a over `bytes`, at compile time.
const fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    let mut rest = bytes;
    while let [first, tail @ ..] = rest {
        hash ^= *first as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        rest = tail;
    }
    hash
}

/// A hash of the code whose output the cache keeps.
const SOURCE_HASH: u64 = fnv1a(
    fnv1a(0xcbf2_9ce4_8422_2325, include_bytes!("symbols.rs")),
    include_bytes!("cache.rs"),
);

/// The identity a cache must carry to be used: this build's version and source hash.
pub fn identity() -> String {
    format!(
        "kmodcore {} extract {SOURCE_HASH:016x}",
        env!("CARGO_PKG_VERSION")
    )
}

/// What identifies one version of a module file: if any field differs, the file changed.
/// It is [`crate::fs::Status`] in the cache's on-disk form (nanoseconds as `u32`), kept as its
/// own type so that the record layout cannot change by accident with `Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileKey {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// `st_size`.
    pub size: u64,
    /// `st_mode` (type and permissions).
    pub mode: u32,
    /// `st_mtime`, seconds and nanoseconds.
    pub mtime: (i64, u32),
    /// `st_ctime`, seconds and nanoseconds.
    pub ctime: (i64, u32),
}

impl FileKey {
    /// The key of a file's status (a [`crate::fs::Status`], or an open file's
    /// `std::fs::Metadata`).
    pub fn of(status: impl Into<crate::fs::Status>) -> FileKey {
        let status = status.into();
        let nanos = |n: i64| u32::try_from(n).unwrap_or(0);
        FileKey {
            dev: status.dev,
            ino: status.ino,
            size: status.size,
            mode: status.mode,
            mtime: (status.mtime.0, nanos(status.mtime.1)),
            ctime: (status.ctime.0, nanos(status.ctime.1)),
        }
    }

    /// Whether the file last changed at least [`SETTLE_SECONDS`] before `start` (seconds
    /// since the epoch).
    pub fn settled(&self, start: i64) -> bool {
        let limit = start.saturating_sub(SETTLE_SECONDS);
        self.mtime.0 < limit && self.ctime.0 < limit
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.dev.to_le_bytes());
        out.extend_from_slice(&self.ino.to_le_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.mode.to_le_bytes());
        out.extend_from_slice(&self.mtime.0.to_le_bytes());
        out.extend_from_slice(&self.mtime.1.to_le_bytes());
        out.extend_from_slice(&self.ctime.0.to_le_bytes());
        out.extend_from_slice(&self.ctime.1.to_le_bytes());
    }

    fn decode(r: &mut Reader<'_>) -> Result<FileKey, &'static str> {
        Ok(FileKey {
            dev: r.u64()?,
            ino: r.u64()?,
            size: r.u64()?,
            mode: r.u32()?,
            mtime: (r.i64()?, r.u32()?),
            ctime: (r.i64()?, r.u32()?),
        })
    }
}

/// Why a cache file was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheProblem {
    /// It could not be read (other than not existing).
    Unreadable {
        /// The errno.
        error: i32,
    },
    /// The checksum, magic or structure is wrong: a damaged or hostile file.
    Corrupt {
        /// What broke.
        reason: &'static str,
    },
    /// Written by another build of rkmod (or another program).
    Foreign,
}

impl std::fmt::Display for CacheProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheProblem::Unreadable { error } => {
                write!(f, "unreadable: {}", crate::fs::strerror(*error))
            }
            CacheProblem::Corrupt { reason } => write!(f, "corrupt: {reason}"),
            CacheProblem::Foreign => f.write_str("written by another build"),
        }
    }
}

/// One cached module: its key and where its encoded extract lies in the cache's bytes.
#[derive(Debug, Clone, Copy)]
struct Entry {
    key: FileKey,
    offset: usize,
    len: usize,
}

/// The entries of a cache file, decoded down to their payloads (which are decoded on use).
#[derive(Debug, Default)]
pub struct Entries<'a> {
    bytes: &'a [u8],
    by_path: HashMap<&'a [u8], Entry>,
    /// The cache file the bytes are, when extracts may keep pointing into it.
    shared: Option<Arc<FileBytes>>,
}

impl<'a> Entries<'a> {
    /// Decodes a whole cache file; nothing is used unless everything checks out.
    pub fn decode(bytes: &'a [u8], identity: &str) -> Result<Entries<'a>, CacheProblem> {
        let corrupt = |reason| CacheProblem::Corrupt { reason };
        let body_len = bytes
            .len()
            .checked_sub(4)
            .ok_or(corrupt("shorter than its checksum"))?;
        let (body, crc) = bytes.split_at(body_len);
        if !body.starts_with(MAGIC) {
            // Checked before the checksum: another program's file is foreign, not damaged.
            return Err(if body.len() < MAGIC.len() {
                corrupt("truncated")
            } else {
                CacheProblem::Foreign
            });
        }
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err(corrupt("bad checksum"));
        }
        let mut r = Reader::new(body);
        r.at = MAGIC.len();
        let stored_identity = r.sized().map_err(corrupt)?;
        if stored_identity != identity.as_bytes() {
            return Err(CacheProblem::Foreign);
        }
        let count = r.count(MIN_ENTRY).map_err(corrupt)?;
        let mut by_path = HashMap::with_capacity_and_hasher(count, Default::default());
        for _ in 0..count {
            let path = r.sized().map_err(corrupt)?;
            let key = FileKey::decode(&mut r).map_err(corrupt)?;
            let payload = r.sized().map_err(corrupt)?;
            let entry = Entry {
                key,
                offset: r.at - payload.len(),
                len: payload.len(),
            };
            if by_path.insert(path, entry).is_some() {
                return Err(corrupt("a path listed twice"));
            }
        }
        if r.remaining() != 0 {
            return Err(corrupt("bytes after the last entry"));
        }
        Ok(Entries {
            bytes,
            by_path,
            shared: None,
        })
    }

    /// [`Entries::decode`] of a whole cache file whose extracts keep their names where they
    /// are in it (no copy per module): the file stays mapped while any of them lives.
    pub fn decode_shared(
        whole: &'a Arc<FileBytes>,
        identity: &str,
    ) -> Result<Entries<'a>, CacheProblem> {
        let mut entries = Entries::decode(whole, identity)?;
        entries.shared = Some(Arc::clone(whole));
        Ok(entries)
    }

    /// How many modules the cache holds.
    pub fn len(&self) -> usize {
        self.by_path.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }

    /// Whether the cache has an entry for `path`.
    pub fn contains(&self, path: &[u8]) -> bool {
        self.by_path.contains_key(path)
    }

    /// The entries whose paths are not in `seen`, sorted by path, to be kept as they are.
    pub fn unseen(&self, seen: &rustc_hash::FxHashSet<&[u8]>) -> Vec<(Vec<u8>, Stored)> {
        let mut unseen: Vec<(Vec<u8>, Stored)> = self
            .by_path
            .iter()
            .filter(|(path, _)| !seen.contains(*path))
            .map(|(path, entry)| {
                let stored = Stored::Reused {
                    key: entry.key,
                    offset: entry.offset,
                    len: entry.len,
                };
                (path.to_vec(), stored)
            })
            .collect();
        unseen.sort_by(|a, b| a.0.cmp(&b.0));
        unseen
    }

    /// The cached extract of `path`, if the cache has one for exactly this `key` and it
    /// decodes, with what to store for it next time.
    pub fn get(&self, path: &[u8], key: &FileKey) -> Option<(ModuleSymbols, Stored)> {
        let entry = self.by_path.get(path)?;
        if entry.key != *key {
            return None;
        }
        let payload = self
            .bytes
            .get(entry.offset..entry.offset.checked_add(entry.len)?)?;
        let symbols = match &self.shared {
            None => decode_payload(payload),
            Some(whole) => decode_payload_with(payload, |_, at, len| Arena::Shared {
                bytes: Arc::clone(whole),
                start: entry.offset.saturating_add(at),
                len,
            }),
        }
        .ok()?;
        let stored = Stored::Reused {
            key: entry.key,
            offset: entry.offset,
            len: entry.len,
        };
        Some((symbols, stored))
    }
}

/// A bounds-checked little-endian reader over a byte slice.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.at)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self.at.checked_add(n).ok_or("truncated")?;
        let piece = self.bytes.get(self.at..end).ok_or("truncated")?;
        self.at = end;
        Ok(piece)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, &'static str> {
        let [byte] = self.array::<1>()?;
        Ok(byte)
    }

    fn u32(&mut self) -> Result<u32, &'static str> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, &'static str> {
        self.array().map(u64::from_le_bytes)
    }

    fn i64(&mut self) -> Result<i64, &'static str> {
        self.array().map(i64::from_le_bytes)
    }

    /// A u32 length, then that many bytes.
    fn sized(&mut self) -> Result<&'a [u8], &'static str> {
        let len = usize::try_from(self.u32()?).map_err(|_| "length out of range")?;
        self.take(len)
    }

    /// A u32 count of items at least `item` bytes each, checked against what remains.
    fn count(&mut self, item: usize) -> Result<usize, &'static str> {
        let count = usize::try_from(self.u32()?).map_err(|_| "count out of range")?;
        if count
            .checked_mul(item)
            .map_or(true, |n| n > self.remaining())
        {
            return Err("count larger than the file");
        }
        Ok(count)
    }

    fn span(&mut self, arena: usize) -> Result<Span, &'static str> {
        let start = self.u32()?;
        let len = self.u32()?;
        let end = u64::from(start) + u64::from(len);
        if end > arena as u64 {
            return Err("span outside its arena");
        }
        Ok(Span { start, len })
    }

    fn spans(&mut self, arena: usize) -> Result<Vec<Span>, &'static str> {
        let n = self.count(8)?;
        (0..n).map(|_| self.span(arena)).collect()
    }
}

/// Encodes a module's extract (see the format above).
pub fn encode_payload(symbols: &ModuleSymbols, out: &mut Vec<u8>) {
    let arena = symbols.arena();
    put_len(out, arena.len());
    out.extend_from_slice(arena);
    put_len(out, symbols.exports.len());
    for export in &symbols.exports {
        put_span(out, export.name);
        out.extend_from_slice(&export.crc.to_le_bytes());
    }
    match &symbols.imports {
        None => out.push(0),
        Some(imports) => {
            out.push(1);
            put_len(out, imports.len());
            for import in imports {
                put_span(out, import.name);
                out.extend_from_slice(&import.crc.to_le_bytes());
                out.push(u8::from(import.weak));
            }
        }
    }
    for list in [&symbols.aliases, &symbols.softdeps, &symbols.weakdeps] {
        put_len(out, list.len());
        for &span in list {
            put_span(out, span);
        }
    }
}

/// Decodes what [`encode_payload`] wrote.
pub fn decode_payload(payload: &[u8]) -> Result<ModuleSymbols, &'static str> {
    decode_payload_with(payload, |names, _, _| Arena::Owned(names.to_vec()))
}

/// [`decode_payload`], with the names' arena made by `arena` from the names, their offset in
/// `payload` and their length.
fn decode_payload_with(
    payload: &[u8],
    arena: impl FnOnce(&[u8], usize, usize) -> Arena,
) -> Result<ModuleSymbols, &'static str> {
    let mut r = Reader::new(payload);
    let names = r.sized()?;
    let limit = names.len();
    let arena = arena(names, r.at - limit, limit);
    let n = r.count(16)?;
    let mut exports = Vec::with_capacity(n);
    for _ in 0..n {
        exports.push(Export {
            name: r.span(limit)?,
            crc: r.u64()?,
        });
    }
    let imports = match r.u8()? {
        0 => None,
        1 => {
            let n = r.count(17)?;
            let mut imports = Vec::with_capacity(n);
            for _ in 0..n {
                imports.push(Import {
                    name: r.span(limit)?,
                    crc: r.u64()?,
                    weak: match r.u8()? {
                        0 => false,
                        1 => true,
                        _ => return Err("bad flag"),
                    },
                });
            }
            Some(imports)
        }
        _ => return Err("bad flag"),
    };
    let aliases = r.spans(limit)?;
    let softdeps = r.spans(limit)?;
    let weakdeps = r.spans(limit)?;
    if r.remaining() != 0 {
        return Err("bytes after the payload");
    }
    Ok(ModuleSymbols::from_parts(
        arena, exports, imports, aliases, softdeps, weakdeps,
    ))
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_span(out: &mut Vec<u8>, span: Span) {
    out.extend_from_slice(&span.start.to_le_bytes());
    out.extend_from_slice(&span.len.to_le_bytes());
}

/// Where the cache for kernel `kver` lives under output root `root` (empty: `/`).
pub fn location(root: &[u8], kver: &[u8]) -> PathBuf {
    let mut path = root.to_vec();
    path.push(b'/');
    path.extend_from_slice(CACHE_DIR.as_bytes());
    path.push(b'/');
    path.extend_from_slice(kver);
    PathBuf::from(std::ffi::OsStr::from_bytes(&path))
}

/// How a run uses the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    /// The cache file.
    pub path: PathBuf,
    /// Whether to write it back (off for `-n`).
    pub write: bool,
    /// Whether to create its directory if missing (the system's own tree only).
    pub create_dir: bool,
}

/// What the run found in the cache, for `-v`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// There was no cache file.
    Missing,
    /// The file was read; `used` of the run's `modules` came from it.
    Read {
        /// Modules taken from the cache.
        used: usize,
        /// Modules in the run.
        modules: usize,
    },
    /// The file was there but not used.
    Ignored(CacheProblem),
}

/// The cache file's bytes, mapped (or why not). A mapping is safe against a concurrent run:
/// writers replace the file by renaming a new one over it, never rewrite it in place.
pub fn read(path: &Path) -> Result<Option<crate::mmap::FileBytes>, CacheProblem> {
    let file = match crate::fs::open_nonblocking(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(CacheProblem::Unreadable {
                error: e.raw_os_error().unwrap_or(5),
            })
        }
    };
    let unreadable = |e: crate::error::Error| CacheProblem::Unreadable { error: e.errno() };
    let (file, meta) = crate::fs::check_regular_file(file, path).map_err(unreadable)?;
    if meta.len() > MAX_CACHE_SIZE {
        return Err(CacheProblem::Corrupt {
            reason: "larger than any cache",
        });
    }
    crate::mmap::FileBytes::from_file(&file, meta.len())
        .map(Some)
        .map_err(|e| CacheProblem::Unreadable {
            error: e.raw_os_error().unwrap_or(5),
        })
}

/// The cache file as a run found it, read before the tree is walked.
#[derive(Debug)]
pub struct OldCache {
    /// Its bytes (empty when there was no file or it could not be read).
    pub bytes: Arc<FileBytes>,
    /// Why it cannot be used, when it was there but unreadable.
    pub problem: Option<CacheProblem>,
}

impl OldCache {
    /// Reads (maps) the cache file at `path`; a missing file is an empty cache.
    pub fn read(path: &Path) -> OldCache {
        let (bytes, problem) = match read(path) {
            Ok(Some(bytes)) => (bytes, None),
            Ok(None) => (FileBytes::Owned(Vec::new()), None),
            Err(problem) => (FileBytes::Owned(Vec::new()), Some(problem)),
        };
        OldCache {
            bytes: Arc::new(bytes),
            problem,
        }
    }

    /// Its entries for a run of rkmod `identity` ([`identity`]): none, with the reason, when
    /// it was unreadable or does not check out.
    pub fn decode(&self, identity: &str) -> (Entries<'_>, Option<CacheProblem>) {
        if let Some(problem) = &self.problem {
            return (Entries::default(), Some(problem.clone()));
        }
        if self.bytes.is_empty() {
            return (Entries::default(), None);
        }
        match Entries::decode_shared(&self.bytes, identity) {
            Ok(entries) => (entries, None),
            Err(problem) => (Entries::default(), Some(problem)),
        }
    }
}

/// One module of the run, as the next cache will hold it.
#[derive(Debug)]
pub enum Stored {
    /// Taken from the cache: its encoded payload is copied as it was.
    Reused {
        /// The key it was found under.
        key: FileKey,
        /// Where its payload starts in the old cache's bytes.
        offset: usize,
        /// The payload's length.
        len: usize,
    },
    /// Read from its file and fit to keep.
    Fresh {
        /// The key of the descriptor it was read from.
        key: FileKey,
        /// The encoded extract.
        payload: Vec<u8>,
    },
    /// Read from its file by this run and fit to keep: encoded, when the cache is written,
    /// from the extract at the same position among those given to
    /// [`PendingCache::keep_extracts`].
    Extracted {
        /// The key of the descriptor it was read from.
        key: FileKey,
    },
    /// Not to be cached (unread, failed, or too recent).
    Skip,
}

/// A cache to write once the run's outputs are published.
#[derive(Debug)]
pub struct PendingCache {
    /// The settings the run used.
    pub settings: CacheSettings,
    /// What the run found.
    pub outcome: CacheOutcome,
    /// The old cache's bytes (payloads of [`Stored::Reused`] point into them).
    old: Arc<FileBytes>,
    /// Each module's path and what to store for it.
    modules: Vec<(Vec<u8>, Stored)>,
    /// Entries of the old cache left out or changed; nothing to write when none.
    changed: bool,
    /// The extracts of the run's modules, for [`Stored::Extracted`] entries.
    extracts: Vec<ModuleSymbols>,
}

impl PendingCache {
    /// Gathers what to write.
    pub fn new(
        settings: CacheSettings,
        outcome: CacheOutcome,
        old: impl Into<Arc<FileBytes>>,
        modules: Vec<(Vec<u8>, Stored)>,
        changed: bool,
    ) -> PendingCache {
        PendingCache {
            settings,
            outcome,
            old: old.into(),
            modules,
            changed,
            extracts: Vec::new(),
        }
    }

    /// Keeps the run's extracts, in the order of the modules given to [`PendingCache::new`],
    /// so that [`Stored::Extracted`] entries are encoded straight from them when the cache
    /// is written (not copied into a buffer of their own while the modules are read).
    pub fn keep_extracts(&mut self, extracts: Vec<ModuleSymbols>) {
        self.extracts = extracts;
    }

    /// The key of the entry at `position` and its payload: copied from the old cache, or
    /// encoded into `scratch`. `None` for an entry not to write.
    fn entry<'s, 'm>(
        &'s self,
        position: usize,
        stored: &'s Stored,
        extract: &impl Fn(usize) -> Option<&'m ModuleSymbols>,
        scratch: &'s mut Vec<u8>,
    ) -> Option<(&'s FileKey, &'s [u8])> {
        match stored {
            Stored::Skip => None,
            Stored::Fresh { key, payload } => Some((key, payload.as_slice())),
            Stored::Reused { key, offset, len } => Some((
                key,
                self.old
                    .get(*offset..offset.saturating_add(*len))
                    .unwrap_or_default(),
            )),
            Stored::Extracted { key } => {
                let symbols = extract(position)?;
                scratch.clear();
                encode_payload(symbols, scratch);
                Some((key, scratch.as_slice()))
            }
        }
    }

    /// Whether storing would write anything.
    pub fn needs_store(&self) -> bool {
        self.settings.write && self.changed
    }

    /// The bytes of the new cache file.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.old.len().max(64 * 1024));
        // Writing to a Vec cannot fail.
        let _ = self.write_to(&mut out);
        out
    }

    /// Writes the new cache file's bytes to `out`, piece by piece (the payloads are copied
    /// from where they are, not gathered into one buffer first), with the checksum computed
    /// on the way.
    pub fn write_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        self.write_with(out, |position| self.extracts.get(position))
    }

    /// [`PendingCache::write_to`], with the extract of the module at each position given by
    /// `extract` (instead of those kept with [`PendingCache::keep_extracts`]).
    fn write_with<'m>(
        &self,
        out: &mut impl Write,
        extract: impl Fn(usize) -> Option<&'m ModuleSymbols>,
    ) -> std::io::Result<()> {
        let mut crc = crc32fast::Hasher::new();
        let mut put = |bytes: &[u8]| -> std::io::Result<()> {
            crc.update(bytes);
            out.write_all(bytes)
        };
        let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
        put(MAGIC)?;
        let identity = identity();
        put(&len(identity.len()))?;
        put(identity.as_bytes())?;
        let count = self
            .modules
            .iter()
            .enumerate()
            .filter(|(position, (_, s))| match s {
                Stored::Skip => false,
                Stored::Extracted { .. } => extract(*position).is_some(),
                Stored::Fresh { .. } | Stored::Reused { .. } => true,
            })
            .count();
        put(&len(count))?;
        let mut head = Vec::with_capacity(4 + 4096 + KEY_LEN + 4);
        let mut scratch = Vec::with_capacity(64 * 1024);
        for (position, (path, stored)) in self.modules.iter().enumerate() {
            let Some((key, payload)) = self.entry(position, stored, &extract, &mut scratch) else {
                continue;
            };
            head.clear();
            put_len(&mut head, path.len());
            head.extend_from_slice(path);
            key.encode(&mut head);
            put_len(&mut head, payload.len());
            put(&head)?;
            put(payload)?;
        }
        let crc = crc.finalize();
        out.write_all(&crc.to_le_bytes())
    }

    /// Writes the new cache (when something changed and writing is on). `Ok(false)`: another
    /// run is writing it right now, so this one left it to that run.
    pub fn store(&self) -> std::io::Result<bool> {
        self.store_with(|position| self.extracts.get(position))
    }

    /// [`PendingCache::store`], with the extract of the module at each position given by
    /// `extract`: depmod writes the cache while it links and renders, from the modules it
    /// is working on.
    pub fn store_with<'m>(
        &self,
        extract: impl Fn(usize) -> Option<&'m ModuleSymbols>,
    ) -> std::io::Result<bool> {
        if !self.needs_store() {
            return Ok(true);
        }
        let path = &self.settings.path;
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Ok(false);
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if self.settings.create_dir {
            crate::fs::create_dir_all(dir, 0o755)?;
        }
        // Everything relative to the directory's handle, opened with the C library's `open`
        // (see crate::fs): the temporary's open, the check and the rename.
        let handle = std::fs::File::open(dir)?;
        let mut temp = name.to_owned();
        temp.push(".new");
        let file = {
            use rustix::fs::{Mode, OFlags};
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC;
            std::fs::File::from(rustix::fs::openat(
                &handle,
                temp.as_os_str(),
                flags,
                Mode::from_raw_mode(0o644),
            )?)
        };
        let Ok(mut locked) =
            nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        else {
            return Ok(false);
        };
        // The name may have been renamed away (and reused) between our open and our lock.
        let same = rustix::fs::statat(&handle, temp.as_os_str(), rustix::fs::AtFlags::empty())
            .map(|st| st.st_ino == locked.metadata().map(|l| l.ino()).unwrap_or(0))
            .unwrap_or(false);
        if !same {
            return Ok(false);
        }
        locked.set_len(0)?;
        let mut writer = std::io::BufWriter::with_capacity(256 * 1024, &mut *locked);
        self.write_with(&mut writer, extract)?;
        writer.flush()?;
        drop(writer);
        rustix::fs::renameat(&handle, temp.as_os_str(), &handle, name)?;
        Ok(true)
    }
}

/// Whether a directory for the cache can be used: the system's tree, or one that exists.
pub fn usable_dir(settings: &CacheSettings) -> bool {
    settings.create_dir
        || settings
            .path
            .parent()
            .is_some_and(|dir| crate::fs::stat(dir).is_ok_and(|status| status.is_dir()))
}

/// The start of the run, in seconds since the epoch.
pub fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;

//! Finding the modules: the directory walk, duplicate names, the explicit file list, the
//! module order, and `-A`'s freshness check.
//!
//! # The walk
//!
//! [`scan_tree`] walks the module directory, then each `external` directory (the last one
//! configured first, as kmod keeps them), depth first, in the order the directory entries
//! come from the file system (`readdir`), as kmod does. Entries named `.`, `..`, `build`,
//! `source` or an `exclude`d name are skipped, symbolic links are followed, and only files
//! whose name ends in `.ko`, `.ko.gz`, `.ko.xz` or `.ko.zst` (and is longer than that suffix)
//! count. A module's name is its file name up to the first `.`, with `-` turned into `_`.
//!
//! Two files with one name: [`DepmodConfig::existing_wins`] decides which is kept.
//!
//! Unlike kmod, the walk never follows a directory into itself (a symbolic link loop), and
//! stops at [`MAX_SCAN_DEPTH`] levels; both are reported.
//!
//! # The order
//!
//! [`order_modules`] sorts the modules the way kmod's depmod lists them, which is also their
//! priority in the binary indexes: first in the walk order of kmod's name hash table
//! ([`super::order`]), then the modules that `modules.order` lists move to the front, in the
//! order of their first line there (kmod 34; kmod 30 used the last). A line matches the
//! module's path relative to the module directory, cut after its name stem plus three bytes,
//! which turns `kernel/a/b.ko.xz` into `kernel/a/b.ko`.
//!
//! `modules.order` is read as kmod's `fgets` with a 4096-byte buffer reads it: when a piece
//! does not end in a newline (the last line, or a line of 4095 bytes or more), kmod reports
//! the line as corrupted and keeps the hash order for every module.

use rayon::prelude::*;
use rustc_hash::FxHashMap as HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::cache::FileKey;
use super::config::{Candidate, DepmodConfig};
use super::{order, Diagnostic, Fatal};
use crate::fs::fgets_pieces;

/// The deepest directory nesting the walk descends into.
pub const MAX_SCAN_DEPTH: usize = 64;

/// kmod's line buffer (`PATH_MAX`): lines are read in pieces of at most this minus one.
pub const LINE_BUFFER: usize = 4096;

/// The module suffixes depmod picks up.
const MODULE_EXTENSIONS: [&[u8]; 4] = [b".ko", b".ko.gz", b".ko.xz", b".ko.zst"];

/// A module file depmod will index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundModule {
    /// The full path, as depmod built it (the module directory, `/`, the relative path).
    pub path: Vec<u8>,
    /// The module name (normalised).
    pub name: Vec<u8>,
    /// Where the path relative to the module directory starts, when the file is under it.
    pub rel_start: Option<usize>,
    /// Where the basename starts.
    pub base_start: usize,
    /// Where the name stem ends (the first `.` of the basename).
    pub stem_end: usize,
    /// The file's key as the scan found it, when it was asked to examine the files (for the
    /// module cache, which then need not look the path up again).
    pub key: Option<FileKey>,
}

impl FoundModule {
    /// Describes the file at `path`, found while indexing `dirname`. `None` when the path has
    /// an empty basename.
    pub fn new(path: Vec<u8>, dirname: &[u8]) -> Option<FoundModule> {
        let base_start = path.iter().rposition(|&b| b == b'/').map_or(0, |p| p + 1);
        let base = path.get(base_start..)?;
        if base.is_empty() {
            return None;
        }
        let stem_len = base.iter().position(|&b| b == b'.').unwrap_or(base.len());
        let stem = base.get(..stem_len)?;
        let name = crate::modname::normalize_name(stem);
        let rel_start = (path.starts_with(dirname) && path.get(dirname.len()) == Some(&b'/'))
            .then_some(dirname.len() + 1);
        Some(FoundModule {
            name,
            rel_start,
            base_start,
            stem_end: base_start + stem_len,
            path,
            key: None,
        })
    }

    /// The path relative to the module directory, if the file is under it.
    pub fn relpath(&self) -> Option<&[u8]> {
        self.path.get(self.rel_start?..)
    }

    /// How modules.dep names the file: the relative path, or the full path for a file
    /// outside the module directory.
    pub fn dep_path(&self) -> &[u8] {
        self.relpath().unwrap_or(&self.path)
    }

    /// The key `modules.order` lines are matched against (see the module documentation).
    pub fn order_key(&self) -> Option<&[u8]> {
        let rel = self.relpath()?;
        let len = self.stem_end.checked_sub(self.rel_start?)?.checked_add(3)?;
        rel.get(..len.min(rel.len()))
    }

    fn candidate(&self) -> Candidate<'_> {
        Candidate {
            path: &self.path,
            stem_end: self.stem_end,
        }
    }
}

/// Whether `name` ends in a module suffix and is longer than it.
pub fn has_module_extension(name: &[u8]) -> bool {
    MODULE_EXTENSIONS
        .iter()
        .any(|ext| name.len() > ext.len() && name.ends_with(ext))
}

fn os(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

fn errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(5)
}

/// What a directory entry is, after following symbolic links.
enum Kind {
    File,
    Dir,
    Skip,
}

struct Walker<'a> {
    dirname: &'a [u8],
    config: &'a DepmodConfig,
    by_name: HashMap<Vec<u8>, FoundModule>,
    /// Whether to record each module file's [`FileKey`].
    want_keys: bool,
}

/// What walking a directory found, in the order a walk of one entry at a time finds it: the
/// module files, and the diagnostics.
#[derive(Default)]
struct Walked {
    modules: Vec<(Vec<u8>, Option<FileKey>)>,
    diagnostics: Vec<Diagnostic>,
}

/// A directory entry, as the walk sorts it before entering subdirectories.
enum Item {
    /// A module file: its path and, when asked for, its key.
    Module(Vec<u8>, Option<FileKey>),
    /// A subdirectory: its name and path.
    Dir(Vec<u8>, Vec<u8>),
    Diagnostic(Diagnostic),
}

impl Walker<'_> {
    fn search_path(&mut self, dir: &[u8], diagnostics: &mut Vec<Diagnostic>) -> Result<(), i32> {
        let entries = match std::fs::read_dir(os(dir)) {
            Ok(entries) => entries,
            Err(e) => {
                diagnostics.push(Diagnostic::ScanDirUnreadable {
                    path: dir.to_vec(),
                    error: errno(&e),
                });
                return Err(errno(&e));
            }
        };
        let id = crate::fs::stat(os(dir))
            .map(|m| (m.dev, m.ino))
            .unwrap_or((0, 0));
        let mut walked = Walked::default();
        walk(
            self.config,
            self.want_keys,
            dir,
            entries,
            &[id],
            &mut walked,
        );
        diagnostics.extend(walked.diagnostics);
        // Which of two modules of one name wins can depend on which was found first.
        for (path, key) in walked.modules {
            self.consider(path, key);
        }
        Ok(())
    }

    fn consider(&mut self, path: Vec<u8>, key: Option<FileKey>) {
        let Some(mut found) = FoundModule::new(path, self.dirname) else {
            return;
        };
        found.key = key;
        if let Some(existing) = self.by_name.get(&found.name) {
            if self
                .config
                .existing_wins(self.dirname, existing.candidate(), found.candidate())
            {
                return;
            }
        }
        self.by_name.insert(found.name.clone(), found);
    }
}

/// Walks the directory `dir`, whose entries are `entries`, into `walked`. `stack` holds the
/// (device, inode) of the directories on the current path, `dir`'s last, to catch loops.
/// Subdirectories are walked in parallel, and what they find is put back in entry order.
fn walk(
    config: &DepmodConfig,
    want_keys: bool,
    dir: &[u8],
    entries: std::fs::ReadDir,
    stack: &[(u64, u64)],
    walked: &mut Walked,
) {
    let mut items = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                items.push(Item::Diagnostic(Diagnostic::ScanDirUnreadable {
                    path: dir.to_vec(),
                    error: errno(&e),
                }));
                break;
            }
        };
        let name = entry.file_name();
        let name = name.as_bytes();
        if config.excludes_name(name) {
            continue;
        }
        let mut path = Vec::with_capacity(dir.len() + 1 + name.len());
        path.extend_from_slice(dir);
        path.push(b'/');
        path.extend_from_slice(name);
        // A regular file's key comes from a look-up relative to the open directory; a
        // symbolic link's from the `stat` that follows it.
        let mut key = None;
        let kind = match entry.file_type() {
            Ok(t) if t.is_file() => {
                if want_keys && has_module_extension(name) {
                    key = entry.metadata().ok().map(|m| FileKey::of(&m));
                }
                Kind::File
            }
            Ok(t) if t.is_dir() => Kind::Dir,
            _ => match crate::fs::stat(os(&path)) {
                Ok(m) if m.is_file() => {
                    key = want_keys.then(|| FileKey::of(m));
                    Kind::File
                }
                Ok(m) if m.is_dir() => Kind::Dir,
                Ok(m) => {
                    items.push(Item::Diagnostic(Diagnostic::ScanUnsupportedType {
                        path: path.clone(),
                        mode: m.mode & 0o170000,
                    }));
                    Kind::Skip
                }
                Err(e) => {
                    items.push(Item::Diagnostic(Diagnostic::ScanStatFailed {
                        dir: dir.to_vec(),
                        name: name.to_vec(),
                        error: errno(&e),
                    }));
                    Kind::Skip
                }
            },
        };
        match kind {
            Kind::Skip => {}
            Kind::Dir => items.push(Item::Dir(name.to_vec(), path)),
            Kind::File => {
                if has_module_extension(name) {
                    items.push(Item::Module(path, key));
                }
            }
        }
    }
    if !items.iter().any(|item| matches!(item, Item::Dir(..))) {
        for item in items {
            match item {
                Item::Module(path, key) => walked.modules.push((path, key)),
                Item::Diagnostic(d) => walked.diagnostics.push(d),
                Item::Dir(..) => {}
            }
        }
        return;
    }
    let subdirs: Vec<Option<Walked>> = items
        .par_iter()
        .with_max_len(1)
        .map(|item| match item {
            Item::Dir(name, path) => {
                let mut sub = Walked::default();
                descend(config, want_keys, dir, name, path, stack, &mut sub);
                Some(sub)
            }
            _ => None,
        })
        .collect();
    for (item, sub) in items.into_iter().zip(subdirs) {
        match (item, sub) {
            (Item::Module(path, key), _) => walked.modules.push((path, key)),
            (Item::Diagnostic(d), _) => walked.diagnostics.push(d),
            (Item::Dir(..), Some(sub)) => {
                walked.modules.extend(sub.modules);
                walked.diagnostics.extend(sub.diagnostics);
            }
            (Item::Dir(..), None) => {}
        }
    }
}

/// Enters the subdirectory `name` (at `path`) of `dir`, unless it closes a loop or lies too
/// deep, and walks it into `walked`.
fn descend(
    config: &DepmodConfig,
    want_keys: bool,
    dir: &[u8],
    name: &[u8],
    path: &[u8],
    stack: &[(u64, u64)],
    walked: &mut Walked,
) {
    let opened = crate::fs::stat(os(path)).and_then(|m| {
        let entries = std::fs::read_dir(os(path))?;
        Ok((m, entries))
    });
    let (meta, entries) = match opened {
        Ok(pair) => pair,
        Err(e) => {
            walked.diagnostics.push(Diagnostic::ScanOpenFailed {
                dir: dir.to_vec(),
                name: name.to_vec(),
                error: errno(&e),
            });
            return;
        }
    };
    let id = (meta.dev, meta.ino);
    if stack.contains(&id) {
        walked.diagnostics.push(Diagnostic::ScanLoop {
            path: path.to_vec(),
        });
        return;
    }
    if stack.len() >= MAX_SCAN_DEPTH {
        walked.diagnostics.push(Diagnostic::ScanTooDeep {
            path: path.to_vec(),
        });
        return;
    }
    let mut inner = Vec::with_capacity(stack.len() + 1);
    inner.extend_from_slice(stack);
    inner.push(id);
    walk(config, want_keys, path, entries, &inner, walked);
}

/// Walks the module directory `dirname` and the configured external directories. Fails
/// (kmod: "could not search modules") only when `dirname` itself cannot be read.
/// `want_keys`: record each module file's [`FileKey`] in [`FoundModule::key`] (for the cache).
pub fn scan_tree(
    dirname: &[u8],
    config: &DepmodConfig,
    want_keys: bool,
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<Vec<FoundModule>, Fatal> {
    let mut walker = Walker {
        dirname,
        config,
        by_name: HashMap::default(),
        want_keys,
    };
    walker
        .search_path(dirname, diagnostics)
        .map_err(|error| Fatal::SearchFailed { error })?;
    for external in config.externals.iter().rev() {
        // A missing or unreadable external directory is reported and skipped.
        let _ = walker.search_path(external, diagnostics);
    }
    Ok(walker.by_name.into_values().collect())
}

/// The modules named on the command line (`depmod VERSION FILE...`): each must be an
/// absolute path to an existing file, and names must not repeat.
pub fn from_files(
    dirname: &[u8],
    files: &[Vec<u8>],
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<Vec<FoundModule>, Fatal> {
    let mut out: Vec<FoundModule> = Vec::new();
    let mut by_name: HashMap<Vec<u8>, usize> = HashMap::default();
    for file in files {
        if file.first() != Some(&b'/') {
            return Err(Fatal::NotAbsolute { path: file.clone() });
        }
        if let Err(e) = crate::fs::stat(os(file)) {
            return Err(Fatal::CreateFailed {
                path: file.clone(),
                error: errno(&e),
            });
        }
        let Some(found) = FoundModule::new(file.clone(), dirname) else {
            return Err(Fatal::CreateFailed {
                path: file.clone(),
                error: 2,
            });
        };
        if let Some(&at) = by_name.get(&found.name) {
            let existing = out.get(at).map(|m| m.path.clone()).unwrap_or_default();
            if existing == found.path {
                diagnostics.push(Diagnostic::HashAddUnique {
                    key: found.name.clone(),
                    error: 17,
                });
                return Err(Fatal::AddFailed {
                    path: file.clone(),
                    error: 17,
                });
            }
            diagnostics.push(Diagnostic::ModuleExistsWithOtherPath {
                name: found.name.clone(),
                new_path: found.path.clone(),
                old_path: existing,
            });
            return Err(Fatal::CreateFailed {
                path: file.clone(),
                error: 17,
            });
        }
        by_name.insert(found.name.clone(), out.len());
        out.push(found);
    }
    Ok(out)
}

/// Reads `dirname/NAME` for depmod's auxiliary inputs (`modules.order`, `modules.builtin`,
/// `modules.builtin.modinfo`). A missing or unreadable file is reported as kmod warns about
/// it and gives `None`.
pub fn read_input(
    dirname: &[u8],
    name: &'static str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Vec<u8>> {
    if let Err(e) = std::fs::read_dir(os(dirname)) {
        diagnostics.push(Diagnostic::InputDirUnreadable {
            dir: dirname.to_vec(),
            error: errno(&e),
        });
        return None;
    }
    let mut path = dirname.to_vec();
    path.push(b'/');
    path.extend_from_slice(name.as_bytes());
    // Opened without blocking and only as a regular file: a FIFO must not hang depmod, nor a
    // link to /dev/zero fill its memory.
    let read = crate::fs::open_regular_file(os(&path))
        .map_err(|e| e.errno())
        .and_then(|(mut file, len)| {
            use std::io::Read;
            let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            file.read_to_end(&mut bytes).map_err(|e| errno(&e))?;
            Ok(bytes)
        });
    match read {
        Ok(bytes) => Some(bytes),
        Err(error) => {
            diagnostics.push(Diagnostic::InputUnreadable {
                name,
                dir: dirname.to_vec(),
                error,
            });
            None
        }
    }
}

/// Puts `modules` into kmod's order (see the module documentation), reading
/// `dirname/modules.order`.
pub fn order_modules(
    modules: Vec<FoundModule>,
    dirname: &[u8],
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<FoundModule> {
    let modules = order::sort_in_hash_order(modules, order::MODULE_BUCKETS, |m| &m.name);
    let Some(contents) = read_input(dirname, crate::layout::ORDER, diagnostics) else {
        return modules;
    };
    let by_key: HashMap<&[u8], usize> = modules
        .iter()
        .enumerate()
        .filter_map(|(i, m)| Some((m.order_key()?, i)))
        .collect();
    let mut rank: Vec<Option<usize>> = vec![None; modules.len()];
    let mut next = 0usize;
    for (index, piece) in fgets_pieces(&contents, LINE_BUFFER).enumerate() {
        // fgets stores a C string: a NUL byte ends it early.
        let len = piece.iter().position(|&b| b == 0).unwrap_or(piece.len());
        if len == 0 {
            continue;
        }
        if piece.get(len - 1) != Some(&b'\n') {
            diagnostics.push(Diagnostic::OrderCorrupted {
                dir: dirname.to_vec(),
                line: index + 1,
            });
            return modules;
        }
        let line = piece.get(..len - 1).unwrap_or_default();
        if let Some(&i) = by_key.get(line) {
            if let Some(slot) = rank.get_mut(i) {
                if slot.is_none() {
                    *slot = Some(next);
                    next += 1;
                }
            }
        }
    }
    drop(by_key);
    let mut keyed: Vec<(usize, FoundModule)> = modules
        .into_iter()
        .zip(rank)
        .map(|(m, r)| (r.unwrap_or(usize::MAX), m))
        .collect();
    // Stable: unlisted modules keep the hash order.
    keyed.sort_by_key(|(r, _)| *r);
    keyed.into_iter().map(|(_, m)| m).collect()
}

/// `-A`: whether no module under `dirname` is newer than `dirname/modules.dep`
/// (microsecond modification times, as kmod compares them). Unreadable directories and a
/// missing modules.dep are reported and count as "not up to date".
pub fn up_to_date(dirname: &[u8], diagnostics: &mut Vec<Diagnostic>) -> bool {
    if let Err(e) = std::fs::read_dir(os(dirname)) {
        diagnostics.push(Diagnostic::ScanDirUnreadable {
            path: dirname.to_vec(),
            error: errno(&e),
        });
        return false;
    }
    let mut dep = dirname.to_vec();
    dep.extend_from_slice(b"/modules.dep");
    let stamp = match crate::fs::stat(os(&dep)) {
        Ok(m) => usec(&m),
        Err(e) => {
            diagnostics.push(Diagnostic::DepfileStatFailed {
                dir: dirname.to_vec(),
                error: errno(&e),
            });
            return false;
        }
    };
    let mut stack = Vec::new();
    fresh_dir(dirname, stamp, &mut stack, diagnostics)
}

fn usec(m: &crate::fs::Status) -> i128 {
    i128::from(m.mtime.0) * 1_000_000 + i128::from(m.mtime.1) / 1000
}

fn fresh_dir(
    dir: &[u8],
    stamp: i128,
    stack: &mut Vec<(u64, u64)>,
    diagnostics: &mut Vec<Diagnostic>,
) -> bool {
    let Ok(meta) = crate::fs::stat(os(dir)) else {
        return true;
    };
    let id = (meta.dev, meta.ino);
    if stack.contains(&id) {
        diagnostics.push(Diagnostic::ScanLoop { path: dir.to_vec() });
        return true;
    }
    if stack.len() >= MAX_SCAN_DEPTH {
        diagnostics.push(Diagnostic::ScanTooDeep { path: dir.to_vec() });
        return true;
    }
    let Ok(entries) = std::fs::read_dir(os(dir)) else {
        return true;
    };
    stack.push(id);
    let mut fresh = true;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.as_bytes();
        if matches!(name, b"." | b".." | b"build" | b"source") {
            continue;
        }
        let mut path = dir.to_vec();
        path.push(b'/');
        path.extend_from_slice(name);
        let meta = match crate::fs::stat(os(&path)) {
            Ok(m) => m,
            Err(e) => {
                diagnostics.push(Diagnostic::ScanStatFailed {
                    dir: dir.to_vec(),
                    name: name.to_vec(),
                    error: errno(&e),
                });
                continue;
            }
        };
        if meta.is_dir() {
            fresh = fresh_dir(&path, stamp, stack, diagnostics);
        } else if meta.is_file() {
            if !has_module_extension(name) {
                continue;
            }
            fresh = usec(&meta) <= stamp;
        } else {
            diagnostics.push(Diagnostic::ScanUnsupportedType {
                path,
                mode: meta.mode & 0o170000,
            });
            continue;
        }
        if !fresh {
            break;
        }
    }
    stack.pop();
    fresh
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_module_paths() {
        let m = FoundModule::new(b"/m/k/kernel/a/usb-storage.ko.xz".to_vec(), b"/m/k").unwrap();
        assert_eq!(m.name, b"usb_storage");
        assert_eq!(m.relpath(), Some(&b"kernel/a/usb-storage.ko.xz"[..]));
        assert_eq!(m.order_key(), Some(&b"kernel/a/usb-storage.ko"[..]));
        assert_eq!(m.dep_path(), b"kernel/a/usb-storage.ko.xz");
        let odd = FoundModule::new(b"/m/k/d/foo.bar.ko".to_vec(), b"/m/k").unwrap();
        assert_eq!(odd.order_key(), Some(&b"d/foo.ba"[..]));
        let ext = FoundModule::new(b"/opt/x.ko".to_vec(), b"/m/k").unwrap();
        assert_eq!(ext.relpath(), None);
        assert_eq!(ext.dep_path(), b"/opt/x.ko");
        assert!(FoundModule::new(b"/m/k/".to_vec(), b"/m/k").is_none());
    }

    #[test]
    fn extensions() {
        assert!(has_module_extension(b"a.ko"));
        assert!(has_module_extension(b"a.ko.zst"));
        assert!(!has_module_extension(b".ko"));
        assert!(!has_module_extension(b"a.ko.bz2"));
        assert!(!has_module_extension(b"a.o"));
    }
}

//! A module directory (`/lib/modules/KVER`) and the indexes depmod wrote into it.
//!
//! Indexes are opened on first use, or all at once with [`ModuleDir::open_all`] (so that one
//! run reads a single depmod generation), and kept open: a lookup reads the parts it needs
//! (see [`IndexFile`]). A missing index is not an error
//! here (kmod treats it as "this source knows nothing"); a corrupt one is, naming the file.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::index::{Index, IndexFile};
use crate::mmap::FileBytes;
use crate::module::info::{builtin_info, InfoEntry};
use crate::stamp::FileStamp;

pub use crate::layout::{IndexKind, MODULE_DIRECTORY};

/// How many times [`ModuleDir::open_all`] opens the indexes while a depmod is publishing a
/// new set (1, 2, 4, 8, then 16 ms apart: about 0.1 s in all).
pub const OPEN_ALL_ATTEMPTS: u32 = 10;

/// An opened index, with the stamp of its file (`None`: no file).
type OpenedIndex = (Option<Index<IndexFile>>, Option<FileStamp>);

/// One index as [`ModuleDir::open_all`] found it: opened (`Err`: corrupt), and the stamp of
/// its file.
type Snapshot = (
    std::result::Result<Option<Index<IndexFile>>, ()>,
    Option<FileStamp>,
);

/// Reads an opened index file (`opened` is the open of `path`): `None` inside when it does not
/// exist, cannot be opened or is empty (depmod writes an empty modules.builtin.bin and
/// modules.builtin.alias.bin when modules.builtin is missing, and kmod reads them as no
/// index); an error when it has bytes but is corrupt.
fn read_index_file(
    opened: std::io::Result<std::fs::File>,
    path: &Path,
    mapped: bool,
) -> Result<OpenedIndex> {
    let Ok(file) = opened else {
        return Ok((None, None));
    };
    let (file, meta) = match crate::fs::check_regular_file(file, path) {
        Ok(opened) => opened,
        Err(Error::Io { .. }) | Err(Error::NotRegularFile { .. }) => return Ok((None, None)),
        Err(other) => return Err(other),
    };
    let (len, id) = (meta.len(), Some(FileStamp::from_status(&meta)));
    if len == 0 {
        return Ok((None, id));
    }
    let source = if mapped {
        IndexFile::mapped(file, len)
    } else {
        IndexFile::new(file, len)
    };
    let index = Index::from_bytes(source).map_err(|source| Error::index(path, source))?;
    Ok((Some(index), id))
}

/// A module's entry in modules.dep: its file and its dependencies, most-dependent first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepEntry {
    /// The module file as written in modules.dep (relative to the module directory, or
    /// absolute).
    pub path: Vec<u8>,
    /// The dependencies' paths, as written.
    pub deps: Vec<Vec<u8>>,
}

impl DepEntry {
    /// Parses a modules.dep line `path: dep dep ...`.
    pub fn parse(line: &[u8]) -> Option<DepEntry> {
        let colon = line.iter().position(|&b| b == b':')?;
        let path = line.get(..colon)?.to_vec();
        if path.is_empty() {
            return None;
        }
        let deps = line
            .get(colon + 1..)
            .unwrap_or_default()
            .split(|b| b.is_ascii_whitespace())
            .filter(|d| !d.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        Some(DepEntry { path, deps })
    }
}

/// A module directory and its lazily opened indexes.
#[derive(Debug)]
pub struct ModuleDir {
    dir: PathBuf,
    /// The directory itself, opened once (`O_PATH`), so that its files are looked up by name
    /// from it rather than by walking the whole path again for each index and each check (a
    /// modprobe run opens five indexes and checks them again). `None` inside when it cannot
    /// be opened; the full paths are used then.
    handle: OnceLock<Option<std::os::fd::OwnedFd>>,
    /// Each index once opened (`None` inside: no usable file), with the stamp of the file read.
    indexes: [OnceLock<OpenedIndex>; 5],
    builtin_modinfo: OnceLock<Option<FileBytes>>,
    /// Whether indexes are mapped whole ([`ModuleDir::with_mapped_indexes`]).
    mapped: bool,
}

impl ModuleDir {
    /// A module directory at `dir` (nothing is opened yet).
    pub fn new(dir: impl Into<PathBuf>) -> ModuleDir {
        ModuleDir {
            dir: dir.into(),
            handle: OnceLock::new(),
            indexes: Default::default(),
            builtin_modinfo: OnceLock::new(),
            mapped: false,
        }
    }

    /// Maps each index whole when it is opened, instead of reading the parts a lookup needs
    /// (see [`IndexFile::mapped`]): for a process that lives long and looks up much, such as a
    /// libkmod client. A tool that looks up a few keys and exits is faster without.
    pub fn with_mapped_indexes(mut self) -> ModuleDir {
        self.mapped = true;
        self
    }

    /// The directory's handle, opened on first use, through the C library's `open` (see
    /// [`crate::fs`]: an interposer that redirects paths must see it; the `openat` and
    /// `fstatat` calls relative to the handle then need no redirecting).
    fn handle(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        use std::os::unix::fs::OpenOptionsExt;
        self.handle
            .get_or_init(|| {
                std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(nix::libc::O_PATH | nix::libc::O_DIRECTORY)
                    .open(&self.dir)
                    .ok()
                    .map(std::os::fd::OwnedFd::from)
            })
            .as_ref()
            .map(|fd| fd.as_fd())
    }

    /// Opens the directory's file `name` for reading, without blocking (a FIFO must not hang
    /// the open).
    fn open_file(&self, name: &str) -> std::io::Result<std::fs::File> {
        use rustix::fs::{Mode, OFlags};
        match self.handle() {
            Some(dir) => {
                let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
                Ok(rustix::fs::openat(dir, name, flags, Mode::empty())?.into())
            }
            None => crate::fs::open_nonblocking(&self.dir.join(name)),
        }
    }

    /// The stamp of the directory's file `name` now (symlinks followed), if it exists.
    fn file_stamp(&self, name: &str) -> Option<FileStamp> {
        match self.handle() {
            Some(dir) => {
                let st = rustix::fs::statat(dir, name, rustix::fs::AtFlags::empty()).ok()?;
                Some(FileStamp::from_status(&st))
            }
            None => FileStamp::of(&self.dir.join(name)),
        }
    }

    /// The directory kmod uses for `root` and `kernel_version`: `ROOT/lib/modules/KVER`.
    pub fn for_kernel(root: &Path, kernel_version: &str) -> ModuleDir {
        let mut dir = root.as_os_str().to_owned();
        dir.push(MODULE_DIRECTORY);
        dir.push("/");
        dir.push(kernel_version);
        ModuleDir::new(PathBuf::from(dir))
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The path of an index file in this directory.
    pub fn index_path(&self, kind: IndexKind) -> PathBuf {
        self.dir.join(kind.file_name())
    }

    /// The index of `kind`, or `None` when its file does not exist or cannot be opened.
    ///
    /// An empty file is absent too: depmod (kmod's and ours) writes a 0-byte
    /// modules.builtin.bin and modules.builtin.alias.bin when modules.builtin is missing, and
    /// kmod reads them as no index. A file that has bytes but is corrupt gives an error.
    pub fn index(&self, kind: IndexKind) -> Result<Option<&Index<IndexFile>>> {
        let slot = self
            .indexes
            .get(kind.slot())
            .ok_or_else(|| Error::NotFound {
                name: kind.file_name().into(),
            })?;
        if let Some((index, _)) = slot.get() {
            return Ok(index.as_ref());
        }
        let opened = read_index_file(
            self.open_file(kind.file_name()),
            &self.index_path(kind),
            self.mapped,
        )?;
        Ok(slot.get_or_init(|| opened).0.as_ref())
    }

    /// Opens every index that can be opened now, as kmod's `kmod_load_resources` does when
    /// modprobe starts, and from one depmod generation: a run that reads an alias from one
    /// published set and its module's dependencies from the next would plan a load that
    /// neither set describes.
    ///
    /// rkmod's depmod replaces the files one by one between writing and deleting its journal
    /// (see [`crate::depmod::atomic`]), holding a lock on the directory. The files opened here
    /// are one generation when, after the last was opened, none of them has been replaced
    /// (same device and inode at its path) and no publication is under way (no journal, or a
    /// stale one left by a killed run, with the lock free). Otherwise they are opened again,
    /// up to [`OPEN_ALL_ATTEMPTS`] times, a few milliseconds apart; after that the last set is
    /// used as it is (kmod's depmod, which has no journal, can always be caught halfway). An
    /// index that cannot be opened is left for the lookup that needs it to report.
    pub fn open_all(&self) {
        let mut opened = self.open_each();
        for attempt in 1..OPEN_ALL_ATTEMPTS {
            if self.one_generation(&opened) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1 << (attempt - 1).min(4)));
            opened = self.open_each();
        }
        // An absent index is absent for the whole run too; a corrupt one is left unopened.
        for (kind, (index, stamp)) in IndexKind::ALL.into_iter().zip(opened) {
            if let (Some(slot), Ok(index)) = (self.indexes.get(kind.slot()), index) {
                let _ = slot.get_or_init(|| (index, stamp));
            }
        }
    }

    /// Opens each index afresh: the index (`Err` for a corrupt one, left for
    /// [`ModuleDir::index`] to report) and the device and inode of the file read.
    fn open_each(&self) -> Vec<Snapshot> {
        IndexKind::ALL
            .into_iter()
            .map(|kind| {
                let name = kind.file_name();
                match read_index_file(self.open_file(name), &self.index_path(kind), self.mapped) {
                    Ok((index, id)) => (Ok(index), id),
                    Err(_) => (Err(()), self.file_stamp(name)),
                }
            })
            .collect()
    }

    /// Whether the indexes in `opened` are still the files at their paths and no publication
    /// is under way.
    fn one_generation(&self, opened: &[Snapshot]) -> bool {
        let replaced = IndexKind::ALL
            .into_iter()
            .zip(opened)
            .any(|(kind, (_, id))| self.file_stamp(kind.file_name()) != *id);
        !replaced && !self.publication_under_way()
    }

    /// A journal exists and a depmod holds the directory's lock.
    fn publication_under_way(&self) -> bool {
        if self.file_stamp(crate::layout::JOURNAL).is_none() {
            return false;
        }
        let Ok(handle) = std::fs::File::open(&self.dir) else {
            return false;
        };
        nix::fcntl::Flock::lock(handle, nix::fcntl::FlockArg::LockSharedNonblock).is_err()
    }

    /// Opens every index now, so that a later lookup cannot fail on a corrupt one halfway.
    pub fn preload(&self) -> Result<()> {
        for kind in IndexKind::ALL {
            self.index(kind)?;
        }
        Ok(())
    }

    /// Why the index of `kind` is not open, as kmod's `kmod_load_resources` reports it: `None`
    /// when it is open; else the errno of opening its file (`ENOENT` for none), or `EINVAL` for a
    /// file that is empty, too short or corrupt. Opens the index first if nothing tried yet.
    pub fn index_errno(&self, kind: IndexKind) -> Option<i32> {
        if let Ok(Some(_)) = self.index(kind) {
            return None;
        }
        Some(match self.open_file(kind.file_name()) {
            Err(e) => e.raw_os_error().unwrap_or(nix::errno::Errno::EINVAL as i32),
            Ok(_) => nix::errno::Errno::EINVAL as i32,
        })
    }

    /// Whether an index this directory has open was replaced or changed on disk since it was
    /// opened (or removed): kmod's "must reload". Indexes not open are not watched.
    pub fn indexes_changed(&self) -> bool {
        IndexKind::ALL.into_iter().any(|kind| {
            let opened = self.indexes.get(kind.slot()).and_then(OnceLock::get);
            match opened {
                Some((Some(_), Some(stamp))) => self.file_stamp(kind.file_name()) != Some(*stamp),
                _ => false,
            }
        })
    }

    fn index_error(&self, kind: IndexKind, source: crate::index::IndexError) -> Error {
        Error::index(self.index_path(kind), source)
    }

    /// The modules.dep entry of module `name` (normalised), from modules.dep.bin.
    pub fn dep_entry(&self, name: &[u8]) -> Result<Option<DepEntry>> {
        let Some(index) = self.index(IndexKind::Dep)? else {
            return Ok(None);
        };
        let value = index
            .get_first(name)
            .map_err(|e| self.index_error(IndexKind::Dep, e))?;
        Ok(value.and_then(|v| DepEntry::parse(&v.value)))
    }

    /// The full path of a module file named in modules.dep.
    pub fn module_path(&self, dep_path: &[u8]) -> PathBuf {
        use std::os::unix::ffi::OsStrExt;
        let rel = std::ffi::OsStr::from_bytes(dep_path);
        if dep_path.first() == Some(&b'/') {
            PathBuf::from(rel)
        } else {
            self.dir.join(rel)
        }
    }

    /// Module names whose alias patterns in `kind` (an alias-type index) match `key`, in
    /// kmod's order. `None` when the index does not exist.
    pub fn wildcard_lookup(&self, kind: IndexKind, key: &[u8]) -> Result<Option<Vec<Vec<u8>>>> {
        let Some(index) = self.index(kind)? else {
            return Ok(None);
        };
        let values = index
            .search_wildcard(key)
            .map_err(|e| self.index_error(kind, e))?;
        Ok(Some(values.into_iter().map(|v| v.value).collect()))
    }

    /// Whether `name` is listed in modules.builtin.bin.
    pub fn is_builtin(&self, name: &[u8]) -> Result<bool> {
        let Some(index) = self.index(IndexKind::Builtin)? else {
            return Ok(false);
        };
        let value = index
            .get_first(name)
            .map_err(|e| self.index_error(IndexKind::Builtin, e))?;
        Ok(value.is_some())
    }

    /// The records of builtin module `name` from modules.builtin.modinfo; `None` when that file
    /// does not exist (an old kernel).
    pub fn builtin_modinfo(&self, name: &[u8]) -> Result<Option<Vec<InfoEntry>>> {
        let path = self.dir.join(crate::layout::BUILTIN_MODINFO);
        // Opened without blocking: a FIFO in its place must not hang the run.
        let bytes = self.builtin_modinfo.get_or_init(|| {
            let file = self.open_file(crate::layout::BUILTIN_MODINFO).ok()?;
            let (file, meta) = crate::fs::check_regular_file(file, &path).ok()?;
            FileBytes::from_file(&file, meta.len()).ok()
        });
        match bytes {
            None => Ok(None),
            Some(bytes) => builtin_info(bytes, name)
                .map(Some)
                .map_err(|reason| Error::BadModule {
                    path,
                    reason: reason.into(),
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep_lines_parse() {
        let e = DepEntry::parse(b"kernel/a.ko: kernel/b.ko kernel/c.ko.xz").unwrap();
        assert_eq!(e.path, b"kernel/a.ko");
        assert_eq!(
            e.deps,
            vec![b"kernel/b.ko".to_vec(), b"kernel/c.ko.xz".to_vec()]
        );
        assert_eq!(DepEntry::parse(b"kernel/a.ko:").unwrap().deps.len(), 0);
        assert!(DepEntry::parse(b"no colon").is_none());
    }

    fn write_index(dir: &Path, kind: IndexKind, key: &[u8], value: &[u8]) {
        let mut builder = crate::index::IndexBuilder::new();
        builder.insert(key, value, 0).unwrap();
        let temp = dir.join("new.tmp");
        std::fs::write(&temp, builder.to_bytes().unwrap()).unwrap();
        std::fs::rename(&temp, dir.join(kind.file_name())).unwrap();
    }

    /// open_all keeps what it opened: a file replaced afterwards is not seen by this run.
    #[test]
    fn open_all_takes_a_snapshot() {
        let tmp = tempfile::tempdir().unwrap();
        write_index(tmp.path(), IndexKind::Dep, b"m", b"kernel/old.ko:");
        let dir = ModuleDir::new(tmp.path());
        dir.open_all();
        write_index(tmp.path(), IndexKind::Dep, b"m", b"kernel/new.ko:");
        assert_eq!(dir.dep_entry(b"m").unwrap().unwrap().path, b"kernel/old.ko");
        // Absent at the start stays absent for the run.
        write_index(tmp.path(), IndexKind::Alias, b"a", b"m");
        assert_eq!(dir.wildcard_lookup(IndexKind::Alias, b"a").unwrap(), None);
    }

    /// A replaced index is noticed; one never opened is not watched; why an index is not open
    /// is kmod's errno.
    #[test]
    fn replaced_indexes_and_open_errors() {
        let tmp = tempfile::tempdir().unwrap();
        write_index(tmp.path(), IndexKind::Dep, b"m", b"kernel/old.ko:");
        std::fs::write(tmp.path().join("modules.builtin.bin"), b"").unwrap();
        let dir = ModuleDir::new(tmp.path());
        dir.open_all();
        assert!(!dir.indexes_changed());
        assert_eq!(dir.index_errno(IndexKind::Dep), None);
        assert_eq!(dir.index_errno(IndexKind::Alias), Some(2), "ENOENT");
        assert_eq!(
            dir.index_errno(IndexKind::Builtin),
            Some(22),
            "EINVAL: empty"
        );
        write_index(tmp.path(), IndexKind::Alias, b"a", b"m");
        assert!(
            !dir.indexes_changed(),
            "an index that was absent is not watched"
        );
        write_index(tmp.path(), IndexKind::Dep, b"m", b"kernel/new.ko:");
        assert!(dir.indexes_changed());
    }

    /// A journal with the directory locked is a publication under way: open_all waits for it,
    /// at most about 0.1 s, then uses what it has. A journal with the lock free was left by a
    /// killed run and costs nothing.
    #[test]
    fn open_all_waits_out_a_publication_only() {
        let tmp = tempfile::tempdir().unwrap();
        write_index(tmp.path(), IndexKind::Dep, b"m", b"kernel/m.ko:");
        std::fs::write(tmp.path().join(crate::layout::JOURNAL), "x").unwrap();
        let started = std::time::Instant::now();
        ModuleDir::new(tmp.path()).open_all();
        let stale = started.elapsed();
        let lock = nix::fcntl::Flock::lock(
            std::fs::File::open(tmp.path()).unwrap(),
            nix::fcntl::FlockArg::LockExclusive,
        )
        .unwrap();
        let started = std::time::Instant::now();
        let dir = ModuleDir::new(tmp.path());
        dir.open_all();
        let busy = started.elapsed();
        drop(lock);
        assert!(stale < std::time::Duration::from_millis(50), "{stale:?}");
        assert!(busy >= std::time::Duration::from_millis(50), "{busy:?}");
        assert!(busy < std::time::Duration::from_secs(2), "{busy:?}");
        assert_eq!(dir.dep_entry(b"m").unwrap().unwrap().path, b"kernel/m.ko");
    }

    /// Regression: a FIFO as modules.builtin.modinfo hung `modinfo BUILTIN` in a blocking
    /// open; it is now no file.
    #[test]
    fn fifo_as_builtin_modinfo_is_absent() {
        let tmp = tempfile::tempdir().unwrap();
        nix::unistd::mkfifo(
            &tmp.path().join("modules.builtin.modinfo"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        let dir = ModuleDir::new(tmp.path());
        assert_eq!(dir.builtin_modinfo(b"ext4").unwrap(), None);
    }

    /// Regression: depmod writes a 0-byte modules.builtin.bin when modules.builtin is
    /// missing, and every modprobe that consulted it failed with "corrupt index: truncated at
    /// offset 0". An empty index is no index; one byte of garbage is still corrupt.
    #[test]
    fn empty_index_file_is_absent() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("modules.builtin.bin"), b"").unwrap();
        std::fs::write(dir.path().join("modules.builtin.alias.bin"), b"").unwrap();
        let moddir = ModuleDir::new(dir.path());
        assert!(!moddir.is_builtin(b"anything").unwrap());
        assert_eq!(
            moddir
                .wildcard_lookup(IndexKind::BuiltinAlias, b"anything")
                .unwrap(),
            None
        );
        std::fs::write(dir.path().join("modules.builtin.bin"), b"x").unwrap();
        let moddir = ModuleDir::new(dir.path());
        assert!(matches!(
            moddir.is_builtin(b"anything"),
            Err(Error::Index { .. })
        ));
    }
}

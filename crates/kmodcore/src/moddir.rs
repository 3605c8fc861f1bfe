//! A module directory (`/lib/modules/KVER`) and the indexes depmod wrote into it.
//!
//! Indexes are opened on first use and kept mapped. A missing index is not an error here (kmod
//! treats it as "this source knows nothing"); a corrupt one is, naming the file.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::index::Index;
use crate::mmap::FileBytes;
use crate::module::info::{builtin_info, InfoEntry};

/// The default root of module directories.
pub const MODULE_DIRECTORY: &str = "/lib/modules";

/// The binary indexes depmod writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    /// `modules.dep.bin`: module name to its modules.dep line.
    Dep,
    /// `modules.alias.bin`: alias pattern to module name.
    Alias,
    /// `modules.symbols.bin`: `symbol:NAME` to the exporting module.
    Symbols,
    /// `modules.builtin.bin`: builtin module names.
    Builtin,
    /// `modules.builtin.alias.bin`: alias of a builtin module to its name.
    BuiltinAlias,
}

impl IndexKind {
    /// The index's file name.
    pub fn file_name(self) -> &'static str {
        match self {
            IndexKind::Dep => "modules.dep.bin",
            IndexKind::Alias => "modules.alias.bin",
            IndexKind::Symbols => "modules.symbols.bin",
            IndexKind::Builtin => "modules.builtin.bin",
            IndexKind::BuiltinAlias => "modules.builtin.alias.bin",
        }
    }

    const ALL: [IndexKind; 5] = [
        IndexKind::Dep,
        IndexKind::Alias,
        IndexKind::Symbols,
        IndexKind::Builtin,
        IndexKind::BuiltinAlias,
    ];

    fn slot(self) -> usize {
        self as usize
    }
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
    indexes: [OnceLock<Option<Index<FileBytes>>>; 5],
    builtin_modinfo: OnceLock<Option<FileBytes>>,
}

impl ModuleDir {
    /// A module directory at `dir` (nothing is opened yet).
    pub fn new(dir: impl Into<PathBuf>) -> ModuleDir {
        ModuleDir {
            dir: dir.into(),
            indexes: Default::default(),
            builtin_modinfo: OnceLock::new(),
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
    pub fn index(&self, kind: IndexKind) -> Result<Option<&Index<FileBytes>>> {
        let slot = self
            .indexes
            .get(kind.slot())
            .ok_or_else(|| Error::NotFound {
                name: kind.file_name().into(),
            })?;
        if let Some(index) = slot.get() {
            return Ok(index.as_ref());
        }
        let path = self.index_path(kind);
        let opened = match Index::open(&path) {
            Ok(index) => Some(index),
            Err(Error::Io { .. }) | Err(Error::NotRegularFile { .. }) => None,
            Err(Error::Index { .. }) if std::fs::metadata(&path).is_ok_and(|m| m.len() == 0) => {
                None
            }
            Err(other) => return Err(other),
        };
        Ok(slot.get_or_init(|| opened).as_ref())
    }

    /// Opens every index now, so that a later lookup cannot fail on a corrupt one halfway.
    pub fn preload(&self) -> Result<()> {
        for kind in IndexKind::ALL {
            self.index(kind)?;
        }
        Ok(())
    }

    fn index_error(&self, kind: IndexKind, source: crate::index::IndexError) -> Error {
        Error::Index {
            path: self.index_path(kind),
            source,
        }
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
        let path = self.dir.join("modules.builtin.modinfo");
        let bytes = self
            .builtin_modinfo
            .get_or_init(|| FileBytes::open(&path).ok());
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

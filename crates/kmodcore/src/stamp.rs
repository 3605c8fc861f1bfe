//! Noticing that a file changed since it was read: libkmod's `kmod_validate_resources`.
//!
//! A long-lived reader (systemd-udevd keeps one libkmod context for its whole life) must learn
//! when depmod has published new indexes or the configuration changed, and reload. kmod keeps
//! the modification time of each index it mapped and of each configuration path it listed, in
//! microseconds, and compares it with a fresh `stat`. A [`FileStamp`] keeps more: the device,
//! inode and size as well as the full modification time, so that a file replaced by another
//! with the same time (an index copied in with `cp -p`, a tree restored from a backup) is
//! noticed too. A stamp is never "more current" than kmod's: whatever kmod calls changed,
//! so does rkmod.

use std::path::{Path, PathBuf};

/// What identifies one version of a file: where it lives (device, inode), how long it is, and
/// when it was last written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_sec: i64,
    mtime_nsec: i64,
}

impl FileStamp {
    /// The stamp of `path` now (symlinks followed); `None` when it cannot be `stat`-ed.
    pub fn of(path: &Path) -> Option<FileStamp> {
        crate::fs::stat(path).ok().map(FileStamp::from_status)
    }

    /// The stamp of an already `stat`-ed file: a [`crate::fs::Status`], an open file's
    /// `std::fs::Metadata` or a `rustix::fs::Stat`.
    pub fn from_status(status: impl Into<crate::fs::Status>) -> FileStamp {
        let status = status.into();
        FileStamp {
            dev: status.dev,
            ino: status.ino,
            size: status.size,
            mtime_sec: status.mtime.0,
            mtime_nsec: status.mtime.1,
        }
    }

    /// Whether `path` is still this version of the file (`false` when it is gone).
    pub fn is_current(&self, path: &Path) -> bool {
        FileStamp::of(path) == Some(*self)
    }
}

/// The configuration paths a context read, each with its stamp at that time: the directories
/// and files named to `kmod_new` (or kmod's default directories) that existed. A path that
/// did not exist then is not watched, as in kmod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigStamps {
    paths: Vec<(PathBuf, FileStamp)>,
}

impl ConfigStamps {
    /// Stamps each of `paths` that exists now. Take them before the configuration is read, so
    /// that a change made while it is read is noticed later rather than lost.
    pub fn take(paths: &[PathBuf]) -> ConfigStamps {
        ConfigStamps {
            paths: paths
                .iter()
                .filter_map(|path| Some((path.clone(), FileStamp::of(path)?)))
                .collect(),
        }
    }

    /// Whether any watched path changed or disappeared.
    pub fn changed(&self) -> bool {
        self.paths
            .iter()
            .any(|(path, stamp)| !stamp.is_current(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewrite_a_replacement_and_a_removal_are_changes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("modules.dep.bin");
        std::fs::write(&file, b"one").unwrap();
        let stamp = FileStamp::of(&file).unwrap();
        assert!(stamp.is_current(&file));

        // Replaced by another file with the same size and modification time.
        let other = dir.path().join("new");
        std::fs::write(&other, b"two").unwrap();
        let times = std::fs::File::open(&file)
            .unwrap()
            .metadata()
            .unwrap()
            .modified()
            .unwrap();
        std::fs::File::options()
            .write(true)
            .open(&other)
            .unwrap()
            .set_modified(times)
            .unwrap();
        std::fs::rename(&other, &file).unwrap();
        assert!(!stamp.is_current(&file), "same time and size, other inode");

        let stamp = FileStamp::of(&file).unwrap();
        std::fs::remove_file(&file).unwrap();
        assert!(!stamp.is_current(&file));
    }

    #[test]
    fn config_stamps_watch_only_paths_that_existed() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("modprobe.d");
        std::fs::create_dir(&conf).unwrap();
        let missing = dir.path().join("later.d");
        let stamps = ConfigStamps::take(&[conf.clone(), missing.clone()]);
        std::fs::create_dir(&missing).unwrap();
        assert!(
            !stamps.changed(),
            "a path that did not exist is not watched"
        );
        std::fs::write(conf.join("a.conf"), b"blacklist x\n").unwrap();
        assert!(stamps.changed(), "a file added to a watched directory");
    }
}

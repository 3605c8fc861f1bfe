//! Publishing the output files as a set: never half-written, and never a mix of generations
//! for longer than the renames take.
//!
//! kmod writes each index to a temporary file and renames it into place right away, one file
//! after the other, without `fsync`: a crash can leave a mix of old and new files, a full disk
//! publishes truncated ones, and a killed run leaves its temporaries behind. [`commit`] instead:
//!
//! 1. creates the output directory if needed and takes an exclusive `flock` on it, so that two
//!    rkmod runs never interleave (kmod takes no lock; it is unaffected);
//! 2. [`recover`]s what an earlier, killed run left: it finishes an interrupted publication
//!    (see the journal below) and deletes stray temporaries;
//! 3. writes every file to a temporary in the output directory (`.rkmod-depmod.PID.NAME`, mode
//!    0644) and `fsync`s it; on any error it deletes all of them and leaves the old files as
//!    they were. With a [`Staging`], each file is written as soon as it is rendered and its
//!    `fsync` runs on a thread of its own while the other files are still being rendered;
//! 4. writes the **journal** `.rkmod-depmod.journal` (through a temporary, `fsync`ed, renamed,
//!    then the directory `fsync`ed): once it exists, the new set is complete on disk and
//!    publication must finish;
//! 5. renames every temporary over its file, `fsync`s the directory, deletes the journal. The
//!    deletion is not `fsync`ed: a journal that comes back after a crash names temporaries that
//!    no longer exist, and the next run's recovery renames nothing and deletes it.
//!
//! A crash before step 4 leaves the old set and orphan temporaries (deleted by the next run);
//! a crash during step 5 leaves a journal, and the next run completes the renames before
//! anything else ([`Staging::begin`], called before the analysis, so even a run that fails
//! later does it). Each file is always either completely old or completely new.
//!
//! Journal format (text, one entry per line, names without `/` or newlines):
//!
//! ```text
//! rkmod-depmod-journal 1
//! TEMPORARY<TAB>FINAL
//! ...
//! end
//! ```
//!
//! A journal without its `end` line, or otherwise malformed, was not finished: it is ignored
//! and deleted with the temporaries.

use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;

use super::outputs::OutputFile;

/// Every file rkmod's depmod creates besides its outputs starts with this.
pub const TEMP_PREFIX: &str = ".rkmod-depmod.";
pub use crate::layout::JOURNAL;
/// The journal's first line.
const JOURNAL_HEADER: &str = "rkmod-depmod-journal 1";
/// The journal's last line.
const JOURNAL_END: &str = "end";
/// The largest journal [`recover`] reads (the real one is well under 1 KiB).
const MAX_JOURNAL: u64 = 64 * 1024;

/// What [`commit`] or [`recover`] was doing when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Creating the output directory.
    CreateDir,
    /// Opening or locking the output directory.
    OpenDir,
    /// Finishing or cleaning up after an earlier run.
    Recover,
    /// Creating a temporary file.
    CreateTemp,
    /// Writing or syncing a temporary file.
    Write,
    /// Writing the journal.
    Journal,
    /// Renaming the new files into place.
    Publish,
}

/// A failure to publish the outputs, with the file concerned.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct CommitError {
    /// What was being done.
    pub stage: Stage,
    /// The file or directory concerned.
    pub path: PathBuf,
    /// What the operating system said.
    #[source]
    pub source: std::io::Error,
}

fn fail(stage: Stage, path: &Path) -> impl FnOnce(std::io::Error) -> CommitError + '_ {
    move |source| CommitError {
        stage,
        path: path.to_path_buf(),
        source,
    }
}

/// What [`recover`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Files whose interrupted publication was completed.
    pub completed: Vec<String>,
    /// Stray temporaries deleted.
    pub removed: Vec<String>,
}

// Every call below that names a file does so relative to the output directory's handle
// (`openat`, `renameat`, `unlinkat`, `fstatat`), as kmod's depmod does: the handle itself is
// opened with the C library's `open`, so an interposer that redirects paths (kmod's testsuite)
// sees the one call that needs it, and a directory renamed during the run is never written
// half into its old place and half into its new one.

/// Opens the directory `dir` (read-only: its handle takes the lock and is `fsync`ed).
fn open_dir(dir: &Path) -> Result<File, CommitError> {
    File::open(dir).map_err(fail(Stage::OpenDir, dir))
}

fn sync_dir(handle: &File, dir: &Path) -> Result<(), CommitError> {
    handle.sync_all().map_err(fail(Stage::Publish, dir))
}

/// Opens `dir` and takes the exclusive lock; held until the returned value is dropped.
fn lock(dir: &Path) -> Result<nix::fcntl::Flock<File>, CommitError> {
    let handle = open_dir(dir)?;
    nix::fcntl::Flock::lock(handle, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, errno)| {
        CommitError {
            stage: Stage::OpenDir,
            path: dir.to_path_buf(),
            source: std::io::Error::from_raw_os_error(errno as i32),
        }
    })
}

/// Renames `from` to `to`, both in the directory of `handle`.
fn rename_in(handle: &File, from: &str, to: &str) -> std::io::Result<()> {
    Ok(rustix::fs::renameat(handle, from, handle, to)?)
}

/// Deletes `name` from the directory of `handle`.
fn remove_in(handle: &File, name: &str) -> std::io::Result<()> {
    Ok(rustix::fs::unlinkat(
        handle,
        name,
        rustix::fs::AtFlags::empty(),
    )?)
}

/// Parses a finished journal into (temporary, final) pairs.
fn parse_journal(text: &[u8]) -> Option<Vec<(String, String)>> {
    let text = std::str::from_utf8(text).ok()?;
    let mut lines = text.split_terminator('\n');
    if lines.next()? != JOURNAL_HEADER {
        return None;
    }
    let mut entries = Vec::new();
    for line in lines.by_ref() {
        if line == JOURNAL_END {
            return lines.next().is_none().then_some(entries);
        }
        let (temp, target) = line.split_once('\t')?;
        let safe = |n: &str| !n.is_empty() && !n.contains('/') && n != "." && n != "..";
        if !safe(temp) || !safe(target) || !temp.starts_with(TEMP_PREFIX) {
            return None;
        }
        entries.push((temp.to_string(), target.to_string()));
    }
    None
}

/// Finishes what a killed run left in `dir`: completes a journalled publication and deletes
/// stray temporaries. The caller must hold the directory lock (as [`commit`] does).
pub fn recover(dir: &Path) -> Result<Recovery, CommitError> {
    recover_in(&open_dir(dir)?, dir)
}

/// [`recover`] in the directory `dir` opened as `handle`.
fn recover_in(handle: &File, dir: &Path) -> Result<Recovery, CommitError> {
    use rustix::fs::{AtFlags, Mode, OFlags};
    let mut report = Recovery::default();
    let journal = dir.join(JOURNAL);
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    if let Ok(fd) = rustix::fs::openat(handle, JOURNAL, flags, Mode::empty()) {
        use std::io::Read;
        let mut text = Vec::new();
        File::from(fd)
            .take(MAX_JOURNAL)
            .read_to_end(&mut text)
            .map_err(fail(Stage::Recover, &journal))?;
        if let Some(entries) = parse_journal(&text) {
            for (temp, target) in entries {
                if rustix::fs::statat(handle, temp.as_str(), AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                    rename_in(handle, &temp, &target)
                        .map_err(fail(Stage::Recover, &dir.join(&temp)))?;
                    report.completed.push(target);
                }
            }
            sync_dir(handle, dir)?;
        }
    }
    let entries = std::fs::read_dir(dir).map_err(fail(Stage::Recover, dir))?;
    for entry in entries {
        let entry = entry.map_err(fail(Stage::Recover, dir))?;
        let name = entry.file_name();
        if !name.as_bytes().starts_with(TEMP_PREFIX.as_bytes()) {
            continue;
        }
        let name = name.to_string_lossy().into_owned();
        remove_in(handle, &name).map_err(fail(Stage::Recover, &entry.path()))?;
        report.removed.push(name);
    }
    if !report.removed.is_empty() {
        sync_dir(handle, dir)?;
    }
    Ok(report)
}

/// Creates and fills one temporary file, `name` in the directory of `handle` (`path` names
/// it in errors), and returns it open, not yet synced.
fn create_temp(handle: &File, name: &str, path: &Path, bytes: &[u8]) -> Result<File, CommitError> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
    let mut file = rustix::fs::openat(handle, name, flags, Mode::from_raw_mode(0o644))
        .map(File::from)
        .map_err(|e| fail(Stage::CreateTemp, path)(e.into()))?;
    // The mode is 0644 whatever the umask, as kmod sets it.
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(fail(Stage::Write, path))?;
    file.write_all(bytes).map_err(fail(Stage::Write, path))?;
    Ok(file)
}

/// Creates, fills and syncs one temporary file (see [`create_temp`]).
fn write_temp(handle: &File, name: &str, path: &Path, bytes: &[u8]) -> Result<(), CommitError> {
    create_temp(handle, name, path, bytes)?
        .sync_all()
        .map_err(fail(Stage::Write, path))
}

/// Runs `work` on every (final name, temporary) pair at once, one thread each, and returns
/// each result in order; a thread that panicked counts as a failure of `stage` on its file.
fn for_each_concurrently<F>(
    pairs: &[(&'static str, String)],
    dir: &Path,
    stage: Stage,
    work: F,
) -> Vec<Result<(), CommitError>>
where
    F: Fn(&'static str, &str, &Path) -> Result<(), CommitError> + Sync,
{
    std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = pairs
            .iter()
            .map(|(name, temp)| {
                let path = dir.join(temp);
                scope.spawn(move || work(name, temp, &path))
            })
            .collect();
        handles
            .into_iter()
            .zip(pairs)
            .map(|(handle, (_, temp))| {
                handle.join().unwrap_or_else(|_| {
                    Err(CommitError {
                        stage,
                        path: dir.join(temp),
                        source: std::io::Error::other("a worker thread failed"),
                    })
                })
            })
            .collect()
    })
}

/// A publication in progress: the output directory locked (and recovered), and the new files
/// written to temporaries as they come, each `fsync`ed on a thread of its own meanwhile.
/// [`Staging::publish`] finishes it; dropping it unpublished deletes every temporary and
/// leaves the old files as they were.
///
/// The directory is created, locked and recovered by [`Staging::begin`] when it exists, else
/// by the first file staged (so that a run that fails before any output leaves no directory
/// behind, as kmod's depmod does).
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    pid: u32,
    /// The locked directory, once open.
    handle: OnceLock<nix::fcntl::Flock<File>>,
    /// Serialises opening the directory.
    opening: Mutex<()>,
    state: Mutex<StagingState>,
}

#[derive(Debug, Default)]
struct StagingState {
    staged: Vec<Staged>,
    recovery: Recovery,
    published: bool,
}

/// One file written to its temporary.
#[derive(Debug)]
struct Staged {
    name: &'static str,
    temp: String,
    sync: Syncing,
}

/// Where a temporary's write and `fsync` stand.
#[derive(Debug)]
enum Syncing {
    /// The `fsync` runs on this thread.
    Thread(JoinHandle<std::io::Result<()>>),
    /// Finished (or failed before the `fsync`).
    Done(Result<(), CommitError>),
}

impl Staging {
    /// Starts publishing into `dir`: if it exists, locks it and finishes what a killed earlier
    /// run left ([`recover`]), so that a run that fails later still leaves a consistent set.
    pub fn begin(dir: &Path) -> Result<Staging, CommitError> {
        let staging = Staging {
            dir: dir.to_path_buf(),
            pid: std::process::id(),
            handle: OnceLock::new(),
            opening: Mutex::new(()),
            state: Mutex::new(StagingState::default()),
        };
        if crate::fs::stat(dir).is_ok_and(|status| status.is_dir()) {
            staging.handle()?;
        }
        Ok(staging)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, StagingState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The locked directory, created, locked and recovered on first use.
    fn handle(&self) -> Result<&File, CommitError> {
        if let Some(handle) = self.handle.get() {
            return Ok(handle);
        }
        let _opening = self.opening.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(handle) = self.handle.get() {
            return Ok(handle);
        }
        let dir = &self.dir;
        crate::fs::create_dir_all(dir, 0o755).map_err(fail(Stage::CreateDir, dir))?;
        let lock = lock(dir)?;
        let recovery = recover_in(&lock, dir)?;
        self.state().recovery = recovery;
        Ok(self.handle.get_or_init(|| lock))
    }

    /// Writes the output `name` with `bytes` to its temporary and starts its `fsync`. A
    /// failure is kept and returned by [`Staging::publish`].
    pub fn stage(&self, name: &'static str, bytes: &[u8]) {
        let temp = format!("{TEMP_PREFIX}{}.{name}", self.pid);
        let path = self.dir.join(&temp);
        let sync = match self.handle() {
            Err(error) => Syncing::Done(Err(error)),
            Ok(handle) => match create_temp(handle, &temp, &path, bytes) {
                Err(error) => Syncing::Done(Err(error)),
                Ok(file) => {
                    // The fsync runs on a thread of its own; with no thread to spare, here.
                    let file = std::sync::Arc::new(file);
                    let for_thread = std::sync::Arc::clone(&file);
                    match std::thread::Builder::new().spawn(move || for_thread.sync_all()) {
                        Ok(thread) => Syncing::Thread(thread),
                        Err(_) => Syncing::Done(file.sync_all().map_err(fail(Stage::Write, &path))),
                    }
                }
            },
        };
        self.state().staged.push(Staged { name, temp, sync });
    }

    /// Publishes `files` (staging any not staged yet) as the module documentation describes.
    /// On error, the files in the directory are those of before (or, past the journal, those
    /// the next run's [`recover`] completes), and no temporary of this run remains unless
    /// deleting it failed.
    pub fn publish(self, files: &[OutputFile]) -> Result<Recovery, CommitError> {
        for file in files {
            if !self.state().staged.iter().any(|s| s.name == file.name) {
                self.stage(file.name, &file.bytes);
            }
        }
        let handle = self.handle()?;
        let dir = self.dir.as_path();
        let staged = std::mem::take(&mut self.state().staged);
        let mut pairs: Vec<(&'static str, String)> = Vec::with_capacity(staged.len());
        let mut first_error = None;
        for Staged { name, temp, sync } in staged {
            let result = match sync {
                Syncing::Done(result) => result,
                Syncing::Thread(thread) => match thread.join() {
                    Ok(result) => result.map_err(fail(Stage::Write, &dir.join(&temp))),
                    Err(_) => Err(CommitError {
                        stage: Stage::Write,
                        path: dir.join(&temp),
                        source: std::io::Error::other("a worker thread failed"),
                    }),
                },
            };
            if let Err(error) = result {
                first_error.get_or_insert(error);
            }
            pairs.push((name, temp));
        }
        let cleanup = |pairs: &[(&'static str, String)]| {
            for (_, temp) in pairs {
                let _ = remove_in(handle, temp);
            }
        };
        if let Some(error) = first_error {
            cleanup(&pairs);
            self.state().published = true; // nothing left for Drop
            return Err(error);
        }
        // Publish exactly `files`, in their order (a name staged but not asked for is dropped).
        let (wanted, unwanted): (Vec<_>, Vec<_>) = pairs
            .into_iter()
            .partition(|(name, _)| files.iter().any(|f| f.name == *name));
        cleanup(&unwanted);
        let mut pairs = wanted;
        pairs.sort_by_key(|(name, _)| files.iter().position(|f| f.name == *name));

        let mut journal = String::from(JOURNAL_HEADER);
        journal.push('\n');
        for (name, temp) in &pairs {
            journal.push_str(temp);
            journal.push('\t');
            journal.push_str(name);
            journal.push('\n');
        }
        journal.push_str(JOURNAL_END);
        journal.push('\n');
        let journal_temp = format!("{JOURNAL}.{}", self.pid);
        let journal_path = dir.join(JOURNAL);
        let journalled = write_temp(
            handle,
            &journal_temp,
            &dir.join(&journal_temp),
            journal.as_bytes(),
        )
        .and_then(|()| {
            rename_in(handle, &journal_temp, JOURNAL).map_err(fail(Stage::Journal, &journal_path))
        })
        .and_then(|()| {
            sync_dir(handle, dir).map_err(|e| CommitError {
                stage: Stage::Journal,
                ..e
            })
        });
        if let Err(mut error) = journalled {
            error.stage = Stage::Journal;
            // The journal may or may not be in place; without it nothing was published. Take
            // everything back so that the old set stays.
            let _ = remove_in(handle, JOURNAL);
            let _ = remove_in(handle, &journal_temp);
            cleanup(&pairs);
            self.state().published = true;
            return Err(error);
        }
        // From here on the next run's recovery finishes whatever this one does not.
        self.state().published = true;

        // Past the journal, a failure leaves the rest to the next run's recovery, so the renames
        // may happen in any order: they run at once, one thread each, because on ext4 replacing a
        // file waits for a journal commit and concurrent renames share one.
        let renamed = for_each_concurrently(&pairs, dir, Stage::Publish, |name, temp, path| {
            rename_in(handle, temp, name).map_err(fail(Stage::Publish, path))
        });
        for result in renamed {
            result?;
        }
        sync_dir(handle, dir)?;
        remove_in(handle, JOURNAL).map_err(fail(Stage::Publish, &journal_path))?;
        Ok(std::mem::take(&mut self.state().recovery))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if state.published {
            return;
        }
        if let Some(handle) = self.handle.get() {
            for staged in std::mem::take(&mut state.staged) {
                let _ = remove_in(handle, &staged.temp);
            }
        }
    }
}

/// Publishes `files` into `dir` in one go: [`Staging::begin`], then [`Staging::publish`].
pub fn commit(dir: &Path, files: &[OutputFile]) -> Result<Recovery, CommitError> {
    Staging::begin(dir)?.publish(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(tag: &str) -> Vec<OutputFile> {
        ["modules.dep", "modules.alias"]
            .iter()
            .map(|name| OutputFile {
                name,
                bytes: format!("{tag} {name}\n").into_bytes(),
            })
            .collect()
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn commit_writes_everything_and_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("lib/modules/x");
        commit(&dir, &files("one")).unwrap();
        assert_eq!(listing(&dir), vec!["modules.alias", "modules.dep"]);
        assert_eq!(
            std::fs::read(dir.join("modules.dep")).unwrap(),
            b"one modules.dep\n"
        );
        let mode = std::fs::metadata(dir.join("modules.dep"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
        commit(&dir, &files("two")).unwrap();
        assert_eq!(
            std::fs::read(dir.join("modules.alias")).unwrap(),
            b"two modules.alias\n"
        );
    }

    #[test]
    fn recovery_finishes_a_journalled_publication() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("modules.dep"), b"old dep").unwrap();
        std::fs::write(dir.join("modules.alias"), b"new alias").unwrap(); // renamed already
        std::fs::write(dir.join(".rkmod-depmod.7.modules.dep"), b"new dep").unwrap();
        std::fs::write(dir.join(".rkmod-depmod.3.modules.order"), b"stray").unwrap();
        std::fs::write(
            dir.join(JOURNAL),
            "rkmod-depmod-journal 1\n.rkmod-depmod.7.modules.dep\tmodules.dep\n\
             .rkmod-depmod.7.modules.alias\tmodules.alias\nend\n",
        )
        .unwrap();
        let report = recover(dir).unwrap();
        assert_eq!(report.completed, vec!["modules.dep"]);
        assert_eq!(std::fs::read(dir.join("modules.dep")).unwrap(), b"new dep");
        assert_eq!(
            std::fs::read(dir.join("modules.alias")).unwrap(),
            b"new alias"
        );
        assert_eq!(listing(dir), vec!["modules.alias", "modules.dep"]);
    }

    #[test]
    fn an_unfinished_journal_publishes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("modules.dep"), b"old dep").unwrap();
        std::fs::write(dir.join(".rkmod-depmod.7.modules.dep"), b"new dep").unwrap();
        std::fs::write(
            dir.join(JOURNAL),
            "rkmod-depmod-journal 1\n.rkmod-depmod.7.modules.dep\tmodules.dep\n",
        )
        .unwrap();
        recover(dir).unwrap();
        assert_eq!(std::fs::read(dir.join("modules.dep")).unwrap(), b"old dep");
        assert_eq!(listing(dir), vec!["modules.dep"]);
    }

    #[test]
    fn staging_writes_early_and_publishes_the_set_asked_for() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("new/dir");
        let staging = Staging::begin(&dir).unwrap();
        // Nothing is created before the first file comes.
        assert!(!dir.exists());
        staging.stage("modules.dep", b"early modules.dep\n");
        assert_eq!(listing(&dir).len(), 1, "the temporary is written at once");
        assert!(!dir.join("modules.dep").exists(), "but not published");
        // publish() stages what is missing and keeps the early bytes.
        let mut wanted = files("late");
        wanted.retain(|f| f.name == "modules.dep" || f.name == "modules.alias");
        staging.publish(&wanted).unwrap();
        assert_eq!(listing(&dir), vec!["modules.alias", "modules.dep"]);
        assert_eq!(
            std::fs::read(dir.join("modules.dep")).unwrap(),
            b"early modules.dep\n"
        );
        assert_eq!(
            std::fs::read(dir.join("modules.alias")).unwrap(),
            b"late modules.alias\n"
        );
    }

    #[test]
    fn a_staging_dropped_unpublished_leaves_the_old_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        commit(dir, &files("old")).unwrap();
        let staging = Staging::begin(dir).unwrap();
        staging.stage("modules.dep", b"new");
        drop(staging);
        assert_eq!(listing(dir), vec!["modules.alias", "modules.dep"]);
        assert_eq!(
            std::fs::read(dir.join("modules.dep")).unwrap(),
            b"old modules.dep\n"
        );
    }

    #[test]
    fn a_journal_left_after_its_renames_is_harmless() {
        // The journal's deletion is not synced: after a crash it can come back, naming
        // temporaries that were already renamed. The next run must change nothing.
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        commit(dir, &files("new")).unwrap();
        std::fs::write(
            dir.join(JOURNAL),
            "rkmod-depmod-journal 1\n.rkmod-depmod.7.modules.dep\tmodules.dep\nend\n",
        )
        .unwrap();
        let report = recover(dir).unwrap();
        assert!(report.completed.is_empty());
        assert_eq!(listing(dir), vec!["modules.alias", "modules.dep"]);
        assert_eq!(
            std::fs::read(dir.join("modules.dep")).unwrap(),
            b"new modules.dep\n"
        );
    }

    #[test]
    fn journal_entries_cannot_escape_the_directory() {
        assert!(parse_journal(
            b"rkmod-depmod-journal 1\n.rkmod-depmod.1.a\t../../etc/passwd\nend\n"
        )
        .is_none());
        assert!(parse_journal(b"rkmod-depmod-journal 1\nother\tmodules.dep\nend\n").is_none());
        assert!(parse_journal(b"rkmod-depmod-journal 1\nend\nextra\n").is_none());
        assert_eq!(
            parse_journal(b"rkmod-depmod-journal 1\nend\n"),
            Some(vec![])
        );
    }
}

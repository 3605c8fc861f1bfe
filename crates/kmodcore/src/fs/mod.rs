//! The ground floor: opening, stat-ing and reading files safely, the line and record readers,
//! and the C library's errno texts. Every reader and writer in kmodcore opens its files here.
//!
//! Every call that names a path goes through the C library's own functions (`open`, `stat`,
//! `opendir`, `mkdir`), as a C library's would, so that an `LD_PRELOAD` interposer sees it:
//! kmod's testsuite redirects paths into a test root that way, and fakeroot-style tools work
//! the same. Hence [`stat`] here instead of `std::fs::metadata` (which calls `statx`, a
//! function no such interposer wraps). Calls relative to a directory handle (`openat`,
//! `fstatat`) are fine once the handle itself was opened through `open`.
//!
//! A file is opened without blocking (a FIFO in its place must not hang the open) and checked
//! with `fstat` to be a regular file before anything is read (a device must not feed us
//! endless data). Reads are told the size `fstat` gave and capped by the caller. Mapping a
//! file whole is [`crate::mmap`]'s job, the one module where `unsafe` is allowed.
//!
//! - `lines`: kmod's configuration line reader (continuations and escapes).
//! - [`fgets_pieces`]: a file cut into records as repeated `fgets` calls cut it.

pub(crate) mod lines;

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// Opens `path` for reading without blocking (a FIFO must not hang the open) and checks that
/// it is a regular file. Returns the file and its size.
pub fn open_regular_file(path: &Path) -> Result<(File, u64)> {
    let file = open_nonblocking(path).map_err(|e| Error::io(path, e))?;
    let (file, meta) = check_regular_file(file, path)?;
    Ok((file, meta.len()))
}

/// Opens `path` for reading without blocking: a FIFO in a file's place must not hang the open.
pub fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
}

/// Checks that `file` (opened from `path`, which names it in errors) is a regular file, and
/// returns it with its `fstat`.
pub fn check_regular_file(file: File, path: &Path) -> Result<(File, std::fs::Metadata)> {
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    let ft = meta.file_type();
    if !ft.is_file() || ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
        return Err(Error::NotRegularFile {
            path: path.to_path_buf(),
            directory: ft.is_dir(),
        });
    }
    Ok((file, meta))
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

/// What `stat(2)` says of a file: its identity, type, size and times. Made by [`stat`] (a
/// path, through the C library's `stat`), from a `std::fs::Metadata` (an open file's
/// `fstat`, a directory entry's `fstatat`) or from a `rustix::fs::Stat` (`statat` relative
/// to a directory handle).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// `st_mode`: the type and permission bits.
    pub mode: u32,
    /// `st_size`.
    pub size: u64,
    /// `st_mtime`: seconds and nanoseconds.
    pub mtime: (i64, i64),
    /// `st_ctime`: seconds and nanoseconds.
    pub ctime: (i64, i64),
}

impl Status {
    /// The type bits of [`Status::mode`] (`S_IFMT`).
    fn file_type(&self) -> u32 {
        self.mode & nix::libc::S_IFMT
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type() == nix::libc::S_IFDIR
    }

    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.file_type() == nix::libc::S_IFREG
    }

    /// The size in bytes.
    pub fn len(&self) -> u64 {
        self.size
    }

    /// Whether the size is 0.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
}

impl From<&std::fs::Metadata> for Status {
    fn from(meta: &std::fs::Metadata) -> Status {
        use std::os::unix::fs::MetadataExt;
        Status {
            dev: meta.dev(),
            ino: meta.ino(),
            mode: meta.mode(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

impl From<&rustix::fs::Stat> for Status {
    fn from(st: &rustix::fs::Stat) -> Status {
        Status {
            dev: rustix::fs::makedev(rustix::fs::major(st.st_dev), rustix::fs::minor(st.st_dev)),
            ino: st.st_ino,
            mode: st.st_mode,
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime: (st.st_mtime, i64::try_from(st.st_mtime_nsec).unwrap_or(0)),
            ctime: (st.st_ctime, i64::try_from(st.st_ctime_nsec).unwrap_or(0)),
        }
    }
}

/// `stat(2)` of `path`, symlinks followed, through the C library's `stat` (see the module
/// documentation for why not `std::fs::metadata`).
pub fn stat(path: &Path) -> std::io::Result<Status> {
    let st = nix::sys::stat::stat(path).map_err(std::io::Error::from)?;
    Ok(Status {
        dev: st.st_dev,
        ino: st.st_ino,
        mode: st.st_mode,
        size: u64::try_from(st.st_size).unwrap_or(0),
        mtime: (st.st_mtime, st.st_mtime_nsec),
        ctime: (st.st_ctime, st.st_ctime_nsec),
    })
}

/// Creates the directory `path` and any missing parents with `mode` (less the umask), through
/// the C library's `mkdir`; an existing directory is success. (`std::fs::create_dir_all`
/// looks at an existing path with `statx`, which interposers do not see.)
pub fn create_dir_all(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let mkdir = || std::fs::DirBuilder::new().mode(mode).create(path);
    // A failed mkdir is success when the path is (now) a directory: it existed, or a
    // concurrent creator won the race.
    let unless_a_dir = |e: std::io::Error| {
        stat(path)
            .is_ok_and(|status| status.is_dir())
            .then_some(())
            .ok_or(e)
    };
    match mkdir() {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match path.parent().filter(|p| !p.as_os_str().is_empty()) {
                Some(parent) => {
                    create_dir_all(parent, mode)?;
                    mkdir().or_else(unless_a_dir)
                }
                None => Err(e),
            }
        }
        Err(e) => unless_a_dir(e),
    }
}

/// The C library's text for an errno value, as `strerror(3)` gives it and kmod prints it
/// (`Resource temporarily unavailable` for `EAGAIN`; `nix`'s own descriptions differ for
/// several values).
pub fn strerror(errno: i32) -> String {
    if errno == 0 {
        return "Success".to_string();
    }
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    match text.rfind(" (os error ") {
        Some(at) => text.get(..at).unwrap_or(&text).to_string(),
        None => text,
    }
}

/// Splits `bytes` the way repeated `fgets` calls with a buffer of `buffer` bytes return it:
/// pieces of at most `buffer - 1` bytes, each ending at (and including) a newline when one
/// comes first.
pub fn fgets_pieces(bytes: &[u8], buffer: usize) -> impl Iterator<Item = &[u8]> {
    let max = buffer.saturating_sub(1).max(1);
    bytes
        .split_inclusive(|&b| b == b'\n')
        .flat_map(move |line| line.chunks(max))
}

#[cfg(test)]
mod tests {
    use super::{fgets_pieces, read_sized, read_told, strerror};
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

    #[test]
    fn fgets_splits_long_lines() {
        let pieces: Vec<&[u8]> = fgets_pieces(b"ab\ncdefg\nh", 4).collect();
        assert_eq!(pieces, vec![&b"ab\n"[..], b"cde", b"fg\n", b"h"]);
    }

    /// errno 0 reads as glibc's "Success", as kmod prints it after a failed call that set none.
    #[test]
    fn strerror_reads_like_glibc() {
        assert_eq!(strerror(0), "Success");
        assert_eq!(strerror(2), "No such file or directory");
        assert_eq!(strerror(11), "Resource temporarily unavailable");
    }
}

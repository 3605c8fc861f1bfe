//! The one error type of kmodcore.
//!
//! Low-level parsers return small error enums of their own (named after what broke, such as
//! [`crate::index::IndexError`]); the functions that know which file they were reading wrap
//! them here with that context. The binary turns these into kmod's wording and exit codes.

use std::path::PathBuf;

/// A result with kmodcore's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in kmodcore, with the file or argument it concerns.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened, read or written. Shown in the C library's words
    /// (`No such file or directory`), without Rust's `(os error 2)`.
    #[error("{path}: {}", io_text(.source))]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A path names something that is not a regular file (a directory, FIFO or device).
    #[error("{path}: not a regular file")]
    NotRegularFile {
        /// The path concerned.
        path: PathBuf,
        /// Whether it is a directory (`EISDIR`, as reading one fails in kmod); a FIFO or a
        /// device is `EINVAL`, the kernel's answer when given one to load.
        directory: bool,
    },
    /// A compressed module could not be decompressed.
    #[error("{path}: {format} decompression failed: {reason}")]
    Decompress {
        /// The file concerned.
        path: PathBuf,
        /// The compression format detected from the file's magic bytes.
        format: &'static str,
        /// What the decoder said, or which limit was hit.
        reason: String,
    },
    /// A module file is not a usable ELF kernel module.
    #[error("{path}: invalid module: {reason}")]
    BadModule {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A binary index file is corrupt.
    #[error("{path}: corrupt index: {source}")]
    Index {
        /// The index file concerned.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: crate::index::IndexError,
    },
    /// A module file has no `.modinfo` section.
    #[error("{path}: no .modinfo section")]
    NoModinfo {
        /// The file concerned.
        path: PathBuf,
    },
    /// A certificate file for signature verification could not be read.
    #[error("{path}: cannot read certificates: {reason}")]
    Certificate {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A module, alias or name could not be found.
    #[error("{name}: not found")]
    NotFound {
        /// The name that was looked up.
        name: String,
    },
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// What reading the index file at `path` gave: [`Error::Index`] for what is wrong with the
    /// file, [`Error::Io`] when the file could not be read.
    pub fn index(path: impl Into<PathBuf>, source: crate::index::IndexError) -> Error {
        match source {
            crate::index::IndexError::Read { errno, .. } => {
                Error::io(path, std::io::Error::from_raw_os_error(errno))
            }
            source => Error::Index {
                path: path.into(),
                source,
            },
        }
    }

    /// The `errno` value that best describes this error, as kmod reports errors by errno.
    pub fn errno(&self) -> i32 {
        match self {
            Error::Io { source, .. } => source.raw_os_error().unwrap_or(libc_eio()),
            Error::NotRegularFile {
                directory: true, ..
            } => 21, // EISDIR
            Error::NotRegularFile { .. } => 22, // EINVAL
            Error::Decompress { .. } | Error::BadModule { .. } => 8, // ENOEXEC
            Error::Index { .. } | Error::Certificate { .. } => 22, // EINVAL
            Error::NotFound { .. } => 2,        // ENOENT
            Error::NoModinfo { .. } => 61,      // ENODATA
        }
    }
}

/// An I/O error's text as kmod shows one: `strerror` for an OS error, the error's own words
/// otherwise.
fn io_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(errno) => crate::fs::strerror(errno),
        None => e.to_string(),
    }
}

const fn libc_eio() -> i32 {
    5
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a missing file showed as "No such file or directory (os error 2)", Rust's
    /// wording, in modprobe's explanation of a failed load.
    #[test]
    fn io_errors_read_like_strerror() {
        let e = Error::io("/x.ko", std::io::Error::from_raw_os_error(2));
        assert_eq!(e.to_string(), "/x.ko: No such file or directory");
        let e = Error::io("/x.ko", std::io::Error::other("custom"));
        assert_eq!(e.to_string(), "/x.ko: custom");
    }

    /// Regression: a FIFO or device given as a module was "Is a directory"; the kernel's (and
    /// so kmod's insmod's) answer for one is EINVAL.
    #[test]
    fn not_regular_file_errno_depends_on_the_kind() {
        let dir = Error::NotRegularFile {
            path: "/d".into(),
            directory: true,
        };
        let fifo = Error::NotRegularFile {
            path: "/f".into(),
            directory: false,
        };
        assert_eq!((dir.errno(), fifo.errno()), (21, 22));
    }
}

//! Problems found while reading the configuration, kept as data.
//!
//! libkmod reports these through its log function while it builds its context. kmodcore never
//! prints, so each one is returned as a [`ConfigWarning`]: which file and line, what went wrong,
//! and [`ConfigWarning::message`] giving kmod's exact wording so a front end can print it the way
//! kmod does (`libkmod: ERROR: kmod_config_parse: /etc/modprobe.d/x.conf line 3: ...`).

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// One problem met while reading configuration files, directories or the kernel command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    path: Option<PathBuf>,
    line: Option<u32>,
    kind: WarningKind,
}

/// What went wrong, one variant per message libkmod's configuration reader emits.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarningKind {
    /// A line that is not a valid directive: an unknown command, a missing argument or a
    /// malformed name. The line is skipped. Holds the line's first word.
    BadLine {
        /// The first word of the line, as kmod quotes it.
        first_word: Vec<u8>,
    },
    /// An `include` or `config` line, which kmod no longer reads. Carries no line number.
    Deprecated {
        /// `include` or `config`.
        command: Vec<u8>,
    },
    /// A `*.conf` entry of a configuration directory whose target cannot be found (typically a
    /// dangling symlink). The entry is skipped.
    CannotStat,
    /// A `*.conf` entry of a configuration directory that is a directory, or a symlink to one.
    /// The entry is skipped.
    NestedDirectory,
    /// A configuration directory exists but could not be listed.
    OpenDir {
        /// The `errno` the listing failed with.
        errno: i32,
    },
    /// A configuration file's path would not fit in `PATH_MAX` bytes. The file is skipped.
    PathTooLong,
    /// A `MODULE.param` word of the kernel command line whose module name is malformed (an
    /// unbalanced `[` or `]`). Holds the name as kmod prints it, dashes before the fault already
    /// turned into underscores.
    BadCmdlineModule {
        /// The partially normalised module name.
        name: Vec<u8>,
    },
}

impl ConfigWarning {
    /// Creates a warning about `path` (a file or directory), at `line` when one applies.
    pub fn new(path: Option<PathBuf>, line: Option<u32>, kind: WarningKind) -> ConfigWarning {
        ConfigWarning { path, line, kind }
    }

    /// The file or directory concerned, as it was opened; `None` for the kernel command line.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The line number kmod reports: for a line continued with `\`, its last physical line.
    pub fn line(&self) -> Option<u32> {
        self.line
    }

    /// What went wrong.
    pub fn kind(&self) -> &WarningKind {
        &self.kind
    }

    /// The libkmod function that emits this message, which kmod prints before it
    /// (`libkmod: ERROR: kmod_config_parse: ...`).
    pub fn kmod_function(&self) -> &'static str {
        match self.kind {
            WarningKind::BadLine { .. } | WarningKind::Deprecated { .. } => "kmod_config_parse",
            WarningKind::CannotStat | WarningKind::NestedDirectory => "conf_files_filter_out",
            WarningKind::OpenDir { .. } => "conf_files_list",
            WarningKind::PathTooLong => "kmod_config_new",
            WarningKind::BadCmdlineModule { .. } => "kcmdline_parse_result",
        }
    }

    /// kmod's message, byte for byte, without a program prefix or trailing newline.
    pub fn message(&self) -> Vec<u8> {
        let path = self
            .path
            .as_deref()
            .map(|p| p.as_os_str().as_bytes())
            .unwrap_or_default();
        let mut out = Vec::new();
        match &self.kind {
            WarningKind::BadLine { first_word } => {
                out.extend_from_slice(path);
                out.extend_from_slice(b" line ");
                out.extend_from_slice(self.line.unwrap_or(0).to_string().as_bytes());
                out.extend_from_slice(b": ignoring bad line starting with '");
                out.extend_from_slice(first_word);
                out.push(b'\'');
            }
            WarningKind::Deprecated { command } => {
                out.extend_from_slice(path);
                out.extend_from_slice(b": command ");
                out.extend_from_slice(command);
                out.extend_from_slice(b" is deprecated and not parsed anymore");
            }
            WarningKind::CannotStat => {
                out.extend_from_slice(b"Cannot stat directory entry: ");
                out.extend_from_slice(path);
            }
            WarningKind::NestedDirectory => {
                out.extend_from_slice(b"Directories inside directories are not supported: ");
                out.extend_from_slice(path);
            }
            WarningKind::OpenDir { errno } => {
                out.extend_from_slice(b"opendir(");
                out.extend_from_slice(path);
                out.extend_from_slice(b"): ");
                out.extend_from_slice(nix::errno::Errno::from_raw(*errno).desc().as_bytes());
            }
            WarningKind::PathTooLong => {
                out.extend_from_slice(b"Error parsing ");
                out.extend_from_slice(path);
                out.extend_from_slice(b": path too long");
            }
            WarningKind::BadCmdlineModule { name } => {
                out.extend_from_slice(
                    b"Ignoring bad option on kernel command line while parsing module name: '",
                );
                out.extend_from_slice(name);
                out.push(b'\'');
            }
        }
        out
    }
}

impl fmt::Display for ConfigWarning {
    /// kmod's message, with bytes that are not UTF-8 replaced.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.message()))
    }
}

/// Builds `dir/name` byte for byte, as kmod's `"%s/%s"` does (a `dir` ending in `/` gives `//`).
pub(crate) fn join_bytes(dir: &Path, name: &[u8]) -> PathBuf {
    let mut joined = dir.as_os_str().as_bytes().to_vec();
    joined.push(b'/');
    joined.extend_from_slice(name);
    PathBuf::from(OsStr::from_bytes(&joined))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warn(path: &str, line: Option<u32>, kind: WarningKind) -> ConfigWarning {
        ConfigWarning::new(Some(PathBuf::from(path)), line, kind)
    }

    #[test]
    fn bad_line_wording() {
        let w = warn(
            "/etc/modprobe.d/a.conf",
            Some(7),
            WarningKind::BadLine {
                first_word: b"frob".to_vec(),
            },
        );
        assert_eq!(
            w.to_string(),
            "/etc/modprobe.d/a.conf line 7: ignoring bad line starting with 'frob'"
        );
        assert_eq!(w.kmod_function(), "kmod_config_parse");
        assert_eq!(w.line(), Some(7));
    }

    #[test]
    fn deprecated_wording() {
        let w = warn(
            "/x.conf",
            None,
            WarningKind::Deprecated {
                command: b"include".to_vec(),
            },
        );
        assert_eq!(
            w.to_string(),
            "/x.conf: command include is deprecated and not parsed anymore"
        );
    }

    #[test]
    fn directory_entry_wording() {
        let w = warn("/d//x.conf", None, WarningKind::CannotStat);
        assert_eq!(w.to_string(), "Cannot stat directory entry: /d//x.conf");
        assert_eq!(w.kmod_function(), "conf_files_filter_out");
        let w = warn("/d/x.conf", None, WarningKind::NestedDirectory);
        assert_eq!(
            w.to_string(),
            "Directories inside directories are not supported: /d/x.conf"
        );
    }

    #[test]
    fn opendir_wording_uses_strerror() {
        let w = warn("/d", None, WarningKind::OpenDir { errno: 13 });
        assert_eq!(w.to_string(), "opendir(/d): Permission denied");
        assert_eq!(w.kmod_function(), "conf_files_list");
    }

    #[test]
    fn path_too_long_wording() {
        let w = warn("/d/x.conf", None, WarningKind::PathTooLong);
        assert_eq!(w.to_string(), "Error parsing /d/x.conf: path too long");
        assert_eq!(w.kmod_function(), "kmod_config_new");
    }

    #[test]
    fn cmdline_wording() {
        let w = ConfigWarning::new(
            None,
            None,
            WarningKind::BadCmdlineModule {
                name: b"x_y]z".to_vec(),
            },
        );
        assert_eq!(
            w.to_string(),
            "Ignoring bad option on kernel command line while parsing module name: 'x_y]z'"
        );
        assert_eq!(w.kmod_function(), "kcmdline_parse_result");
        assert_eq!(w.path(), None);
    }

    #[test]
    fn join_keeps_double_slash() {
        assert_eq!(
            join_bytes(Path::new("/a/"), b"b.conf")
                .as_os_str()
                .as_bytes(),
            b"/a//b.conf"
        );
        assert_eq!(
            join_bytes(Path::new("/a"), b"b.conf")
                .as_os_str()
                .as_bytes(),
            b"/a/b.conf"
        );
    }
}

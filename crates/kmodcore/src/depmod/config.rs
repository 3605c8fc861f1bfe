//! depmod.d: which module wins when two share a name, where external modules live, and which
//! directories the scan skips.
//!
//! # Where the files come from
//!
//! Unless `-C` names other paths, depmod reads every `*.conf` file of these directories, in
//! this order of precedence ([`DEFAULT_CONFIG_DIRS`]):
//! `/etc/depmod.d`, `/run/depmod.d`, `/usr/local/lib/depmod.d`, `/usr/lib/depmod.d`,
//! `/lib/depmod.d`. They are host paths: `-b` does not move them.
//!
//! All files are merged into one list sorted by file name (byte order), whatever directory
//! they are in; a file whose name was already taken by a directory earlier in the list is
//! ignored. A path that is a file rather than a directory joins the list under its base name.
//! Names starting with `.` are skipped silently, names not ending in `.conf` with a notice,
//! and subdirectories with an error. A directory that does not exist is skipped silently.
//!
//! # Line format
//!
//! Lines are read with kmod's continuation rule: a `\` before the newline joins the next
//! line; a `\` before any other character is dropped and the character kept. Blank lines and
//! lines whose first byte is `#` are skipped. Words are separated by spaces and tabs.
//!
//! ```text
//! search DIR|built-in|external ...       scan priority of subdirectories, first = highest
//! override MODNAME KVER-PATTERN SUBDIR   MODNAME under SUBDIR always wins (if KVER matches)
//! external KVER-PATTERN ABSDIR           also scan ABSDIR (if KVER matches)
//! exclude DIRNAME ...                    skip directories with this name while scanning
//! include ... / make_map_files ...       accepted, not implemented (a notice)
//! ```
//!
//! `KVER-PATTERN` is `*` or a POSIX extended regular expression matched anywhere in the
//! kernel version ([`super::ere`]). Any other line, or a line missing an argument, is
//! reported as `FILE:LINE: ignoring bad line starting with 'WORD'` and skipped. With no
//! `search` line at all, the search list is `updates` alone.
//!
//! # Priorities
//!
//! [`DepmodConfig::existing_wins`] decides between a module already found and a new file of
//! the same name, exactly as kmod does; see its documentation for the rules, which include
//! some surprising corners of kmod's implementation that rkmod keeps for compatibility.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{ere, Diagnostic};
use crate::fs::lines::LogicalLines;

/// The configuration directories read when `-C` is not given, highest precedence first.
pub const DEFAULT_CONFIG_DIRS: [&str; 5] = [
    "/etc/depmod.d",
    "/run/depmod.d",
    "/usr/local/lib/depmod.d",
    "/usr/lib/depmod.d",
    "/lib/depmod.d",
];

/// One entry of a `search` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    /// A subdirectory of the module directory (relative, as written).
    Path(Vec<u8>),
    /// `built-in`: everything that no other entry matches.
    BuiltIn,
    /// `external`: the directories of the `external` lines.
    External,
}

/// The parsed depmod.d configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DepmodConfig {
    /// `search` entries in file order (first = highest priority).
    pub searches: Vec<Search>,
    /// `override` entries as `SUBDIR/MODNAME`, in file order.
    pub overrides: Vec<Vec<u8>>,
    /// `external` directories that apply to this kernel, in file order.
    pub externals: Vec<Vec<u8>>,
    /// `exclude` directory names.
    pub excludes: Vec<Vec<u8>>,
}

/// A module file found by the scan, as the priority rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The full path as scanned.
    pub path: &'a [u8],
    /// The length of the path up to the end of the module's name stem (`DIR/STEM`, without
    /// the `.ko...` suffix).
    pub stem_end: usize,
}

/// Reads a whole configuration file, opened without blocking and only if it is a regular file
/// (a FIFO must not hang depmod, as it hangs kmod's). The error is an errno.
fn read_regular(path: &Path) -> Result<Vec<u8>, i32> {
    use std::io::Read;
    let (mut file, len) = crate::fs::open_regular_file(path).map_err(|e| e.errno())?;
    let mut contents = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.read_to_end(&mut contents)
        .map_err(|e| e.raw_os_error().unwrap_or(5))?;
    Ok(contents)
}

impl DepmodConfig {
    /// Reads the configuration from `paths` (directories or files, highest precedence first),
    /// for kernel `kernel_version`. Problems are appended to `diagnostics` in kmod's order.
    pub fn load(
        paths: &[PathBuf],
        kernel_version: &[u8],
        diagnostics: &mut Vec<Diagnostic>,
    ) -> DepmodConfig {
        let mut files: Vec<(Vec<u8>, PathBuf)> = Vec::new();
        for path in paths {
            list_files(path, &mut files, diagnostics);
        }
        let mut config = DepmodConfig::default();
        for (_, file) in &files {
            match read_regular(file) {
                Ok(contents) => config.parse(file, &contents, kernel_version, diagnostics),
                Err(error) => diagnostics.push(Diagnostic::ConfigUnreadable {
                    path: file.clone(),
                    error,
                }),
            }
        }
        if config.searches.is_empty() {
            config.searches.push(Search::Path(b"updates".to_vec()));
        }
        config
    }

    /// Adds the directives of one file (`path` only names it in diagnostics).
    pub fn parse(
        &mut self,
        path: &Path,
        contents: &[u8],
        kernel_version: &[u8],
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        for (number, line) in LogicalLines::new(contents) {
            if line.is_empty() || line.first() == Some(&b'#') {
                continue;
            }
            let mut words = line
                .split(|&b| b == b' ' || b == b'\t')
                .filter(|w| !w.is_empty());
            let Some(command) = words.next() else {
                continue;
            };
            let bad = |diagnostics: &mut Vec<Diagnostic>| {
                diagnostics.push(Diagnostic::ConfigBadLine {
                    path: path.to_path_buf(),
                    line: number,
                    command: command.to_vec(),
                })
            };
            match command {
                b"search" => {
                    for word in words {
                        self.searches.push(match word {
                            b"built-in" => Search::BuiltIn,
                            b"external" => Search::External,
                            other => Search::Path(other.to_vec()),
                        });
                    }
                }
                b"override" => {
                    let (Some(module), Some(version), Some(subdir)) =
                        (words.next(), words.next(), words.next())
                    else {
                        bad(diagnostics);
                        continue;
                    };
                    if !kernel_matches(version, kernel_version) {
                        diagnostics.push(Diagnostic::ConfigKernelMismatch {
                            path: path.to_path_buf(),
                            line: number,
                            what: "override kernel",
                            pattern: version.to_vec(),
                        });
                        continue;
                    }
                    let mut entry = subdir.to_vec();
                    entry.push(b'/');
                    entry.extend_from_slice(module);
                    self.overrides.push(entry);
                }
                b"external" => {
                    let (Some(version), Some(dir)) = (words.next(), words.next()) else {
                        bad(diagnostics);
                        continue;
                    };
                    if !kernel_matches(version, kernel_version) {
                        diagnostics.push(Diagnostic::ConfigKernelMismatch {
                            path: path.to_path_buf(),
                            line: number,
                            what: "external directory",
                            pattern: version.to_vec(),
                        });
                        continue;
                    }
                    self.externals.push(dir.to_vec());
                }
                b"exclude" => self.excludes.extend(words.map(<[u8]>::to_vec)),
                b"include" | b"make_map_files" => {
                    diagnostics.push(Diagnostic::ConfigNotImplemented {
                        path: path.to_path_buf(),
                        line: number,
                        command: command.to_vec(),
                    })
                }
                _ => bad(diagnostics),
            }
        }
    }

    /// Whether the scan skips a directory entry called `name` (`.`, `..`, `build`, `source`
    /// and the `exclude`d names).
    pub fn excludes_name(&self, name: &[u8]) -> bool {
        matches!(name, b"." | b".." | b"build" | b"source")
            || self.excludes.iter().any(|e| e == name)
    }

    /// Whether a module already found (`old`) keeps its place against a newly found file of
    /// the same name (`new`). `dirname` is the module directory; paths under it are compared
    /// by their part after `dirname/`.
    ///
    /// kmod's rules, in order:
    /// 1. `override` entries, the last one in the files first: the first entry equal to
    ///    `SUBDIR/STEM` of the new file makes it win; else, equal to the old one's, the old
    ///    one stays.
    /// 2. Otherwise each module gets the position of the search entry it falls under, counting
    ///    from the *last* entry (0) upwards, an `external` entry counting once per external
    ///    directory plus once for itself. Where both files fall under the same entry, only the
    ///    new file is credited with it (kmod tests the old one only when the new one did not
    ///    match). A file under no entry takes the position of `built-in`, or -1 without it.
    /// 3. The old module stays when the new position is not higher than the old one.
    pub fn existing_wins(&self, dirname: &[u8], old: Candidate<'_>, new: Candidate<'_>) -> bool {
        fn relative<'p>(c: Candidate<'p>, dirname: &[u8]) -> Option<&'p [u8]> {
            let head = c.path.get(..c.stem_end)?;
            if !head.starts_with(dirname) {
                return None;
            }
            // kmod skips the separator without checking it.
            head.get(dirname.len() + 1..)
        }
        let rel_new = relative(new, dirname);
        let rel_old = relative(old, dirname);
        for entry in self.overrides.iter().rev() {
            if rel_new == Some(entry.as_slice()) {
                return false;
            }
            if rel_old == Some(entry.as_slice()) {
                return true;
            }
        }
        let under = |path: Option<&[u8]>, prefix: &[u8]| -> bool {
            path.is_some_and(|p| {
                p.len() > prefix.len()
                    && p.get(prefix.len()) == Some(&b'/')
                    && p.starts_with(prefix)
            })
        };
        let new_head = new.path.get(..new.stem_end);
        let old_head = old.path.get(..old.stem_end);
        let (mut builtin, mut new_prio, mut old_prio) = (-1i64, -1i64, -1i64);
        let mut i: i64 = 0;
        for search in self.searches.iter().rev() {
            match search {
                Search::BuiltIn => builtin = i,
                Search::External => {
                    for ext in self.externals.iter().rev() {
                        if under(new_head, ext) {
                            new_prio = i;
                        }
                        if under(old_head, ext) {
                            old_prio = i;
                        }
                        i += 1;
                    }
                }
                Search::Path(dir) => {
                    if under(rel_new, dir) {
                        new_prio = i;
                    } else if under(rel_old, dir) {
                        old_prio = i;
                    }
                }
            }
            i += 1;
        }
        if new_prio < 0 {
            new_prio = builtin;
        }
        if old_prio < 0 {
            old_prio = builtin;
        }
        new_prio <= old_prio
    }
}

/// Whether a depmod.d kernel pattern applies to `kernel_version`: `*`, or an ERE matching
/// anywhere in it.
pub fn kernel_matches(pattern: &[u8], kernel_version: &[u8]) -> bool {
    pattern == b"*" || ere::matches(pattern, kernel_version)
}

/// Adds the configuration files of `path` to `files` (kept sorted by name, first one of a
/// name winning).
fn list_files(path: &Path, files: &mut Vec<(Vec<u8>, PathBuf)>, diagnostics: &mut Vec<Diagnostic>) {
    let Ok(meta) = crate::fs::stat(path) else {
        return;
    };
    let mut insert = |name: Vec<u8>, full: PathBuf| {
        if let Err(at) = files.binary_search_by(|(n, _)| n.as_slice().cmp(&name)) {
            files.insert(at, (name, full));
        }
    };
    if !meta.is_dir() {
        let bytes = path.as_os_str().as_bytes();
        let name = bytes
            .rsplit(|&b| b == b'/')
            .next()
            .unwrap_or(bytes)
            .to_vec();
        insert(name, path.to_path_buf());
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) => {
            diagnostics.push(Diagnostic::ConfigDirUnreadable {
                path: path.to_path_buf(),
                error: e.raw_os_error().unwrap_or(5),
            });
            return;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.as_bytes();
        if name.first() == Some(&b'.') {
            continue;
        }
        if name.len() < 6 || !name.ends_with(b".conf") {
            diagnostics.push(Diagnostic::ConfigNotConf {
                dir: path.to_path_buf(),
                name: name.to_vec(),
            });
            continue;
        }
        let full = entry.path();
        match crate::fs::stat(&full) {
            Err(_) => diagnostics.push(Diagnostic::ConfigCannotStat {
                dir: path.to_path_buf(),
                name: name.to_vec(),
            }),
            Ok(m) if m.is_dir() => diagnostics.push(Diagnostic::ConfigSubdirectory {
                dir: path.to_path_buf(),
                name: name.to_vec(),
            }),
            Ok(_) => insert(name.to_vec(), full),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (DepmodConfig, Vec<Diagnostic>) {
        let mut diags = Vec::new();
        let mut config = DepmodConfig::default();
        config.parse(
            Path::new("t.conf"),
            text.as_bytes(),
            b"6.1.0-47-amd64",
            &mut diags,
        );
        (config, diags)
    }

    #[test]
    fn directives() {
        let (config, diags) = parse(
            "# comment\n\nsearch updates extra built-in\\\n external\noverride foo * extra\n\
             override bar 5.* extra\nexternal 6.1.* /opt/mods\nexclude tests\tdebug\n  search x\nbogus\noverride a b\n",
        );
        assert_eq!(
            config.searches,
            vec![
                Search::Path(b"updates".to_vec()),
                Search::Path(b"extra".to_vec()),
                Search::BuiltIn,
                Search::External,
                Search::Path(b"x".to_vec()),
            ]
        );
        assert_eq!(config.overrides, vec![b"extra/foo".to_vec()]);
        assert_eq!(config.externals, vec![b"/opt/mods".to_vec()]);
        assert_eq!(config.excludes, vec![b"tests".to_vec(), b"debug".to_vec()]);
        let lines: Vec<u32> = diags
            .iter()
            .map(|d| match d {
                Diagnostic::ConfigBadLine { line, .. }
                | Diagnostic::ConfigKernelMismatch { line, .. } => *line,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(lines, vec![6, 10, 11]);
    }

    #[test]
    fn backslash_drops_itself() {
        let next_line =
            |lines: &mut LogicalLines<'_>| lines.next().map(|(n, l)| (l.into_owned(), n));
        let mut lines = LogicalLines::new(b"a\\b\\\nc\n\nlast\\\n");
        assert_eq!(next_line(&mut lines), Some((b"abc".to_vec(), 2)));
        assert_eq!(next_line(&mut lines), Some((b"".to_vec(), 3)));
        assert_eq!(next_line(&mut lines), Some((b"last".to_vec(), 5)));
        assert_eq!(next_line(&mut lines), None);
        let mut lines = LogicalLines::new(b"\\\n");
        assert_eq!(next_line(&mut lines), None);
    }

    fn cand(path: &[u8]) -> Candidate<'_> {
        let base = path.iter().rposition(|&b| b == b'/').map_or(0, |p| p + 1);
        let dot = path[base..]
            .iter()
            .position(|&b| b == b'.')
            .map_or(path.len(), |p| base + p);
        Candidate {
            path,
            stem_end: dot,
        }
    }

    #[test]
    fn default_search_prefers_updates() {
        let (mut config, _) = parse("");
        config.searches.push(Search::Path(b"updates".to_vec()));
        let dir = b"/m";
        let kernel = cand(b"/m/kernel/a.ko");
        let update = cand(b"/m/updates/a.ko");
        assert!(!config.existing_wins(dir, kernel, update));
        assert!(config.existing_wins(dir, update, kernel));
        // Neither under a search entry: the one found first stays.
        assert!(config.existing_wins(dir, kernel, cand(b"/m/other/a.ko")));
        // Both under the same entry: kmod credits only the new one, which then wins.
        assert!(!config.existing_wins(dir, update, cand(b"/m/updates/x/a.ko")));
    }

    #[test]
    fn override_beats_search() {
        let (config, _) = parse("search updates built-in\noverride a * kernel/drivers\n");
        let dir = b"/m";
        let over = cand(b"/m/kernel/drivers/a.ko.xz");
        let update = cand(b"/m/updates/a.ko");
        assert!(config.existing_wins(dir, over, update));
        assert!(!config.existing_wins(dir, update, over));
    }
}

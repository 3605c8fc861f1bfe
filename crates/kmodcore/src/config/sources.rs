//! Where the configuration comes from, and which files are read in which order.
//!
//! # The file list
//! - Each configuration path is a directory or a single file. A path that does not exist is
//!   skipped without a word.
//! - A single file (as given with `modprobe -C FILE`) is read whatever its name. Its sort name
//!   is its base name.
//! - In a directory, an entry counts when its name does not start with `.` and ends in
//!   `.conf` with at least one byte before. Symlinks are followed. An entry that cannot be
//!   stat-ed (a dangling symlink), or that is a directory, is skipped with a warning. Nothing
//!   is read recursively.
//! - `modules.softdep` and `modules.weakdep` from the module directory join the list first,
//!   under those names.
//! - All files are then merged into one list ordered by name (bytewise), whatever directory
//!   they come from. When two have the same name, the one that joined first wins: the module
//!   directory's files, then the paths in precedence order. A file that cannot be opened is
//!   skipped without a word.
//! - The kernel command line is read last.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::warning::{join_bytes, ConfigWarning, WarningKind};
use super::Config;

/// kmod's configuration directories, highest precedence first (kmod 32 and later; the
/// `/usr/lib` entry is kmod's `DISTCONFDIR`, which is `/usr/lib` by default).
pub const DEFAULT_CONFIG_DIRS: [&str; 5] = [
    "/etc/modprobe.d",
    "/run/modprobe.d",
    "/usr/local/lib/modprobe.d",
    "/usr/lib/modprobe.d",
    "/lib/modprobe.d",
];

/// The files in the module directory that libkmod reads as configuration, in the order it
/// adds them.
pub const MODULE_DIR_CONFIG_FILES: [&str; 2] = [crate::layout::SOFTDEP, crate::layout::WEAKDEP];

/// The largest configuration file read; bytes past this are ignored. kmod has no limit; this
/// one only keeps a hostile path (such as `/dev/zero` given with `-C`) from exhausting memory.
pub const MAX_CONFIG_FILE_SIZE: u64 = 64 * 1024 * 1024;

/// kmod builds each file's path in a `PATH_MAX` buffer and skips files whose path does not
/// fit (its terminating NUL included).
const PATH_MAX: usize = 4096;

/// Everything the configuration is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSources {
    /// A directory every path below is taken relative to, for tests that point at a fixture
    /// root. `None` reads the paths as they are.
    pub root: Option<PathBuf>,
    /// Configuration directories or files, highest precedence first: the
    /// [`DEFAULT_CONFIG_DIRS`], or what `modprobe -C` names.
    pub paths: Vec<PathBuf>,
    /// The module directory (`/lib/modules/KVER`), whose `modules.softdep` and
    /// `modules.weakdep` are read as configuration. libkmod always has one, so `modprobe`
    /// should always set it.
    pub module_dir: Option<PathBuf>,
    /// The kernel command line (the contents of `/proc/cmdline`), read last.
    pub kernel_cmdline: Option<Vec<u8>>,
}

impl Default for ConfigSources {
    fn default() -> ConfigSources {
        ConfigSources::from_paths(DEFAULT_CONFIG_DIRS)
    }
}

impl ConfigSources {
    /// kmod's default directories, with no module directory and no kernel command line.
    pub fn new() -> ConfigSources {
        ConfigSources::default()
    }

    /// Explicit configuration paths (directories or files) instead of the defaults, as with
    /// `modprobe -C PATH`.
    pub fn from_paths<I, P>(paths: I) -> ConfigSources
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        ConfigSources {
            root: None,
            paths: paths.into_iter().map(Into::into).collect(),
            module_dir: None,
            kernel_cmdline: None,
        }
    }

    /// Reads every path under `root` instead of `/`.
    pub fn with_root(mut self, root: impl Into<PathBuf>) -> ConfigSources {
        self.root = Some(root.into());
        self
    }

    /// Also reads `modules.softdep` and `modules.weakdep` from `dir`.
    pub fn with_module_dir(mut self, dir: impl Into<PathBuf>) -> ConfigSources {
        self.module_dir = Some(dir.into());
        self
    }

    /// Also reads module parameters and `modprobe.blacklist=` from a kernel command line.
    pub fn with_kernel_cmdline(mut self, cmdline: impl Into<Vec<u8>>) -> ConfigSources {
        self.kernel_cmdline = Some(cmdline.into());
        self
    }

    /// `path` as it is opened: under [`ConfigSources::root`] when one is set.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        match &self.root {
            None => path.to_path_buf(),
            Some(root) => {
                let relative = path.strip_prefix("/").unwrap_or(path);
                if relative.as_os_str().is_empty() {
                    root.clone()
                } else {
                    root.join(relative)
                }
            }
        }
    }
}

/// Lists the configuration files in reading order, each as the path to open (also the one named
/// in warnings) and whether it was built as `DIR/NAME`, which kmod bounds by `PATH_MAX`.
fn list_files(sources: &ConfigSources, warnings: &mut Vec<ConfigWarning>) -> Vec<(PathBuf, bool)> {
    // name -> (path, whether the path was built as DIR/NAME and so is subject to PATH_MAX)
    let mut files: BTreeMap<Vec<u8>, (PathBuf, bool)> = BTreeMap::new();

    if let Some(dir) = &sources.module_dir {
        let dir = sources.resolve(dir);
        for name in MODULE_DIR_CONFIG_FILES {
            files
                .entry(name.as_bytes().to_vec())
                .or_insert_with(|| (join_bytes(&dir, name.as_bytes()), true));
        }
    }

    for path in &sources.paths {
        let path = sources.resolve(path);
        // Opened as a directory first: one call for the common case (a directory, or none at
        // all) instead of a stat before the open. Through libc's opendir, as kmod lists it, so
        // that LD_PRELOAD interposers (kmod's testsuite, fakeroot-style tools) see it.
        let entries = match fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => match crate::fs::stat(&path) {
                Err(_) => continue,
                Ok(meta) if !meta.is_dir() => {
                    let bytes = path.as_os_str().as_bytes();
                    let base = match bytes.iter().rposition(|&b| b == b'/') {
                        Some(slash) => bytes.get(slash.saturating_add(1)..).unwrap_or_default(),
                        None => bytes,
                    };
                    files
                        .entry(base.to_vec())
                        .or_insert_with(|| (path.clone(), false));
                    continue;
                }
                Ok(_) => {
                    warnings.push(ConfigWarning::new(
                        Some(path.clone()),
                        None,
                        WarningKind::OpenDir {
                            errno: e.raw_os_error().unwrap_or(5),
                        },
                    ));
                    continue;
                }
            },
        };
        // Directory order, as kmod's readdir loop: it decides the order of the warnings.
        for entry in entries {
            let Ok(entry) = entry else {
                break;
            };
            let name = entry.file_name();
            let name = name.as_bytes();
            if name.first() == Some(&b'.') || name.len() < 6 || !name.ends_with(b".conf") {
                continue;
            }
            let full = join_bytes(&path, name);
            if full.as_os_str().len() < PATH_MAX {
                // The entry's type as the directory gives it saves a stat, except for a
                // symlink (followed, as kmod's stat follows it) or a type not given.
                let is_dir = match entry.file_type() {
                    Ok(kind) if kind.is_file() => Ok(false),
                    Ok(kind) if kind.is_dir() => Ok(true),
                    _ => crate::fs::stat(&full).map(|status| status.is_dir()),
                };
                match is_dir {
                    Err(_) => {
                        warnings.push(ConfigWarning::new(
                            Some(full),
                            None,
                            WarningKind::CannotStat,
                        ));
                        continue;
                    }
                    Ok(true) => {
                        warnings.push(ConfigWarning::new(
                            Some(full),
                            None,
                            WarningKind::NestedDirectory,
                        ));
                        continue;
                    }
                    Ok(false) => {}
                }
            }
            files.entry(name.to_vec()).or_insert((full, true));
        }
    }
    files.into_values().collect()
}

/// Reads a configuration file, up to [`MAX_CONFIG_FILE_SIZE`] bytes. `None` when it cannot be
/// opened or is not a regular file (opened without blocking: a FIFO must not hang the run,
/// as it hangs kmod); a read error keeps what was read before it, as kmod's reader stops at an
/// error.
fn read_capped(path: &Path) -> Option<Vec<u8>> {
    let (file, len) = crate::fs::open_regular_file(path).ok()?;
    // What was read before an error is kept.
    let (contents, _error) = crate::fs::read_told(&file, len, MAX_CONFIG_FILE_SIZE);
    Some(contents)
}

/// Reads everything `sources` names; see [`Config::load`].
pub(crate) fn load(sources: &ConfigSources) -> (Config, Vec<ConfigWarning>) {
    let mut warnings = Vec::new();
    let mut config = Config::default();
    for (path, built) in list_files(sources, &mut warnings) {
        if built && path.as_os_str().len() >= PATH_MAX {
            warnings.push(ConfigWarning::new(
                Some(path),
                None,
                WarningKind::PathTooLong,
            ));
            continue;
        }
        if let Some(contents) = read_capped(&path) {
            config.add_file(&path, &contents, &mut warnings);
        }
    }
    if let Some(cmdline) = &sources.kernel_cmdline {
        config.add_kernel_cmdline(cmdline, &mut warnings);
    }
    (config, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn option_values(config: &Config) -> Vec<String> {
        config
            .options()
            .map(|o| String::from_utf8_lossy(o.options).into_owned())
            .collect()
    }

    fn strip(root: &Path, w: &ConfigWarning) -> String {
        w.to_string().replace(&root.display().to_string(), "@ROOT@")
    }

    #[test]
    fn default_dirs_match_kmod() {
        let s = ConfigSources::new();
        let dirs: Vec<&Path> = s.paths.iter().map(PathBuf::as_path).collect();
        assert_eq!(
            dirs,
            [
                "/etc/modprobe.d",
                "/run/modprobe.d",
                "/usr/local/lib/modprobe.d",
                "/usr/lib/modprobe.d",
                "/lib/modprobe.d"
            ]
            .map(Path::new)
        );
        assert_eq!(s.module_dir, None);
        assert_eq!(s.kernel_cmdline, None);
    }

    #[test]
    fn resolve_under_root() {
        let s = ConfigSources::new().with_root("/fx");
        assert_eq!(
            s.resolve(Path::new("/etc/modprobe.d")),
            Path::new("/fx/etc/modprobe.d")
        );
        assert_eq!(
            s.resolve(Path::new("rel/x.conf")),
            Path::new("/fx/rel/x.conf")
        );
        assert_eq!(s.resolve(Path::new("/")), Path::new("/fx"));
        let s = ConfigSources::new();
        assert_eq!(s.resolve(Path::new("/etc")), Path::new("/etc"));
    }

    #[test]
    fn files_merge_by_name_and_higher_dirs_hide_lower() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write(r, "etc/modprobe.d/same.conf", "options m etc\n");
        write(r, "lib/modprobe.d/same.conf", "options m lib\n");
        write(r, "lib/modprobe.d/a.conf", "options m a\n");
        write(r, "run/modprobe.d/z.conf", "options m z\n");
        let (c, w) = load(&ConfigSources::new().with_root(r));
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(option_values(&c), ["a", "etc", "z"]);
    }

    #[test]
    fn only_conf_files_count() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for name in [
            ".hidden.conf",
            ".conf",
            "x.conf.bak",
            "x.txt",
            "conf",
            "X.CONF",
            "x.alias",
        ] {
            write(r, &format!("d/{name}"), "options m ignored\n");
        }
        write(r, "d/a.conf", "options m a\n");
        let (c, w) = load(&ConfigSources::from_paths(["/d"]).with_root(r));
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(option_values(&c), ["a"]);
    }

    #[test]
    fn symlinks_are_followed_and_bad_entries_warned() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write(r, "d/target.txt", "options m via-link\n");
        symlink("target.txt", r.join("d/link.conf")).unwrap();
        let (c, w) = load(&ConfigSources::from_paths(["/d"]).with_root(r));
        assert!(w.is_empty());
        assert_eq!(option_values(&c), ["via-link"]);

        symlink("missing", r.join("d/broken.conf")).unwrap();
        let (_, w) = load(&ConfigSources::from_paths(["/d"]).with_root(r));
        assert_eq!(
            w.iter().map(|w| strip(r, w)).collect::<Vec<_>>(),
            ["Cannot stat directory entry: @ROOT@/d/broken.conf"]
        );
        fs::remove_file(r.join("d/broken.conf")).unwrap();

        fs::create_dir_all(r.join("d/sub.conf")).unwrap();
        write(r, "d/sub.conf/inner.conf", "options m inner\n");
        let (c, w) = load(&ConfigSources::from_paths(["/d"]).with_root(r));
        assert_eq!(
            w.iter().map(|w| strip(r, w)).collect::<Vec<_>>(),
            ["Directories inside directories are not supported: @ROOT@/d/sub.conf"]
        );
        assert_eq!(w[0].kind(), &WarningKind::NestedDirectory);
        assert_eq!(option_values(&c), ["via-link"]);
    }

    /// A file is read whole whatever its size, including one whose fstat size is 0 though it
    /// has bytes (procfs); a device is not read at all.
    #[test]
    fn read_capped_reads_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 1, 625, 4095, 4096, 4097, 70_000] {
            let bytes: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let path = dir.path().join(format!("f{len}.conf"));
            fs::write(&path, &bytes).unwrap();
            assert_eq!(read_capped(&path).unwrap(), bytes, "{len} bytes");
        }
        let status = read_capped(Path::new("/proc/self/status")).unwrap();
        assert!(status.starts_with(b"Name:") && status.ends_with(b"\n"));
        assert_eq!(read_capped(Path::new("/dev/zero")), None);
    }

    #[test]
    fn single_files_and_missing_paths() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write(r, "one.txt", "options m one\n");
        write(r, "d/one.txt.conf", "options m d\n");
        write(r, "d/x.conf", "options m x\n");
        write(r, "e/x.conf", "options m hidden\n");
        let sources =
            ConfigSources::from_paths(["/missing", "/one.txt", "/d", "/e/x.conf"]).with_root(r);
        let (c, w) = load(&sources);
        assert!(w.is_empty());
        assert_eq!(option_values(&c), ["one", "d", "x"]);
    }

    #[test]
    fn module_dir_files_sort_among_conf_files() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write(r, "etc/modprobe.d/a.conf", "softdep m pre: a\n");
        write(r, "etc/modprobe.d/z.conf", "softdep m pre: z\n");
        write(r, "lib/modules/1/modules.softdep", "softdep m pre: ms\n");
        write(r, "lib/modules/1/modules.weakdep", "weakdep m w\n");
        let sources = ConfigSources::new()
            .with_root(r)
            .with_module_dir("/lib/modules/1");
        let (c, w) = load(&sources);
        assert!(w.is_empty());
        let pre: Vec<&[u8]> = c.softdeps().filter_map(|s| s.pre.iter().next()).collect();
        assert_eq!(pre, [&b"a"[..], b"ms", b"z"]);
        assert_eq!(c.weakdeps().len(), 1);
    }

    #[test]
    fn a_single_file_cannot_replace_module_dir_files() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write(r, "lib/modules/1/modules.softdep", "softdep m pre: real\n");
        write(r, "x/modules.softdep", "softdep m pre: impostor\n");
        let sources = ConfigSources::from_paths(["/x/modules.softdep"])
            .with_root(r)
            .with_module_dir("/lib/modules/1");
        let (c, _) = load(&sources);
        assert_eq!(c.softdeps().len(), 1);
        assert_eq!(
            crate::config::first(c.softdeps()).pre,
            vec![b"real".to_vec()]
        );
    }

    #[test]
    fn warnings_name_the_path_as_given() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write(r, "d/a.conf", "\nbogus\n");
        let (_, w) = load(&ConfigSources::from_paths(["d/"]).with_root(r));
        assert_eq!(
            w.iter().map(|w| strip(r, w)).collect::<Vec<_>>(),
            ["@ROOT@/d//a.conf line 2: ignoring bad line starting with 'bogus'"]
        );
    }

    #[test]
    fn kernel_cmdline_comes_last() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write(
            r,
            "etc/modprobe.d/a.conf",
            "options m file=1\nblacklist f\n",
        );
        let sources = ConfigSources::new()
            .with_root(r)
            .with_kernel_cmdline(&b"m.cmd=1 modprobe.blacklist=c"[..]);
        let (c, _) = load(&sources);
        assert_eq!(option_values(&c), ["file=1", "cmd=1"]);
        assert_eq!(
            c.blacklisted().collect::<Vec<_>>(),
            [b"f".to_vec(), b"c".to_vec()]
        );
    }

    #[test]
    fn too_long_paths_are_skipped_with_a_warning() {
        // kmod checks the length when it builds DIR/NAME; a module directory is never stat-ed
        // first, so an overlong one shows the check without a deep tree on disk.
        let dir = PathBuf::from(format!("/{}", "m".repeat(PATH_MAX)));
        let (c, w) = load(&ConfigSources::from_paths(Vec::<PathBuf>::new()).with_module_dir(&dir));
        assert_eq!(c.softdeps().len(), 0);
        let kinds: Vec<&WarningKind> = w.iter().map(ConfigWarning::kind).collect();
        assert_eq!(
            kinds,
            [&WarningKind::PathTooLong, &WarningKind::PathTooLong]
        );
        assert!(w[0].to_string().starts_with("Error parsing /mmm"));
        assert!(w[0]
            .to_string()
            .ends_with("/modules.softdep: path too long"));
    }
}

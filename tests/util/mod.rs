//! The harness: run rkmod or kmod, capture everything, find the real trees.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The rkmod binary under test.
pub fn rkmod_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rkmod"))
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub code: i32,
}

impl Run {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            stdout: o.stdout,
            stderr: o.stderr,
            code: o.status.code().unwrap_or(-1),
        }
    }
}

/// Runs `rkmod TOOL ARGS...`.
pub fn rkmod<I, S>(tool: &str, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(rkmod_bin())
        .arg(tool)
        .args(args)
        .env_remove("MODPROBE_OPTIONS")
        .output()
        .expect("rkmod runs")
        .into()
}

/// Runs `rkmod` with raw arguments (no tool name).
pub fn rkmod_raw<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(rkmod_bin())
        .args(args)
        .output()
        .expect("rkmod runs")
        .into()
}

/// The installed kmod tool `tool` (Debian's kmod, the oracle), if present.
pub fn kmod_tool(tool: &str) -> Option<PathBuf> {
    for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        let p = Path::new(dir).join(tool);
        if p.exists() {
            return Some(p);
        }
    }
    None
}

/// Runs the oracle's `tool` with `args`.
pub fn kmod<I, S>(tool: &str, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let bin = kmod_tool(tool).unwrap_or_else(|| missing(&format!("kmod's {tool}")));
    Command::new(bin)
        .args(args)
        .env_remove("MODPROBE_OPTIONS")
        .output()
        .expect("kmod runs")
        .into()
}

/// Whether we run under CI, where a missing prerequisite is a failure, not a skip.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Reports a missing prerequisite: a failure under CI, a loud skip elsewhere. Returns only
/// outside CI, so callers write `return` after it.
pub fn skip(what: &str) {
    if under_ci() {
        panic!("CI=true and a prerequisite is missing: {what} (run scripts/real-trees.sh)");
    }
    eprintln!(
        "\n*** SKIPPED: {what} is missing; run scripts/real-trees.sh to enable this test ***\n"
    );
}

fn missing(what: &str) -> ! {
    panic!("{what} is required here but missing");
}

/// One real Debian module tree in the cache.
#[derive(Debug, Clone)]
pub struct RealTree {
    /// The kernel version (`6.1.0-47-amd64`).
    pub kver: &'static str,
    /// The pristine module directory.
    pub moddir: PathBuf,
    /// A root whose `lib/modules/KVER` carries the indexes kmod 30's depmod wrote.
    pub kmod30_root: PathBuf,
}

impl RealTree {
    /// `kmod30_root/lib/modules/KVER`.
    pub fn kmod30_moddir(&self) -> PathBuf {
        self.kmod30_root.join("lib/modules").join(self.kver)
    }

    /// The names of the builtin modules, from the `modules.builtin` of the kmod 30 copy.
    pub fn builtin_names(&self) -> Vec<String> {
        std::fs::read_to_string(self.kmod30_moddir().join("modules.builtin"))
            .unwrap()
            .lines()
            .map(|p| {
                p.rsplit('/')
                    .next()
                    .unwrap()
                    .trim_end_matches(".ko")
                    .to_string()
            })
            .collect()
    }

    /// The second word (the pattern or symbol) of every `step`-th line of `file`
    /// (`modules.alias`, `modules.symbols`) in the kmod 30 copy.
    pub fn index_keys(&self, file: &str, step: usize) -> Vec<String> {
        std::fs::read_to_string(self.kmod30_moddir().join(file))
            .unwrap()
            .lines()
            .step_by(step)
            .filter_map(|l| l.split(' ').nth(1).map(str::to_string))
            .collect()
    }

    /// Every module file in the tree, sorted.
    pub fn modules(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.moddir.join("kernel")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let entry = entry.unwrap();
                let path = entry.path();
                if entry.file_type().unwrap().is_dir() {
                    stack.push(path);
                } else if path.to_string_lossy().contains(".ko") {
                    out.push(path);
                }
            }
        }
        out.sort();
        out
    }
}

/// The cache directory of the real trees.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("RKMOD_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
            .join(".cache/rkmod"),
    }
}

fn tree(short: &str, copy: &str, kver: &'static str) -> Option<RealTree> {
    let cache = cache_dir();
    let tree = RealTree {
        kver,
        moddir: cache.join(format!("tree-{short}/lib/modules/{kver}")),
        kmod30_root: cache.join(copy),
    };
    let ready = cache.join(format!("tree-{short}/.complete")).exists()
        && cache.join(copy).join(".complete").exists();
    if ready {
        Some(tree)
    } else {
        skip(&format!(
            "the real module tree {kver} (in {})",
            cache.display()
        ));
        None
    }
}

/// The Debian 6.1 tree (4022 plain `.ko`), or a skip.
pub fn tree_61() -> Option<RealTree> {
    tree("6.1.0", "kmod30-6.1", "6.1.0-47-amd64")
}

/// The Debian 6.12 tree (4229 `.ko.xz`), or a skip.
pub fn tree_612() -> Option<RealTree> {
    tree("6.12.107", "kmod30-6.12", "6.12.107+deb12-amd64")
}

/// Debian's signed 6.1 package (linux-image-6.1.0-47-amd64) unpacked: its root, or a skip.
pub fn signed_tree_61() -> Option<PathBuf> {
    let root = cache_dir().join("tree-6.1.0-signed");
    if root.join(".complete").exists() {
        Some(root)
    } else {
        skip(&format!(
            "Debian's signed package linux-image-6.1.0-47-amd64, unpacked in {}",
            root.display()
        ));
        None
    }
}

/// A temporary directory that is removed afterwards.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Debian's kmod library (libkmod2, kmod 30), the oracle of rkmod's libkmod.so.2.
pub const KMOD_LIBRARY_DIR: &str = "/usr/lib/x86_64-linux-gnu";

/// Whether kmod's libkmod.so.2 is in [`KMOD_LIBRARY_DIR`]; a skip if not.
pub fn kmod_library_present() -> bool {
    let present = Path::new(KMOD_LIBRARY_DIR).join("libkmod.so.2").exists();
    if !present {
        skip("kmod's libkmod.so.2 (Debian package libkmod2)");
    }
    present
}

/// rkmod's libkmod.so.2, debug build, made by scripts/build-libkmod into `out`: its path.
pub fn build_libkmod(out: &Path) -> Option<PathBuf> {
    let status = Command::new("scripts/build-libkmod")
        .arg("--debug")
        .arg(out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .ok()?;
    status.success().then(|| out.join("libkmod.so.2"))
}

//! Corrupt and hostile input through the rkmod binary: one table of cases, each with the exit
//! code and error text expected of rkmod and, where the row says so, what Debian's kmod 30
//! does with the same input (run here when it is installed).
//!
//! Every row runs under `timeout -s KILL`, so a hang is a failure and not a stuck test run, and
//! every row checks that nothing panicked. The cases are listed, with kmod's behaviour, in
//! docs/hardening.md; several were first covered in scattered tests (modinfo_fixtures.rs,
//! depmod_cli.rs, the index unit tests), and are run here again so that the table is complete
//! in one place.
//!
//! Nothing here reaches the kernel: modprobe rows either show a plan (`-D`, `-n`) or fail
//! while opening a file, before any system call; insmod rows fail on the file type first.

use std::ffi::OsString;
use std::ops::ControlFlow;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kmodcore::index::IndexBuilder;
use testkit::{compress, Format, ModuleSpec};

use crate::util::*;

const KVER: &str = "1.0.0-corrupt";

/// How long one row may run before it counts as a hang.
const LIMIT: Duration = Duration::from_secs(20);

/// How long kmod runs in a row where it is known to hang.
const KMOD_HANG_LIMIT: Duration = Duration::from_secs(2);

/// The decompression cap (`kmodcore::module::MAX_MODULE_SIZE`).
const CAP: u64 = kmodcore::module::MAX_MODULE_SIZE;

/// A root with `lib/modules/KVER` holding modules `a` (needs `b_fn` from `b`, alias
/// `pci:v00001234d*`) and `b`, indexed by rkmod's depmod, an empty configuration directory
/// `conf/`, a fake `/proc` and `/sys` under `sys/`, and `files/` for loose inputs.
struct Root {
    dir: tempfile::TempDir,
}

fn module_a() -> ModuleSpec {
    let mut a = ModuleSpec::new("a").info("alias", "pci:v00001234d*sv*sd*bc*sc*i*");
    a.imports = vec!["b_fn".into()];
    a
}

fn module_b() -> ModuleSpec {
    let mut b = ModuleSpec::new("b");
    b.exports = vec![("b_fn".into(), 7)];
    b
}

impl Root {
    fn new() -> Root {
        let root = Root { dir: tempdir() };
        let moddir = root.moddir();
        std::fs::create_dir_all(moddir.join("kernel")).unwrap();
        std::fs::write(moddir.join("kernel/a.ko"), module_a().build()).unwrap();
        std::fs::write(moddir.join("kernel/b.ko"), module_b().build()).unwrap();
        std::fs::write(moddir.join("modules.order"), "kernel/a.ko\nkernel/b.ko\n").unwrap();
        std::fs::write(moddir.join("modules.builtin"), "").unwrap();
        std::fs::write(moddir.join("modules.builtin.modinfo"), "").unwrap();
        for dir in ["conf", "files", "sys/proc", "sys/sys/module"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        std::fs::write(root.path().join("sys/proc/cmdline"), "").unwrap();
        root.depmod();
        root
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn moddir(&self) -> PathBuf {
        self.path().join("lib/modules").join(KVER)
    }

    fn conf(&self) -> PathBuf {
        self.path().join("conf")
    }

    /// rkmod's depmod over the tree; it must succeed.
    fn depmod(&self) {
        let out = run(
            Prog::Rkmod,
            "depmod",
            &self.depmod_args(),
            self,
            None,
            LIMIT,
        );
        assert_eq!(out.code, 0, "depmod: {}", out.stderr);
    }

    fn depmod_args(&self) -> Vec<OsString> {
        args(&[
            "-b".into(),
            self.path().into(),
            "-C".into(),
            self.conf().into(),
            KVER.into(),
        ])
    }

    /// `-d ROOT -S KVER -C CONF` followed by `rest`.
    fn modprobe_args(&self, rest: &[&str]) -> Vec<OsString> {
        let mut v = args(&[
            "-d".into(),
            self.path().into(),
            "-S".into(),
            KVER.into(),
            "-C".into(),
            self.conf().into(),
        ]);
        v.extend(rest.iter().map(OsString::from));
        v
    }

    /// `-b ROOT -k KVER` followed by `rest`.
    fn modinfo_args(&self, rest: &[&str]) -> Vec<OsString> {
        let mut v = args(&["-b".into(), self.path().into(), "-k".into(), KVER.into()]);
        v.extend(rest.iter().map(OsString::from));
        v
    }

    /// Writes `files/NAME` and returns its path.
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path().join("files").join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn index(&self, name: &str) -> PathBuf {
        self.moddir().join(name)
    }
}

fn args(parts: &[OsString]) -> Vec<OsString> {
    parts.to_vec()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prog {
    Rkmod,
    Kmod,
}

/// What one run did.
#[derive(Debug)]
struct Outcome {
    /// The exit code; 128 + N when killed by signal N (137: killed at the time limit).
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    /// The peak resident set size in KiB, when measured.
    max_rss_kib: Option<u64>,
}

impl Outcome {
    fn timed_out(&self) -> bool {
        self.code == 137 || self.code == 124
    }
}

/// Runs `TOOL ARGS` (rkmod's or kmod's) under `timeout -s KILL`, with the root's fake /proc
/// and /sys for rkmod, and with `/usr/bin/time` measuring the peak RSS when `rss` names a
/// file to write it to.
fn run(
    prog: Prog,
    tool: &str,
    args: &[OsString],
    root: &Root,
    rss: Option<&Path>,
    limit: Duration,
) -> Outcome {
    run_limited(prog, tool, args, root, rss, limit, None)
}

/// [`run`], with at most `nofile` open file descriptors when given.
fn run_limited(
    prog: Prog,
    tool: &str,
    args: &[OsString],
    root: &Root,
    rss: Option<&Path>,
    limit: Duration,
    nofile: Option<u32>,
) -> Outcome {
    let mut cmd = match (rss, nofile) {
        (Some(out), _) => {
            let mut c = Command::new("/usr/bin/time");
            c.arg("-f").arg("%M").arg("-o").arg(out).arg("timeout");
            c
        }
        (None, Some(n)) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$@\""))
                .arg("sh")
                .arg("timeout");
            c
        }
        (None, None) => Command::new("timeout"),
    };
    cmd.arg("-s").arg("KILL").arg(limit.as_secs().to_string());
    match prog {
        Prog::Rkmod => {
            cmd.arg(rkmod_bin()).arg(tool);
        }
        Prog::Kmod => {
            cmd.arg(kmod_tool(tool).expect("kmod is installed"));
        }
    }
    cmd.args(args)
        .current_dir(root.path())
        .env_remove("MODPROBE_OPTIONS")
        .env_remove("RKMOD_MODPROBE_DEPTH")
        .env("RKMOD_SYSROOT", root.path().join("sys"));
    let started = Instant::now();
    let output = cmd.output().expect("timeout(1) runs");
    let elapsed = started.elapsed();
    let max_rss_kib = rss.and_then(|p| {
        std::fs::read_to_string(p)
            .ok()?
            .lines()
            .last()?
            .trim()
            .parse()
            .ok()
    });
    Outcome {
        code: output
            .status
            .code()
            .or_else(|| output.status.signal().map(|n| 128 + n))
            .unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed,
        max_rss_kib,
    }
}

/// What kmod 30 does with a row's input.
#[derive(Debug, Clone)]
enum Kmod {
    /// Not compared, and why (run with `RKMOD_TABLE_PRINT=1`, to measure it).
    Not(&'static str),
    /// Never run, and why: kmod would reach the running kernel.
    Never(&'static str),
    /// kmod exits with this code and its stderr contains this text.
    Exits(i32, String),
    /// kmod runs until the time limit (kept short for these rows).
    Hangs,
    /// kmod is killed by this signal (6: an assertion abort).
    Signal(i32),
}

/// One row of the table.
struct Row {
    /// The case, as docs/hardening.md names it.
    case: &'static str,
    tool: &'static str,
    args: Vec<OsString>,
    /// rkmod's exit code.
    code: i32,
    /// Texts rkmod's stderr must contain (empty: stderr must be empty).
    stderr: Vec<String>,
    /// Texts rkmod's stdout must contain.
    stdout: Vec<String>,
    /// The peak RSS rkmod may reach, in MiB (measured with /usr/bin/time).
    max_rss_mib: Option<u64>,
    /// A limit on open file descriptors for the run (`ulimit -n`), for both tools.
    nofile: Option<u32>,
    /// A check on rkmod's outcome and on the files afterwards.
    after: Option<Check>,
    kmod: Kmod,
}

/// A check run after a row: `Err` says what is wrong.
type Check = Box<dyn Fn(&Outcome) -> Result<(), String>>;

impl Row {
    fn new(case: &'static str, tool: &'static str, args: Vec<OsString>) -> Row {
        Row {
            case,
            tool,
            args,
            code: 0,
            stderr: Vec::new(),
            stdout: Vec::new(),
            max_rss_mib: None,
            nofile: None,
            after: None,
            kmod: Kmod::Not("no comparison"),
        }
    }

    fn nofile(mut self, limit: u32) -> Row {
        self.nofile = Some(limit);
        self
    }

    fn after(mut self, check: impl Fn(&Outcome) -> Result<(), String> + 'static) -> Row {
        self.after = Some(Box::new(check));
        self
    }

    fn fails(mut self, code: i32, stderr: &[&str]) -> Row {
        self.code = code;
        self.stderr = stderr.iter().map(|s| s.to_string()).collect();
        self
    }

    fn fails_with(mut self, code: i32, stderr: Vec<String>) -> Row {
        self.code = code;
        self.stderr = stderr;
        self
    }

    fn prints(mut self, stdout: &[&str]) -> Row {
        self.stdout = stdout.iter().map(|s| s.to_string()).collect();
        self
    }

    fn rss(mut self, mib: u64) -> Row {
        self.max_rss_mib = Some(mib);
        self
    }

    fn kmod(mut self, kmod: Kmod) -> Row {
        self.kmod = kmod;
        self
    }
}

/// Whether to print every outcome (`RKMOD_TABLE_PRINT=1`), for writing docs/hardening.md.
fn printing() -> bool {
    std::env::var_os("RKMOD_TABLE_PRINT").is_some()
}

/// Runs every row; returns the failures (all of them, not just the first).
fn check_rows(root: &Root, rows: Vec<Row>) {
    let mut failures = Vec::new();
    let kmod_present = kmod_tool("modprobe").is_some();
    if !kmod_present {
        skip("Debian's kmod (the kmod columns of the corrupt-input table)");
    }
    for row in rows {
        let rss_file = row.max_rss_mib.map(|_| {
            let name: String = row
                .case
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            root.path().join(format!("rss-{name}"))
        });
        let rss_file = rss_file.filter(|_| {
            let present = Path::new("/usr/bin/time").exists();
            if !present {
                skip("/usr/bin/time (the memory bound of the decompression bomb row)");
            }
            present
        });
        let ours = run_limited(
            Prog::Rkmod,
            row.tool,
            &row.args,
            root,
            rss_file.as_deref(),
            LIMIT,
            row.nofile,
        );
        if printing() {
            eprintln!(
                "[{}] rkmod {} -> {} in {:?}, rss {:?} KiB\n  stdout: {:?}\n  stderr: {:?}",
                row.case,
                row.tool,
                ours.code,
                ours.elapsed,
                ours.max_rss_kib,
                ours.stdout.chars().take(300).collect::<String>(),
                ours.stderr.chars().take(600).collect::<String>()
            );
        }
        let mut problems = Vec::new();
        if ours.timed_out() {
            problems.push(format!("hung (killed after {LIMIT:?})"));
        }
        if ours.stderr.contains("panicked") || ours.code == 101 {
            problems.push("panicked".to_string());
        }
        if ours.code != row.code {
            problems.push(format!("exit code {} (want {})", ours.code, row.code));
        }
        if row.stderr.is_empty() && !ours.stderr.is_empty() {
            problems.push("stderr not empty".to_string());
        }
        for want in &row.stderr {
            if !ours.stderr.contains(want.as_str()) {
                problems.push(format!("stderr lacks {want:?}"));
            }
        }
        for want in &row.stdout {
            if !ours.stdout.contains(want.as_str()) {
                problems.push(format!("stdout lacks {want:?}"));
            }
        }
        if let Some(check) = &row.after {
            if let Err(why) = check(&ours) {
                problems.push(why);
            }
        }
        if let (Some(limit), Some(rss)) = (row.max_rss_mib, ours.max_rss_kib) {
            if rss > limit * 1024 {
                problems.push(format!("peak RSS {} MiB > {limit} MiB", rss / 1024));
            }
        }
        let compare = match &row.kmod {
            Kmod::Never(why) | Kmod::Not(why) if printing() => {
                eprintln!("[{}] kmod is not checked here: {why}", row.case);
                matches!(row.kmod, Kmod::Not(_))
            }
            Kmod::Never(_) | Kmod::Not(_) => false,
            _ => true,
        };
        if kmod_present && compare {
            let limit = match row.kmod {
                Kmod::Hangs => KMOD_HANG_LIMIT,
                _ => LIMIT,
            };
            let theirs = run_limited(
                Prog::Kmod,
                row.tool,
                &row.args,
                root,
                None,
                limit,
                row.nofile,
            );
            if printing() {
                eprintln!(
                    "[{}] kmod {} -> {} in {:?}\n  stdout: {:?}\n  stderr: {:?}",
                    row.case,
                    row.tool,
                    theirs.code,
                    theirs.elapsed,
                    theirs.stdout.chars().take(300).collect::<String>(),
                    theirs.stderr.chars().take(600).collect::<String>()
                );
            }
            match &row.kmod {
                Kmod::Exits(code, text) => {
                    if theirs.code != *code || !theirs.stderr.contains(text.as_str()) {
                        problems.push(format!(
                            "kmod: exit {} with {:?} (want {code} with {text:?})",
                            theirs.code, theirs.stderr
                        ));
                    }
                }
                Kmod::Hangs => {
                    if !theirs.timed_out() {
                        problems.push(format!("kmod did not hang: exit {}", theirs.code));
                    }
                }
                Kmod::Signal(signal) => {
                    if theirs.code != 128 + signal {
                        problems.push(format!("kmod: exit {} (want signal {signal})", theirs.code));
                    }
                }
                Kmod::Not(_) | Kmod::Never(_) => {}
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "[{}] {} {:?}: {}\n  stdout: {}\n  stderr: {}",
                row.case,
                row.tool,
                row.args,
                problems.join("; "),
                ours.stdout.chars().take(500).collect::<String>(),
                ours.stderr.chars().take(1000).collect::<String>()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// `len` bytes of deterministic noise that no decoder or ELF reader accepts.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// A zstd frame header with no content size, no checksum, not single-segment, and a window
/// descriptor for 128 KiB (exponent 7: 2^(10+7)).
const ZSTD_HEADER_NO_SIZE: [u8; 2] = [0x00, 0x38];
const ZSTD_BLOCK_MAX: usize = 128 * 1024;

/// A zstd block header: last flag, type (0 raw, 1 RLE), size.
fn zstd_block_header(last: bool, kind: u32, size: usize) -> [u8; 3] {
    let word = (size as u32) << 3 | kind << 1 | u32::from(last);
    let b = word.to_le_bytes();
    [b[0], b[1], b[2]]
}

/// `data` as a zstd frame of raw (stored) blocks that does not declare its content size:
/// what a streaming compressor writes when it cannot know the size up front.
fn zstd_without_content_size(data: &[u8]) -> Vec<u8> {
    let mut out = ZSTD_MAGIC.to_vec();
    out.extend_from_slice(&ZSTD_HEADER_NO_SIZE);
    let chunks: Vec<&[u8]> = data.chunks(ZSTD_BLOCK_MAX).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        out.extend_from_slice(&zstd_block_header(i + 1 == chunks.len(), 0, chunk.len()));
        out.extend_from_slice(chunk);
    }
    out
}

/// A zstd frame of RLE blocks expanding to at least `total` zero bytes: about 4 bytes of file
/// per 128 KiB of output.
fn zstd_bomb(total: u64) -> Vec<u8> {
    let blocks = total.div_ceil(ZSTD_BLOCK_MAX as u64);
    let mut out = ZSTD_MAGIC.to_vec();
    out.extend_from_slice(&ZSTD_HEADER_NO_SIZE);
    for i in 0..blocks {
        out.extend_from_slice(&zstd_block_header(i + 1 == blocks, 1, ZSTD_BLOCK_MAX));
        out.push(0);
    }
    out
}

/// A single-segment zstd frame declaring 1 TiB of content (so a 1 TiB window) holding 5 bytes.
fn zstd_declaring_1tib() -> Vec<u8> {
    let mut out = ZSTD_MAGIC.to_vec();
    out.push(0xE0);
    out.extend_from_slice(&(1u64 << 40).to_le_bytes());
    out.extend_from_slice(&zstd_block_header(true, 0, 5));
    out.extend_from_slice(b"hello");
    out
}

/// A good module with `e_shstrndx` (offset 62 of the ELF64 header) far out of range.
fn bad_shstrndx() -> Vec<u8> {
    let mut image = module_b().build();
    image[62] = 0xff;
    image[63] = 0x7f;
    image
}

/// "could not get modinfo from 'STEM': PATH: REASON", rkmod's modinfo error for a file.
fn modinfo_error(path: &Path, reason: &str) -> Vec<String> {
    let stem = path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .split('.')
        .next()
        .unwrap()
        .to_string();
    vec![format!(
        "modinfo: ERROR: could not get modinfo from '{stem}': {}: {reason}",
        path.display()
    )]
}

fn os(path: &Path) -> Vec<OsString> {
    vec![path.as_os_str().to_owned()]
}

/// Truncated, garbage, compressed-garbage, zero-length and bomb module files given to modinfo.
#[test]
fn module_files() {
    let root = Root::new();
    let good = module_b().build();
    let kmod_noexec = |stem: &str| {
        Kmod::Exits(
            1,
            format!("could not get modinfo from '{stem}': Exec format error"),
        )
    };
    let kmod_invalid = |stem: &str| {
        Kmod::Exits(
            1,
            format!("could not get modinfo from '{stem}': Invalid argument"),
        )
    };
    let mut rows = Vec::new();

    let p = root.file("empty.ko", b"");
    rows.push(
        Row::new("zero-length .ko", "modinfo", os(&p))
            .fails_with(1, modinfo_error(&p, "invalid module: not an ELF file"))
            .kmod(kmod_invalid("empty")),
    );
    let p = root.file("garbage.ko", &noise(4096));
    rows.push(
        Row::new("garbage .ko", "modinfo", os(&p))
            .fails_with(1, modinfo_error(&p, "invalid module: not an ELF file"))
            .kmod(kmod_noexec("garbage")),
    );
    let p = root.file("truncated.ko", &good[..100]);
    rows.push(
        Row::new("truncated .ko", "modinfo", os(&p))
            .fails_with(
                1,
                modinfo_error(
                    &p,
                    "invalid module: Invalid ELF section header offset/size/alignment",
                ),
            )
            .kmod(kmod_invalid("truncated")),
    );
    for format in Format::ALL {
        let (name, kmod_knows) = match format {
            Format::Gzip => ("gzip", None),
            Format::Xz => ("xz", Some(kmod_invalid("truncated"))),
            Format::Zstd => ("zstd", Some(kmod_noexec("truncated"))),
        };
        let packed = compress(&good, format);
        let p = root.file(
            &format!("truncated{}", format.suffix()),
            &packed[..packed.len() / 2],
        );
        rows.push(
            Row::new("truncated compressed module", "modinfo", os(&p))
                .fails_with(
                    1,
                    modinfo_error(&p, &format!("{name} decompression failed")),
                )
                .kmod(
                    kmod_knows
                        .clone()
                        .unwrap_or(Kmod::Not("Debian's kmod 30 is built without zlib")),
                ),
        );
        let mut garbage = packed[..packed.len().min(12)].to_vec();
        garbage.extend_from_slice(&noise(2048));
        let p = root.file(&format!("garbage{}", format.suffix()), &garbage);
        rows.push(
            Row::new("garbage after a compression magic", "modinfo", os(&p))
                .fails_with(
                    1,
                    modinfo_error(&p, &format!("{name} decompression failed")),
                )
                .kmod(if kmod_knows.is_some() {
                    kmod_invalid("garbage")
                } else {
                    Kmod::Not("Debian's kmod 30 is built without zlib")
                }),
        );
    }
    let p = root.file("shstrndx.ko", &bad_shstrndx());
    rows.push(
        Row::new("bad e_shstrndx", "modinfo", os(&p))
            .fails_with(
                1,
                modinfo_error(&p, "invalid module: Invalid ELF e_shstrndx"),
            )
            // kmod: "Assertion `idx < elf->header.section.count' failed", SIGABRT.
            .kmod(Kmod::Signal(6)),
    );
    // 600 MiB of zeros in 19 KiB: decoding stops at the cap, and memory stays near it.
    let p = root.file("bomb.ko.zst", &zstd_bomb(600 << 20));
    rows.push(
        Row::new("decompression bomb", "modinfo", os(&p))
            .fails_with(
                1,
                modinfo_error(
                    &p,
                    &format!("zstd decompression failed: output exceeds the limit of {CAP} bytes"),
                ),
            )
            .rss(CAP / (1024 * 1024) + 128)
            .kmod(Kmod::Not(
                "measured once: kmod 30 decodes all 600 MiB (peak RSS 604 MiB), then fails",
            )),
    );
    let p = root.file("nosize.ko.zst", &zstd_without_content_size(&good));
    rows.push(
        Row::new("zstd frame without content size", "modinfo", os(&p))
            .prints(&["license:        GPL\n"])
            .kmod(Kmod::Exits(0, String::new())),
    );
    let p = root.file("window.ko.zst", &zstd_declaring_1tib());
    rows.push(
        Row::new("zstd frame declaring a 1 TiB window", "modinfo", os(&p))
            .fails_with(1, modinfo_error(&p, "zstd decompression failed"))
            .kmod(kmod_invalid("window")),
    );
    check_rows(&root, rows);
}

/// Node-word flags of the binary index (see kmodcore::index).
const NODE_VALUES: u32 = 0x4000_0000;
const NODE_CHILDREN: u32 = 0x2000_0000;

/// An index file: the header with `root` as the root's node word, then `body` from offset 12.
fn index_file(root: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xB007_F457u32.to_be_bytes());
    out.extend_from_slice(&0x0002_0001u32.to_be_bytes());
    out.extend_from_slice(&root.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A root node at offset 12 whose only child (for every character `a`..=`z`) is itself.
fn self_referencing_index() -> Vec<u8> {
    let mut body = vec![b'a', b'z'];
    for _ in b'a'..=b'z' {
        body.extend_from_slice(&(NODE_CHILDREN | 12).to_be_bytes());
    }
    index_file(NODE_CHILDREN | 12, &body)
}

/// A root node claiming children `\0`..=`\x7f` (128 node words) in a file that holds two.
fn child_range_out_of_bounds() -> Vec<u8> {
    let mut body = vec![0x00, 0x7f];
    body.extend_from_slice(&(NODE_VALUES | 12).to_be_bytes());
    body.extend_from_slice(&(NODE_VALUES | 12).to_be_bytes());
    index_file(NODE_CHILDREN | 12, &body)
}

const PCI_A: &str = "pci:v00001234d00005678sv00000000sd00000000bc00sc00i00";

/// Corrupt, truncated, empty and missing `.bin` indexes under modprobe and modinfo.
#[test]
fn indexes() {
    // Each case edits its root's indexes before its rows run, so each gets its own root.
    let mut roots: Vec<(Root, Vec<Row>)> = Vec::new();

    let r = Root::new();
    std::fs::remove_file(r.index("modules.dep.bin")).unwrap();
    let missing = vec![
        format!(
            "modprobe: WARNING: {}: No such file or directory (run depmod to create the module indexes)",
            r.index("modules.dep.bin").display()
        ),
        format!(
            "modprobe: FATAL: Module a not found in directory {}",
            r.moddir().display()
        ),
    ];
    let rows_missing = vec![Row::new(
        "missing modules.dep.bin",
        "modprobe",
        r.modprobe_args(&["-D", "a"]),
    )
    .fails_with(1, missing)
    .kmod(Kmod::Exits(
        1,
        format!(
            "modprobe: FATAL: Module a not found in directory {}",
            r.moddir().display()
        ),
    ))];
    roots.push((r, rows_missing));

    // A FIFO in modules.dep.bin's place: opened without blocking, it is no index.
    let r = Root::new();
    std::fs::remove_file(r.index("modules.dep.bin")).unwrap();
    nix::unistd::mkfifo(
        &r.index("modules.dep.bin"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let not_found = format!(
        "modprobe: FATAL: Module a not found in directory {}",
        r.moddir().display()
    );
    let rows_fifo = vec![
        Row::new("FIFO as modules.dep.bin", "modprobe", r.modprobe_args(&["-D", "a"]))
            .fails_with(
                1,
                vec![
                    format!(
                        "modprobe: WARNING: {}: not a regular file (run depmod to create the module indexes)",
                        r.index("modules.dep.bin").display()
                    ),
                    not_found,
                ],
            )
            .kmod(Kmod::Hangs),
        Row::new("FIFO as modules.dep.bin (modinfo)", "modinfo", r.modinfo_args(&["a"]))
            .fails(1, &["modinfo: ERROR: Module a not found.\n"])
            .kmod(Kmod::Hangs),
    ];
    roots.push((r, rows_fifo));

    let r = Root::new();
    std::fs::write(r.index("modules.dep.bin"), b"").unwrap();
    let rows_empty_dep = vec![Row::new(
        "empty modules.dep.bin",
        "modprobe",
        r.modprobe_args(&["-D", "a"]),
    )
    .fails_with(
        1,
        vec![format!(
            "modprobe: WARNING: {}: empty file (run depmod to create the module indexes)",
            r.index("modules.dep.bin").display()
        )],
    )
    .kmod(Kmod::Exits(1, "Module a not found in directory".into()))];
    roots.push((r, rows_empty_dep));

    let r = Root::new();
    std::fs::write(r.index("modules.builtin.bin"), b"").unwrap();
    std::fs::write(r.index("modules.builtin.alias.bin"), b"").unwrap();
    let rows_empty = vec![
        Row::new(
            "empty modules.builtin.bin (depmod writes one when modules.builtin is missing)",
            "modprobe",
            r.modprobe_args(&["-n", "a"]),
        )
        .prints(&["/kernel/b.ko \n", "/kernel/a.ko \n"])
        .kmod(Kmod::Exits(0, String::new())),
        Row::new(
            "empty modules.builtin.alias.bin",
            "modprobe",
            r.modprobe_args(&["-R", "nosuchalias"]),
        )
        .fails_with(
            1,
            vec![format!(
                "modprobe: FATAL: Module nosuchalias not found in directory {}",
                r.moddir().display()
            )],
        )
        .kmod(Kmod::Exits(1, "Module nosuchalias not found".into())),
    ];
    roots.push((r, rows_empty));

    let r = Root::new();
    let dep = std::fs::read(r.index("modules.dep.bin")).unwrap();
    std::fs::write(r.index("modules.dep.bin"), &dep[..dep.len() / 2]).unwrap();
    let rows_truncated = vec![
        Row::new(
            "truncated modules.dep.bin",
            "modprobe",
            r.modprobe_args(&["-D", "a"]),
        )
        .fails_with(
            1,
            vec![format!(
                "{}: corrupt index",
                r.index("modules.dep.bin").display()
            )],
        )
        // kmod prints nothing and exits 0: the module silently has no plan.
        .kmod(Kmod::Exits(0, String::new())),
        Row::new(
            "truncated modules.dep.bin (modinfo)",
            "modinfo",
            r.modinfo_args(&["a"]),
        )
        .fails_with(
            1,
            vec![format!(
                "{}: corrupt index",
                r.index("modules.dep.bin").display()
            )],
        )
        .kmod(Kmod::Hangs),
    ];
    roots.push((r, rows_truncated));

    let r = Root::new();
    std::fs::write(r.index("modules.alias.bin"), self_referencing_index()).unwrap();
    std::fs::write(r.index("modules.dep.bin"), self_referencing_index()).unwrap();
    let rows_loop = vec![
        Row::new(
            "self-referencing node (wildcard search)",
            "modprobe",
            r.modprobe_args(&["-R", PCI_A]),
        )
        .fails_with(
            1,
            vec![format!(
                "{}: corrupt index: the node at 12 is its own child",
                r.index("modules.alias.bin").display()
            )],
        )
        .kmod(Kmod::Exits(1, "not found in directory".into())),
        Row::new(
            "self-referencing node (exact lookup)",
            "modprobe",
            r.modprobe_args(&["-D", "aaaaaaaa"]),
        )
        .fails_with(
            1,
            vec![format!(
                "{}: corrupt index: the node at 12 is its own child",
                r.index("modules.dep.bin").display()
            )],
        )
        .kmod(Kmod::Exits(1, "not found in directory".into())),
        Row::new(
            "self-referencing node (dump: modprobe -c)",
            "modprobe",
            r.modprobe_args(&["-c"]),
        )
        .fails_with(
            1,
            vec![format!(
                "{}: the node at 12 is its own child",
                r.index("modules.alias.bin").display()
            )],
        )
        .kmod(Kmod::Signal(11)),
    ];
    roots.push((r, rows_loop));

    let r = Root::new();
    std::fs::write(r.index("modules.alias.bin"), child_range_out_of_bounds()).unwrap();
    std::fs::write(r.index("modules.dep.bin"), child_range_out_of_bounds()).unwrap();
    let rows_range = vec![
        Row::new(
            "child range out of bounds (wildcard search)",
            "modprobe",
            r.modprobe_args(&["-R", PCI_A]),
        )
        .fails_with(
            1,
            vec![format!(
                "{}: corrupt index",
                r.index("modules.alias.bin").display()
            )],
        )
        .kmod(Kmod::Exits(1, "not found in directory".into())),
        Row::new(
            "child range out of bounds (exact lookup)",
            "modprobe",
            r.modprobe_args(&["-D", "zzz"]),
        )
        .fails_with(
            1,
            vec![format!(
                "{}: corrupt index",
                r.index("modules.dep.bin").display()
            )],
        )
        .kmod(Kmod::Exits(1, "not found in directory".into())),
    ];
    roots.push((r, rows_range));

    for (r, rows) in roots {
        check_rows(&r, rows);
    }
}

/// Every byte of modules.dep.bin and modules.alias.bin flipped in turn (all bits, the high
/// bit, the low bit): each lookup and the
/// dump (`modprobe -c`) ends with an answer or an error naming the file, never a panic or a
/// hang. (With `RKMOD_TABLE_PRINT=1`, kmod 30 runs the same sweep and its crashes and hangs
/// are counted, for docs/hardening.md.)
#[test]
fn flipped_index_bytes() {
    let root = Root::new();
    let cases: [(&str, &[&str]); 3] = [
        ("modules.dep.bin", &["-D", "a"]),
        ("modules.alias.bin", &["-R", PCI_A]),
        ("modules.alias.bin", &["-c"]),
    ];
    let mut failures = Vec::new();
    let mut runs = 0;
    let started = Instant::now();
    for (file, query) in cases {
        let path = root.index(file);
        let pristine = std::fs::read(&path).unwrap();
        let args = root.modprobe_args(query);
        let (mut answers, mut errors) = (0, 0);
        let (mut kmod_crashes, mut kmod_hangs) = (0, 0);
        // All bits of a byte, its high bit (the node-word flags) and its low bit (offsets).
        let flips = (0..pristine.len()).flat_map(|at| [(at, 0xffu8), (at, 0x80), (at, 0x01)]);
        for (at, mask) in flips {
            let mut bytes = pristine.clone();
            bytes[at] ^= mask;
            std::fs::write(&path, &bytes).unwrap();
            let out = run(Prog::Rkmod, "modprobe", &args, &root, None, LIMIT);
            runs += 1;
            let named = out.stderr.contains(&path.display().to_string());
            match out.code {
                0 => answers += 1,
                1 if named || out.stderr.contains("not found") => errors += 1,
                _ => {}
            }
            if out.timed_out()
                || out.stderr.contains("panicked")
                || !(out.code == 0 || out.code == 1)
            {
                failures.push(format!(
                    "{file} byte {at} xor {mask:#04x}, modprobe {query:?}: exit {}: {}",
                    out.code, out.stderr
                ));
            }
            if printing() && kmod_tool("modprobe").is_some() {
                let theirs = run(Prog::Kmod, "modprobe", &args, &root, None, KMOD_HANG_LIMIT);
                if theirs.timed_out() {
                    kmod_hangs += 1;
                } else if theirs.code > 128 {
                    kmod_crashes += 1;
                }
            }
        }
        std::fs::write(&path, &pristine).unwrap();
        eprintln!(
            "{file} ({} bytes, 3 flips each), modprobe {query:?}: {answers} answers, {errors} errors{}",
            pristine.len(),
            if printing() {
                format!("; kmod 30: {kmod_crashes} crashes, {kmod_hangs} hangs")
            } else {
                String::new()
            }
        );
    }
    eprintln!("{runs} runs in {:?}", started.elapsed());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The lines of `modules.dep` in `dir`, sorted.
fn dep_lines(dir: &Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(dir.join("modules.dep"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

/// modules.dep naming a deleted file or a file outside the module directory; a module tree
/// with directory symlink loops, a FIFO and a device in it.
#[test]
fn module_tree() {
    let mut roots: Vec<(Root, Vec<Row>)> = Vec::new();

    // b.ko deleted after depmod: a, which needs it, is never loaded, and the error names the
    // missing file. (kmod 30 drops the dependency and loads a alone: run only as a dry run.)
    let r = Root::new();
    let b = r.moddir().join("kernel/b.ko");
    std::fs::remove_file(&b).unwrap();
    let rows = vec![
        Row::new(
            "modules.dep entry for a deleted file",
            "modprobe",
            r.modprobe_args(&["a"]),
        )
        .fails_with(
            1,
            vec![
                "modprobe: ERROR: could not insert 'a'".into(),
                format!("{}: No such file or directory", b.display()),
            ],
        )
        .kmod(Kmod::Never(
            "kmod 30 would load a without b into the running kernel: compared as a dry run",
        )),
        Row::new(
            "modules.dep entry for a deleted file (dry run)",
            "modprobe",
            r.modprobe_args(&["-n", "a"]),
        )
        .prints(&["/kernel/b.ko \n", "/kernel/a.ko \n"])
        .kmod(Kmod::Exits(0, "kmod_module_parse_depline() ctx=0x".into())),
    ];
    roots.push((r, rows));

    // A modules.dep line (as depmod never writes one) reaching out of the module directory.
    let r = Root::new();
    let outside = r.path().join("files/x.ko");
    std::fs::write(&outside, ModuleSpec::new("x").build()).unwrap();
    let mut dep = IndexBuilder::new();
    dep.insert(b"a", b"kernel/a.ko: kernel/b.ko", 0).unwrap();
    dep.insert(b"b", b"kernel/b.ko:", 1).unwrap();
    dep.insert(b"x", b"../../../files/x.ko: ../../../etc/passwd", 2)
        .unwrap();
    std::fs::write(r.index("modules.dep.bin"), dep.to_bytes().unwrap()).unwrap();
    let rows = vec![
        Row::new(
            "modules.dep entry escaping the module directory (../../etc/x.ko)",
            "modprobe",
            r.modprobe_args(&["-D", "x"]),
        )
        .prints(&["/lib/modules/1.0.0-corrupt/../../../files/x.ko \n"])
        .kmod(Kmod::Exits(0, String::new())),
        Row::new(
            "modules.dep entry escaping the module directory (modinfo)",
            "modinfo",
            r.modinfo_args(&["x"]),
        )
        .prints(&["/lib/modules/1.0.0-corrupt/../../../files/x.ko\n"])
        .kmod(Kmod::Exits(0, String::new())),
    ];
    roots.push((r, rows));

    // Directory loops through symbolic links (kernel/self -> ., kernel/d/up -> ../..), a FIFO
    // and /dev/zero in the tree; at most 32 open files.
    let r = Root::new();
    let kernel = r.moddir().join("kernel");
    std::os::unix::fs::symlink(".", kernel.join("self")).unwrap();
    std::fs::create_dir_all(kernel.join("d")).unwrap();
    std::os::unix::fs::symlink("../..", kernel.join("d/up")).unwrap();
    nix::unistd::mkfifo(
        &kernel.join("fifo.ko"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    std::os::unix::fs::symlink("/dev/zero", kernel.join("zero.ko")).unwrap();
    let moddir = r.moddir();
    let rows = vec![Row::new(
        "directory symlink loop, FIFO and device in the tree",
        "depmod",
        r.depmod_args(),
    )
    .fails_with(
        0,
        vec![
            format!("{}: directory loop", kernel.join("self").display()),
            format!("{}: directory loop", kernel.join("d/up").display()),
            format!("unsupported file type {}", kernel.join("fifo.ko").display()),
            format!("unsupported file type {}", kernel.join("zero.ko").display()),
        ],
    )
    .nofile(32)
    .after(move |_| {
        let lines = dep_lines(&moddir);
        let want = vec![
            "kernel/a.ko: kernel/b.ko".to_string(),
            "kernel/b.ko:".to_string(),
        ];
        if lines == want {
            Ok(())
        } else {
            Err(format!(
                "modules.dep is {lines:?}, want each module once: {want:?}"
            ))
        }
    })
    // kmod follows every path the loops allow, until names grow too long or descriptors
    // run out.
    .kmod(Kmod::Exits(0, "Too many open files".into()))];
    roots.push((r, rows));

    for (r, rows) in roots {
        check_rows(&r, rows);
    }
}

/// Records what a probe reports.
#[derive(Default)]
struct Log(Vec<String>);

impl kmodcore::resolve::probe::Reporter for Log {
    fn report(&mut self, report: kmodcore::resolve::probe::Report<'_>) -> ControlFlow<()> {
        use kmodcore::resolve::probe::Report;
        self.0.push(match report {
            Report::Show(shown) => String::from_utf8_lossy(&shown.line()).into_owned(),
            Report::Message(level, text) => format!("{level:?}: {text}"),
            Report::LoadFailed { name, error, .. } => {
                format!("load failed: {}: {error}", String::from_utf8_lossy(name))
            }
        });
        ControlFlow::Continue(())
    }
}

/// Runs no command (the tree has none).
struct NoCommands;

impl kmodcore::resolve::command::CommandRunner for NoCommands {
    fn run(
        &mut self,
        _: &kmodcore::resolve::command::ShellCommand,
    ) -> std::io::Result<kmodcore::resolve::command::CommandStatus> {
        Err(std::io::Error::other("no commands here"))
    }
}

/// The deleted-dependency row again, in-process against kmodcore's fake kernel, which records
/// every call: the module that needs the missing file is never given to the kernel.
#[test]
fn deleted_dependency_loads_nothing() {
    use kmodcore::kernel::FakeKernel;
    use kmodcore::resolve::probe::{self, ProbeError, ProbeFlags};

    let root = Root::new();
    let b = root.moddir().join("kernel/b.ko");
    std::fs::remove_file(&b).unwrap();
    let dir = kmodcore::moddir::ModuleDir::new(root.moddir());
    let config = kmodcore::config::Config::new();
    let mut resolver = kmodcore::resolve::Resolver::new(&dir, &config);
    let kernel = FakeKernel::new();
    let mut log = Log::default();
    let id = resolver.lookup(b"a").unwrap()[0];
    let result = probe::insert(
        &mut resolver,
        &kernel,
        &mut NoCommands,
        id,
        ProbeFlags::default(),
        None,
        &mut log,
    );
    assert!(
        matches!(
            result,
            Err(ProbeError::Errno(kmodcore::kernel::Errno::ENOENT))
        ),
        "{result:?}"
    );
    assert_eq!(kernel.calls(), Vec::new(), "nothing may reach the kernel");
    let missing = format!("load failed: b: {}: No such file or directory", b.display());
    assert!(log.0.contains(&missing), "{:?}", log.0);
}

/// A FIFO, `/dev/zero`, `/dev/null` and a directory given where a module file is expected.
#[test]
fn special_files_as_modules() {
    let root = Root::new();
    let fifo = root.path().join("files/fifo.ko");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let dir = root.path().join("files/dir.ko");
    std::fs::create_dir_all(&dir).unwrap();
    let mut rows = Vec::new();
    for path in [
        fifo.as_path(),
        Path::new("/dev/zero"),
        Path::new("/dev/null"),
    ] {
        let shown = path.display().to_string();
        // modinfo takes a path only when it names a regular file; otherwise it is a name.
        rows.push(
            Row::new("FIFO or device as a module (modinfo)", "modinfo", os(path))
                .fails_with(
                    1,
                    vec![format!("modinfo: ERROR: Module {shown} not found.")],
                )
                .kmod(Kmod::Exits(1, format!("Module {shown} not found."))),
        );
        let row = Row::new("FIFO or device as a module (insmod)", "insmod", os(path)).fails_with(
            1,
            vec![format!(
                "insmod: ERROR: could not insert module {shown}: Invalid parameters ({shown}: not a regular file)"
            )],
        );
        rows.push(if path == fifo {
            row.kmod(Kmod::Hangs)
        } else {
            row.kmod(Kmod::Never(
                "kmod passes the descriptor to finit_module in the running kernel (measured once: \
                 'Invalid parameters', the kernel's EINVAL)",
            ))
        });
        rows.push(
            Row::new(
                "FIFO or device as a module (modprobe --show-modversions)",
                "modprobe",
                root.modprobe_args(&["--show-modversions", &shown]),
            )
            .fails_with(
                1,
                vec![format!(
                    "modprobe: FATAL: could not get modversions of {}: Invalid argument",
                    path.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .split('.')
                        .next()
                        .unwrap()
                )],
            )
            // kmod 30 names the path, the newest kmod (and rkmod) the module.
            .kmod(if path == fifo {
                Kmod::Hangs
            } else {
                Kmod::Exits(
                    1,
                    format!("could not get modversions of {shown}: Invalid argument"),
                )
            }),
        );
        rows.push(
            Row::new(
                "FIFO or device as a module (modprobe, a path)",
                "modprobe",
                root.modprobe_args(&[&shown]),
            )
            .fails_with(
                1,
                vec![format!(
                    "could not insert '{}': Invalid argument ({shown}: not a regular file)",
                    path.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .split('.')
                        .next()
                        .unwrap()
                )],
            )
            // kmod 30 does not take paths: not found.
            .kmod(Kmod::Exits(1, "not found in directory".into())),
        );
    }
    let shown = dir.display().to_string();
    rows.push(
        Row::new("directory as a module (insmod)", "insmod", os(&dir))
            .fails_with(
                1,
                vec![format!(
                    "insmod: ERROR: could not insert module {shown}: Is a directory ({shown}: not a regular file)"
                )],
            )
            .kmod(Kmod::Exits(1, "Is a directory".into())),
    );
    check_rows(&root, rows);
}

/// A 10 MB line in modprobe.d, in depmod.d and on the kernel command line; a kernel command
/// line of 10 MB.
#[test]
fn huge_configuration_lines() {
    let root = Root::new();
    let long = "x".repeat(10 << 20);
    std::fs::write(
        root.conf().join("big.conf"),
        format!("options a p={long}\nalias pci:v00009999* b\n"),
    )
    .unwrap();
    let depmod_conf = root.path().join("depmod.d");
    std::fs::create_dir_all(&depmod_conf).unwrap();
    std::fs::write(
        depmod_conf.join("big.conf"),
        format!("search {long}\nsearch built-in\n"),
    )
    .unwrap();
    let moddir = root.moddir();
    let rows = vec![
        Row::new(
            "10 MB modprobe.d line (modprobe -c)",
            "modprobe",
            root.modprobe_args(&["-c"]),
        )
        .prints(&["alias pci:v00009999* b\n", "options a p=xxxxxxxx"])
        .kmod(Kmod::Exits(0, String::new())),
        Row::new(
            "10 MB modprobe.d line (modprobe -D)",
            "modprobe",
            root.modprobe_args(&["-D", "a"]),
        )
        .prints(&["/kernel/a.ko p=xxxxxxxx"])
        .kmod(Kmod::Exits(0, String::new())),
        Row::new(
            "10 MB depmod.d line",
            "depmod",
            vec![
                "-b".into(),
                root.path().into(),
                "-C".into(),
                depmod_conf.into(),
                KVER.into(),
            ],
        )
        .after(move |_| {
            let lines = dep_lines(&moddir);
            if lines.len() == 2 {
                Ok(())
            } else {
                Err(format!("modules.dep: {lines:?}"))
            }
        })
        .kmod(Kmod::Exits(0, String::new())),
    ];
    check_rows(&root, rows);

    // The kernel command line comes from RKMOD_SYSROOT, which kmod does not read.
    let root = Root::new();
    std::fs::write(
        root.path().join("sys/proc/cmdline"),
        format!("quiet a.p={long} modprobe.blacklist=b\n"),
    )
    .unwrap();
    let rows = vec![Row::new(
        "10 MB kernel command line",
        "modprobe",
        root.modprobe_args(&["-c"]),
    )
    .kmod(Kmod::Not("kmod reads the real /proc/cmdline"))];
    check_rows(&root, rows);
}

/// Bytes above 127 in an alias, an exported symbol and a request.
#[test]
fn non_ascii_names() {
    let root = Root::new();
    let mut c = ModuleSpec::new("c").info("alias", "pci:v0000\u{e9}*");
    c.exports = vec![("c_sym_\u{e9}".into(), 1)];
    std::fs::write(root.moddir().join("kernel/c.ko"), c.build()).unwrap();
    let moddir = root.moddir();
    let rows = vec![
        // kmod's index format is 7-bit: the newest kmod stops with this message (and writes
        // nothing), and so does rkmod; the old indexes stay.
        Row::new(
            "non-ASCII alias and symbol (depmod)",
            "depmod",
            root.depmod_args(),
        )
        .fails(
            1,
            &[
                "depmod: FATAL: Module index: bad character '",
                "'=0xc3 - only 7-bit ASCII is supported:\npci:v0000\u{e9}*\n",
            ],
        )
        .after(move |_| {
            let lines = dep_lines(&moddir);
            if lines.iter().any(|l| l.starts_with("kernel/c.ko")) {
                Err(format!("modules.dep was rewritten: {lines:?}"))
            } else {
                Ok(())
            }
        })
        .kmod(Kmod::Not(
            "kmod 30 indexes its trie with a signed char: undefined behaviour, measured as \
                 a silent exit 0 for this module and as SIGSEGV (leaving a temporary file) for \
                 an alias 'b\\xc3\\xa9ck-major-8-*'",
        )),
        Row::new(
            "non-ASCII alias (modprobe -R)",
            "modprobe",
            root.modprobe_args(&["-R", "pci:v0000\u{e9}1"]),
        )
        .fails_with(
            1,
            vec![format!(
                "modprobe: FATAL: Module pci:v0000\u{e9}1 not found in directory {}",
                root.moddir().display()
            )],
        )
        .kmod(Kmod::Exits(1, "Module pci:v0000\u{e9}1 not found".into())),
        Row::new("non-ASCII request", "modprobe", {
            use std::os::unix::ffi::OsStringExt;
            let mut v = root.modprobe_args(&["-D"]);
            v.push(OsString::from_vec(vec![b'a', 0xff, 0xfe]));
            v
        })
        .fails(
            1,
            &["modprobe: FATAL: Module a\u{fffd}\u{fffd} not found in directory"],
        )
        .kmod(Kmod::Exits(1, "not found in directory".into())),
    ];
    check_rows(&root, rows);
}

/// depmod over a tree holding every kind of broken module file next to two good ones.
#[test]
fn depmod_over_corrupt_modules() {
    let broken = |root: &Root, with_shstrndx: bool| {
        let kernel = root.moddir().join("kernel");
        let good = module_b().build();
        std::fs::write(kernel.join("empty.ko"), b"").unwrap();
        std::fs::write(kernel.join("garbage.ko"), noise(4096)).unwrap();
        std::fs::write(kernel.join("truncated.ko"), &good[..100]).unwrap();
        let xz = compress(&good, Format::Xz);
        std::fs::write(kernel.join("truncated_xz.ko.xz"), &xz[..xz.len() / 2]).unwrap();
        let zst = compress(&good, Format::Zstd);
        std::fs::write(kernel.join("truncated_zst.ko.zst"), &zst[..zst.len() / 2]).unwrap();
        std::fs::write(kernel.join("bomb.ko.zst"), zstd_bomb(600 << 20)).unwrap();
        if with_shstrndx {
            std::fs::write(kernel.join("shstrndx.ko"), bad_shstrndx()).unwrap();
        }
    };
    // As in kmod, a broken module is listed with no dependencies, and the good ones are intact.
    let check = |moddir: PathBuf, with_shstrndx: bool| {
        move |_: &Outcome| {
            let lines = dep_lines(&moddir);
            let mut want: Vec<String> = [
                "a.ko: kernel/b.ko",
                "b.ko:",
                "bomb.ko.zst:",
                "empty.ko:",
                "garbage.ko:",
                "truncated.ko:",
                "truncated_xz.ko.xz:",
                "truncated_zst.ko.zst:",
            ]
            .iter()
            .map(|l| format!("kernel/{l}"))
            .collect();
            if with_shstrndx {
                want.push("kernel/shstrndx.ko:".into());
            }
            want.sort();
            if lines == want {
                Ok(())
            } else {
                Err(format!("modules.dep is {lines:?}, want {want:?}"))
            }
        }
    };
    let r = Root::new();
    broken(&r, true);
    let rows = vec![Row::new(
        "broken modules in the tree (with a bad e_shstrndx)",
        "depmod",
        r.depmod_args(),
    )
    .fails(
        0,
        &[
            "empty.ko",
            "garbage.ko",
            "truncated.ko:",
            "truncated_xz.ko.xz",
            "truncated_zst.ko.zst",
            "bomb.ko.zst",
            "shstrndx.ko",
        ],
    )
    .after(check(r.moddir(), true))
    // kmod: "Assertion `idx < elf->header.section.count' failed", nothing written.
    .kmod(Kmod::Signal(6))];
    check_rows(&r, rows);
    let r = Root::new();
    broken(&r, false);
    let rows = vec![
        Row::new("broken modules in the tree", "depmod", r.depmod_args())
            .fails(
                0,
                &[
                    "empty.ko",
                    "garbage.ko",
                    "truncated.ko:",
                    "truncated_xz.ko.xz",
                    "truncated_zst.ko.zst",
                    "bomb.ko.zst",
                ],
            )
            .after(check(r.moddir(), false))
            .kmod(Kmod::Exits(0, "failed to load symbols from".into())),
    ];
    check_rows(&r, rows);
}

/// FIFOs where modprobe, modinfo and depmod read files: a modprobe.d file, a depmod.d file
/// and modules.builtin.modinfo. (modules.dep.bin is in [`indexes`].) kmod blocks in `open`
/// on each; rkmod opens without blocking and skips what is not a regular file.
#[test]
fn fifos_where_files_are_read() {
    let fifo = |path: &Path| {
        let _ = std::fs::remove_file(path);
        nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    };
    let root = Root::new();
    std::fs::write(root.moddir().join("modules.builtin"), "kernel/fs/bi.ko\n").unwrap();
    root.depmod();
    fifo(&root.moddir().join("modules.builtin.modinfo"));
    fifo(&root.conf().join("fifo.conf"));
    let depmod_conf = root.path().join("depmod.d");
    std::fs::create_dir_all(&depmod_conf).unwrap();
    fifo(&depmod_conf.join("fifo.conf"));
    let rows = vec![
        Row::new(
            "FIFO as a modprobe.d file",
            "modprobe",
            root.modprobe_args(&["-c"]),
        )
        .prints(&["# End of configuration files. Dumping indexes now:\n"])
        .kmod(Kmod::Hangs),
        Row::new(
            "FIFO as a depmod.d file",
            "depmod",
            vec![
                "-b".into(),
                root.path().into(),
                "-C".into(),
                depmod_conf.clone().into(),
                KVER.into(),
            ],
        )
        .fails_with(
            0,
            vec![format!(
                "depmod: ERROR: file parse {}: Invalid argument",
                depmod_conf.join("fifo.conf").display()
            )],
        )
        .kmod(Kmod::Hangs),
        // As with a kernel that has no modules.builtin.modinfo: the name, and no fields.
        Row::new(
            "FIFO as modules.builtin.modinfo",
            "modinfo",
            root.modinfo_args(&["bi"]),
        )
        .prints(&["name:           bi\nfilename:       (builtin)\n"])
        .kmod(Kmod::Hangs),
    ];
    check_rows(&root, rows);

    // depmod's own inputs: modules.order a link to /dev/zero, modules.builtin a FIFO.
    let root = Root::new();
    let order = root.moddir().join("modules.order");
    std::fs::remove_file(&order).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &order).unwrap();
    fifo(&root.moddir().join("modules.builtin"));
    let moddir = root.moddir();
    let rows = vec![Row::new(
        "/dev/zero as modules.order, FIFO as modules.builtin",
        "depmod",
        root.depmod_args(),
    )
    .fails_with(
        0,
        vec![
            format!(
                "depmod: WARNING: could not open modules.order at {}: Invalid argument",
                moddir.display()
            ),
            format!(
                "depmod: WARNING: could not open modules.builtin at {}: Invalid argument",
                moddir.display()
            ),
        ],
    )
    .rss(256)
    .after(move |_| {
        let lines = dep_lines(&moddir);
        if lines.len() == 2 {
            Ok(())
        } else {
            Err(format!("modules.dep: {lines:?}"))
        }
    })
    .kmod(Kmod::Hangs)];
    check_rows(&root, rows);
}

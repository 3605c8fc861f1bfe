//! `modprobe` against kmod's, case by case, on the Debian 6.1 tree with indexes written by
//! kmod 30's depmod (`~/.cache/rkmod/kmod30-6.1`, read only).
//!
//! Every case runs Debian's kmod 30 `/usr/sbin/modprobe` and `rkmod modprobe` with the same
//! arguments (`-d ROOT -S 6.1.0-47-amd64` added), in `testdata/modprobe` as the working
//! directory, and compares stdout, stderr and the exit code. The expected values are kmod's
//! output at test time; nothing here is written by rkmod.
//!
//! What each side sees of the running kernel is controlled:
//! - kmod always reads `/proc/cmdline` and `/sys/module`, so it runs in a private mount
//!   namespace (`unshare -m`) with the case's command line bind-mounted over `/proc/cmdline`
//!   and a directory of fake module states over `/sys/module`;
//! - rkmod reads the same two through its test-only root, `RKMOD_SYSROOT`.
//!
//! Cases marked [`Expect::Head`] are where kmod 30 differs from the newest kmod, which rkmod
//! follows (each says why). They are compared with kmod built from its development head when
//! that binary is available (`KMOD_HEAD_MODPROBE`, or the build in the cache), and otherwise
//! with its output captured in `testdata/modprobe/expected-head/` (see the README there).
//! Cases marked [`Expect::Deliberate`] are where rkmod differs from kmod on purpose; the case
//! states how, and the comparison applies exactly that change to kmod's output.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

const KVER: &str = "6.1.0-47-amd64";

/// What a case expects of rkmod.
#[derive(Clone, Copy)]
enum Expect {
    /// Exactly kmod 30's output.
    Kmod30,
    /// Exactly the newest kmod's output; kmod 30 differs for the reason given.
    Head(&'static str),
    /// kmod 30's output with a deliberate change applied (the reason, and the change).
    Deliberate(&'static str, fn(&Ctx, Run) -> Run),
}

/// One case.
struct Case {
    /// A unique name (also the golden file name for head cases).
    name: &'static str,
    /// The arguments after `-d ROOT -S KVER`. `@TREE@` stands for the module directory.
    args: &'static [&'static str],
    /// The kernel command line.
    cmdline: &'static str,
    /// Fake module states: `NAME:STATE:REFCNT[:HOLDER,HOLDER]` separated by spaces; a state
    /// of `-` makes a directory without `initstate`.
    sys: &'static str,
    /// Extra environment.
    env: &'static [(&'static str, &'static str)],
    /// What rkmod must print.
    expect: Expect,
}

const fn case(name: &'static str, args: &'static [&'static str]) -> Case {
    Case {
        name,
        args,
        cmdline: "",
        sys: "",
        env: &[],
        expect: Expect::Kmod30,
    }
}

impl Case {
    const fn cmdline(mut self, cmdline: &'static str) -> Case {
        self.cmdline = cmdline;
        self
    }
    const fn sys(mut self, sys: &'static str) -> Case {
        self.sys = sys;
        self
    }
    const fn env(mut self, env: &'static [(&'static str, &'static str)]) -> Case {
        self.env = env;
        self
    }
    const fn head(mut self, why: &'static str) -> Case {
        self.expect = Expect::Head(why);
        self
    }
    const fn deliberate(mut self, why: &'static str, change: fn(&Ctx, Run) -> Run) -> Case {
        self.expect = Expect::Deliberate(why, change);
        self
    }
}

/// Where a run happens.
struct Ctx {
    tree: RealTree,
    testdata: PathBuf,
}

impl Ctx {
    fn moddir(&self) -> PathBuf {
        self.tree.kmod30_moddir()
    }
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/modprobe")
}

/// Builds the fake root: `proc/cmdline` and `sys/module`.
fn fake_root(case: &Case) -> tempfile::TempDir {
    let root = tempdir();
    std::fs::create_dir_all(root.path().join("proc")).unwrap();
    std::fs::write(root.path().join("proc/cmdline"), case.cmdline).unwrap();
    let sysmod = root.path().join("sys/module");
    std::fs::create_dir_all(&sysmod).unwrap();
    for spec in case.sys.split_whitespace() {
        let mut parts = spec.split(':');
        let name = parts.next().unwrap();
        let state = parts.next().unwrap_or("live");
        let refcnt = parts.next().unwrap_or("0");
        let holders = parts.next().unwrap_or("");
        let dir = sysmod.join(name);
        std::fs::create_dir_all(dir.join("holders")).unwrap();
        if state != "-" {
            std::fs::write(dir.join("initstate"), format!("{state}\n")).unwrap();
        }
        std::fs::write(dir.join("refcnt"), format!("{refcnt}\n")).unwrap();
        for holder in holders.split(',').filter(|h| !h.is_empty()) {
            std::fs::create_dir_all(dir.join("holders").join(holder)).unwrap();
        }
    }
    root
}

fn args(ctx: &Ctx, case: &Case) -> Vec<OsString> {
    let mut out: Vec<OsString> = vec![
        "-d".into(),
        ctx.tree.kmod30_root.clone().into(),
        "-S".into(),
        KVER.into(),
    ];
    let tree = ctx.moddir().display().to_string();
    for a in case.args {
        out.push(a.replace("@TREE@", &tree).into());
    }
    out
}

/// Runs a kmod modprobe binary in a private mount namespace that shows it the case's kernel
/// command line and module states.
fn run_kmod(ctx: &Ctx, case: &Case, bin: &Path) -> Run {
    let root = fake_root(case);
    let script = "mount --bind \"$1\" /proc/cmdline && mount --bind \"$2\" /sys/module && shift 2 && exec \"$@\"";
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--", "sh", "-c", script, "sh"])
        .arg(root.path().join("proc/cmdline"))
        .arg(root.path().join("sys/module"))
        // Called by its base name, through PATH, so that getopt's messages name it as
        // "modprobe", as rkmod's do.
        .arg(bin.file_name().unwrap())
        .args(args(ctx, case))
        .current_dir(&ctx.testdata)
        .env_remove("MODPROBE_OPTIONS");
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env(
        "PATH",
        format!("{}:{path}", bin.parent().unwrap().display()),
    );
    for (k, v) in case.env {
        cmd.env(k, v);
    }
    cmd.output().expect("unshare runs").into()
}

fn run_rkmod(ctx: &Ctx, case: &Case) -> Run {
    run_rkmod_with(ctx, case, &[])
}

/// [`run_rkmod`] with `extra` arguments (rkmod-only options) before the case's own, so that
/// they stay options when the case has `--` or module parameters.
fn run_rkmod_with(ctx: &Ctx, case: &Case, extra: &[&str]) -> Run {
    let root = fake_root(case);
    let mut cmd = Command::new(rkmod_bin());
    cmd.arg("modprobe")
        .args(extra)
        .args(args(ctx, case))
        .current_dir(&ctx.testdata)
        .env_remove("MODPROBE_OPTIONS")
        .env("RKMOD_SYSROOT", root.path());
    for (k, v) in case.env {
        cmd.env(k, v);
    }
    cmd.output().expect("rkmod runs").into()
}

/// The newest kmod's modprobe, when built.
fn kmod_head() -> Option<PathBuf> {
    // An empty or missing KMOD_HEAD_MODPROBE path means: use the captured goldens.
    if let Some(p) = std::env::var_os("KMOD_HEAD_MODPROBE") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let p = cache_dir().join("kmod-head-build/build/modprobe");
    p.exists().then_some(p)
}

/// Replaces the machine-specific paths of a run by placeholders, for golden files.
fn placeholders(ctx: &Ctx, text: &[u8]) -> Vec<u8> {
    let s = String::from_utf8_lossy(text)
        .replace(&ctx.tree.kmod30_root.display().to_string(), "@ROOT@")
        .replace(&ctx.testdata.display().to_string(), "@TESTDATA@");
    s.into_bytes()
}

fn golden_dir() -> PathBuf {
    testdata().join("expected-head")
}

fn read_golden(ctx: &Ctx, name: &str) -> Option<Run> {
    let dir = golden_dir();
    let get = |ext: &str| std::fs::read(dir.join(format!("{name}.{ext}"))).ok();
    let (stdout, stderr, code) = (get("stdout")?, get("stderr")?, get("code")?);
    let unplace = |text: Vec<u8>| {
        String::from_utf8_lossy(&text)
            .replace("@ROOT@", &ctx.tree.kmod30_root.display().to_string())
            .replace("@TESTDATA@", &ctx.testdata.display().to_string())
            .into_bytes()
    };
    Some(Run {
        stdout: unplace(stdout),
        stderr: unplace(stderr),
        code: String::from_utf8_lossy(&code).trim().parse().ok()?,
    })
}

fn write_golden(ctx: &Ctx, name: &str, run: &Run) {
    let dir = golden_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{name}.stdout")),
        placeholders(ctx, &run.stdout),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("{name}.stderr")),
        placeholders(ctx, &run.stderr),
    )
    .unwrap();
    std::fs::write(dir.join(format!("{name}.code")), format!("{}\n", run.code)).unwrap();
}

/// A short account of how two runs differ: the exit codes, and the first differing lines of
/// each stream with their line numbers.
fn difference(ours: &Run, theirs: &Run) -> String {
    let mut out = String::new();
    if ours.code != theirs.code {
        out.push_str(&format!(
            "exit code: rkmod {}, kmod {}\n",
            ours.code, theirs.code
        ));
    }
    for (stream, a, b) in [
        ("stdout", &ours.stdout, &theirs.stdout),
        ("stderr", &ours.stderr, &theirs.stderr),
    ] {
        if a == b {
            continue;
        }
        let a = String::from_utf8_lossy(a);
        let b = String::from_utf8_lossy(b);
        let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
        out.push_str(&format!(
            "{stream}: rkmod {} lines, kmod {} lines\n",
            la.len(),
            lb.len()
        ));
        let mut shown = 0;
        for i in 0..la.len().max(lb.len()) {
            let (x, y) = (la.get(i), lb.get(i));
            if x != y {
                out.push_str(&format!(
                    "  line {}:\n    rkmod: {:?}\n    kmod:  {:?}\n",
                    i + 1,
                    x,
                    y
                ));
                shown += 1;
                if shown == 6 {
                    break;
                }
            }
        }
        if la.len() == lb.len() && a != b {
            out.push_str("  (a difference in line endings)\n");
        }
    }
    out
}

/// Runs every case; returns the failures' descriptions.
fn check(ctx: &Ctx, cases: &[Case]) -> Vec<String> {
    let kmod30 = kmod_tool("modprobe").expect("kmod's modprobe");
    let head = kmod_head();
    let capture = std::env::var_os("RKMOD_CAPTURE_HEAD").is_some();
    let mut failures = Vec::new();
    for case in cases {
        let ours = run_rkmod(ctx, case);
        let v30 = run_kmod(ctx, case, &kmod30);
        // kmod 30 is built with debugging, which only changes how libkmod prefixes its
        // messages; the newest kmod's form is the reference.
        let v30 = libkmod_prefix(ctx, v30);
        let expected = match case.expect {
            Expect::Kmod30 => v30,
            Expect::Deliberate(why, change) => {
                let _ = why; // documentation of the case; shown on failure below
                change(ctx, v30)
            }
            Expect::Head(why) => {
                let theirs = match &head {
                    Some(bin) => {
                        let run = run_kmod(ctx, case, bin);
                        if capture {
                            write_golden(ctx, case.name, &run);
                        }
                        run
                    }
                    None => match read_golden(ctx, case.name) {
                        Some(run) => run,
                        None => {
                            failures.push(format!(
                                "{}: no kmod head binary and no golden file",
                                case.name
                            ));
                            continue;
                        }
                    },
                };
                // The note must stay true: kmod 30 really differs here.
                if theirs == v30 {
                    failures.push(format!(
                        "{}: marked as differing in kmod 30 ({why}), but kmod 30 agrees with head",
                        case.name
                    ));
                }
                theirs
            }
        };
        if ours != expected {
            let note = match case.expect {
                Expect::Kmod30 => String::new(),
                Expect::Head(why) => format!(" [newest kmod's output: {why}]"),
                Expect::Deliberate(why, _) => format!(" [kmod's output changed: {why}]"),
            };
            failures.push(format!(
                "case {} (modprobe {}){note}:\n{}",
                case.name,
                case.args.join(" "),
                difference(&ours, &expected)
            ));
        }
    }
    failures
}

/// The 6.1 tree and the test data, or `None` (after a skip) when the tree or a private mount
/// namespace is not available.
fn context() -> Option<Ctx> {
    let tree = tree_61()?;
    if Command::new("unshare")
        .args(["-m", "true"])
        .status()
        .map_or(true, |s| !s.success())
    {
        skip("unshare -m (root in a mount namespace), to show kmod a controlled /proc/cmdline");
        return None;
    }
    Some(Ctx {
        tree,
        testdata: testdata(),
    })
}

fn run_cases(cases: &[Case]) {
    let Some(ctx) = context() else { return };
    let failures = check(&ctx, cases);
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Deliberate changes to kmod's output.

/// rkmod prints the space kmod forgets in `softdep m pre: a post: b` lines of `-c`.
fn softdep_space(_: &Ctx, mut run: Run) -> Run {
    let text = run.stdout_str();
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with("softdep ") && line.contains(" pre: ") {
            if let Some(at) = line.find("post: ") {
                if !line[..at].ends_with(' ') && !line[..at].ends_with("pre:") {
                    out.push_str(&line[..at]);
                    out.push(' ');
                    out.push_str(&line[at..]);
                    continue;
                }
            }
        }
        out.push_str(line);
    }
    run.stdout = out.into_bytes();
    run
}

/// Not a deliberate change: kmod 30 is built with debugging, which only changes where
/// libkmod's messages say they come from: `libkmod: ERROR ../libkmod/libkmod-config.c:712
/// kmod_config_parse: ...` before the logging is set up, `modprobe: ERROR:
/// ../libkmod/libkmod-module.c:1047 command_do() ...` after. The newest kmod (and rkmod) print
/// `libkmod: ERROR: kmod_config_parse: ...` and `modprobe: ERROR: ...`.
fn libkmod_prefix(_: &Ctx, mut run: Run) -> Run {
    let text = run.stderr_str();
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("libkmod: ERROR ") {
            // Drop "FILE:LINE " before the function name.
            let rest = rest.split_once(' ').map_or(rest, |(_, r)| r);
            out.push_str("libkmod: ERROR: ");
            out.push_str(rest);
            continue;
        }
        if let Some((prefix, rest)) = line.split_once(": ../libkmod/") {
            // "modprobe: LEVEL: ../libkmod/FILE:LINE FUNCTION() message"
            if let Some((_, message)) = rest.split_once("() ") {
                out.push_str(prefix);
                out.push_str(": ");
                out.push_str(message);
                continue;
            }
        }
        out.push_str(line);
    }
    run.stderr = out.into_bytes();
    run
}

/// With modules.dep.bin missing, rkmod prints a hint before kmod's "not found".
fn depmod_hint(_: &Ctx, mut run: Run) -> Run {
    let text = run.stderr_str();
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("modprobe: FATAL: Module ") {
            if let Some((_, dir)) = rest.trim_end().split_once(" not found in directory ") {
                out.push_str(&format!(
                    "modprobe: WARNING: {dir}/modules.dep.bin: No such file or directory (run depmod to create the module indexes)\n"
                ));
            }
        }
        out.push_str(line);
    }
    run.stderr = out.into_bytes();
    run
}

// ---------------------------------------------------------------------------------------------
// The corpus.

const SHOW_DEPENDS: &[Case] = &[
    case("name", &["--show-depends", "e1000e"]),
    case("name-with-deps", &["--show-depends", "snd-hda-intel"]),
    case("name-short-flag", &["-D", "uas"]),
    case("dashes", &["-D", "usb-storage"]),
    case("underscores", &["-D", "usb_storage"]),
    case("mixed-dashes", &["-D", "snd_hda-intel"]),
    case("deep-deps", &["-D", "btrfs"]),
    case("softdep-from-modules-softdep", &["-D", "ext4"]),
    case("softdep-first-line-only-33", &["-D", "ksmbd"]),
    case(
        "pci-modalias",
        &[
            "-D",
            "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00",
        ],
    ),
    case(
        "usb-modalias",
        &["-D", "usb:v05ACp12A8d0001dc00dsc00dp00icFFisc00ip00in00"],
    ),
    case(
        "modalias-several-matches",
        &[
            "-D",
            "pci:v00008086d00001C3Asv00001043sd00008488bc07sc80i00",
        ],
    ),
    case("symbol", &["-D", "symbol:usb_register_driver"]),
    case("symbol-missing", &["-D", "symbol:no_such_symbol"]),
    case("builtin", &["-D", "unix"]),
    case("builtin-alias", &["-D", "net-pf-1"]),
    case("builtin-and-crypto-alias", &["-D", "crypto-sha256"]),
    case("devname-with-slash", &["-D", "devname:snd/timer"]),
    case("fs-alias", &["-D", "fs-vfat"]),
    case("char-major", &["-D", "char-major-10-237"]),
    case("not-found", &["-D", "no-such-module"]),
    case("not-found-quiet", &["-q", "-D", "no-such-module"]),
    case("path-traversal-name", &["-D", "../../tmp/evil"]),
    case("basename-trick-cve-2014-9645", &["-D", "netdev-/usbserial"]),
    case("name-with-ko-suffix", &["-D", "e1000e.ko"]),
    case("bad-brackets", &["-D", "pci:v[0-9"]),
    case("wildcard-request", &["-D", "snd-hda-*"]),
    case("empty-name", &["-D", ""]),
    case("extra-options", &["-D", "e1000e", "IntMode=2", "debug=1"]),
    case("extra-option-with-space", &["-D", "e1000e", "name=a b"]),
    case("options-after-name", &["e1000e", "-D"]),
    case("double-dash", &["-D", "--", "e1000e"]),
    case("all", &["-a", "-D", "e1000e", "uas", "dummy"]),
    case(
        "all-with-missing",
        &["-a", "-D", "e1000e", "no-such-module", "dummy"],
    ),
    case(
        "all-quiet-missing",
        &["-aq", "-D", "no-such-module", "dummy"],
    ),
    case("ignore-install-flag", &["-D", "-i", "ext4"]),
    case("verbose-show-depends", &["-v", "-D", "vfat"]),
    case("kernel-request-form", &["-q", "--", "e1000e"]).sys("e1000e:live:0"),
];

const LOOKUPS: &[Case] = &[
    case("resolve-name", &["-R", "e1000e"]),
    case("resolve-dashes", &["-R", "snd-hda-intel"]),
    case(
        "resolve-pci",
        &[
            "-R",
            "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00",
        ],
    ),
    case(
        "resolve-several",
        &[
            "-R",
            "pci:v00008086d00001C3Asv00001043sd00008488bc07sc80i00",
        ],
    ),
    case("resolve-symbol", &["-R", "symbol:usb_register_driver"]),
    case("resolve-builtin", &["-R", "unix"]),
    case("resolve-builtin-alias", &["-R", "net-pf-1"]),
    case("resolve-devname", &["-R", "devname:snd/timer"]),
    case("resolve-missing", &["-R", "nothing-here"]),
    case(
        "resolve-all",
        &["-a", "-R", "e1000e", "nothing-here", "fs-vfat"],
    ),
    case("resolve-config-alias", &["-C", "aliases", "-R", "my-nic"]),
    case("resolve-config-wildcard", &["-C", "aliases", "-R", "myfoo"]),
    case("resolve-config-two", &["-C", "aliases", "-R", "two-mods"]),
    case(
        "resolve-config-slash",
        &["-C", "aliases", "-R", "path-like/name"],
    ),
    case("resolve-config-dot", &["-C", "aliases", "-R", "with.dot"]),
    case(
        "resolve-config-beats-index",
        &[
            "-C",
            "aliases",
            "-R",
            "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00",
        ],
    ),
    case(
        "resolve-config-to-nothing",
        &["-C", "aliases", "-R", "to-nothing"],
    ),
    case("resolve-loop", &["-C", "loops", "-R", "loop-a"]),
];

const CONFIG_ALIASES: &[Case] = &[
    case("alias", &["-C", "aliases", "-D", "my-nic"]),
    case("alias-dashes", &["-C", "aliases", "-D", "my_nic"]),
    case("alias-wildcard-several", &["-C", "aliases", "-D", "myfoo"]),
    case("alias-wildcard", &["-C", "aliases", "-D", "myzzz"]),
    case("alias-two", &["-C", "aliases", "-D", "two-mods"]),
    case(
        "alias-over-index",
        &[
            "-C",
            "aliases",
            "-D",
            "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00",
        ],
    ),
    case("alias-slash", &["-C", "aliases", "-D", "path-like/name"]),
    case("alias-to-builtin", &["-C", "aliases", "-D", "to-builtin"]),
    case("alias-to-nothing", &["-C", "aliases", "-D", "to-nothing"]),
    case("alias-shadows-name", &["-C", "aliases", "-D", "start"]),
    case("alias-loop", &["-C", "loops", "-D", "loop-a"]),
    case("alias-self", &["-C", "loops", "-D", "self-alias"]),
    case("alias-file", &["-C", "single.conf", "-D", "single-file"]),
];

const OPTIONS: &[Case] = &[
    case(
        "options-every-spelling",
        &["-C", "options", "-D", "usb-storage"],
    ),
    case("options-deps-get-theirs", &["-C", "options", "-D", "uas"]),
    case("options-with-tab", &["-C", "options", "-D", "e1000e"]),
    case("options-through-alias", &["-C", "options", "-D", "nic"]),
    case(
        "options-alias-and-cmdline",
        &["-C", "options", "-D", "nic", "extra=1"],
    ),
    case(
        "options-codec",
        &["-C", "options", "-D", "snd-hda-codec-realtek"],
    ),
    case("options-quoted", &["-C", "options", "-D", "dummy"]),
    case("options-kernel-cmdline", &["-C", "options", "-D", "e1000e"])
        .cmdline("quiet e1000e.SmartPowerDownEnable=1 usb-storage.x=1 root=/dev/sda1"),
    case(
        "options-kernel-cmdline-dashes",
        &["-C", "options", "-D", "usb_storage"],
    )
    .cmdline("usb-storage.from_cmdline=1 usb_storage.second=2"),
    case("options-kernel-cmdline-quoted", &["-D", "dummy"]).cmdline("\"dummy.x=a b\" dummy.y=2"),
    case(
        "options-all-sources",
        &["-C", "options", "-D", "e1000e", "IntMode=0"],
    )
    .cmdline("e1000e.fromkernel=1"),
    case(
        "options-file-and-dir",
        &["-C", "options", "-C", "single.conf", "-D", "veth"],
    ),
];

const COMMANDS: &[Case] = &[
    case("install-shown", &["-C", "commands", "-D", "dummy"]),
    case(
        "install-shown-with-options",
        &["-C", "commands", "-D", "dummy", "x=1"],
    ),
    case("install-ignored", &["-C", "commands", "-D", "-i", "dummy"]),
    case(
        "install-only-command",
        &["-C", "commands", "-D", "only-command"],
    ),
    case(
        "install-only-remove",
        &["-C", "commands", "-D", "only-remove"],
    ),
    case(
        "install-wildcard-first-match",
        &["-C", "commands", "-D", "snd-pcm"],
    ),
    case(
        "install-wildcard-on-deps",
        &["-C", "commands", "-D", "snd-hda-intel"],
    ),
    case("install-on-dependency", &["-C", "commands", "-D", "vfat"]),
    case(
        "install-ignore-keeps-deps",
        &["-C", "commands", "-D", "-i", "vfat"],
    ),
    case(
        "install-nested-modprobe",
        &["-C", "commands", "-D", "usb-storage"],
    ),
    case("install-runs", &["-C", "commands", "dummy", "a=1"]),
    case(
        "install-runs-only-command",
        &["-C", "commands", "only-command"],
    ),
    case("install-fails", &["-C", "commands", "veth"]),
    case(
        "install-runs-two-commands",
        &["-C", "commands", "-v", "only-command"],
    ),
    case(
        "install-dry-run-verbose",
        &["-C", "commands", "-n", "-v", "dummy"],
    ),
    case("remove-runs", &["-C", "commands", "-r", "dummy"]),
    case(
        "remove-dry-run",
        &["-C", "commands", "-r", "-n", "-v", "dummy"],
    ),
    case(
        "remove-only-remove",
        &["-C", "commands", "-r", "only-remove"],
    ),
    case(
        "remove-ignored",
        &["-C", "commands", "-r", "-i", "-n", "-v", "dummy"],
    )
    .sys("dummy:live:0"),
];

const BLACKLIST: &[Case] = &[
    case("blacklist-name-loads", &["-C", "blacklist", "-D", "e1000e"]),
    case(
        "blacklist-name-with-b",
        &["-C", "blacklist", "-b", "-D", "e1000e"],
    ),
    case("blacklist-alias", &["-C", "blacklist", "-D", "nic-alias"]),
    case(
        "blacklist-alias-with-b",
        &["-C", "blacklist", "-b", "-D", "nic-alias"],
    ),
    case(
        "blacklist-modalias",
        &[
            "-C",
            "blacklist",
            "-D",
            "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00",
        ],
    ),
    case(
        "blacklist-not-dependency",
        &["-C", "blacklist", "-b", "-D", "uas"],
    ),
    case(
        "blacklist-dashes",
        &["-C", "blacklist", "-b", "-D", "snd_hda_intel"],
    ),
    case(
        "blacklist-no-wildcards",
        &["-C", "blacklist", "-D", "bl-dummy"],
    ),
    case("blacklist-kernel-cmdline", &["-b", "-D", "e1000e"])
        .cmdline("modprobe.blacklist=e1000e,dummy"),
    case(
        "blacklist-kernel-cmdline-alias",
        &[
            "-D",
            "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00",
        ],
    )
    .cmdline("modprobe.blacklist=e1000e"),
    case(
        "blacklist-kernel-cmdline-dashes",
        &["-b", "-D", "snd-hda-intel"],
    )
    .cmdline("modprobe.blacklist=snd-hda-intel"),
    case(
        "blacklist-resolve-ignores",
        &["-C", "blacklist", "-b", "-R", "nic-alias"],
    ),
    case(
        "blacklist-all",
        &["-C", "blacklist", "-a", "-b", "-D", "e1000e", "veth"],
    ),
    case("blacklist-env", &["-C", "blacklist", "-D", "e1000e"]).env(&[("MODPROBE_OPTIONS", "-b")]),
];

const SOFTDEPS: &[Case] = &[
    case("softdep-first-line-33", &["-C", "softdeps", "-D", "vfat"]),
    case(
        "softdep-disables-install-446",
        &["-C", "softdeps", "-D", "dummy"],
    ),
    case(
        "softdep-unresolved-keeps-install",
        &["-C", "softdeps", "-D", "tun"],
    ),
    case("softdep-on-dependency", &["-C", "softdeps", "-D", "msdos"]),
    case("softdep-through-alias", &["-C", "softdeps", "-D", "uas"]),
    case("softdep-cycle", &["-C", "softdeps", "-D", "bridge"]),
    case("softdep-cycle-alias", &["-C", "softdeps", "-D", "cyc-a"]),
    case("softdep-self", &["-C", "softdeps", "-D", "llc"]),
    case("softdep-wildcard", &["-C", "softdeps", "-D", "snd-pcm"]),
    case(
        "softdep-ignored-with-i",
        &["-C", "softdeps", "-D", "-i", "vfat"],
    ),
    case("softdep-pre-has-deps", &["-C", "softdeps", "-D", "loop"]),
    case("softdep-mutual", &["-C", "loops", "-D", "veth"]),
    case("softdep-self-post", &["-C", "loops", "-D", "tun"]),
    case(
        "softdep-plus-modules-softdep",
        &["-C", "softdeps", "-D", "ext4"],
    ),
];

const CONFIG_FILES: &[Case] = &[
    case(
        "precedence",
        &[
            "-C",
            "precedence/etc",
            "-C",
            "precedence/run",
            "-C",
            "precedence/lib",
            "-D",
            "dummy",
        ],
    ),
    case(
        "precedence-reversed",
        &[
            "-C",
            "precedence/lib",
            "-C",
            "precedence/run",
            "-C",
            "precedence/etc",
            "-D",
            "dummy",
        ],
    ),
    case("config-file", &["-C", "single.conf", "-D", "veth"]),
    case(
        "config-file-and-alias",
        &["-C", "single.conf", "-D", "single-file"],
    ),
    case(
        "config-missing-path",
        &["-C", "does-not-exist", "-D", "veth"],
    ),
    case("config-empty-dir", &["-C", "empty", "-D", "veth"]),
    case(
        "config-absolute",
        &["--config=/nonexistent/x.conf", "-D", "veth"],
    ),
    case("config-bad-lines", &["-C", "bad", "-D", "dummy"]),
    case("config-env", &["-D", "veth"]).env(&[("MODPROBE_OPTIONS", "-C single.conf")]),
    case("config-env-quoted", &["-D", "single-file"])
        .env(&[("MODPROBE_OPTIONS", "'-C' \"single.conf\"")]),
];

const SHOW_CONFIG: &[Case] = &[
    case("showconfig-empty", &["-C", "empty", "-c"]),
    case("showconfig-aliases", &["-C", "aliases", "-c"]),
    case("showconfig-options", &["-C", "options", "-c"])
        .cmdline("e1000e.x=1 modprobe.blacklist=a,b"),
    case("showconfig-commands", &["-C", "commands", "-c"]),
    case(
        "showconfig-blacklist",
        &["-C", "blacklist", "--show-config"],
    ),
    case("showconfig-softdeps", &["-C", "softdeps", "-c"]).deliberate(
        "kmod prints 'pre: apost: b' without a space (kmod bug); rkmod prints the space",
        softdep_space,
    ),
    case(
        "showconfig-precedence",
        &[
            "-C",
            "precedence/etc",
            "-C",
            "precedence/run",
            "-C",
            "precedence/lib",
            "-c",
        ],
    ),
    case(
        "showconfig-with-args",
        &["-C", "single.conf", "-c", "ignored-argument"],
    ),
];

const MODVERSIONS: &[Case] = &[
    case(
        "modversions-path",
        &[
            "--show-modversions",
            "@TREE@/kernel/drivers/usb/storage/uas.ko",
        ],
    ),
    case(
        "exports-path",
        &[
            "--show-exports",
            "@TREE@/kernel/drivers/usb/storage/usb-storage.ko",
        ],
    ),
    case(
        "exports-path-none",
        &["--show-exports", "@TREE@/kernel/drivers/net/dummy.ko"],
    )
    .head("kmod 30 names the path and says ENOENT when there is no __ksymtab_strings"),
    case(
        "modversions-missing-path",
        &["--show-modversions", "/nonexistent/x.ko"],
    )
    .head("kmod 30 says 'Module /nonexistent/x.ko not found.'"),
    case("modversions-name", &["--show-modversions", "uas"]).head("kmod 30 takes only paths here"),
    case("exports-name", &["--show-exports", "usbcore"]).head("kmod 30 takes only paths here"),
];

const STATE: &[Case] = &[
    case("dry-run-verbose", &["-n", "-v", "uas"]),
    case("dry-run-verbose-some-loaded", &["-n", "-v", "uas"]).sys("usbcore:live:3 scsi_mod:live:1"),
    case("dry-run-already-loaded", &["-n", "-v", "uas"]).sys("uas:live:0"),
    case("dry-run-coming", &["-n", "-v", "uas"]).sys("uas:coming:0 usb_storage:-:0"),
    case("dry-run-going", &["-n", "-v", "e1000e"]).sys("e1000e:going:0"),
    case("first-time-loaded", &["--first-time", "-n", "-v", "e1000e"]).sys("e1000e:live:0"),
    case("first-time-not-loaded", &["--first-time", "-n", "-v", "e1000e"]),
    case("first-time-builtin", &["--first-time", "-n", "unix"]),
    case("builtin-insert", &["-n", "-v", "unix"]),
    case("show-depends-ignores-loaded", &["-D", "uas"]).sys("uas:live:0 usbcore:live:1"),
    case("dry-run-quiet-missing", &["-n", "-q", "nothing"]),
    case("remove-not-loaded", &["-r", "-n", "-v", "e1000e"]),
    case("remove-first-time-not-loaded", &["-r", "--first-time", "-n", "-v", "e1000e"]),
    case("remove-loaded", &["-r", "-n", "-v", "e1000e"]).sys("e1000e:live:0"),
    case("remove-in-use", &["-r", "-n", "-v", "usbcore"]).sys("usbcore:live:2:uas,usb_storage"),
    case("remove-in-use-all", &["-r", "-a", "-n", "-v", "usbcore", "e1000e"]).sys("usbcore:live:2:uas,usb_storage e1000e:live:0"),
    case("remove-with-unused-deps", &["-r", "-n", "-v", "uas"])
        .sys("uas:live:0 usb_storage:live:1:uas scsi_mod:live:2 scsi_common:live:1 usbcore:live:0 usb_common:live:0"),
    case("remove-holders", &["-r", "--remove-holders", "-n", "-v", "usb-storage"])
        .sys("usb_storage:live:1:uas uas:live:0 scsi_mod:live:2 usbcore:live:2"),
    case("remove-builtin", &["-r", "-n", "unix"]),
    case("remove-builtin-all", &["-r", "-a", "-n", "-v", "unix", "e1000e"]).sys("e1000e:live:0"),
    case("remove-missing", &["-r", "nothing-here"]),
    case("remove-missing-quiet", &["-r", "-q", "nothing-here"]),
    case("remove-alias", &["-r", "-n", "-v", "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00"]).sys("e1000e:live:0"),
    case("remove-softdeps", &["-C", "softdeps", "-r", "-n", "-v", "vfat"])
        .sys("vfat:live:0 fat:live:1:vfat veth:live:0 dummy:live:0 loop:live:0"),
    case("remove-several", &["-r", "-n", "-v", "e1000e", "dummy"]).sys("e1000e:live:0 dummy:live:0"),
    case("remove-wait-dry", &["-r", "-w", "100", "-n", "-v", "e1000e"]).sys("e1000e:live:1"),
];

const ERRORS: &[Case] = &[
    case("no-arguments", &[]),
    case("no-arguments-quiet", &["-q"]),
    case("unknown-option", &["--frobnicate", "e1000e"]),
    case("unknown-short-option", &["-Z", "e1000e"]),
    case("missing-option-value", &["e1000e", "-C"]),
    case("bad-wait", &["-r", "-w", "soon", "e1000e"]),
    case("empty-wait", &["-r", "--wait=", "e1000e"]),
    case("env-empty-argument", &["-D", "e1000e"]).env(&[("MODPROBE_OPTIONS", "-q  -b")]),
    case("env-trailing-space", &["-D", "e1000e"]).env(&[("MODPROBE_OPTIONS", "-b ")]),
    case(
        "set-version-missing-tree",
        &["-S", "0.0.0-nothing", "-D", "e1000e"],
    )
    .deliberate(
        "rkmod hints at depmod when modules.dep.bin is missing",
        depmod_hint,
    ),
];

const HEAD_ONLY: &[Case] = &[
    case("dry-run-alone", &["-C", "empty", "-n", "uas"])
        .head("kmod 30's -n does not print the actions"),
    case(
        "path-absolute",
        &["-C", "empty", "-D", "@TREE@/kernel/drivers/net/dummy.ko"],
    )
    .head("kmod 30 looks paths up as names (path arguments are kmod 31)"),
    case("path-relative", &["-C", "empty", "-D", "./no-such-file.ko"])
        .head("kmod 30 looks paths up as names"),
    case("showconfig-deprecated", &["-C", "empty", "--showconfig"])
        .head("deprecation warning is new"),
    case(
        "show-deprecated",
        &["-C", "empty", "--show", "-v", "e1000e"],
    )
    .head("deprecation warning is new"),
    case(
        "resolve-alias-deprecated",
        &["-C", "empty", "--resolve-alias", "e1000e"],
    )
    .head("deprecation warning is new"),
    case(
        "remove-dependencies-deprecated",
        &["-C", "empty", "--remove-dependencies", "-n", "e1000e"],
    )
    .head("--remove-dependencies warns and implies -r since kmod 31"),
];

#[test]
fn show_depends_matches_kmod() {
    run_cases(SHOW_DEPENDS);
}

#[test]
fn lookups_match_kmod() {
    run_cases(LOOKUPS);
}

#[test]
fn config_aliases_match_kmod() {
    run_cases(CONFIG_ALIASES);
}

#[test]
fn options_match_kmod() {
    run_cases(OPTIONS);
}

#[test]
fn commands_match_kmod() {
    run_cases(COMMANDS);
}

#[test]
fn blacklist_matches_kmod() {
    run_cases(BLACKLIST);
}

#[test]
fn softdeps_match_kmod() {
    run_cases(SOFTDEPS);
}

#[test]
fn config_files_match_kmod() {
    run_cases(CONFIG_FILES);
}

#[test]
fn show_config_matches_kmod() {
    run_cases(SHOW_CONFIG);
}

#[test]
fn modversions_and_exports_match_kmod() {
    run_cases(MODVERSIONS);
}

#[test]
fn module_states_match_kmod() {
    run_cases(STATE);
}

#[test]
fn errors_match_kmod() {
    run_cases(ERRORS);
}

#[test]
fn newest_kmod_behaviour() {
    run_cases(HEAD_ONLY);
}

/// kmod's modinfo creates its context with an empty configuration list, so modprobe.d aliases
/// do not resolve for it (while index aliases do). modinfo has no -C: both run in a mount
/// namespace with the alias fixture over /etc/modprobe.d.
#[test]
fn modinfo_ignores_configuration_aliases_as_kmod() {
    let Some(tree) = tree_61() else { return };
    if Command::new("unshare")
        .args(["-m", "true"])
        .status()
        .map_or(true, |s| !s.success())
    {
        skip("unshare -m (root in a mount namespace)");
        return;
    }
    let aliases = testdata().join("aliases");
    let run = |bin: &Path, tool_args: &[&str], request: &str| -> Run {
        let script = "mount --bind \"$1\" /etc/modprobe.d && shift && exec \"$@\"";
        Command::new("unshare")
            .args(["-m", "--", "sh", "-c", script, "sh"])
            .arg(&aliases)
            .arg(bin)
            .args(tool_args)
            .arg("-b")
            .arg(&tree.kmod30_root)
            .arg("-k")
            .arg(KVER)
            .arg(request)
            .output()
            .expect("unshare runs")
            .into()
    };
    let kmod_modinfo = kmod_tool("modinfo").expect("kmod's modinfo");
    for request in [
        "my-nic",
        "myfoo",
        "two-mods",
        "to-builtin",
        "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00",
    ] {
        let theirs = run(&kmod_modinfo, &[], request);
        let ours = run(&rkmod_bin(), &["modinfo"], request);
        // The newest kmod prints a build-id line that kmod 30 does not.
        let ours_out: Vec<u8> = ours
            .stdout_str()
            .lines()
            .filter(|l| !l.starts_with("build-id:"))
            .flat_map(|l| format!("{l}\n").into_bytes())
            .collect();
        assert_eq!(
            (
                String::from_utf8_lossy(&ours_out).into_owned(),
                ours.stderr_str(),
                ours.code
            ),
            (theirs.stdout_str(), theirs.stderr_str(), theirs.code),
            "modinfo {request}"
        );
    }
}

/// `modprobe -c --json` (an rkmod extension) against kmod's `modprobe -c` text: for each
/// show-config case kmod 30 answers as the newest kmod does, the document, written out again
/// in kmod's line format by this test, is kmod's stdout (with the case's deliberate change
/// applied), and stderr and the exit code are kmod's.
#[test]
fn show_config_json_matches_kmods_text() {
    let Some(ctx) = context() else { return };
    let kmod30 = kmod_tool("modprobe").expect("kmod's modprobe");
    let mut compared = 0;
    for case in SHOW_CONFIG {
        let expected = libkmod_prefix(&ctx, run_kmod(&ctx, case, &kmod30));
        let expected = match case.expect {
            Expect::Kmod30 => expected,
            Expect::Deliberate(_, change) => change(&ctx, expected),
            // Where kmod 30 differs from the newest kmod, show_config_matches_kmod covers it.
            Expect::Head(_) => continue,
        };
        let document = run_json(&ctx, case, &expected);
        let text = config_text(&document);
        assert_text_is_kmods(case, &text, &expected);
        compared += 1;
    }
    assert!(compared >= 5, "only {compared} cases compared");
}

/// Runs the case with `--json` and returns the document, after checking that the exit code
/// and stderr are `expected`'s.
fn run_json(ctx: &Ctx, case: &Case, expected: &Run) -> serde_json::Value {
    let ours = run_rkmod_with(ctx, case, &["--json"]);
    assert_eq!(ours.code, expected.code, "exit code, case {}", case.name);
    assert_eq!(
        ours.stderr_str(),
        expected.stderr_str(),
        "stderr, case {}",
        case.name
    );
    serde_json::from_slice(&ours.stdout)
        .unwrap_or_else(|e| panic!("case {}: not JSON: {e}", case.name))
}

/// Checks that `text`, written from a document, is `expected`'s stdout.
fn assert_text_is_kmods(case: &Case, text: &str, expected: &Run) {
    let stdout_only = |bytes: Vec<u8>| Run {
        stdout: bytes,
        stderr: Vec::new(),
        code: 0,
    };
    assert!(
        text == expected.stdout_str(),
        "case {}: the document differs from kmod's text:\n{}",
        case.name,
        difference(
            &stdout_only(text.as_bytes().to_vec()),
            &stdout_only(expected.stdout.clone())
        )
    );
}

/// `modprobe -c`'s text, written from a `--json` document: the directives in kmod's order,
/// then the two index dumps.
fn config_text(document: &serde_json::Value) -> String {
    let s = |v: &serde_json::Value| v.as_str().expect("a string").to_string();
    let list = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        v.as_array().expect("an array").clone()
    };
    let mut out = String::new();
    for name in list(&document["blacklist"]) {
        out += &format!("blacklist {}\n", s(&name));
    }
    for kind in ["install", "remove"] {
        for c in list(&document[kind]) {
            out += &format!("{kind} {} {}\n", s(&c["module"]), s(&c["command"]));
        }
    }
    for a in list(&document["aliases"]) {
        out += &format!("alias {} {}\n", s(&a["alias"]), s(&a["module"]));
    }
    for o in list(&document["options"]) {
        out += &format!("options {} {}\n", s(&o["module"]), s(&o["options"]));
    }
    let words = |v: &serde_json::Value| list(v).iter().map(s).collect::<Vec<_>>().join(" ");
    for d in list(&document["softdeps"]) {
        let mut parts = Vec::new();
        if !list(&d["pre"]).is_empty() {
            parts.push(format!("pre: {}", words(&d["pre"])));
        }
        if !list(&d["post"]).is_empty() {
            parts.push(format!("post: {}", words(&d["post"])));
        }
        out += &format!("softdep {} {}\n", s(&d["module"]), parts.join(" "));
    }
    for w in list(&document["weakdeps"]) {
        out += &format!("weakdep {} {}\n", s(&w["module"]), words(&w["weakdeps"]));
    }
    out += "\n# End of configuration files. Dumping indexes now:\n\n";
    for index in ["aliases", "symbols"] {
        for a in list(&document["indexes"][index]) {
            out += &format!("alias {} {}\n", s(&a["alias"]), s(&a["module"]));
        }
    }
    out
}

/// Whether `args` are a `--show-depends` run that `--json` accepts: `-D` in the insert mode,
/// without `-R`.
fn is_json_show_depends(args: &[&str]) -> bool {
    let has = |flags: &[&str]| args.iter().any(|a| flags.contains(a));
    let short = |c: char| {
        args.iter()
            .any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains(c))
    };
    (has(&["--show-depends"]) || short('D'))
        && !has(&[
            "--show-alias",
            "--resolve-alias",
            "--remove",
            "--show-config",
            "--showconfig",
            "--show-modversions",
            "--dump-modversions",
            "--show-exports",
        ])
        && !short('R')
        && !short('r')
        && !short('c')
}

/// `modprobe --show-depends --json` (an rkmod extension) against kmod's `--show-depends`
/// text: for every `-D` case of the real 6.1 suite, the document, written out again as kmod's
/// lines by this test, is kmod's stdout (the newest kmod's where kmod 30 differs, with the
/// case's deliberate change applied), stderr and the exit code are kmod's, and each step's
/// module is the one its file or line names.
#[test]
fn show_depends_json_matches_kmods_text() {
    let Some(ctx) = context() else { return };
    let kmod30 = kmod_tool("modprobe").expect("kmod's modprobe");
    let all = [
        SHOW_DEPENDS,
        LOOKUPS,
        CONFIG_ALIASES,
        OPTIONS,
        COMMANDS,
        BLACKLIST,
        SOFTDEPS,
        CONFIG_FILES,
        STATE,
        ERRORS,
        HEAD_ONLY,
    ];
    let (mut compared, mut steps, mut installs, mut builtins) = (0, 0, 0, 0);
    for case in all.iter().flat_map(|cases| cases.iter()) {
        if !is_json_show_depends(case.args) {
            continue;
        }
        let expected = match case.expect {
            Expect::Kmod30 => libkmod_prefix(&ctx, run_kmod(&ctx, case, &kmod30)),
            Expect::Deliberate(_, change) => {
                change(&ctx, libkmod_prefix(&ctx, run_kmod(&ctx, case, &kmod30)))
            }
            Expect::Head(_) => match kmod_head() {
                Some(bin) => run_kmod(&ctx, case, &bin),
                None => read_golden(&ctx, case.name).expect("a golden file for a head case"),
            },
        };
        let document = run_json(&ctx, case, &expected);
        let mut text = String::new();
        for request in document["requests"].as_array().expect("requests") {
            assert!(request["request"].is_string(), "case {}", case.name);
            for step in request["steps"].as_array().expect("steps") {
                text += &plan_line(case.name, step);
                steps += 1;
                match step["action"].as_str() {
                    Some("install") => installs += 1,
                    Some("builtin") => builtins += 1,
                    _ => {}
                }
            }
        }
        assert_text_is_kmods(case, &text, &expected);
        compared += 1;
    }
    eprintln!("show-depends --json: {compared} cases, {steps} steps ({installs} install, {builtins} builtin)");
    // The suite must have exercised every kind of step.
    assert!(compared >= 40, "only {compared} cases compared");
    assert!(
        steps >= 100 && installs >= 3 && builtins >= 3,
        "{steps} steps, {installs} installs, {builtins} builtins"
    );
}

/// A `--show-depends` line written from one step of the document, after checking that the
/// step's members agree with each other.
fn plan_line(case: &str, step: &serde_json::Value) -> String {
    let s = |key: &str| {
        step[key]
            .as_str()
            .unwrap_or_else(|| panic!("case {case}: {key} is a string in {step}"))
            .to_string()
    };
    let module = s("module");
    let builtin = step["builtin"].as_bool().expect("builtin is a boolean");
    match step["action"].as_str() {
        Some("insmod") => {
            let path = s("path");
            let stem = path.rsplit('/').next().unwrap().split('.').next().unwrap();
            assert_eq!(stem.replace('-', "_"), module, "case {case}: {step}");
            assert!(step["command"].is_null() && !builtin, "case {case}: {step}");
            format!("insmod {path} {}\n", s("options"))
        }
        Some("install") => {
            assert!(step["path"].is_null() && !builtin, "case {case}: {step}");
            format!("install {} {}\n", s("command"), s("options"))
        }
        Some("builtin") => {
            assert!(step["path"].is_null() && step["command"].is_null() && builtin);
            assert_eq!(s("options"), "", "case {case}: {step}");
            format!("builtin {module}\n")
        }
        other => panic!("case {case}: unexpected action {other:?} in {step}"),
    }
}

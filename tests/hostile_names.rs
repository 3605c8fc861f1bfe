//! Hostile names and option text given to modprobe and modinfo: the CVE-2014-9645 replay,
//! names that look like globs, paths or shell code, very long names, install commands that
//! call modprobe again, and shell metacharacters in options from every source.
//!
//! modprobe_fixtures.rs has the first cases of several of these (names that are never paths,
//! the install-command bound, options as data); this file adds the rest. Where kmod 30 can run
//! the same case safely (a lookup or a dry run), the answer is compared with it. Every run is
//! under `timeout -s KILL`, so that a hang fails instead of stalling the suite. Nothing here
//! reaches the kernel: every insertion is a dry run or ends in an install command.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::ModuleSpec;

use crate::util::*;

const KVER: &str = "1.0.0-hostile";

/// How long one run may take before it counts as a hang.
const LIMIT: Duration = Duration::from_secs(30);

/// A root with `lib/modules/KVER` holding `usbserial`, `snd_timer` (alias
/// `devname:snd/timer`), `a` (needing `b`) and `b`, indexed by rkmod's depmod; an empty
/// configuration directory `conf/`, a fake `/proc` and `/sys` under `sys/`, and a working
/// directory `cwd/` holding files named like the modules (so that a shell glob would have
/// something to expand to).
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Root {
        let root = Root { dir: tempdir() };
        let kernel = root.moddir().join("kernel");
        std::fs::create_dir_all(&kernel).unwrap();
        let mut a = ModuleSpec::new("a");
        a.imports = vec!["b_fn".into()];
        let mut b = ModuleSpec::new("b");
        b.exports = vec![("b_fn".into(), 1)];
        let snd_timer = ModuleSpec::new("snd_timer")
            .info("alias", "devname:snd/timer")
            .info("alias", "char-major-116-33");
        for (name, spec) in [
            ("a", a),
            ("b", b),
            ("usbserial", ModuleSpec::new("usbserial")),
            ("snd-timer", snd_timer),
        ] {
            std::fs::write(kernel.join(format!("{name}.ko")), spec.build()).unwrap();
        }
        std::fs::write(
            root.moddir().join("modules.order"),
            "kernel/a.ko\nkernel/b.ko\nkernel/usbserial.ko\nkernel/snd-timer.ko\n",
        )
        .unwrap();
        std::fs::write(root.moddir().join("modules.builtin"), "").unwrap();
        std::fs::write(root.moddir().join("modules.builtin.modinfo"), "").unwrap();
        for dir in ["conf", "sys/proc", "sys/sys/module", "cwd/netdev-"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        std::fs::write(root.path().join("sys/proc/cmdline"), "").unwrap();
        for name in ["a.ko", "b.ko", "usbserial.ko", "netdev-/usbserial.ko", "x"] {
            std::fs::write(root.path().join("cwd").join(name), "not a module").unwrap();
        }
        let run = root.rkmod(
            "depmod",
            &[
                "-b".into(),
                root.path().into(),
                "-C".into(),
                root.conf().into(),
                KVER.into(),
            ],
            &[],
        );
        assert_eq!(run.code, 0, "depmod: {}", run.stderr_str());
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

    /// `-d ROOT -S KVER -C CONF`, as words for MODPROBE_OPTIONS or the command line.
    fn where_args(&self) -> Vec<OsString> {
        vec![
            "-d".into(),
            self.path().into(),
            "-S".into(),
            KVER.into(),
            "-C".into(),
            self.conf().into(),
        ]
    }

    /// `-b ROOT -k KVER` for modinfo.
    fn modinfo_where(&self) -> Vec<OsString> {
        vec!["-b".into(), self.path().into(), "-k".into(), KVER.into()]
    }

    /// The command for `PROG ARGS` under `timeout -s KILL`, run in `cwd/` with the fake
    /// /proc and /sys and the environment variables `env`.
    fn command(&self, prog: &[OsString], args: &[OsString], env: &[(&str, OsString)]) -> Command {
        let mut cmd = Command::new("timeout");
        cmd.arg("-s")
            .arg("KILL")
            .arg(LIMIT.as_secs().to_string())
            .args(prog)
            .args(args)
            .current_dir(self.path().join("cwd"))
            .env_remove("MODPROBE_OPTIONS")
            .env_remove("RKMOD_MODPROBE_DEPTH")
            .env("RKMOD_SYSROOT", self.path().join("sys"));
        for (key, value) in env {
            cmd.env(key, value);
        }
        cmd
    }

    fn rkmod(&self, tool: &str, args: &[OsString], env: &[(&str, OsString)]) -> Run {
        let prog = [rkmod_bin().into_os_string(), tool.into()];
        self.command(&prog, args, env).output().unwrap().into()
    }

    /// kmod's `tool`, or `None` (and a loud skip) when it is not installed.
    fn kmod(&self, tool: &str, args: &[OsString], env: &[(&str, OsString)]) -> Option<Run> {
        let Some(bin) = kmod_tool(tool) else {
            skip(&format!("Debian's kmod ({tool})"));
            return None;
        };
        Some(
            self.command(&[bin.into_os_string()], args, env)
                .output()
                .unwrap()
                .into(),
        )
    }
}

fn words(parts: &[&str]) -> Vec<OsString> {
    parts.iter().map(OsString::from).collect()
}

fn joined(words: &[OsString]) -> OsString {
    let mut out = OsString::new();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            out.push(" ");
        }
        out.push(w);
    }
    out
}

/// CVE-2014-9645: busybox's modprobe cut a requested name to its basename, so the kernel's
/// request for `netdev-/usbserial` loaded usbserial. The blunt fix (refusing `/`) broke the
/// real alias `devname:snd/timer`. Names are looked up whole: the first is not found, the
/// second resolves, in the kernel's own call form (`modprobe -q -- NAME`, here with `-n -v`
/// and the test root passed in MODPROBE_OPTIONS, which leaves the call form intact) and as
/// lookups compared with kmod.
#[test]
fn cve_2014_9645_names_are_looked_up_whole() {
    let root = Root::new();
    let mut options = root.where_args();
    options.extend(words(&["-n", "-v"]));
    let env = [("MODPROBE_OPTIONS", joined(&options))];
    let kernel_call = |name: &str| root.rkmod("modprobe", &words(&["-q", "--", name]), &env);

    let run = kernel_call("netdev-/usbserial");
    assert_eq!(
        (run.code, run.stdout_str(), run.stderr_str()),
        (1, String::new(), String::new()),
        "the kernel's request for netdev-/usbserial"
    );
    let run = kernel_call("devname:snd/timer");
    assert_eq!(run.code, 0, "{}", run.stderr_str());
    assert_eq!(
        run.stdout_str(),
        format!(
            "insmod {} \n",
            root.moddir().join("kernel/snd-timer.ko").display()
        )
    );
    // Shell code as the requested name is a name, and not found.
    let pwned = root.path().join("pwned");
    let run = kernel_call(&format!("$(touch {})", pwned.display()));
    assert_eq!((run.code, run.stdout_str()), (1, String::new()));
    assert!(!pwned.exists());

    for (args, code, stdout) in [
        (vec!["-R", "netdev-/usbserial"], 1, ""),
        (vec!["-D", "netdev-/usbserial"], 1, ""),
        (vec!["-R", "devname:snd/timer"], 0, "snd_timer\n"),
        (vec!["-R", "char-major-116-33"], 0, "snd_timer\n"),
        (vec!["-R", "usbserial"], 0, "usbserial\n"),
    ] {
        let mut all = root.where_args();
        all.extend(words(&args));
        let ours = root.rkmod("modprobe", &all, &[]);
        assert_eq!(
            (ours.code, ours.stdout_str().as_str()),
            (code, stdout),
            "{args:?}"
        );
        if let Some(theirs) = root.kmod("modprobe", &all, &[]) {
            assert_eq!(
                (theirs.code, theirs.stdout_str().as_str()),
                (code, stdout),
                "kmod 30: {args:?}"
            );
        }
    }
}

/// Names that are long, glob-like, path-like, multi-line or shell code: looked up as they
/// are, not found, in bounded time; nothing expands them and nothing runs them. kmod 30 gives
/// the same answers.
#[test]
fn hostile_names_are_not_found() {
    let root = Root::new();
    let pwned = root.path().join("pwned");
    let p = pwned.display().to_string();
    let names: Vec<OsString> = vec![
        "a".repeat(4096).into(),
        "a".repeat(100_000).into(),
        "[".into(),
        "pci:v1234[".into(),
        "[a]".into(),
        "*".into(),
        "a*".into(),
        "?".into(),
        "*.ko".into(),
        "a\nb".into(),
        "a\nalias evil b".into(),
        format!("$(touch {p})").into(),
        format!("`touch {p}`").into(),
        format!("a;touch {p}").into(),
        format!("a|touch {p}").into(),
        "../a".into(),
        "a/../a".into(),
        "kernel/a.ko".into(),
        "netdev-/../a".into(),
        OsString::from_vec(vec![b'a', 0xff, 0xfe]),
    ];
    let started = Instant::now();
    let mut failures = Vec::new();
    for name in &names {
        let shown = name.to_string_lossy().chars().take(40).collect::<String>();
        for (tool, opt) in [("modprobe", "-R"), ("modprobe", "-D"), ("modinfo", "")] {
            let mut args = if tool == "modinfo" {
                root.modinfo_where()
            } else {
                root.where_args()
            };
            if !opt.is_empty() {
                args.push(opt.into());
            }
            args.push(name.clone());
            let ours = root.rkmod(tool, &args, &[]);
            let ok = ours.code == 1
                && ours.stdout.is_empty()
                && ours.stderr_str().contains("not found")
                && !ours.stderr_str().contains("panicked");
            if !ok {
                failures.push(format!(
                    "{tool} {opt} {shown:?}: exit {}, stdout {:?}, stderr {:?}",
                    ours.code,
                    ours.stdout_str(),
                    ours.stderr_str().chars().take(200).collect::<String>()
                ));
            }
            if let Some(theirs) = root.kmod(tool, &args, &[]) {
                if (theirs.code, theirs.stdout.is_empty()) != (1, true) {
                    failures.push(format!(
                        "kmod 30 {tool} {opt} {shown:?}: exit {}, stdout {:?}",
                        theirs.code,
                        theirs.stdout_str()
                    ));
                }
            }
        }
    }
    eprintln!(
        "{} hostile names through modprobe -R, -D and modinfo (and kmod 30) in {:?}",
        names.len(),
        started.elapsed()
    );
    assert!(!pwned.exists(), "a name ran as shell code");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `install x /sbin/modprobe x`, as people write it: each level runs modprobe for the same
/// module again. kmod recurses without end (and doubles MODPROBE_OPTIONS at each level);
/// rkmod stops at 32 nested commands with a clear error, and every level sees the same
/// MODPROBE_OPTIONS as the first, including what came from the environment. The time is
/// reported; the assertion on it is generous, since 33 processes start on a shared machine.
#[test]
fn install_command_calling_modprobe_for_itself_stops() {
    let root = Root::new();
    let log = root.path().join("levels.log");
    std::fs::write(
        root.conf().join("loop.conf"),
        format!(
            "install x echo \"$MODPROBE_OPTIONS\" >>{log} && {rkmod} modprobe x\n",
            log = log.display(),
            rkmod = rkmod_bin().display()
        ),
    )
    .unwrap();
    let env = [("MODPROBE_OPTIONS", OsString::from("-b"))];
    let started = Instant::now();
    let mut args = root.where_args();
    args.push("x".into());
    let run = root.rkmod("modprobe", &args, &env);
    let took = started.elapsed();
    eprintln!("install x ... modprobe x: stopped after {took:?}");
    assert_eq!(run.code, 1, "{}", run.stderr_str());
    assert!(
        run.stderr_str().contains(
            "for module x: install and remove commands nest deeper than 32 levels \
             (RKMOD_MODPROBE_DEPTH); a command probably runs modprobe for its own module\n"
        ),
        "{}",
        run.stderr_str()
    );
    assert!(
        run.stderr_str().contains("Error running install command '"),
        "{}",
        run.stderr_str()
    );
    let levels: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(levels.len(), 32, "{levels:?}");
    let first = format!("-b -C {}", root.conf().display());
    for (depth, level) in levels.iter().enumerate() {
        assert_eq!(level, &first, "MODPROBE_OPTIONS at depth {}", depth + 1);
    }
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

/// Shell metacharacters in options from the command line and the kernel command line (a
/// newline, `$(...)`, backquotes, `;`, `|`, `&&`, `>`, unbalanced quotes) reach install and
/// remove commands as data. (Options in modprobe.d and the first of these are in
/// modprobe_fixtures.rs.)
#[test]
fn shell_metacharacters_in_options_are_data() {
    let root = Root::new();
    let pwned = root.path().join("pwned");
    let p = pwned.display().to_string();
    let out = root.path().join("install.out");
    let removed = root.path().join("remove.out");
    std::fs::write(
        root.conf().join("cmds.conf"),
        format!(
            "install b printf '<%s>' $CMDLINE_OPTS >{out}\n\
             install a printf '[%s]' \"$CMDLINE_OPTS\" >{out}\n\
             remove b printf '<%s>' $CMDLINE_OPTS >{removed}\n",
            out = out.display(),
            removed = removed.display()
        ),
    )
    .unwrap();
    std::fs::write(
        root.path().join("sys/proc/cmdline"),
        format!("quiet b.k=\"$(touch {p}) x\" a.k='`touch {p}`'\n"),
    )
    .unwrap();
    let hostile = [
        format!("n=1\ntouch {p}"),
        format!("s=$(touch {p})"),
        format!("q=`touch {p}`"),
        format!("c=1;touch {p}"),
        format!("v=1|touch {p}"),
        format!("w=1&&touch {p}"),
        format!("r=1>{p}"),
        format!("u='1;touch {p}"),
        format!("d=\"1;touch {p}"),
    ];
    for module in ["b", "a"] {
        let mut args = root.where_args();
        args.push(module.into());
        args.extend(hostile.iter().map(OsString::from));
        let run = root.rkmod("modprobe", &args, &[]);
        assert_eq!(run.code, 0, "{module}: {}", run.stderr_str());
        assert!(!pwned.exists(), "{module}: option text ran as shell code");
        let written = std::fs::read_to_string(&out).unwrap();
        for text in ["$(touch", "`touch", ";touch", "|touch", "&&touch", ">"] {
            assert!(written.contains(text), "{module}: {text:?} lost: {written}");
        }
        // A value with blanks is quoted, as kmod quotes it; the newline is one of them.
        assert!(written.contains("n=\"1"), "{written}");
    }
    // A remove command: kmod expands $CMDLINE_OPTS to nothing there.
    let state = root.path().join("sys/sys/module/b");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("initstate"), "live\n").unwrap();
    std::fs::write(state.join("refcnt"), "0\n").unwrap();
    let mut args = root.where_args();
    args.extend(words(&["-r", "b"]));
    let run = root.rkmod("modprobe", &args, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr_str());
    assert_eq!(std::fs::read_to_string(&removed).unwrap(), "<>");
    assert!(!pwned.exists(), "the kernel command line ran as shell code");
}

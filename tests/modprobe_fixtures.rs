//! `modprobe` on small synthetic module trees: the properties that need no oracle, because
//! kmod itself gets them wrong (unbounded recursion, shell injection) or because they concern
//! rkmod's own test hooks. Runs anywhere; never touches the kernel (every case is a dry run or
//! ends in an install command).

use std::path::{Path, PathBuf};
use std::process::Command;

use kmodcore::index::IndexBuilder;

use crate::util::*;

const KVER: &str = "1.0.0-test";

/// A root with `lib/modules/KVER` holding modules `a` (depending on `b`) and `b`, an alias
/// `pci:v1234*` for `a`, and a configuration directory `conf/`.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(conf: &str) -> Fixture {
        let dir = tempdir();
        let moddir = dir.path().join("lib/modules").join(KVER);
        std::fs::create_dir_all(moddir.join("kernel")).unwrap();
        let mut dep = IndexBuilder::new();
        dep.insert(b"a", b"kernel/a.ko: kernel/b.ko", 0).unwrap();
        dep.insert(b"b", b"kernel/b.ko:", 1).unwrap();
        let mut alias = IndexBuilder::new();
        alias.insert(b"pci:v1234*", b"a", 0).unwrap();
        for (name, builder) in [("modules.dep.bin", &dep), ("modules.alias.bin", &alias)] {
            std::fs::write(moddir.join(name), builder.to_bytes().unwrap()).unwrap();
        }
        for m in ["a", "b"] {
            std::fs::write(
                moddir.join(format!("kernel/{m}.ko")),
                testkit::ModuleSpec::new(m).build(),
            )
            .unwrap();
        }
        std::fs::create_dir_all(dir.path().join("conf")).unwrap();
        std::fs::write(dir.path().join("conf/test.conf"), conf).unwrap();
        std::fs::create_dir_all(dir.path().join("sys/proc")).unwrap();
        std::fs::write(dir.path().join("sys/proc/cmdline"), "").unwrap();
        std::fs::create_dir_all(dir.path().join("sys/sys/module")).unwrap();
        Fixture { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn conf(&self) -> PathBuf {
        self.root().join("conf")
    }

    /// `rkmod modprobe -d ROOT -S KVER ARGS`, with the fixture's fake /proc and /sys.
    fn modprobe(&self, args: &[&str]) -> Run {
        self.command(args).output().unwrap().into()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(rkmod_bin());
        cmd.arg("modprobe")
            .arg("-d")
            .arg(self.root())
            .arg("-S")
            .arg(KVER)
            .args(args)
            .current_dir(self.root())
            .env_remove("MODPROBE_OPTIONS")
            .env_remove("RKMOD_MODPROBE_DEPTH")
            .env("RKMOD_SYSROOT", self.root().join("sys"));
        cmd
    }
}

/// kmod recurses without end when an install command runs modprobe for its own module.
/// rkmod stops at a named depth with a clear error, and MODPROBE_OPTIONS stays bounded on the
/// way (kmod doubles it at every level).
#[test]
fn install_commands_calling_modprobe_again_terminate() {
    let log = tempdir();
    let log_file = log.path().join("env.log");
    let conf = format!(
        "install b echo \"$MODPROBE_OPTIONS\" >>{log} && {rkmod} modprobe -d {root} -S {KVER} b\n",
        log = log_file.display(),
        rkmod = rkmod_bin().display(),
        root = "ROOT",
    );
    let fixture = Fixture::new("");
    let conf = conf.replace("ROOT", &fixture.root().display().to_string());
    std::fs::write(fixture.conf().join("test.conf"), conf).unwrap();
    let conf_dir = fixture.conf().display().to_string();
    let run = fixture.modprobe(&["-C", &conf_dir, "-q", "b"]);
    assert_eq!(run.code, 1, "{}", run.stderr_str());
    let lines: Vec<String> = std::fs::read_to_string(&log_file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    // One line per level: the bound is 32 nested commands.
    assert_eq!(lines.len(), 32, "{lines:?}");
    // Every level sees the same options: the top level's -C and -q, once.
    for line in &lines {
        assert_eq!(line, &format!("-C {conf_dir} -q"));
    }
    let err = fixture.modprobe(&["-C", &conf_dir, "b"]);
    assert_eq!(err.code, 1);
    assert!(
        err.stderr_str()
            .contains("install and remove commands nest deeper than 32 levels"),
        "{}",
        err.stderr_str()
    );
}

/// Option text reaches install commands as data, never as shell code, from every source:
/// the command line, the configuration and the kernel command line.
#[test]
fn options_cannot_inject_shell_code_into_install_commands() {
    let fixture = Fixture::new("");
    let out = fixture.root().join("out");
    let pwned = fixture.root().join("pwned");
    std::fs::write(
        fixture.conf().join("test.conf"),
        format!(
            "install b printf '<%s>' $CMDLINE_OPTS >{out}\noptions b 'c=1;touch {pwned}'\n",
            out = out.display(),
            pwned = pwned.display()
        ),
    )
    .unwrap();
    std::fs::write(
        fixture.root().join("sys/proc/cmdline"),
        format!("b.k=`touch{}`", pwned.display()),
    )
    .unwrap();
    let conf = fixture.conf().display().to_string();
    let evil = format!("x=$(touch {})", pwned.display());
    let run = fixture.modprobe(&["-C", &conf, "b", &evil]);
    assert_eq!(run.code, 0, "{}", run.stderr_str());
    assert!(!pwned.exists(), "option text ran as shell code");
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(written.contains("$(touch"), "{written}");
    assert!(written.contains(";touch"), "{written}");
}

/// The kernel calls `modprobe -q -- NAME`; NAME is looked up, never opened as a file, even
/// when it looks like a path (kmod 31 and later would load the file).
#[test]
fn the_kernels_call_never_takes_a_path() {
    let fixture = Fixture::new("");
    let module = fixture
        .root()
        .join("lib/modules")
        .join(KVER)
        .join("kernel/a.ko");
    let path = module.display().to_string();
    let mut cmd = Command::new(rkmod_bin());
    let run: Run = cmd
        .args(["modprobe", "-q", "--", &path])
        .env_remove("MODPROBE_OPTIONS")
        .env("RKMOD_SYSROOT", fixture.root().join("sys"))
        .output()
        .unwrap()
        .into();
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr_str(), "");
    // With any other command line, a path is a path (here shown, not loaded).
    let run = fixture.modprobe(&["-D", &path]);
    assert!(
        run.stdout_str()
            .ends_with(&format!("/b.ko \ninsmod {path} \n")),
        "{}",
        run.stdout_str()
    );
}

#[test]
fn names_are_never_paths() {
    let fixture = Fixture::new("");
    std::fs::create_dir_all(fixture.root().join("netdev-")).unwrap();
    std::fs::write(fixture.root().join("netdev-/usbserial.ko"), "x").unwrap();
    for name in ["netdev-/usbserial", "../../tmp/evil", "kernel/a.ko", "a.ko"] {
        let run = fixture.modprobe(&["-D", name]);
        assert_eq!(run.code, 1, "{name}");
        assert!(run.stdout.is_empty(), "{name}");
        assert!(run.stderr_str().contains("not found"), "{name}");
    }
}

/// `-s` sends messages to syslog, never to stderr.
#[test]
fn syslog_keeps_stderr_empty() {
    let fixture = Fixture::new("");
    let run = fixture.modprobe(&["-s", "-D", "nothing-here"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr_str(), "");
}

/// RKMOD_SYSROOT is where the kernel command line comes from.
#[test]
fn the_kernel_command_line_is_injectable() {
    let fixture = Fixture::new("");
    std::fs::write(
        fixture.root().join("sys/proc/cmdline"),
        "quiet a.param=7 modprobe.blacklist=b",
    )
    .unwrap();
    let conf = fixture.conf().display().to_string();
    let run = fixture.modprobe(&["-C", &conf, "-c"]);
    assert!(
        run.stdout_str()
            .starts_with("blacklist b\noptions a param=7\n"),
        "{}",
        run.stdout_str()
    );
    let run = fixture.modprobe(&["-C", &conf, "-D", "pci:v12345"]);
    assert!(
        run.stdout_str().ends_with("a.ko param=7 \n"),
        "{}",
        run.stdout_str()
    );
    // The blacklist hides the alias's module only; b as a dependency still loads.
    std::fs::write(
        fixture.root().join("sys/proc/cmdline"),
        "modprobe.blacklist=a",
    )
    .unwrap();
    let run = fixture.modprobe(&["-C", &conf, "-D", "pci:v12345"]);
    assert_eq!(run.stdout_str(), "");
    assert_eq!(run.code, 0);
}

/// A module marked live in the fake /sys is not loaded again; `--first-time` says so.
#[test]
fn module_state_comes_from_the_sysroot() {
    let fixture = Fixture::new("");
    let state = fixture.root().join("sys/sys/module/a");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("initstate"), "live\n").unwrap();
    let conf = fixture.conf().display().to_string();
    let run = fixture.modprobe(&["-C", &conf, "-n", "a"]);
    assert_eq!((run.code, run.stdout_str()), (0, String::new()));
    let run = fixture.modprobe(&["-C", &conf, "-n", "--first-time", "a"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr_str(),
        "modprobe: ERROR: could not insert 'a': Module already in kernel\n"
    );
}

/// `--parallel` on a tree whose modules have install commands (so nothing reaches the
/// kernel): the dependency's command runs first and once, the outcome messages and the exit
/// code are the sequential run's, and a dry run prints the same plan as without the option.
#[test]
fn parallel_loading_keeps_the_order_messages_and_exit_code() {
    let fixture = Fixture::new("");
    let log = fixture.root().join("log");
    let conf = fixture.conf().display().to_string();
    let write = |b_command: &str| {
        std::fs::write(
            fixture.conf().join("test.conf"),
            format!(
                "install a echo a >>{log}\ninstall b {b_command}\n",
                log = log.display()
            ),
        )
        .unwrap();
    };
    write(&format!("echo b >>{}", log.display()));
    let run = fixture.modprobe(&["-C", &conf, "-a", "--parallel=4", "a", "b"]);
    assert_eq!(run.code, 0, "{}", run.stderr_str());
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "b\na\n");

    let dry = fixture.modprobe(&["-C", &conf, "-n", "-a", "--parallel", "a", "b"]);
    let plain = fixture.modprobe(&["-C", &conf, "-n", "-a", "a", "b"]);
    assert_eq!(dry.stdout, plain.stdout);
    assert_eq!(dry.code, plain.code);

    write("false");
    let outcomes = |run: &Run| -> Vec<String> {
        run.stderr_str()
            .lines()
            .filter(|l| l.contains("could not insert"))
            .map(str::to_string)
            .collect()
    };
    let par = fixture.modprobe(&["-C", &conf, "-a", "--parallel=2", "a", "b"]);
    let seq = fixture.modprobe(&["-C", &conf, "-a", "a", "b"]);
    assert_eq!(par.code, 1);
    assert_eq!(par.code, seq.code);
    assert_eq!(outcomes(&par), outcomes(&seq), "{}", par.stderr_str());
    assert_eq!(outcomes(&par).len(), 2, "{}", par.stderr_str());

    let bad = fixture.modprobe(&["-C", &conf, "-a", "--parallel=x", "a"]);
    assert_eq!(bad.code, 1, "{}", bad.stderr_str());
}

/// `modprobe -c --json`: every directive kind with its typed fields (weakdep included, which
/// kmod 30, the oracle of tests/real/modprobe.rs, does not know), a UTF-8 pattern, and the
/// index dump.
#[test]
fn show_config_json_has_every_directive() {
    let fixture = Fixture::new(
        "blacklist bad\ninstall a /bin/true\nremove a /bin/false x\nalias my-alias a\n\
         options a p=1 q=2\nsoftdep a pre: b c post: d\nweakdep a w1 w2\nalias caf\u{e9} b\n",
    );
    let conf = fixture.conf().display().to_string();
    let run = fixture.modprobe(&["-C", &conf, "-c", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr_str());
    assert_eq!(run.stderr_str(), "");
    assert_eq!(
        run.stdout_str(),
        concat!(
            r#"{"blacklist":["bad"],"install":[{"module":"a","command":"/bin/true"}],"#,
            r#""remove":[{"module":"a","command":"/bin/false x"}],"#,
            r#""aliases":[{"alias":"my_alias","module":"a"},{"alias":"café","module":"b"}],"#,
            r#""options":[{"module":"a","options":"p=1 q=2"}],"#,
            r#""softdeps":[{"module":"a","pre":["b","c"],"post":["d"]}],"#,
            r#""weakdeps":[{"module":"a","weakdeps":["w1","w2"]}],"#,
            r#""indexes":{"aliases":[{"alias":"pci:v1234*","module":"a"}],"symbols":[]}}"#,
            "\n"
        )
    );
}

/// `--json` is for `-c` and `-D`; anything else (a real load, `-n`, `-R`, `-r`, the symbol
/// listings) is refused, not silently printed as text, and nothing is loaded.
#[test]
fn json_without_show_config_or_show_depends_is_refused() {
    let fixture = Fixture::new("");
    for args in [
        &["--json", "a"][..],
        &["--json", "-n", "a"],
        &["--json", "-D", "-R", "a"],
        &["--json", "-r", "a"],
        &["--json", "--show-exports", "a"],
    ] {
        let run = fixture.modprobe(args);
        assert_eq!(run.code, 1, "{args:?}");
        assert_eq!(run.stdout_str(), "", "{args:?}");
        assert_eq!(
            run.stderr_str(),
            "modprobe: ERROR: --json is supported with -c (--show-config) and -D (--show-depends) only\n",
            "{args:?}"
        );
    }
}

/// `-D --json`: the plan of each request found, with options (as kmod passes them to the
/// kernel, with its trailing space), an install command, and the failure of a missing request
/// on stderr (and in the exit code) as the text form has them.
#[test]
fn show_depends_json_plan() {
    let fixture = Fixture::new("options b p=1\ninstall a /bin/echo installing $CMDLINE_OPTS\n");
    let conf = fixture.conf().display().to_string();
    let moddir = fixture.root().join("lib/modules").join(KVER);
    let text = fixture.modprobe(&["-C", &conf, "-a", "-D", "pci:v1234d1", "missing", "b"]);
    let run = fixture.modprobe(&[
        "-C",
        &conf,
        "--json",
        "-a",
        "-D",
        "pci:v1234d1",
        "missing",
        "b",
    ]);
    assert_eq!(run.code, 1);
    assert_eq!(run.code, text.code);
    assert_eq!(run.stderr_str(), text.stderr_str());
    assert!(
        run.stderr_str().contains("Module missing not found"),
        "{}",
        run.stderr_str()
    );
    let b = format!("{}/kernel/b.ko", moddir.display());
    assert_eq!(
        text.stdout_str(),
        format!("insmod {b} p=1 \ninstall /bin/echo installing $CMDLINE_OPTS \ninsmod {b} p=1 \n")
    );
    assert_eq!(
        run.stdout_str(),
        format!(
            concat!(
                r#"{{"requests":[{{"request":"pci:v1234d1","steps":["#,
                r#"{{"action":"insmod","module":"b","path":"{b}","options":"p=1 ","command":null,"builtin":false}},"#,
                r#"{{"action":"install","module":"a","path":null,"options":"","command":"/bin/echo installing $CMDLINE_OPTS","builtin":false}}]}},"#,
                r#"{{"request":"b","steps":["#,
                r#"{{"action":"insmod","module":"b","path":"{b}","options":"p=1 ","command":null,"builtin":false}}]}}]}}"#,
                "\n"
            ),
            b = b
        )
    );
}

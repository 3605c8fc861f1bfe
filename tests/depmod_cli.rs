//! depmod's options and argument errors, run through kmod 30 and rkmod side by side, and the
//! options kmod 30 does not have (`-o`, `-m DIR`) checked against the outputs kmod wrote for
//! the same tree in the fixtures.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::util::*;

const KVER: &str = "6.1.0-test";

fn fixture_root(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/depmod/cases")
        .join(case)
        .join("root")
}

/// Copies a fixture tree into `dest` (a plain recursive copy).
fn copy_fixture(case: &str, dest: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(fixture_root(case))
        .arg(dest)
        .status()
        .unwrap();
    assert!(status.success());
}

fn expected(case: &str, name: &str) -> Vec<u8> {
    let dir = fixture_root(case).parent().unwrap().join("expected");
    std::fs::read(dir.join("head").join(name))
        .or_else(|_| std::fs::read(dir.join("v30").join(name)))
        .unwrap()
}

/// kmod 30 and rkmod give the same messages and status for bad arguments.
#[test]
fn argument_errors_match_kmod() {
    if kmod_tool("depmod").is_none() {
        skip("kmod's depmod");
        return;
    }
    let tmp = tempdir();
    let missing = tmp.path().join("missing");
    let missing = missing.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["-P", "ab", "6.1"],
        vec!["-P", "", "6.1"],
        vec!["xyz"],
        vec!["-b", missing, "6.1.0", "relative.ko"],
        vec!["-b", missing, "-e", "6.1.0"],
        vec!["-b", missing, "6.1.0"],
        vec!["-b", missing, "-A", "6.1.0"],
        vec!["-b", missing, "-A", "-n", "6.1.0"],
        vec!["-b", missing, "-F", "/nonexistent/System.map", "6.1.0"],
        vec![
            "-b",
            missing,
            "-E",
            "/nonexistent/Module.symvers",
            "-F",
            "/x",
            "6.1.0",
        ],
        vec!["--bogus"],
        vec!["-Q"],
        vec!["-b"],
    ];
    for args in cases {
        let ours = rkmod("depmod", &args);
        let mut theirs = kmod("depmod", &args);
        // getopt names the program as it was called, here by its full path.
        let bin = kmod_tool("depmod").unwrap();
        theirs.stderr = theirs
            .stderr_str()
            .replace(&format!("{}:", bin.display()), "depmod:")
            .into_bytes();
        assert_eq!(
            (ours.code, ours.stdout_str(), ours.stderr_str()),
            (theirs.code, theirs.stdout_str(), theirs.stderr_str()),
            "depmod {args:?}"
        );
    }
}

#[test]
fn version_is_kmods_first_line() {
    let run = rkmod("depmod", ["-V"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout_str().starts_with("kmod version "),
        "{}",
        run.stdout_str()
    );
}

/// `-o`: read from the base directory, write under the output root only.
#[test]
fn outdir_writes_elsewhere() {
    let tmp = tempdir();
    let root = tmp.path().join("root");
    copy_fixture("basic", &root);
    let out = tmp.path().join("out");
    let run = rkmod(
        "depmod",
        [
            OsString::from("-b"),
            root.clone().into(),
            "-o".into(),
            out.clone().into(),
            "-C".into(),
            root.join("depmod.d").into(),
            KVER.into(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr_str());
    let outdir = out.join("lib/modules").join(KVER);
    for name in [
        "modules.dep",
        "modules.dep.bin",
        "modules.alias.bin",
        "modules.symbols",
        "modules.devname",
    ] {
        assert_eq!(
            std::fs::read(outdir.join(name)).unwrap(),
            expected("basic", name),
            "{name}"
        );
    }
    assert!(!root
        .join("lib/modules")
        .join(KVER)
        .join("modules.dep")
        .exists());
}

/// `-m DIR` (kmod 34): the module directory is BASEDIR/DIR/VERSION, leading slashes ignored.
#[test]
fn moduledir_moves_the_module_directory() {
    let tmp = tempdir();
    let root = tmp.path().join("root");
    copy_fixture("basic", &root);
    std::fs::create_dir_all(root.join("usr/lib")).unwrap();
    std::fs::rename(root.join("lib/modules"), root.join("usr/lib/modules")).unwrap();
    let run = rkmod(
        "depmod",
        [
            OsString::from("-b"),
            root.clone().into(),
            "-m".into(),
            "//usr/lib/modules".into(),
            "-C".into(),
            root.join("depmod.d").into(),
            KVER.into(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr_str());
    let dir = root.join("usr/lib/modules").join(KVER);
    for name in [
        "modules.dep",
        "modules.dep.bin",
        "modules.alias",
        "modules.symbols.bin",
    ] {
        assert_eq!(
            std::fs::read(dir.join(name)).unwrap(),
            expected("basic", name),
            "{name}"
        );
    }
}

fn mtime(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

/// `-A` does nothing while no module is newer than modules.dep, as kmod decides it.
#[test]
fn quick_regenerates_only_when_a_module_is_newer() {
    if kmod_tool("depmod").is_none() {
        skip("kmod's depmod");
        return;
    }
    let tmp = tempdir();
    for (tool, dir) in [("rkmod", "a"), ("kmod", "b")] {
        let root = tmp.path().join(dir);
        copy_fixture("basic", &root);
        let args = |extra: &[&str]| -> Vec<OsString> {
            let mut v: Vec<OsString> = extra.iter().map(OsString::from).collect();
            v.extend([
                "-b".into(),
                root.clone().into(),
                "-C".into(),
                root.join("depmod.d").into(),
                KVER.into(),
            ]);
            v
        };
        let run = |a: Vec<OsString>| {
            if tool == "rkmod" {
                rkmod("depmod", a)
            } else {
                kmod("depmod", a)
            }
        };
        let dep = root.join("lib/modules").join(KVER).join("modules.dep");
        // No modules.dep yet: -A reports it and does the work.
        let first = run(args(&["-A"]));
        assert_eq!(first.code, 0, "{tool}: {}", first.stderr_str());
        assert!(
            first.stderr_str().contains("could not fstatat("),
            "{tool}: {}",
            first.stderr_str()
        );
        assert!(dep.exists(), "{tool}");
        // Everything older than modules.dep: nothing happens.
        let old = filetime(&dep, 3600);
        let module = root
            .join("lib/modules")
            .join(KVER)
            .join("kernel/misc/lonely.ko");
        let before = mtime(&dep);
        let quiet = run(args(&["-A"]));
        assert_eq!(
            (quiet.code, quiet.stderr_str()),
            (0, String::new()),
            "{tool}"
        );
        assert_eq!(
            mtime(&dep),
            before,
            "{tool}: -A rewrote an up-to-date modules.dep"
        );
        // One module newer: the work is done.
        filetime(&module, 7200);
        let again = run(args(&["-A"]));
        assert_eq!(again.code, 0, "{tool}");
        assert_ne!(mtime(&dep), old, "{tool}: -A ignored a newer module");
    }
}

/// Sets a file's modification time to now plus `offset` seconds; returns it.
fn filetime(path: &Path, offset: i64) -> std::time::SystemTime {
    let now = std::time::SystemTime::now();
    let when = if offset < 0 {
        now - std::time::Duration::from_secs(offset.unsigned_abs())
    } else {
        now + std::time::Duration::from_secs(offset as u64)
    };
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(when).unwrap();
    when
}

/// A directory that contains itself through a symbolic link is entered once (kmod recurses
/// until it runs out of file descriptors); the outputs are kmod's for the tree without it.
#[test]
fn symlink_loops_are_entered_once() {
    let tmp = tempdir();
    let root = tmp.path().join("root");
    copy_fixture("basic", &root);
    let moddir = root.join("lib/modules").join(KVER);
    std::os::unix::fs::symlink("..", moddir.join("kernel/misc/loop")).unwrap();
    let run = rkmod(
        "depmod",
        [
            OsString::from("-b"),
            root.clone().into(),
            "-C".into(),
            root.join("depmod.d").into(),
            KVER.into(),
        ],
    );
    assert_eq!(run.code, 0);
    let text = run.stderr_str();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("kernel/misc/loop: directory loop"), "{text}");
    for name in [
        "modules.dep",
        "modules.dep.bin",
        "modules.alias",
        "modules.symbols.bin",
    ] {
        assert_eq!(
            std::fs::read(moddir.join(name)).unwrap(),
            expected("basic", name),
            "{name}"
        );
    }
}

/// Two depmods at once on one directory: both succeed and the result is complete.
#[test]
fn concurrent_runs_serialise() {
    let tmp = tempdir();
    let root = tmp.path().join("root");
    copy_fixture("basic", &root);
    let args: Vec<OsString> = vec![
        "-b".into(),
        root.clone().into(),
        "-C".into(),
        root.join("depmod.d").into(),
        KVER.into(),
    ];
    let spawn = || {
        std::process::Command::new(rkmod_bin())
            .arg("depmod")
            .args(&args)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut children: Vec<_> = (0..4).map(|_| spawn()).collect();
    for child in &mut children {
        assert!(child.wait().unwrap().success());
    }
    let moddir = root.join("lib/modules").join(KVER);
    for name in ["modules.dep", "modules.dep.bin", "modules.alias.bin"] {
        assert_eq!(
            std::fs::read(moddir.join(name)).unwrap(),
            expected("basic", name),
            "{name}"
        );
    }
    assert!(!std::fs::read_dir(&moddir).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".rkmod")));
}

//! The multicall front: dispatch by argv[0] and by first argument.

use crate::util::*;

#[test]
fn help_lists_the_tools() {
    let run = rkmod_raw(["--help"]);
    assert_eq!(run.code, 0);
    for tool in [
        "modinfo", "modprobe", "depmod", "insmod", "rmmod", "lsmod", "kmod",
    ] {
        assert!(
            run.stdout_str().contains(tool),
            "{tool} missing from --help"
        );
    }
}

#[test]
fn unknown_tool_is_an_error() {
    let run = rkmod_raw(["frobnicate"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr_str().contains("unknown tool 'frobnicate'"));
}

#[test]
fn dispatches_on_the_link_name() {
    let dir = tempdir();
    let link = dir.path().join("modinfo");
    std::os::unix::fs::symlink(rkmod_bin(), &link).unwrap();
    let run: Run = std::process::Command::new(&link)
        .arg("--version")
        .output()
        .unwrap()
        .into();
    assert_eq!(run.code, 0);
    assert!(run.stdout_str().starts_with("kmod version "));
}

#[test]
fn modinfo_without_arguments_fails_like_kmod() {
    let run = rkmod("modinfo", Vec::<&str>::new());
    assert_eq!(run.code, 1);
    // kmod 30: "modinfo: ERROR: missing module or filename."
    assert_eq!(
        run.stderr_str(),
        "modinfo: ERROR: missing module or filename.\n"
    );
}

#[test]
fn unknown_options_fail_like_getopt() {
    let run = rkmod("modinfo", ["--frob", "x"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr_str(), "modinfo: unrecognized option '--frob'\n");
    let run = rkmod("modinfo", ["-z", "x"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr_str(), "modinfo: invalid option -- 'z'\n");
}

/// Runs `PROGRAM ARGS...` with SIGPIPE set by `env SIGNAL_OPTION` (`--default-signal=PIPE`
/// or `--ignore-signal=PIPE`) and its stdout a pipe whose reader has gone; returns how it
/// ended and its stderr.
fn run_on_closed_pipe(
    signal_option: &str,
    program: &std::path::Path,
    args: &[std::ffi::OsString],
) -> (std::process::ExitStatus, String) {
    let mut child = std::process::Command::new("env")
        .arg(signal_option)
        .arg(program)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("env runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("the child ends");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// kmod's tools are C programs: they keep the SIGPIPE disposition they inherit, so when the
/// reader of their output goes away they end on SIGPIPE (kmod 30: `modinfo ... | head -1`
/// ends with status 141). rkmod starts as a C program does (its own `main`), and ends the
/// same way; where SIGPIPE is ignored it stops writing quietly instead.
#[test]
fn a_reader_going_away_ends_the_run_on_sigpipe_like_kmod() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempdir();
    let module = dir.path().join("m.ko");
    let image = testkit::ModuleSpec::new("m").info("license", "GPL").build();
    std::fs::write(&module, image).unwrap();
    // Far more output than a pipe holds.
    let args: Vec<std::ffi::OsString> = std::iter::repeat(module.into_os_string())
        .take(5000)
        .collect();
    let mut rkmod_args = vec![std::ffi::OsString::from("modinfo")];
    rkmod_args.extend(args.iter().cloned());
    let (ours, _) = run_on_closed_pipe("--default-signal=PIPE", &rkmod_bin(), &rkmod_args);
    assert_eq!(ours.signal(), Some(nix::libc::SIGPIPE), "rkmod: {ours:?}");
    match kmod_tool("modinfo") {
        Some(kmod) => {
            let (theirs, _) = run_on_closed_pipe("--default-signal=PIPE", &kmod, &args);
            assert_eq!(
                theirs.signal(),
                Some(nix::libc::SIGPIPE),
                "kmod: {theirs:?}"
            );
        }
        None => skip("kmod's modinfo (the oracle for SIGPIPE)"),
    }
    // With SIGPIPE ignored the write fails, and rkmod stops quietly.
    let (ignored, stderr) = run_on_closed_pipe("--ignore-signal=PIPE", &rkmod_bin(), &rkmod_args);
    assert_eq!(ignored.code(), Some(0), "rkmod: {ignored:?}");
    assert_eq!(stderr, "");
}

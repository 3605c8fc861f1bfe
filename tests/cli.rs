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

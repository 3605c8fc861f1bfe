//! modinfo on synthetic modules built with `object::write`: runs anywhere. Where Debian's
//! kmod is installed, each case is also run through kmod's modinfo and must match it
//! (kmod 30 prints no `build-id:` line, so that line is the one allowed difference).

use std::path::Path;

use testkit::{compress, Format, ModuleSpec};

use crate::util::*;

fn sample() -> ModuleSpec {
    let mut spec = ModuleSpec::new("sample_mod")
        .info("description", "A sample module")
        .info("author", "Some One <one@example.org>")
        .info("parm", "debug:Enable debugging")
        .info("parmtype", "debug:int")
        .info("parmtype", "quiet:bool")
        .info("parm", "level:Level of things")
        .info("alias", "pci:v00001234d*sv*sd*bc*sc*i*")
        .info("depends", "")
        .info("a_very_long_key_name", "x")
        .info(
            "vermagic",
            "6.1.0-47-amd64 SMP preempt mod_unload modversions ",
        );
    spec.build_id = Some(vec![0xde, 0xad, 0xbe, 0xef, 0x01]);
    spec
}

/// What kmod prints for `sample()` at `path`, derived from the records we put in.
fn expected_full(path: &Path) -> String {
    format!(
        "filename:       {}\n\
license:        GPL\n\
description:    A sample module\n\
author:         Some One <one@example.org>\n\
alias:          pci:v00001234d*sv*sd*bc*sc*i*\n\
depends:        \n\
a_very_long_key_name:x\n\
vermagic:       6.1.0-47-amd64 SMP preempt mod_unload modversions \n\
build-id:       DE:AD:BE:EF:01\n\
parm:           level:Level of things\n\
parm:           quiet:bool\n\
parm:           debug:Enable debugging (int)\n",
        path.display()
    )
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn without_build_id(s: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(s);
    text.split_inclusive('\n')
        .filter(|l| !l.starts_with("build-id:"))
        .collect::<String>()
        .into_bytes()
}

/// Rewrites kmod 30's output into the newest kmod's: kmod 30 pads a key longer than 15 bytes
/// with |15 - len| spaces (a negative printf width); kmod 7b416d5 ("modinfo: Prevent
/// undefined behavior with long keys") prints no padding, and rkmod follows the newest kmod.
fn kmod30_as_newest(out: &[u8]) -> String {
    let text = String::from_utf8_lossy(out);
    text.split_inclusive('\n')
        .map(|line| match line.find(':') {
            Some(colon) if colon > 15 && !line.starts_with("filename:") => {
                let pad = colon - 15;
                let rest = &line[colon + 1..];
                if rest.len() >= pad && rest[..pad].bytes().all(|b| b == b' ') {
                    format!("{}{}", &line[..=colon], &rest[pad..])
                } else {
                    line.to_string()
                }
            }
            _ => line.to_string(),
        })
        .collect()
}

/// Compares with kmod's modinfo when it is installed.
fn also_matches_kmod(args: &[&str], ours: &Run) {
    if kmod_tool("modinfo").is_none() {
        skip("Debian's kmod (modinfo)");
        return;
    }
    let theirs = kmod("modinfo", args);
    assert_eq!(theirs.code, ours.code, "exit code vs kmod for {args:?}");
    assert_eq!(
        kmod30_as_newest(&theirs.stdout),
        String::from_utf8_lossy(&without_build_id(&ours.stdout)),
        "stdout vs kmod for {args:?}"
    );
}

#[test]
fn prints_every_field_in_kmods_order() {
    let dir = tempdir();
    let path = write(dir.path(), "sample_mod.ko", &sample().build());
    let run = rkmod("modinfo", [&path]);
    assert_eq!(run.stderr_str(), "");
    assert_eq!(run.code, 0);
    assert_eq!(run.stdout_str(), expected_full(&path));
    also_matches_kmod(&[path.to_str().unwrap()], &run);
}

#[test]
fn each_compression_gives_the_same_output() {
    let dir = tempdir();
    let plain = sample().build();
    for format in Format::ALL {
        let path = write(
            dir.path(),
            &format!("sample_mod{}", format.suffix()),
            &compress(&plain, format),
        );
        let run = rkmod("modinfo", [&path]);
        assert_eq!(run.code, 0, "{format:?}: {}", run.stderr_str());
        assert_eq!(run.stdout_str(), expected_full(&path), "{format:?}");
        // Debian's kmod 30 is built without zlib: it does not take .ko.gz as a file name.
        if format != Format::Gzip {
            also_matches_kmod(&[path.to_str().unwrap()], &run);
        }
    }
}

#[test]
fn field_selection() {
    let dir = tempdir();
    let path = write(dir.path(), "sample_mod.ko", &sample().build());
    let p = path.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["-F", "author"], "Some One <one@example.org>\n"),
        (&["-a"], "Some One <one@example.org>\n"),
        (&["-d"], "A sample module\n"),
        (&["-l"], "GPL\n"),
        (&["-n"], &format!("{p}\n")),
        (&["-F", "filename"], &format!("{p}\n")),
        (
            &["-p"],
            "level:Level of things\nquiet: (bool)\ndebug:Enable debugging (int)\n",
        ),
        (&["-F", "depends"], "\n"),
        (&["-F", "nonexistent"], ""),
        (&["-F", "build-id"], "DE:AD:BE:EF:01\n"),
        // the last of the field options wins, as with getopt
        (&["-a", "-l"], "GPL\n"),
        (&["-l", "-F", "description"], "A sample module\n"),
        (&["-0", "-F", "alias"], "pci:v00001234d*sv*sd*bc*sc*i*\0"),
    ];
    for (opts, want) in cases {
        let mut args: Vec<&str> = opts.to_vec();
        args.push(p);
        let run = rkmod("modinfo", &args);
        assert_eq!(run.code, 0, "{args:?}");
        assert_eq!(run.stdout_str(), *want, "{args:?}");
        if !opts.contains(&"build-id") {
            also_matches_kmod(&args, &run);
        }
    }
}

#[test]
fn null_separator_keeps_padding_for_filename_and_parm() {
    let dir = tempdir();
    let path = write(dir.path(), "sample_mod.ko", &sample().build());
    let run = rkmod("modinfo", ["-0".as_ref(), path.as_os_str()]);
    let want = format!(
        "filename:       {}\0license=GPL\0description=A sample module\0author=Some One <one@example.org>\0alias=pci:v00001234d*sv*sd*bc*sc*i*\0depends=\0a_very_long_key_name=x\0vermagic=6.1.0-47-amd64 SMP preempt mod_unload modversions \0build-id=DE:AD:BE:EF:01\0parm:           level:Level of things\0parm:           quiet:bool\0parm:           debug:Enable debugging (int)\0",
        path.display()
    );
    assert_eq!(run.stdout_str(), want);
    if kmod_tool("modinfo").is_some() {
        let theirs = kmod("modinfo", ["-0".as_ref(), path.as_os_str()]);
        let ours = run.stdout_str().replace("build-id=DE:AD:BE:EF:01\0", "");
        // With -0 the key=value form has no padding in either version.
        assert_eq!(theirs.stdout_str(), ours);
    }
}

/// Bad input: a clear error naming the file, exit 1, no panic, and the other files still shown.
#[test]
fn bad_files_are_reported_and_the_rest_printed() {
    let dir = tempdir();
    let good = sample().build();
    let mut bad_elf = good.clone();
    // e_shstrndx (offset 62 in a 64-bit header) out of range: kmod aborts on an assert here.
    bad_elf[62] = 0xff;
    bad_elf[63] = 0x7f;
    let mut sig_outside = good.clone();
    // A signature trailer whose length points far outside the file.
    sig_outside.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]);
    sig_outside.extend_from_slice(b"~Module signature appended~\n");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.ko", Vec::new(), "not an ELF file"),
        (
            "garbage.ko",
            (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect(),
            "not an ELF file",
        ),
        (
            "trunc.ko.xz",
            compress(&good, Format::Xz)[..200].to_vec(),
            "xz decompression failed",
        ),
        (
            "trunc.ko.zst",
            compress(&good, Format::Zstd)[..200].to_vec(),
            "zstd decompression failed",
        ),
        (
            "trunc.ko.gz",
            compress(&good, Format::Gzip)[..200].to_vec(),
            "gzip decompression failed",
        ),
        ("badshstrndx.ko", bad_elf, "invalid module"),
    ];
    let good_path = write(dir.path(), "good.ko", &good);
    for (name, bytes, reason) in cases {
        let path = write(dir.path(), name, &bytes);
        let run = rkmod("modinfo", [&path, &good_path]);
        assert_eq!(run.code, 1, "{name}");
        let stem = name.split('.').next().unwrap();
        let stderr = run.stderr_str();
        assert!(
            stderr.starts_with(&format!(
                "modinfo: ERROR: could not get modinfo from '{stem}': {}",
                path.display()
            )),
            "{name}: {stderr}"
        );
        assert!(stderr.contains(reason), "{name}: {stderr}");
        // The good module after it is still printed in full.
        let out = run.stdout_str();
        assert!(
            out.starts_with(&format!("filename:       {}\n", path.display())),
            "{name}"
        );
        assert!(out.contains(&expected_full(&good_path)), "{name}");
    }
    // The signature trailer pointing outside the file is no signature at all (as in kmod):
    // the module prints without signature fields.
    let path = write(dir.path(), "sig_outside.ko", &sig_outside);
    let run = rkmod("modinfo", [&path]);
    assert_eq!(run.code, 0, "{}", run.stderr_str());
    assert_eq!(run.stdout_str(), expected_full(&path));
    also_matches_kmod(&[path.to_str().unwrap()], &run);
}

#[test]
fn fifo_and_directory_are_not_modules() {
    let dir = tempdir();
    let fifo = dir.path().join("fifo.ko");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let run = rkmod("modinfo", [&fifo]);
    // Not a regular file: treated as a name, as kmod does, and not found.
    assert_eq!(run.code, 1);
    assert!(
        run.stderr_str().contains("not found"),
        "{}",
        run.stderr_str()
    );
}

#[test]
fn unknown_names_are_not_found() {
    let dir = tempdir();
    let moddir = dir.path().join("lib/modules/1.0");
    std::fs::create_dir_all(&moddir).unwrap();
    let run = rkmod(
        "modinfo",
        [
            "-b".as_ref(),
            dir.path().as_os_str(),
            "-k".as_ref(),
            "1.0".as_ref(),
            "nosuchmod".as_ref(),
        ],
    );
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr_str(),
        "modinfo: ERROR: Module nosuchmod not found.\n"
    );
    let run = rkmod(
        "modinfo",
        [
            "-b".as_ref(),
            dir.path().as_os_str(),
            "-k".as_ref(),
            "1.0".as_ref(),
            "-m".as_ref(),
            "nosuchmod".as_ref(),
        ],
    );
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr_str(),
        "modinfo: ERROR: Module name nosuchmod not found.\n"
    );
    let run = rkmod(
        "modinfo",
        [
            "-b".as_ref(),
            dir.path().as_os_str(),
            "-k".as_ref(),
            "1.0".as_ref(),
            "bad]alias".as_ref(),
        ],
    );
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr_str(),
        "modinfo: ERROR: Module alias bad]alias not found.\n"
    );
}

/// `--json` of `sample()`: every record, grouped, with parameters in file order. The expected
/// document is written out from the records put into the fixture.
#[test]
fn json_document_of_a_module() {
    let dir = tempdir();
    let path = write(dir.path(), "sample_mod.ko", &sample().build());
    let run = rkmod("modinfo", ["--json".as_ref(), path.as_os_str()]);
    assert_eq!(run.code, 0, "{}", run.stderr_str());
    assert_eq!(
        run.stdout_str(),
        format!(
            concat!(
                r#"{{"modules":[{{"name":"sample_mod","filename":"{}","builtin":false,"#,
                r#""fields":{{"license":["GPL"],"description":["A sample module"],"#,
                r#""author":["Some One <one@example.org>"],"alias":["pci:v00001234d*sv*sd*bc*sc*i*"],"#,
                r#""depends":[""],"a_very_long_key_name":["x"],"#,
                r#""vermagic":["6.1.0-47-amd64 SMP preempt mod_unload modversions "]}},"#,
                r#""parameters":[{{"name":"debug","description":"Enable debugging","type":"int"}},"#,
                r#"{{"name":"quiet","description":null,"type":"bool"}},"#,
                r#"{{"name":"level","description":"Level of things","type":null}}],"#,
                r#""build_id":"DE:AD:BE:EF:01","signature":null}}]}}"#,
                "\n"
            ),
            path.display()
        )
    );
}

/// A bad file among good ones: the same diagnostics and exit code as the text form, and the
/// good modules still in the one document.
#[test]
fn json_reports_bad_files_and_keeps_the_rest() {
    let dir = tempdir();
    let good = write(dir.path(), "good.ko", &sample().build());
    let bad = write(dir.path(), "bad.ko", b"not an elf file at all");
    let invalid_parm = write(
        dir.path(),
        "oddparm.ko",
        &ModuleSpec::new("oddparm")
            .info("parm", "noseparator")
            .info("parm", "ok:fine")
            .build(),
    );
    let args = [&bad, &good, &invalid_parm];
    let text = rkmod("modinfo", args);
    let mut json_args = vec![std::ffi::OsString::from("--json")];
    json_args.extend(args.iter().map(|p| p.as_os_str().to_owned()));
    let json = rkmod("modinfo", &json_args);
    assert_eq!(json.code, 1);
    assert_eq!(json.code, text.code);
    assert_eq!(json.stderr_str(), text.stderr_str());
    assert!(
        json.stderr_str()
            .contains("Found invalid \"parm=noseparator\": missing ':'"),
        "{}",
        json.stderr_str()
    );
    let document: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let modules = document["modules"].as_array().expect("modules");
    let names: Vec<&str> = modules
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    // The name of a module given as a file comes from its file name, as in kmod.
    assert_eq!(names, ["good", "oddparm"]);
    assert_eq!(
        modules[1]["parameters"],
        serde_json::json!([{"name": "ok", "description": "fine", "type": null}])
    );
    // Nothing at all found: still one (empty) document, and a failure.
    let run = rkmod("modinfo", ["--json".as_ref(), bad.as_os_str()]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout_str(), "{\"modules\":[]}\n");
}

/// A field value that is not UTF-8 is shown with U+FFFD, and the document stays valid JSON.
#[test]
fn json_values_that_are_not_utf8() {
    let dir = tempdir();
    let mut spec = ModuleSpec::new("latin1");
    spec = spec.info("description", "caf\u{e9}");
    let mut bytes = spec.build();
    // Turn the UTF-8 "é" (C3 A9) into E9 A9: a truncated three-byte sequence, not UTF-8.
    let at = bytes
        .windows(2)
        .position(|w| w == [0xc3, 0xa9])
        .expect("the value");
    bytes[at] = 0xe9;
    let path = write(dir.path(), "latin1.ko", &bytes);
    let run = rkmod("modinfo", ["--json".as_ref(), path.as_os_str()]);
    assert_eq!(run.code, 0, "{}", run.stderr_str());
    let document: serde_json::Value = serde_json::from_slice(&run.stdout).expect("JSON");
    assert_eq!(
        document["modules"][0]["fields"]["description"][0],
        "caf\u{fffd}"
    );
}

/// `--json` prints whole modules: the options that select fields or a separator are refused.
#[test]
fn json_refuses_field_options() {
    let dir = tempdir();
    let path = write(dir.path(), "sample_mod.ko", &sample().build());
    for opts in [
        vec!["-F", "alias"],
        vec!["-a"],
        vec!["-d"],
        vec!["-l"],
        vec!["-p"],
        vec!["-n"],
        vec!["-0"],
    ] {
        let mut args: Vec<std::ffi::OsString> = vec!["--json".into()];
        args.extend(opts.iter().map(std::ffi::OsString::from));
        args.push(path.clone().into_os_string());
        let run = rkmod("modinfo", &args);
        assert_eq!(run.code, 1, "{opts:?}");
        assert!(run.stdout.is_empty(), "{opts:?}");
        assert_eq!(
            run.stderr_str(),
            "modinfo: ERROR: --json cannot be combined with -F, -a, -d, -l, -p, -n or -0\n",
            "{opts:?}"
        );
    }
}

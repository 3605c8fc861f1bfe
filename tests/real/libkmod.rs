//! rkmod's libkmod.so.2 against kmod's own library (Debian 12's libkmod2, kmod 30), through
//! the same C program (crates/libkmod/tests/c/lookup.c, built once against rkmod's header):
//! lookups by name, alias, modalias and symbol on the real 6.1 tree, each module's path,
//! options, commands, dependencies and softdeps, and dry-run probes with every blacklist
//! mode. The expected output is what kmod's library prints.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

/// Debian's kmod library, the oracle.
const KMOD_LIBRARY_DIR: &str = "/usr/lib/x86_64-linux-gnu";

const CONFIG: &str = "\
options usb_storage quirks=0419:aaf5:u delay_use=1
options my-disk from_alias=1
alias my-disk usb-storage
blacklist pcspkr
blacklist crc32c_generic
install dummy /bin/true $CMDLINE_OPTS
remove dummy /bin/false
softdep ext4 pre: crc32c post: jbd2
softdep e1000e pre: my-disk
softdep usbcore post: usb-storage
";

/// Hand-picked requests: configured aliases, options, commands and softdeps, blacklisted
/// modules, invalid and missing names.
const REQUESTS: &str = "\
lookup usb-storage
lookup my-disk
lookup ext4
lookup dummy
lookup pcspkr
lookup nonexistent-thing
lookup pci:v00008086d000010D3sv00001028sd00000000bc02sc00i00
lookup symbol:usb_stor_probe1
lookup crc32c
lookup fs-ext4
lookup bad]alias
lookup e1000e
name e1000e
name usb-storage.ko
name not_a_module
namelookup usb-storage
namelookup nosuchmod
namelookup crc32c
";

fn built_library(out: &Path) -> Option<PathBuf> {
    let status = Command::new("scripts/build-libkmod")
        .arg("--debug")
        .arg(out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .ok()?;
    status.success().then(|| out.join("libkmod.so.2"))
}

/// The dynamic symbols `kmod_*` of a library with their version nodes.
fn versioned_symbols(library: &Path) -> std::collections::BTreeMap<String, String> {
    let output = Command::new("objdump")
        .arg("-T")
        .arg(library)
        .output()
        .expect("objdump (binutils)");
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.contains(" .text"))
        .filter_map(|line| {
            let mut words = line.split_whitespace().rev();
            let name = words.next()?;
            let version = words.next()?;
            name.starts_with("kmod_").then(|| {
                (
                    name.to_string(),
                    version.trim_matches(['(', ')']).to_string(),
                )
            })
        })
        .collect()
}

#[test]
fn exports_carry_kmods_symbol_versions_and_soname() {
    let kmod_library = Path::new(KMOD_LIBRARY_DIR).join("libkmod.so.2");
    if !kmod_library.exists() {
        skip("kmod's libkmod.so.2 (Debian package libkmod2)");
        return;
    }
    let work = tempdir();
    let library = built_library(work.path()).expect("scripts/build-libkmod");
    let ours = versioned_symbols(&library);
    let kmods = versioned_symbols(&kmod_library);
    assert!(kmods.len() >= 70, "{kmods:?}");
    let mut compared = 0;
    for (name, version) in &ours {
        // Debian 12's kmod (a 30+20221128 snapshot) has this one in LIBKMOD_5; the kmod
        // release that added it, and every later one, in LIBKMOD_30, as ours.
        if name == "kmod_module_new_from_name_lookup" {
            assert_eq!(version, "LIBKMOD_30");
            continue;
        }
        if let Some(kmod_version) = kmods.get(name) {
            assert_eq!(version, kmod_version, "the version of {name}");
            compared += 1;
        }
    }
    assert!(compared >= 45, "only {compared} symbols compared");
    // What kmod 30 lacks: the nodes of kmod 33's API.
    assert_eq!(
        ours.get("kmod_module_get_weakdeps").map(String::as_str),
        Some("LIBKMOD_33")
    );
    assert_eq!(
        ours.get("kmod_config_get_weakdeps").map(String::as_str),
        Some("LIBKMOD_33")
    );
    // Nothing but kmod's API is exported.
    let output = Command::new("objdump")
        .arg("-T")
        .arg(&library)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    for line in text.lines().filter(|l| l.contains(" .text")) {
        let name = line.split_whitespace().last().unwrap();
        assert!(name.starts_with("kmod_"), "exported: {line}");
    }
    let dynamic = Command::new("objdump")
        .arg("-p")
        .arg(&library)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&dynamic.stdout).contains("SONAME               libkmod.so.2"));
}

fn run(program: &Path, library_dir: &Path, args: &[&Path]) -> String {
    let output = Command::new(program)
        .args(args)
        .env("LD_LIBRARY_PATH", library_dir)
        .env_remove("KMOD_LOG")
        .output()
        .expect("run the lookup program");
    assert!(
        output.status.success(),
        "{} failed: {}",
        program.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

/// kmod's output with the one documented change (modprobe(8), DIFFERENCES): a softdep with
/// both lists reads "pre: A post: B"; kmod's library omits the space before "post:".
fn with_softdep_space(kmod_output: &str) -> String {
    kmod_output
        .lines()
        .map(|line| {
            let fixed = match (line.strip_prefix("config softdep "), line.find("post: ")) {
                (Some(_), Some(at)) if line.contains("pre: ") && !line[..at].ends_with(' ') => {
                    format!("{} {}", &line[..at], &line[at..])
                }
                _ => line.to_string(),
            };
            fixed + "\n"
        })
        .collect()
}

#[test]
fn lookups_and_dry_run_probes_match_kmods_library() {
    let Some(tree) = tree_61() else { return };
    if !Path::new(KMOD_LIBRARY_DIR).join("libkmod.so.2").exists() {
        skip("kmod's libkmod.so.2 (Debian package libkmod2)");
        return;
    }
    if Command::new("gcc").arg("--version").output().is_err() {
        skip("gcc, to build the C test program");
        return;
    }
    let work = tempdir();
    let lib_dir = work.path().join("lib");
    built_library(&lib_dir).expect("scripts/build-libkmod");
    let program = work.path().join("lookup");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/libkmod/tests/c/lookup.c");
    let status = Command::new("gcc")
        .args(["-Wall", "-Werror", "-o"])
        .arg(&program)
        .arg("-I")
        .arg(&lib_dir)
        .arg(&source)
        .arg("-L")
        .arg(&lib_dir)
        .args(["-lkmod", "-ldl"])
        .status()
        .expect("gcc");
    assert!(status.success(), "gcc failed");

    let config = work.path().join("modprobe.d");
    std::fs::create_dir(&config).unwrap();
    std::fs::write(config.join("test.conf"), CONFIG).unwrap();
    // Beside the hand-picked requests, a sample of the tree: every 25th alias pattern and
    // every 15th module name, and symbols.
    let mut requests = String::from(REQUESTS);
    for alias in tree.index_keys("modules.alias", 25) {
        requests += &format!("lookup {alias}\n");
    }
    for symbol in tree.index_keys("modules.symbols", 400) {
        requests += &format!("lookup {symbol}\n");
    }
    for module in tree.modules().iter().step_by(15) {
        let name = module.file_name().unwrap().to_string_lossy().into_owned();
        requests += &format!("name {name}\nnamelookup {name}\n");
    }
    let request_file = work.path().join("requests");
    std::fs::write(&request_file, &requests).unwrap();

    let moddir = tree.kmod30_moddir();
    let args = [moddir.as_path(), config.as_path(), request_file.as_path()];
    let expected = with_softdep_space(&run(&program, Path::new(KMOD_LIBRARY_DIR), &args));
    let actual = run(&program, &lib_dir, &args);
    // The program must have run through kmod's library for real: every request answered,
    // modules found and probed.
    assert!(
        expected.matches("action insmod").count() > 1000,
        "{expected}"
    );
    let config_lines = expected
        .lines()
        .filter(|l| l.starts_with("config "))
        .count();
    assert!(config_lines >= 2 * 12, "{config_lines} configuration lines");
    assert_eq!(
        expected.lines().filter(|l| !l.starts_with(' ')).count() - config_lines,
        requests.lines().count() + 2
    );
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        let context = |text: &str| {
            text.lines()
                .skip(first.saturating_sub(10))
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "rkmod's library differs from kmod's at line {}:\n--- kmod\n{}\n--- rkmod\n{}",
            first + 1,
            context(&expected),
            context(&actual)
        );
    }
}

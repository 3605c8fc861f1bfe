//! `modinfo` on every module of both Debian trees, and look-ups by name, alias and builtin
//! against indexes written by kmod's depmod. Expected values are kmod 30's output, captured
//! at test time. kmod 30 predates the `build-id:` line that the newest kmod prints, so that
//! line is the one difference allowed (and required: rkmod must print it when the module has
//! a build-id note).

use std::ffi::OsString;
use std::path::PathBuf;

use crate::util::*;

/// Removes `build-id:` records from modinfo output (both separators).
fn strip_build_id(out: &[u8]) -> Vec<u8> {
    let mut result = Vec::with_capacity(out.len());
    let mut rest = out;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let (line, tail) = rest.split_at(end);
        if !line.starts_with(b"build-id:") {
            result.extend_from_slice(line);
        }
        rest = tail;
    }
    result
}

/// Splits a modinfo listing into per-module blocks (each starts at `filename:` or `name:`).
fn blocks(out: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(out);
    let mut blocks: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        let starts = line.starts_with("filename:")
            && !blocks
                .last()
                .is_some_and(|b| b.starts_with("name:") && !b.contains("\nfilename:"))
            || line.starts_with("name:");
        if starts || blocks.is_empty() {
            blocks.push(String::new());
        }
        blocks.last_mut().unwrap().push_str(line);
    }
    blocks
}

fn compare(label: &str, ours: &Run, theirs: &Run) {
    let ours_out = strip_build_id(&ours.stdout);
    if ours_out != theirs.stdout {
        let a = blocks(&ours_out);
        let b = blocks(&theirs.stdout);
        for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
            assert_eq!(x, y, "{label}: block {i} differs (rkmod left, kmod right)");
        }
        panic!(
            "{label}: rkmod printed {} blocks, kmod {}",
            a.len(),
            b.len()
        );
    }
    assert_eq!(ours.code, theirs.code, "{label}: exit code");
    assert_eq!(ours.stderr_str(), theirs.stderr_str(), "{label}: stderr");
}

fn every_module_matches(tree: RealTree) {
    let modules = tree.modules();
    assert!(modules.len() > 4000, "{} modules only", modules.len());
    let mut with_build_id = 0usize;
    for chunk in modules.chunks(500) {
        let args: Vec<OsString> = chunk.iter().map(|p| p.clone().into_os_string()).collect();
        let ours = rkmod("modinfo", &args);
        let theirs = kmod("modinfo", &args);
        compare(
            &format!("{} modules from {}", chunk.len(), chunk[0].display()),
            &ours,
            &theirs,
        );
        with_build_id += ours
            .stdout
            .split(|&b| b == b'\n')
            .filter(|l| l.starts_with(b"build-id:"))
            .count();
    }
    // Every Debian module carries a build-id note, which the newest kmod prints.
    assert_eq!(with_build_id, modules.len(), "build-id lines");
}

#[test]
fn every_61_module_matches_kmod() {
    if let Some(tree) = tree_61() {
        every_module_matches(tree);
    }
}

#[test]
fn every_612_module_matches_kmod() {
    if let Some(tree) = tree_612() {
        every_module_matches(tree);
    }
}

#[test]
fn field_and_null_options_match_kmod_on_real_modules() {
    let Some(tree) = tree_612() else { return };
    let modules = tree.modules();
    let sample: Vec<PathBuf> = modules.iter().step_by(97).cloned().collect();
    for opts in [
        vec!["-0"],
        vec!["-p"],
        vec!["-F", "signature"],
        vec!["-F", "sig_key"],
        vec!["-F", "alias", "-0"],
        vec!["-F", "depends"],
        vec!["-n"],
        vec!["-l"],
    ] {
        let mut args: Vec<OsString> = opts.iter().map(OsString::from).collect();
        args.extend(sample.iter().map(|p| p.clone().into_os_string()));
        let ours = rkmod("modinfo", &args);
        let theirs = kmod("modinfo", &args);
        let ours_out = if opts.contains(&"-0") && !opts.contains(&"-F") {
            // With -0, records end in NUL: drop build-id=... records.
            ours.stdout
                .split_inclusive(|&b| b == 0)
                .filter(|r| !r.starts_with(b"build-id="))
                .flatten()
                .copied()
                .collect()
        } else {
            ours.stdout.clone()
        };
        assert_eq!(
            String::from_utf8_lossy(&ours_out),
            theirs.stdout_str(),
            "{opts:?}"
        );
        assert_eq!(ours.code, theirs.code, "{opts:?}");
    }
}

/// Names (with dashes and underscores), `-m` names, aliases, modaliases, symbols and builtin
/// modules, against the indexes kmod 30's depmod wrote.
fn lookups_match(tree: RealTree) {
    let moddir = tree.kmod30_moddir();
    let base = tree.kmod30_root.clone().into_os_string();
    let dep = std::fs::read_to_string(moddir.join("modules.dep")).unwrap();
    let mut names: Vec<String> = dep
        .lines()
        .filter_map(|l| l.split(':').next())
        .map(|p| {
            p.rsplit('/')
                .next()
                .unwrap()
                .split('.')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    names.sort();
    let builtin = tree.builtin_names();
    let aliases = tree.index_keys("modules.alias", 7);
    let symbols = tree.index_keys("modules.symbols", 11);
    let fixed: Vec<String> = [
        // concrete modaliases of real devices
        "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00",
        "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00",
        "usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00",
        "usb:v046Dpc52Bd1201dc00dsc00dp00ic03isc01ip01in00",
        "fs-vfat",
        "fs-ext4",
        "char-major-10-229",
        "devname:snd/timer",
        "crypto-sha256",
        "platform:i8042",
        "symbol:usb_register_driver",
        "symbol:nonexistent_symbol_xyz",
        "usb-storage",
        "usb_storage",
        "nonexistent-module",
        "ext4",
        "netdev-/usbserial",
        "../../tmp/evil",
        "pci:v*",
        "a[b",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    let groups: Vec<(&str, Vec<String>, Vec<&str>)> = vec![
        ("module names", names.clone(), vec![]),
        (
            "module names with dashes",
            names.iter().map(|n| n.replace('_', "-")).collect(),
            vec![],
        ),
        (
            "-m module names",
            names.iter().step_by(5).cloned().collect(),
            vec!["-m"],
        ),
        ("builtin modules", builtin.clone(), vec![]),
        ("-m builtin modules", builtin, vec!["-m"]),
        ("aliases", aliases, vec![]),
        ("symbols", symbols, vec![]),
        ("fixed requests", fixed.clone(), vec![]),
        ("fixed requests, -F filename", fixed, vec!["-F", "filename"]),
    ];
    for (label, requests, opts) in groups {
        for chunk in requests.chunks(400) {
            let mut args: Vec<OsString> =
                vec!["-b".into(), base.clone(), "-k".into(), tree.kver.into()];
            args.extend(opts.iter().map(OsString::from));
            args.push("--".into());
            args.extend(chunk.iter().map(OsString::from));
            let ours = rkmod("modinfo", &args);
            let theirs = kmod("modinfo", &args);
            compare(
                &format!("{} {label} from {}", tree.kver, chunk[0]),
                &ours,
                &theirs,
            );
        }
    }
}

#[test]
fn lookups_match_kmod_61() {
    if let Some(tree) = tree_61() {
        lookups_match(tree);
    }
}

#[test]
fn lookups_match_kmod_612() {
    if let Some(tree) = tree_612() {
        lookups_match(tree);
    }
}

//! `depmod` on both Debian trees, compared with kmod.
//!
//! rkmod writes into a temporary copy of each pristine tree (hard links to the module files,
//! which depmod never modifies: it only creates index files, by renaming new ones into place).
//! The expected values are, at test time:
//! - kmod 30's outputs in the `kmod30-*` copies made by `scripts/real-trees.sh`: the text files
//!   must be byte-identical; each `.bin` must decode to exactly kmod 30's entries and be
//!   byte-identical to kmod 30's content re-encoded by our index writer (kmod 34 writes the
//!   same trie in pre-order, kmod 30 in post-order); kmod 30 writes no modules.weakdep, whose
//!   expected content is derived from kmod's modinfo (`-F weakdep` over every module);
//! - kmod 30's own modprobe and modinfo, which must answer identically from rkmod's indexes and
//!   from kmod 30's, over every module name, builtin name, alias and symbol;
//! - kmod head's own files, all eleven byte for byte, by the sha256 digests recorded in
//!   testdata/depmod/kmod-head-real.sha256; where the local kmod head build exists
//!   (`$RKMOD_CACHE/kmod-head-build/build/depmod`, see testdata/depmod/README.md), a fresh run
//!   of it first confirms the recorded digests.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::depmod_fixtures::{index_entries, kmod_head_depmod, reencode};
use crate::util::*;

const TEXT: [&str; 5] = [
    "modules.dep",
    "modules.alias",
    "modules.softdep",
    "modules.symbols",
    "modules.devname",
];
const BINARY: [&str; 5] = [
    "modules.dep.bin",
    "modules.alias.bin",
    "modules.symbols.bin",
    "modules.builtin.bin",
    "modules.builtin.alias.bin",
];
const ALL: [&str; 11] = [
    "modules.dep",
    "modules.dep.bin",
    "modules.alias",
    "modules.alias.bin",
    "modules.softdep",
    "modules.weakdep",
    "modules.symbols",
    "modules.symbols.bin",
    "modules.builtin.bin",
    "modules.builtin.alias.bin",
    "modules.devname",
];

/// A copy of the pristine tree at `dest/lib/modules/KVER` sharing the module files (hard links,
/// or symbolic links across file systems). Returns `dest`.
fn copy_tree(tree: &RealTree, dest: &Path) -> PathBuf {
    let target = dest.join("lib/modules");
    std::fs::create_dir_all(&target).unwrap();
    let ok = Command::new("cp")
        .arg("-al")
        .arg(&tree.moddir)
        .arg(&target)
        .status()
        .unwrap()
        .success()
        || Command::new("cp")
            .arg("-as")
            .arg(&tree.moddir)
            .arg(&target)
            .status()
            .unwrap()
            .success();
    assert!(ok, "could not copy {}", tree.moddir.display());
    dest.to_path_buf()
}

fn run_depmod(program: &Path, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Run {
    let mut cmd = Command::new(program);
    if program == rkmod_bin() {
        cmd.arg("depmod");
    }
    for a in args {
        cmd.arg(a.as_ref());
    }
    cmd.output().expect("depmod runs").into()
}

/// rkmod's run into a copy of the tree; returns the root of the copy.
fn rkmod_copy(tree: &RealTree, tmp: &Path) -> PathBuf {
    let root = copy_tree(tree, &tmp.join("rkmod"));
    let run = run_depmod(&rkmod_bin(), &[&"-b", &root, &tree.kver]);
    assert_eq!(run.code, 0, "rkmod depmod failed: {}", run.stderr_str());
    assert_eq!(run.stderr_str(), "", "rkmod depmod printed messages");
    root
}

fn read(root: &Path, kver: &str, name: &str) -> Vec<u8> {
    std::fs::read(root.join("lib/modules").join(kver).join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The first differing line of two text files, for a readable failure.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}: rkmod {x:?}, kmod {y:?}", i + 1);
        }
    }
    format!(
        "rkmod has {} lines, kmod {}",
        a.lines().count(),
        b.lines().count()
    )
}

fn outputs_match_kmod30(tree: RealTree) {
    let tmp = tempdir();
    let ours = rkmod_copy(&tree, tmp.path());
    let theirs = tree.kmod30_root.clone();
    for name in TEXT {
        let (a, b) = (read(&ours, tree.kver, name), read(&theirs, tree.kver, name));
        assert!(a == b, "{name}: {}", first_difference(&a, &b));
    }
    for name in BINARY {
        let (a, b) = (read(&ours, tree.kver, name), read(&theirs, tree.kver, name));
        assert!(
            index_entries(&a) == index_entries(&b),
            "{name}: decoded entries differ from kmod 30's"
        );
        assert!(
            a == reencode(&b),
            "{name}: differs from kmod 30's content laid out in pre-order"
        );
    }
    // modules.weakdep: its header, then one line per weakdep= value. kmod 30 has no such file;
    // kmod's modinfo says which modules carry weakdep values.
    let mut weakdeps = Vec::new();
    let modules = tree.modules();
    for chunk in modules.chunks(500) {
        let args: Vec<OsString> = ["-F", "weakdep"]
            .iter()
            .map(OsString::from)
            .chain(chunk.iter().map(|p| p.clone().into_os_string()))
            .collect();
        let run = kmod("modinfo", &args);
        assert_eq!(run.code, 0);
        weakdeps.extend_from_slice(&run.stdout);
    }
    assert!(
        weakdeps.is_empty(),
        "some modules carry weakdep values: extend this test to place them"
    );
    assert_eq!(
        read(&ours, tree.kver, "modules.weakdep"),
        b"# Weak dependencies extracted from modules themselves.\n"
    );
    // Nothing but the eleven outputs was added to the module directory.
    let mut names: Vec<String> = std::fs::read_dir(ours.join("lib/modules").join(tree.kver))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected: Vec<String> = ALL
        .iter()
        .chain(
            [
                "kernel",
                "modules.builtin",
                "modules.builtin.modinfo",
                "modules.order",
            ]
            .iter(),
        )
        .map(|s| s.to_string())
        .collect();
    expected.sort();
    assert_eq!(names, expected);
}

#[test]
fn tree_61_outputs_match_kmod30() {
    if let Some(tree) = tree_61() {
        outputs_match_kmod30(tree);
    }
}

#[test]
fn tree_612_outputs_match_kmod30() {
    if let Some(tree) = tree_612() {
        outputs_match_kmod30(tree);
    }
}

/// The sha256 digests kmod's head writes for `tree`, by file name, from
/// testdata/depmod/kmod-head-real.sha256 (captured from kmod's own runs).
fn kmod_head_digests(tree: &RealTree) -> Vec<(String, String)> {
    let short = if tree.kver.starts_with("6.1.") {
        "6.1"
    } else {
        "6.12"
    };
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/depmod/kmod-head-real.sha256"),
    )
    .unwrap();
    let digests: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (t, digest, file) = (f.next()?, f.next()?, f.next()?);
            (t == short).then(|| (file.to_string(), digest.to_string()))
        })
        .collect();
    assert_eq!(
        digests.len(),
        ALL.len(),
        "{short}: digests for every output"
    );
    digests
}

/// sha256 of each named file in `moddir`, with the system's sha256sum.
fn sha256(moddir: &Path, names: &[String]) -> Vec<String> {
    let out = Command::new("sha256sum")
        .args(names)
        .current_dir(moddir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sha256sum failed in {}",
        moddir.display()
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

/// rkmod's eleven files equal kmod head's byte for byte: by the recorded digests always, and,
/// where the head build exists locally, the recorded digests are checked against a fresh run.
fn outputs_match_kmod_head(tree: RealTree) {
    let expected = kmod_head_digests(&tree);
    let names: Vec<String> = expected.iter().map(|(f, _)| f.clone()).collect();
    let tmp = tempdir();
    if let Some(head) = kmod_head_depmod() {
        let theirs = copy_tree(&tree, &tmp.path().join("head"));
        let run = run_depmod(&head, &[&"-b", &theirs, &tree.kver]);
        assert_eq!(run.code, 0, "kmod head failed: {}", run.stderr_str());
        let fresh = sha256(&theirs.join("lib/modules").join(tree.kver), &names);
        for ((name, recorded), fresh) in expected.iter().zip(&fresh) {
            assert_eq!(
                recorded, fresh,
                "{name}: kmod head no longer writes the recorded file"
            );
        }
    } else {
        eprintln!(
            "note: no kmod head build in {}; comparing with its recorded digests",
            cache_dir().display()
        );
    }
    let ours = rkmod_copy(&tree, tmp.path());
    let digests = sha256(&ours.join("lib/modules").join(tree.kver), &names);
    for ((name, recorded), ours) in expected.iter().zip(&digests) {
        assert_eq!(recorded, ours, "{name} differs from kmod head's");
    }
}

#[test]
fn tree_61_outputs_match_kmod_head() {
    if let Some(tree) = tree_61() {
        outputs_match_kmod_head(tree);
    }
}

#[test]
fn tree_612_outputs_match_kmod_head() {
    if let Some(tree) = tree_612() {
        outputs_match_kmod_head(tree);
    }
}

/// Lines of `file` split on spaces: field `index` of each line starting with `prefix`.
fn fields(text: &[u8], prefix: &str, index: usize) -> Vec<String> {
    String::from_utf8_lossy(text)
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.split(' ').nth(index).map(str::to_string))
        .collect()
}

/// Runs kmod 30's `tool` over `queries` in chunks against each root, and compares everything
/// it prints (with each root replaced by ROOT).
fn same_answers(
    tool: &str,
    roots: [&Path; 2],
    args: impl Fn(&Path) -> Vec<OsString>,
    queries: &[String],
) {
    let chunks: Vec<&[String]> = if queries.is_empty() {
        vec![&[]]
    } else {
        queries.chunks(2000).collect()
    };
    for chunk in chunks {
        let mut runs = Vec::new();
        for root in roots {
            let mut all = args(root);
            all.extend(chunk.iter().map(OsString::from));
            let run = kmod(tool, &all);
            let root_s = root.to_string_lossy().into_owned();
            runs.push((
                run.code,
                run.stdout_str().replace(&root_s, "ROOT"),
                run.stderr_str().replace(&root_s, "ROOT"),
            ));
        }
        assert_eq!(
            runs[0].0, runs[1].0,
            "{tool} exit status (rkmod's indexes first)"
        );
        assert!(
            runs[0].1 == runs[1].1,
            "{tool} stdout differs from {} queries starting {:?}",
            chunk.len(),
            chunk.first()
        );
        assert!(
            runs[0].2 == runs[1].2,
            "{tool} stderr differs: {} / {}",
            runs[0].2,
            runs[1].2
        );
    }
}

fn kmod30_tools_agree(tree: RealTree) {
    let tmp = tempdir();
    let ours = rkmod_copy(&tree, tmp.path());
    let theirs = tree.kmod30_root.clone();
    let kver = tree.kver;
    let dep = read(&theirs, kver, "modules.dep");
    let mut names: Vec<String> = String::from_utf8_lossy(&dep)
        .lines()
        .filter_map(|l| l.split(':').next())
        .map(|p| {
            let base = p.rsplit('/').next().unwrap_or(p);
            base.split('.').next().unwrap_or(base).replace('-', "_")
        })
        .collect();
    let builtin = read(&theirs, kver, "modules.builtin");
    names.extend(String::from_utf8_lossy(&builtin).lines().map(|l| {
        let base = l.rsplit('/').next().unwrap_or(l);
        base.split('.').next().unwrap_or(base).replace('-', "_")
    }));
    let aliases = fields(&read(&theirs, kver, "modules.alias"), "alias ", 1);
    let symbols: Vec<String> = fields(&read(&theirs, kver, "modules.symbols"), "alias ", 1);
    assert!(names.len() > 4000 && aliases.len() > 10000 && symbols.len() > 10000);

    let roots = [ours.as_path(), theirs.as_path()];
    let modprobe = |extra: &'static [&'static str]| {
        move |root: &Path| -> Vec<OsString> {
            let mut v: Vec<OsString> = vec!["-d".into(), root.into(), "-S".into(), kver.into()];
            v.extend(extra.iter().map(OsString::from));
            v
        }
    };
    // Names through modules.dep.bin (and modules.builtin.bin): the full load plans.
    same_answers("modprobe", roots, modprobe(&["-D", "-a"]), &names);
    // Aliases through modules.alias.bin, symbols through modules.symbols.bin.
    same_answers("modprobe", roots, modprobe(&["-R", "-a"]), &aliases);
    same_answers("modprobe", roots, modprobe(&["-R", "-a"]), &symbols);
    // modinfo's lookup of the same, by file name only.
    let modinfo = |root: &Path| -> Vec<OsString> {
        vec![
            "-b".into(),
            root.into(),
            "-k".into(),
            kver.into(),
            "-F".into(),
            "filename".into(),
        ]
    };
    same_answers("modinfo", roots, modinfo, &symbols);
    same_answers("modinfo", roots, modinfo, &names);
    // The alias and symbol index dumps of modprobe -c.
    same_answers("modprobe", roots, modprobe(&["-c"]), &[]);
}

#[test]
fn tree_61_kmod30_tools_agree_on_rkmod_indexes() {
    if let Some(tree) = tree_61() {
        kmod30_tools_agree(tree);
    }
}

#[test]
fn tree_612_kmod30_tools_agree_on_rkmod_indexes() {
    if let Some(tree) = tree_612() {
        kmod30_tools_agree(tree);
    }
}

/// A bad module in a real tree is reported once, by name, and every other module is indexed
/// exactly as kmod indexes the same tree.
#[test]
fn tree_61_bad_module_is_isolated() {
    let Some(tree) = tree_61() else {
        return;
    };
    let tmp = tempdir();
    let ours = copy_tree(&tree, &tmp.path().join("rkmod"));
    let theirs = copy_tree(&tree, &tmp.path().join("kmod"));
    let victim = "kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko";
    for root in [&ours, &theirs] {
        let path = root.join("lib/modules").join(tree.kver).join(victim);
        let bytes = std::fs::read(&path).unwrap();
        // Replace the hard link, so that the pristine tree keeps its module.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    }
    let run = run_depmod(&rkmod_bin(), &[&"-b", &ours, &tree.kver]);
    let reference = kmod(
        "depmod",
        [
            OsString::from("-b"),
            theirs.clone().into_os_string(),
            tree.kver.into(),
        ],
    );
    assert_eq!((run.code, reference.code), (0, 0));
    assert_eq!(
        run.stderr_str(),
        reference
            .stderr_str()
            .replace(theirs.to_str().unwrap(), ours.to_str().unwrap())
    );
    assert_eq!(run.stderr_str().lines().count(), 1, "{}", run.stderr_str());
    for name in TEXT {
        let (a, b) = (read(&ours, tree.kver, name), read(&theirs, tree.kver, name));
        assert!(a == b, "{name}: {}", first_difference(&a, &b));
    }
    for name in BINARY {
        let (a, b) = (read(&ours, tree.kver, name), read(&theirs, tree.kver, name));
        assert!(a == reencode(&b), "{name}");
    }
}

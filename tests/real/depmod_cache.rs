//! depmod's module cache on the real 6.1 tree: after every kind of change to the tree, a run
//! that uses the cache writes the same eleven files as a run without it (`--no-cache`, the
//! expected value), and a damaged cache is reported at `-v`, ignored and rebuilt.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

const FILES: [&str; 11] = [
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

struct Tree {
    root: PathBuf,
    reference: PathBuf,
    kver: &'static str,
}

impl Tree {
    fn moddir(&self) -> PathBuf {
        self.root.join("lib/modules").join(self.kver)
    }

    /// A run through the cache; returns its `-v` cache line.
    fn cached(&self) -> String {
        let run = rkmod(
            "depmod",
            [
                "-v".as_ref(),
                "-b".as_ref(),
                self.root.as_os_str(),
                self.kver.as_ref(),
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr_str());
        run.stderr_str()
            .lines()
            .find(|l| l.starts_with("depmod: INFO: cache "))
            .unwrap_or_else(|| panic!("no cache line in {:?}", run.stderr_str()))
            .to_string()
    }

    /// Checks the outputs of a cached run against a run without the cache.
    fn check(&self, what: &str) -> String {
        let line = self.cached();
        let _ = std::fs::remove_dir_all(&self.reference);
        let run = rkmod(
            "depmod",
            [
                "--no-cache".as_ref(),
                "-b".as_ref(),
                self.root.as_os_str(),
                "-o".as_ref(),
                self.reference.as_os_str(),
                self.kver.as_ref(),
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr_str());
        let expected = self.reference.join("lib/modules").join(self.kver);
        for name in FILES {
            let got = std::fs::read(self.moddir().join(name)).unwrap();
            let want = std::fs::read(expected.join(name)).unwrap();
            assert!(
                got == want,
                "{what}: {name} differs from a run without the cache"
            );
        }
        line
    }
}

fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(
        1000 * (kmodcore::depmod::cache::SETTLE_SECONDS as u64 + 1),
    ));
}

/// A private copy of `path` (a new inode), so that changing it leaves the pristine tree alone.
fn unshare(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::remove_file(path).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn copy_tree(tree: &RealTree, root: &Path) {
    let target = root.join("lib/modules");
    std::fs::create_dir_all(&target).unwrap();
    let ok = Command::new("cp")
        .arg("-al")
        .arg(&tree.moddir)
        .arg(&target)
        .status()
        .unwrap()
        .success();
    assert!(ok, "could not copy {}", tree.moddir.display());
    std::fs::create_dir_all(root.join("var/cache/rkmod/depmod")).unwrap();
}

#[test]
fn every_change_gives_the_outputs_of_a_run_without_the_cache() {
    let Some(tree) = tree_61() else { return };
    let tmp = tempdir();
    let t = Tree {
        root: tmp.path().join("root"),
        reference: tmp.path().join("reference"),
        kver: tree.kver,
    };
    copy_tree(&tree, &t.root);
    let storage = t.moddir().join("kernel/drivers/usb/storage");
    let cache_file = t.root.join("var/cache/rkmod/depmod").join(t.kver);

    // Files changed a moment ago are not cached; once settled, they are.
    let first = t.check("first run");
    assert!(
        first.ends_with("none yet: every module read from its file"),
        "{first}"
    );
    assert!(
        !cache_file.exists(),
        "files younger than the settling time were cached"
    );
    settle();
    t.check("run that writes the cache");
    assert!(cache_file.exists());
    let warm = t.check("warm run");
    assert!(
        warm.ends_with(": 0 of 4022 modules read from their files"),
        "{warm}"
    );

    // A module added under extra/.
    std::fs::create_dir_all(t.moddir().join("extra")).unwrap();
    std::fs::copy(storage.join("uas.ko"), t.moddir().join("extra/uasx.ko")).unwrap();
    let added = t.check("module added");
    assert!(
        added.ends_with(": 1 of 4023 modules read from their files"),
        "{added}"
    );

    // A module replaced in place: same size, same mtime, one alias byte changed.
    let victim = storage.join("ums-alauda.ko");
    unshare(&victim);
    settle();
    t.check("settled again");
    let bytes = std::fs::read(&victim).unwrap();
    let at = bytes
        .windows(10)
        .position(|w| w == b"alias=usb:")
        .expect("an alias")
        + 6;
    let mtime = std::fs::metadata(&victim).unwrap().modified().unwrap();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(&victim)
        .unwrap();
    file.seek(SeekFrom::Start(at as u64)).unwrap();
    file.write_all(b"q").unwrap();
    file.set_modified(mtime).unwrap();
    drop(file);
    assert_eq!(
        std::fs::metadata(&victim).unwrap().len(),
        bytes.len() as u64
    );
    let replaced = t.check("module rewritten in place with the same size and mtime");
    assert!(replaced.contains(": 1 of "), "{replaced}");

    // Removed, renamed, recompressed.
    std::fs::remove_file(storage.join("ums-karma.ko")).unwrap();
    t.check("module removed");
    std::fs::rename(
        storage.join("ums-cypress.ko"),
        storage.join("ums-cypress2.ko"),
    )
    .unwrap();
    t.check("module renamed");
    let xz = Command::new("xz")
        .arg("--keep")
        .arg("--check=crc32")
        .arg(storage.join("ums-eneub6250.ko"))
        .status();
    if xz.is_ok_and(|s| s.success()) {
        std::fs::remove_file(storage.join("ums-eneub6250.ko")).unwrap();
        t.check("module recompressed");
    } else {
        skip("xz (for the recompressed-module case)");
    }

    // A damaged cache: reported, ignored, rebuilt.
    settle();
    t.check("settled");
    let mut cache = std::fs::read(&cache_file).unwrap();
    let middle = cache.len() / 2;
    cache[middle] ^= 0x20;
    std::fs::write(&cache_file, &cache).unwrap();
    let damaged = t.check("damaged cache");
    assert!(
        damaged.contains("ignored (corrupt: bad checksum): rebuilt"),
        "{damaged}"
    );
    std::fs::write(&cache_file, &cache[..100]).unwrap();
    let truncated = t.check("truncated cache");
    assert!(truncated.contains("ignored (corrupt"), "{truncated}");
    let rebuilt = t.check("rebuilt cache");
    assert!(
        rebuilt.contains(" modules read from their files"),
        "{rebuilt}"
    );
}

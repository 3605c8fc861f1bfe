//! Real clients of the module tools, run unchanged: once with Debian's kmod 30 (the oracle) and
//! once with rkmod in its place, on the real Debian trees, comparing what each client gets.
//!
//! - **initramfs-tools**: `mkinitramfs` runs for real (as root) in a private mount namespace
//!   (`unshare -m`) where a module tree of ours is mounted at `/lib/modules/VERSION`, the
//!   tree's `boot/` at `/boot` and a directory of placeholder firmware files at
//!   `/lib/firmware`. For the rkmod build, the rkmod binary is bind-mounted over the system's
//!   kmod binary (every tool link resolves to it, and rkmod dispatches on the name it is called
//!   by), since mkinitramfs fixes its own `PATH` and calls `/sbin/modprobe` by path. The
//!   images' module and firmware lists (from `lsinitramfs`), the indexes mkinitramfs had depmod
//!   write into the image, and mkinitramfs's stderr and exit status must be equal.
//! - **systemd** (`kmod-static-nodes.service`): `/bin/kmod static-nodes --format=tmpfiles
//!   --output=/run/tmpfiles.d/static-nodes.conf`, with `/lib/modules/$(uname -r)` showing a
//!   real tree and `/run` a directory of ours; the written file, its mode, and the created
//!   directory's, byte for byte.
//! - **the kernel's `make modules_install`** (scripts/depmod.sh): `depmod -ae -F System.map -b
//!   DIR VERSION` in the directory holding System.map. Debian's packaged `System.map-VERSION`
//!   is a one-line stub ("The real System.map is in the linux-image-<version>-dbg package"), so
//!   with it every kernel symbol is unknown; that file is one case, and a System.map written
//!   from the kernel's real export list (the `vmlinux` lines of the `Module.symvers` that
//!   Debian's linux-headers package ships) is the other, plus a variant with a kernel symbol and
//!   a module missing, to exercise `-e`'s warnings.
//! - **DKMS**: `depmod -a VERSION` (and `depmod -a VERSION -F /boot/System.map-VERSION`, as DKMS
//!   runs it when that file exists) with modules of ours in `updates/dkms/`.
//! - **the kernel's autoload** (`request_module`): `/sbin/modprobe -q -- NAME` under `env -i
//!   HOME=/ TERM=linux PATH=/sbin:/usr/sbin:/bin:/usr/bin`, with the dry run asked for through
//!   `MODPROBE_OPTIONS=-n` so that the command line stays the kernel's own.
//!
//! The depmod outputs are compared as elsewhere (tests/real/depmod.rs): text files byte for
//! byte, each `.bin` by its decoded entries and against kmod 30's content laid out in
//! pre-order (kmod 30 writes post-order), and `modules.weakdep`, which kmod 30 does not write,
//! must hold only its header (no Debian module carries a weakdep).
//!
//! Without root, `unshare`, kmod 30, initramfs-tools (installed with apt-get when we are
//! root) or the real trees, a test is a loud skip, and a failure under CI=true.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::depmod_fixtures::{index_entries, reencode};
use crate::util::*;

// ---------------------------------------------------------------------------------------------
// Namespaces and tool swaps.

/// Which module tools a namespace shows at the system's paths.
#[derive(Debug, Clone)]
enum Tools {
    /// The system's own (Debian's kmod 30).
    Kmod,
    /// rkmod, bind-mounted over the system's kmod binary.
    Rkmod,
    /// Another kmod build (the local development head), bind-mounted the same way.
    Other(PathBuf),
}

impl Tools {
    fn name(&self) -> &'static str {
        match self {
            Tools::Kmod => "kmod",
            Tools::Rkmod => "rkmod",
            Tools::Other(_) => "kmod-head",
        }
    }

    /// Shell commands that put these tools in place. On Debian every tool is a link to
    /// /usr/bin/kmod; whatever each resolves to is covered.
    fn setup(&self) -> String {
        let binary = match self {
            Tools::Kmod => return String::new(),
            Tools::Rkmod => rkmod_bin(),
            Tools::Other(path) => path.clone(),
        };
        format!(
            "for real in $(for t in /bin/kmod /sbin/modprobe /sbin/depmod /sbin/modinfo \
             /sbin/insmod /sbin/rmmod /bin/lsmod; do [ -e \"$t\" ] && readlink -f \"$t\"; \
             done | sort -u); do mount --bind {} \"$real\"; done\n",
            quote(&binary)
        )
    }
}

fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}

/// Shell commands that mount `src` over `dst`, creating the mount point if the host lacks it.
fn bind(src: &Path, dst: &str) -> String {
    format!(
        "[ -e {dst} ] || mkdir -p {dst}\nmount --bind {} {dst}\n",
        quote(src)
    )
}

/// A tmpfs over /lib/modules holding only `/lib/modules/KVER` (KVER may be a shell
/// expression), which shows `moddir`.
fn module_dir(moddir: &Path, kver: &str) -> String {
    format!(
        "[ -d /lib/modules ] || mkdir -p /lib/modules\nmount -t tmpfs none /lib/modules\n\
         mkdir -p \"/lib/modules/{kver}\"\nmount --bind {} \"/lib/modules/{kver}\"\n",
        quote(moddir)
    )
}

/// Runs `argv` after `setup` (shell commands) in a private mount namespace.
fn in_namespace(setup: &str, cwd: &Path, env: &[(&str, &OsStr)], argv: &[OsString]) -> Run {
    let script = format!("set -e\n{setup}\nexec \"$@\"\n");
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"])
        .args(argv)
        .current_dir(cwd)
        .envs(env.iter().copied())
        .env_remove("MODPROBE_OPTIONS")
        .output()
        .expect("unshare runs")
        .into()
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// Whether private mount namespaces work here.
fn namespaces_work() -> bool {
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "true"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Root, `unshare -m` and kmod 30's binary; or a skip.
fn namespace_prerequisites() -> bool {
    if !namespaces_work() {
        skip("a private mount namespace (unshare -m, as root)");
        return false;
    }
    if kmod_tool("kmod").is_none() || kmod_tool("depmod").is_none() {
        skip("kmod (Debian's kmod package)");
        return false;
    }
    true
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n")
}

/// kmod's development head, built in the cache (see testdata/config/README.md), if present.
/// Local only: nothing in CI builds it.
fn kmod_head() -> Option<PathBuf> {
    let path = cache_dir().join("kmod-head-build/build/kmod");
    path.exists().then_some(path)
}

/// Asserts two runs are identical, showing them as text when they are not.
fn assert_same(ours: &Run, theirs: &Run, what: &str) {
    if ours != theirs {
        panic!(
            "{what}\n--- rkmod (exit {}) stdout:\n{}--- stderr:\n{}--- kmod (exit {}) stdout:\n{}--- stderr:\n{}",
            ours.code,
            ours.stdout_str(),
            ours.stderr_str(),
            theirs.code,
            theirs.stdout_str(),
            theirs.stderr_str()
        );
    }
}

/// The first differing line of two texts, for a readable failure.
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

/// A copy of `tree`'s pristine module directory at `dest` sharing the module files (hard
/// links; depmod only ever creates files).
fn copy_moddir(tree: &RealTree, dest: &Path) {
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let ok = Command::new("cp")
        .arg("-al")
        .arg(&tree.moddir)
        .arg(dest)
        .status()
        .unwrap()
        .success();
    assert!(ok, "could not copy {}", tree.moddir.display());
}

/// The header rkmod (as kmod 33 and later) writes into modules.weakdep.
const WEAKDEP_HEADER: &[u8] = b"# Weak dependencies extracted from modules themselves.\n";

/// Compares the index files (`modules.*`) of two module directories: names, text files byte
/// for byte, `.bin` files by content; `modules.weakdep` may be missing on kmod 30's side.
fn compare_indexes(ours: &Path, theirs: &Path, what: &str) {
    let names = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{what}: {}: {e}", dir.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("modules."))
            .collect();
        v.sort();
        v
    };
    let mut ours_names = names(ours);
    let theirs_names = names(theirs);
    if !theirs_names.iter().any(|n| n == "modules.weakdep") {
        if let Some(i) = ours_names.iter().position(|n| n == "modules.weakdep") {
            let weakdep = std::fs::read(ours.join("modules.weakdep")).unwrap();
            assert_eq!(
                weakdep, WEAKDEP_HEADER,
                "{what}: modules.weakdep has more than its header"
            );
            ours_names.remove(i);
        }
    }
    assert_eq!(ours_names, theirs_names, "{what}: index file names");
    assert!(
        ours_names.iter().any(|n| n == "modules.dep.bin"),
        "{what}: no modules.dep.bin"
    );
    for name in &ours_names {
        let a = std::fs::read(ours.join(name)).unwrap();
        let b = std::fs::read(theirs.join(name)).unwrap();
        if name.ends_with(".bin") {
            assert!(
                index_entries(&a) == index_entries(&b),
                "{what}: {name}: decoded entries differ from kmod 30's"
            );
            assert!(
                a == reencode(&b),
                "{what}: {name}: differs from kmod 30's content laid out in pre-order"
            );
        } else {
            assert!(a == b, "{what}: {name}: {}", first_difference(&a, &b));
        }
    }
}

/// The firmware names kmod's modinfo finds in `modules`, in order, without duplicates.
fn firmware_names(modules: &[PathBuf]) -> Vec<String> {
    let mut names = Vec::new();
    for chunk in modules.chunks(500) {
        let mut args = os(&["-F", "firmware"]);
        args.extend(chunk.iter().map(|p| p.clone().into_os_string()));
        let run = kmod("modinfo", &args);
        assert_eq!(run.code, 0, "{}", run.stderr_str());
        for line in run.stdout_str().lines() {
            if !names.iter().any(|n| n == line) {
                names.push(line.to_string());
            }
        }
    }
    names
}

/// A directory of empty firmware files named `names` (those that are safe relative paths).
fn firmware_dir(dir: &Path, names: &[String]) {
    std::fs::create_dir_all(dir).unwrap();
    for name in names {
        if name.is_empty() || name.starts_with('/') || name.split('/').any(|c| c == "..") {
            continue;
        }
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"").unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// initramfs-tools.

/// One apt-get at a time.
static INSTALL: Mutex<()> = Mutex::new(());

/// Whether `present()` holds; when it does not and we are root, Debian's `package` is
/// installed with apt-get (without recommends) first, as tests/vm/run.sh installs its packages.
fn apt_installed(package: &str, present: impl Fn() -> bool) -> bool {
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if !present() && is_root() && Path::new("/usr/bin/apt-get").exists() {
        let install = || {
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends", package])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !install() {
            let _ = Command::new("apt-get").args(["update", "-qq"]).output();
            install();
        }
    }
    present()
}

/// Whether initramfs-tools is here (installed when it is missing and we are root). Skips
/// otherwise.
fn initramfs_tools() -> bool {
    let present = || {
        Path::new("/usr/sbin/mkinitramfs").exists() && Path::new("/usr/bin/lsinitramfs").exists()
    };
    if apt_installed("initramfs-tools", present) {
        true
    } else {
        skip("initramfs-tools (apt-get install --no-install-recommends initramfs-tools, as root)");
        false
    }
}

/// What an initramfs build is made of.
struct Initramfs<'a> {
    tree: &'a RealTree,
    /// `MODULES=` in initramfs.conf.
    modules: &'a str,
    /// Lines of the configuration's `modules` file (names, with options, forced into the image).
    list: &'a [&'a str],
    /// Whether /lib/modules/VERSION starts without indexes, so that mkinitramfs runs
    /// `depmod VERSION` itself; otherwise it shows kmod 30's indexed copy, read only.
    pristine: bool,
    /// The firmware files present in /lib/firmware.
    firmware: &'a Path,
}

/// One build's results.
struct Built {
    run: Run,
    /// The image's paths under usr/lib/modules and usr/lib/firmware.
    listing: Vec<String>,
    /// The kept working directory (mkinitramfs -k), that is the image's content.
    destdir: PathBuf,
}

fn build_initramfs(spec: &Initramfs, tools: &Tools, work: &Path) -> Built {
    let kver = spec.tree.kver;
    let conf = work.join("conf");
    for sub in ["conf.d", "hooks", "scripts"] {
        std::fs::create_dir_all(conf.join(sub)).unwrap();
    }
    // Our own configuration (-d), so that the host's /etc/initramfs-tools does not matter.
    // No busybox and gzip -1: the image's tools and compression are not what is compared.
    std::fs::write(
        conf.join("initramfs.conf"),
        format!(
            "MODULES={}\nBUSYBOX=n\nKEYMAP=n\nCOMPRESS=gzip\nCOMPRESSLEVEL=1\nDEVICE=\n\
             NFSROOT=auto\nRUNSIZE=10%\nFSTYPE=auto\n",
            spec.modules
        ),
    )
    .unwrap();
    let mut list = spec.list.join("\n");
    list.push('\n');
    std::fs::write(conf.join("modules"), list).unwrap();
    std::fs::create_dir_all(work.join("tmp")).unwrap();
    let moddir = if spec.pristine {
        let copy = work.join("tree").join(kver);
        copy_moddir(spec.tree, &copy);
        copy
    } else {
        spec.tree.kmod30_moddir()
    };
    let boot = spec.tree.moddir.join("../../../boot");
    let mut setup = module_dir(&moddir, kver);
    setup.push_str(&bind(&boot, "/boot"));
    setup.push_str(&bind(spec.firmware, "/lib/firmware"));
    setup.push_str(&tools.setup());
    let image = work.join("initrd.img");
    let run = in_namespace(
        &setup,
        work,
        &[("TMPDIR", work.join("tmp").as_os_str())],
        &[
            "mkinitramfs".into(),
            "-d".into(),
            conf.into_os_string(),
            "-k".into(),
            "-o".into(),
            image.clone().into_os_string(),
            kver.into(),
        ],
    );
    // "Working files in DIR, early initramfs in ..." (-k).
    let stdout = run.stdout_str();
    let destdir = stdout
        .split("Working files in ")
        .nth(1)
        .and_then(|rest| rest.split(", early initramfs").next())
        .map(PathBuf::from)
        .unwrap_or_default();
    let listing = if run.code == 0 {
        let list = Command::new("lsinitramfs").arg(&image).output().unwrap();
        assert!(list.status.success(), "lsinitramfs {}", image.display());
        let mut paths: Vec<String> = String::from_utf8_lossy(&list.stdout)
            .lines()
            .filter(|p| p.starts_with("usr/lib/modules/") || p.starts_with("usr/lib/firmware/"))
            .map(str::to_string)
            .collect();
        paths.sort();
        paths
    } else {
        Vec::new()
    };
    // Only the tools differ between the builds: stderr names no path of ours but the work
    // directory.
    let work_s = work.display().to_string();
    let run = Run {
        stdout: Vec::new(),
        stderr: String::from_utf8_lossy(&run.stderr)
            .replace(&work_s, "@WORK@")
            .into_bytes(),
        code: run.code,
    };
    Built {
        run,
        listing,
        destdir,
    }
}

/// Builds the image with kmod's tools and with rkmod's (at the same time) and compares them.
/// Returns kmod's listing.
fn compare_initramfs(spec: &Initramfs, what: &str) -> Vec<String> {
    let tmp = tempdir();
    let (kmod_work, rkmod_work) = (tmp.path().join("kmod"), tmp.path().join("rkmod"));
    let (theirs, ours) = std::thread::scope(|s| {
        let theirs = s.spawn(|| build_initramfs(spec, &Tools::Kmod, &kmod_work));
        let ours = s.spawn(|| build_initramfs(spec, &Tools::Rkmod, &rkmod_work));
        (theirs.join().unwrap(), ours.join().unwrap())
    });
    assert_same(
        &ours.run,
        &theirs.run,
        &format!("{what}: mkinitramfs's exit status or messages differ"),
    );
    if theirs.run.code != 0 {
        return Vec::new();
    }
    let kver = spec.tree.kver;
    let weakdep = format!("usr/lib/modules/{kver}/modules.weakdep");
    let ours_listing: Vec<&String> = ours
        .listing
        .iter()
        .filter(|p| p.as_str() != weakdep || theirs.listing.contains(p))
        .collect();
    let theirs_listing: Vec<&String> = theirs.listing.iter().collect();
    if ours_listing != theirs_listing {
        let only_ours: Vec<&&String> = ours_listing
            .iter()
            .filter(|p| !theirs_listing.contains(p))
            .collect();
        let only_theirs: Vec<&&String> = theirs_listing
            .iter()
            .filter(|p| !ours_listing.contains(p))
            .collect();
        panic!("{what}: the images differ\nonly rkmod's: {only_ours:#?}\nonly kmod's: {only_theirs:#?}");
    }
    eprintln!(
        "{what}: {} modules, {} firmware files, {} lines of messages, all equal",
        count(&theirs.listing, is_module),
        count(&theirs.listing, is_firmware),
        theirs.run.stderr_str().lines().count()
    );
    let rel = format!("usr/lib/modules/{kver}");
    compare_indexes(
        &ours.destdir.join(&rel),
        &theirs.destdir.join(&rel),
        &format!("{what}: the image's indexes"),
    );
    theirs.listing
}

fn count(listing: &[String], what: impl Fn(&str) -> bool) -> usize {
    listing.iter().filter(|p| what(p)).count()
}

fn is_module(p: &str) -> bool {
    p.starts_with("usr/lib/modules/") && p.contains(".ko")
}

fn is_firmware(p: &str) -> bool {
    p.starts_with("usr/lib/firmware/")
}

/// The realistic build: Debian's default `MODULES=most` on the 6.1 tree as the kernel package
/// installs it (no indexes yet: mkinitramfs runs `depmod VERSION` first), with a placeholder
/// for every firmware file any module names.
#[test]
fn mkinitramfs_most_builds_the_same_image() {
    let Some(tree) = tree_61() else { return };
    if !namespace_prerequisites() || !initramfs_tools() {
        return;
    }
    let firmware = tempdir();
    firmware_dir(firmware.path(), &firmware_names(&tree.modules()));
    let spec = Initramfs {
        tree: &tree,
        modules: "most",
        list: &[],
        pristine: true,
        firmware: firmware.path(),
    };
    let listing = compare_initramfs(&spec, "MODULES=most, 6.1");
    assert!(!listing.is_empty(), "mkinitramfs failed with kmod's tools");
    let (modules, firmware) = (count(&listing, is_module), count(&listing, is_firmware));
    assert!(modules > 500, "only {modules} modules in the image");
    assert!(firmware > 50, "only {firmware} firmware paths in the image");
}

/// `MODULES=dep`: the modules this machine's root device and buses need, as mkinitramfs works
/// them out from /sys and /proc/mounts (so the list depends on the host; where mkinitramfs
/// cannot find the root device, both builds must fail alike).
#[test]
fn mkinitramfs_dep_builds_the_same_image() {
    let Some(tree) = tree_61() else { return };
    if !namespace_prerequisites() || !initramfs_tools() {
        return;
    }
    let firmware = tempdir();
    firmware_dir(firmware.path(), &[]);
    let spec = Initramfs {
        tree: &tree,
        modules: "dep",
        list: &[],
        pristine: false,
        firmware: firmware.path(),
    };
    compare_initramfs(&spec, "MODULES=dep, 6.1");
}

/// `MODULES=list` on the 6.12 tree (`.ko.xz`, which mkinitramfs decompresses into the image):
/// names, aliases, a module with options, a missing name, modules with softdeps (read by
/// the second `--show-depends` pass, without `--ignore-install`), and modules whose firmware
/// is partly missing (the warnings are compared).
#[test]
fn mkinitramfs_list_builds_the_same_image() {
    let Some(tree) = tree_612() else { return };
    if !namespace_prerequisites() || !initramfs_tools() {
        return;
    }
    let list = [
        "e1000e IntMode=1",
        "r8169",
        "bnx2",
        "iwlwifi",
        "btrfs",
        "ext4",
        "nvme",
        "xhci_pci",
        "uas",
        "dm-crypt",
        "virtio_blk",
        "fs-vfat",
        "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00",
        "no_such_module",
    ];
    // Firmware: the listed modules' own, every third one left out.
    let wanted = ["r8169", "bnx2", "iwlwifi"];
    let files: Vec<PathBuf> = tree
        .modules()
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            wanted.iter().any(|w| name.split('.').next() == Some(w))
        })
        .collect();
    assert_eq!(files.len(), wanted.len());
    let names: Vec<String> = firmware_names(&files)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, n)| n)
        .collect();
    let firmware = tempdir();
    firmware_dir(firmware.path(), &names);
    let spec = Initramfs {
        tree: &tree,
        modules: "list",
        list: &list,
        pristine: false,
        firmware: firmware.path(),
    };
    let listing = compare_initramfs(&spec, "MODULES=list, 6.12");
    assert!(!listing.is_empty(), "mkinitramfs failed with kmod's tools");
    for m in ["e1000e.ko", "vfat.ko", "btrfs.ko", "iwlwifi.ko"] {
        assert!(
            listing.iter().any(|p| p.ends_with(&format!("/{m}"))),
            "{m} is not in the image"
        );
    }
    assert!(count(&listing, is_firmware) > 10);
}

/// The queries hook-functions' `manual_add_modules` makes, directly, for every module of the
/// 6.1 tree at once (mkinitramfs makes them for a few hundred): `modprobe --all
/// --set-version=K [--ignore-install] --quiet --show-depends NAME...` with a modprobe.d of ours
/// (install commands, options, softdeps, a blacklist) over /etc/modprobe.d, and `modinfo -k K
/// -F firmware PATH...`. stdout, stderr and the exit status byte for byte.
#[test]
fn initramfs_tools_queries_match_kmod() {
    let Some(tree) = tree_61() else { return };
    if !namespace_prerequisites() {
        return;
    }
    let kver = tree.kver;
    let tmp = tempdir();
    let conf = tmp.path().join("modprobe.d");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("clients.conf"),
        "install e1000e /sbin/modprobe --ignore-install e1000e $CMDLINE_OPTS\n\
         install rk-only-install /bin/true\noptions e1000e IntMode=1\noptions dummy numdummies=2\n\
         softdep igb pre: dca post: ptp\nblacklist uas\nalias rk-alias vfat\n",
    )
    .unwrap();
    let dep = std::fs::read_to_string(tree.kmod30_moddir().join("modules.dep")).unwrap();
    let mut names: Vec<String> = dep
        .lines()
        .filter_map(|l| l.split(':').next())
        .map(|p| {
            let base = p.rsplit('/').next().unwrap_or(p);
            base.split('.').next().unwrap_or(base).to_string()
        })
        .collect();
    assert!(names.len() > 4000);
    names.extend(
        [
            "rk-alias",
            "rk-only-install",
            "fs-vfat",
            "no-such-module",
            "crc32c",
        ]
        .map(String::from),
    );
    let mut setup = module_dir(&tree.kmod30_moddir(), kver);
    setup.push_str(&bind(&conf, "/etc/modprobe.d"));
    let version = format!("--set-version={kver}");
    let mut calls: Vec<Vec<OsString>> = Vec::new();
    for ignore_install in [true, false] {
        let mut argv = os(&["/sbin/modprobe", "--all", &version]);
        if ignore_install {
            argv.push("--ignore-install".into());
        }
        argv.extend(os(&["--quiet", "--show-depends"]));
        argv.extend(names.iter().map(OsString::from));
        calls.push(argv);
    }
    for chunk in tree.modules().chunks(1000) {
        let mut argv = os(&["modinfo", "-k", kver, "-F", "firmware"]);
        argv.extend(chunk.iter().map(|p| p.clone().into_os_string()));
        calls.push(argv);
    }
    let mut printed = 0;
    for argv in &calls {
        let mut runs = Vec::new();
        for tools in [Tools::Rkmod, Tools::Kmod] {
            let setup = format!("{setup}{}", tools.setup());
            runs.push(in_namespace(&setup, Path::new("/"), &[], argv));
        }
        let what = format!("{:?} ...", &argv[..6]);
        if runs[0] != runs[1] {
            panic!(
                "{what}: exit {} / {}; stdout {}; stderr {}",
                runs[0].code,
                runs[1].code,
                first_difference(&runs[0].stdout, &runs[1].stdout),
                first_difference(&runs[0].stderr, &runs[1].stderr)
            );
        }
        printed += runs[1].stdout.len();
        if argv[0] != "modinfo" {
            assert!(
                runs[1].stdout.len() > 100_000,
                "{what}: kmod printed little"
            );
        }
    }
    assert!(printed > 300_000, "kmod printed little");
}

// ---------------------------------------------------------------------------------------------
// systemd: kmod-static-nodes.service.

/// The modes of /run/tmpfiles.d and of the file in it, and the file.
type StaticNodesResult = (Option<u32>, Option<u32>, Option<Vec<u8>>);

/// The file and directory modes, and the file, that a static-nodes run left in `run`.
fn static_nodes_result(run: &Path) -> StaticNodesResult {
    use std::os::unix::fs::PermissionsExt;
    let dir = run.join("tmpfiles.d");
    let file = dir.join("static-nodes.conf");
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| m.permissions().mode() & 0o7777)
    };
    (mode(&dir), mode(&file), std::fs::read(&file).ok())
}

/// What /run holds before systemd's call.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RunDir {
    /// No /run/tmpfiles.d: kmod creates it (mode 0755).
    Empty,
    /// /run/tmpfiles.d/static-nodes.conf exists, longer than the new list.
    Stale,
    /// /run/tmpfiles.d is a regular file.
    FileInTheWay,
}

/// Runs systemd's call with `tools`; returns the run and what it left in /run.
fn static_nodes(tree: &RealTree, tools: &Tools, state: RunDir) -> (Run, StaticNodesResult) {
    let tmp = tempdir();
    let run_dir = tmp.path().join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    match state {
        RunDir::Empty => {}
        RunDir::Stale => {
            std::fs::create_dir_all(run_dir.join("tmpfiles.d")).unwrap();
            std::fs::write(
                run_dir.join("tmpfiles.d/static-nodes.conf"),
                "x".repeat(100_000),
            )
            .unwrap();
        }
        RunDir::FileInTheWay => std::fs::write(run_dir.join("tmpfiles.d"), "x\n").unwrap(),
    }
    let mut setup = module_dir(&tree.kmod30_moddir(), "$(uname -r)");
    setup.push_str(&bind(&run_dir, "/run"));
    setup.push_str("umask 022\n");
    setup.push_str(&tools.setup());
    let run = in_namespace(
        &setup,
        Path::new("/"),
        &[],
        &os(&[
            "/bin/kmod",
            "static-nodes",
            "--format=tmpfiles",
            "--output=/run/tmpfiles.d/static-nodes.conf",
        ]),
    );
    (run, static_nodes_result(&run_dir))
}

/// systemd's call, exactly as its unit spells it (`ExecStart=/bin/kmod static-nodes
/// --format=tmpfiles --output=/run/tmpfiles.d/static-nodes.conf`), on both trees, into a /run
/// without /run/tmpfiles.d (kmod creates it), into one holding a longer stale file, and into
/// one where /run/tmpfiles.d is a file.
#[test]
fn systemd_static_nodes_matches_kmod() {
    if !namespace_prerequisites() {
        return;
    }
    let trees: Vec<RealTree> = [tree_61(), tree_612()].into_iter().flatten().collect();
    let head = kmod_head().map(Tools::Other);
    for tree in &trees {
        for state in [RunDir::Empty, RunDir::Stale, RunDir::FileInTheWay] {
            let ours = static_nodes(tree, &Tools::Rkmod, state);
            let mut theirs = static_nodes(tree, &Tools::Kmod, state);
            let what = format!("static-nodes on {} ({state:?})", tree.kver);
            if state == RunDir::FileInTheWay {
                // kmod 30 names errno 0 here ("- Success."); kmod 31 and later say what is
                // wrong, and rkmod follows them.
                let stderr = theirs.0.stderr_str();
                assert!(
                    stderr.ends_with("- Success.\n"),
                    "{what}: kmod 30 said {stderr:?}"
                );
                theirs.0.stderr = stderr
                    .replace("- Success.\n", "- Not a directory.\n")
                    .into_bytes();
                if let Some(head) = &head {
                    assert_same(&ours.0, &static_nodes(tree, head, state).0, &what);
                }
            } else {
                assert_eq!(theirs.0.code, 0, "{what}: {}", theirs.0.stderr_str());
                assert!(
                    theirs.1 .2.as_ref().is_some_and(|f| f.len() > 100),
                    "{what}: kmod wrote no list"
                );
            }
            assert_same(&ours.0, &theirs.0, &what);
            assert!(
                ours.1 == theirs.1,
                "{what}: files or modes differ: rkmod {:?} kmod {:?}",
                (ours.1 .0, ours.1 .1),
                (theirs.1 .0, theirs.1 .1)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The kernel's `make modules_install` and DKMS.

/// Serialises the download of the headers packages.
static HEADERS: Mutex<()> = Mutex::new(());

/// The `Module.symvers` of the tree's kernel: from the installed linux-headers package, or
/// from that package downloaded (apt-get download) and unpacked into the cache.
fn kernel_symvers(tree: &RealTree) -> Option<PathBuf> {
    let _guard = HEADERS.lock().unwrap_or_else(|e| e.into_inner());
    let rel = format!("usr/src/linux-headers-{}/Module.symvers", tree.kver);
    let installed = Path::new("/").join(&rel);
    if installed.exists() {
        return Some(installed);
    }
    let dir = cache_dir().join(format!("headers-{}", tree.kver));
    let cached = dir.join(&rel);
    if !cached.exists() && Path::new("/usr/bin/apt-get").exists() {
        let pkg = format!("linux-headers-{}", tree.kver);
        let download = tempdir();
        let fetch = || {
            Command::new("apt-get")
                .args(["download", "-qq", &pkg])
                .current_dir(download.path())
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !fetch() && is_root() {
            let _ = Command::new("apt-get").args(["update", "-qq"]).output();
            fetch();
        }
        let deb = std::fs::read_dir(download.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "deb"));
        if let Some(deb) = deb {
            let unpack = cache_dir().join(format!("headers-{}.tmp", tree.kver));
            let _ = std::fs::remove_dir_all(&unpack);
            let ok = Command::new("dpkg")
                .arg("-x")
                .arg(&deb)
                .arg(&unpack)
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::rename(&unpack, &dir).unwrap();
            }
        }
    }
    if cached.exists() {
        Some(cached)
    } else {
        skip(&format!(
            "Module.symvers of {} (package linux-headers-{})",
            tree.kver, tree.kver
        ));
        None
    }
}

/// A System.map as the kernel build writes it, for the kernel exports in `symvers` (its
/// `vmlinux` lines) except `leave_out`: text symbols, then the `__ksymtab_` entries depmod
/// reads, plus a few other lines it must pass over.
fn system_map(symvers: &Path, leave_out: &[&str]) -> Vec<u8> {
    let text = std::fs::read_to_string(symvers).unwrap();
    let exports: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() >= 3 && f[2] == "vmlinux").then_some(f[1])
        })
        .filter(|s| !leave_out.contains(s))
        .collect();
    assert!(
        exports.len() > 5000,
        "{}: too few exports",
        symvers.display()
    );
    let mut map =
        String::from("0000000000000000 D __per_cpu_start\n0000000000000000 A __crc_unused\n");
    for (i, s) in exports.iter().enumerate() {
        map.push_str(&format!(
            "{:016x} T {s}\n",
            0xffff_ffff_8100_0000u64 + 16 * i as u64
        ));
    }
    for (i, s) in exports.iter().enumerate() {
        map.push_str(&format!(
            "{:016x} r __ksymtab_{s}\n",
            0xffff_ffff_8200_0000u64 + 12 * i as u64
        ));
        map.push_str(&format!(
            "{:016x} r __kstrtab_{s}\n",
            0xffff_ffff_8300_0000u64 + 32 * i as u64
        ));
    }
    map.push_str("ffffffff84000000 B _end\n");
    map.into_bytes()
}

/// One `make modules_install`-style depmod run: a copy of the tree at `work/root`,
/// `System.map` in `work/obj`, `edit` applied to the copy's module directory first.
fn modules_install_depmod(
    tree: &RealTree,
    map: &[u8],
    edit: &dyn Fn(&Path),
    program: &Path,
    work: &Path,
    relative: bool,
) -> (Run, PathBuf) {
    let root = work.join("root");
    let moddir = root.join("lib/modules").join(tree.kver);
    copy_moddir(tree, &moddir);
    edit(&moddir);
    let obj = work.join("obj");
    std::fs::create_dir_all(&obj).unwrap();
    std::fs::write(obj.join("System.map"), map).unwrap();
    let mut cmd = Command::new(program);
    if program == rkmod_bin() {
        cmd.arg("depmod");
    }
    let run: Run = cmd
        .args(["-ae", "-F", "System.map", "-b"])
        .arg(if relative {
            Path::new("../root")
        } else {
            &root
        })
        .arg(tree.kver)
        .current_dir(&obj)
        .env_remove("MODPROBE_OPTIONS")
        .output()
        .expect("depmod runs")
        .into();
    let work_s = work.display().to_string();
    let run = Run {
        stdout: run.stdout,
        stderr: String::from_utf8_lossy(&run.stderr)
            .replace(&work_s, "@WORK@")
            .into_bytes(),
        code: run.code,
    };
    (run, moddir)
}

/// Runs the kernel build's depmod call with kmod 30 and with rkmod; returns kmod's run.
/// `relative`: INSTALL_MOD_PATH given relative to the build directory.
fn compare_modules_install(
    tree: &RealTree,
    map: &[u8],
    edit: &dyn Fn(&Path),
    relative: bool,
    what: &str,
) -> Run {
    let tmp = tempdir();
    let kmod_depmod = kmod_tool("depmod").unwrap();
    let (theirs, theirs_dir) = modules_install_depmod(
        tree,
        map,
        edit,
        &kmod_depmod,
        &tmp.path().join("kmod"),
        relative,
    );
    let (ours, ours_dir) = modules_install_depmod(
        tree,
        map,
        edit,
        &rkmod_bin(),
        &tmp.path().join("rkmod"),
        relative,
    );
    if ours != theirs {
        panic!(
            "{what}: exit {} / {}, stdout {:?} / {:?}, stderr: {}",
            ours.code,
            theirs.code,
            ours.stdout_str(),
            theirs.stdout_str(),
            first_difference(&ours.stderr, &theirs.stderr)
        );
    }
    compare_indexes(&ours_dir, &theirs_dir, what);
    theirs
}

/// `depmod -ae -F System.map -b DIR VERSION` with the System.map Debian ships in the kernel
/// package: a stub, so that `-e` reports every kernel symbol a module needs (some 150000
/// lines per tree, which must come in kmod's order and words).
#[test]
fn modules_install_depmod_with_debians_system_map_matches_kmod() {
    let trees: Vec<RealTree> = [tree_61(), tree_612()].into_iter().flatten().collect();
    if kmod_tool("depmod").is_none() {
        skip("kmod (Debian's kmod package)");
        return;
    }
    for tree in &trees {
        let map = std::fs::read(
            tree.moddir
                .join("../../../boot")
                .join(format!("System.map-{}", tree.kver)),
        )
        .unwrap();
        let theirs = compare_modules_install(tree, &map, &|_| {}, false, tree.kver);
        assert_eq!(theirs.code, 0);
        assert!(theirs.stderr_str().lines().count() > 100_000);
    }
}

/// The same call with a real System.map (the kernel's exports, from its Module.symvers): no
/// warning at all; then with `netif_carrier_on` left out of the kernel's exports and mii.ko
/// gone from the tree, so that `-e` names the modules that need them (and with
/// INSTALL_MOD_PATH relative, as `make INSTALL_MOD_PATH=stage` passes it).
#[test]
fn modules_install_depmod_with_a_real_system_map_matches_kmod() {
    let Some(tree) = tree_61() else { return };
    if kmod_tool("depmod").is_none() {
        skip("kmod (Debian's kmod package)");
        return;
    }
    let Some(symvers) = kernel_symvers(&tree) else {
        return;
    };
    let complete = compare_modules_install(
        &tree,
        &system_map(&symvers, &[]),
        &|_| {},
        false,
        "complete",
    );
    assert_eq!((complete.code, complete.stderr_str()), (0, String::new()));

    let remove_mii = |moddir: &Path| {
        std::fs::remove_file(moddir.join("kernel/drivers/net/mii.ko")).unwrap();
    };
    let missing = compare_modules_install(
        &tree,
        &system_map(&symvers, &["netif_carrier_on"]),
        &remove_mii,
        true,
        "missing symbols",
    );
    let stderr = missing.stderr_str();
    assert_eq!(missing.code, 0);
    assert!(
        stderr.contains("needs unknown symbol netif_carrier_on\n"),
        "{stderr}"
    );
    assert!(stderr.contains("needs unknown symbol mii_"), "{stderr}");
}

/// DKMS's call after installing modules into updates/dkms/: `depmod -a VERSION`, then as DKMS
/// runs it when /boot has the map, `depmod -a VERSION -F /boot/System.map-VERSION` (options
/// after the version). Our modules: one that uses an in-tree module's symbol and exports one,
/// one that uses that, an xz-compressed one, a replacement for the in-tree dummy.ko and a
/// truncated one; and a second copy of the in-tree mii.ko, compressed, in extra/.
#[test]
fn dkms_depmod_matches_kmod() {
    let Some(tree) = tree_61() else { return };
    if !namespace_prerequisites() {
        return;
    }
    let kver = tree.kver;
    let mut provider = testkit::ModuleSpec::new("rkdkms")
        .info("alias", "pci:v0000ABCDd*sv*sd*bc*sc*i*")
        .info("alias", "devname:rkdkms")
        .info("alias", "char-major-10-250")
        .info("softdep", "pre: crc32c")
        .info("depends", "mii")
        .info(
            "vermagic",
            "6.1.0-47-amd64 SMP preempt mod_unload modversions ",
        );
    provider.exports = vec![("rkdkms_register".into(), 0x1234_5678)];
    provider.imports = vec!["mii_link_ok".into(), "_printk".into()];
    let mut user = testkit::ModuleSpec::new("rkdkms_user").info("depends", "rkdkms");
    user.imports = vec!["rkdkms_register".into()];
    let mut packed = testkit::ModuleSpec::new("rkdkms_xz").info("alias", "usb:v1D6Bp0104d*");
    packed.imports = vec!["rkdkms_register".into(), "usb_register_driver".into()];
    let dummy = testkit::ModuleSpec::new("dummy").info("alias", "rtnl-link-dummy");
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("rkdkms.ko", provider.build()),
        ("rkdkms_user.ko", user.build()),
        (
            "rkdkms_xz.ko.xz",
            testkit::compress(&packed.build(), testkit::Format::Xz),
        ),
        ("dummy.ko", dummy.build()),
    ];
    let boot = tree.moddir.join("../../../boot");
    let map = format!("/boot/System.map-{kver}");
    let calls: [&[&str]; 2] = [&["depmod", "-a", kver], &["depmod", "-a", kver, "-F", &map]];
    let tmp = tempdir();
    let mut dirs = Vec::new();
    for tools in [Tools::Rkmod, Tools::Kmod] {
        let moddir = tmp.path().join(tools.name()).join(kver);
        copy_moddir(&tree, &moddir);
        let dkms = moddir.join("updates/dkms");
        std::fs::create_dir_all(&dkms).unwrap();
        for (name, bytes) in &files {
            std::fs::write(dkms.join(name), bytes).unwrap();
        }
        // A build that went wrong (a truncated module), and a second mii, compressed, in extra/.
        let e1000e = std::fs::read(
            tree.moddir
                .join("kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko"),
        )
        .unwrap();
        std::fs::write(dkms.join("broken.ko"), &e1000e[..30_000]).unwrap();
        let mii = std::fs::read(tree.moddir.join("kernel/drivers/net/mii.ko")).unwrap();
        std::fs::create_dir_all(moddir.join("extra")).unwrap();
        std::fs::write(
            moddir.join("extra/mii.ko.xz"),
            testkit::compress(&mii, testkit::Format::Xz),
        )
        .unwrap();
        dirs.push((tools, moddir));
    }
    for call in calls {
        let mut runs = Vec::new();
        for (tools, moddir) in &dirs {
            let mut setup = module_dir(moddir, kver);
            setup.push_str(&bind(&boot, "/boot"));
            setup.push_str(&tools.setup());
            runs.push(in_namespace(&setup, Path::new("/"), &[], &os(call)));
        }
        let what = call.join(" ");
        assert_same(&runs[0], &runs[1], &what);
        assert_eq!(runs[1].code, 0, "{what}: {}", runs[1].stderr_str());
        assert!(
            runs[1]
                .stderr_str()
                .contains("failed to load symbols from /lib/modules/"),
            "{what}: {}",
            runs[1].stderr_str()
        );
        compare_indexes(&dirs[0].1, &dirs[1].1, &what);
        let dep = std::fs::read_to_string(dirs[1].1.join("modules.dep")).unwrap();
        let line = dep
            .lines()
            .find(|l| l.starts_with("updates/dkms/rkdkms_user.ko:"))
            .unwrap_or_default();
        assert!(
            line.starts_with("updates/dkms/rkdkms_user.ko: updates/dkms/rkdkms.ko ")
                && line.contains("mii.ko"),
            "{what}: kmod did not link our modules as expected: {line:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The kernel's request_module: `modprobe -q -- NAME`.

/// The kernel's call for each name, in a namespace showing kmod 30's 6.1 indexes as
/// /lib/modules/$(uname -r), an empty kernel command line, a fake /sys/module (e1000e is
/// live) and a modprobe.d of ours; MODPROBE_OPTIONS=-n keeps it a dry run without touching
/// the command line. The names that insert nothing also run exactly as the kernel runs them,
/// compared with kmod 30 in full.
///
/// kmod 30's dry run prints nothing without -v; kmod 31 and later print the actions, and
/// rkmod follows them. So stdout is compared with the kmod head build when it is in the cache
/// (local only), and the exit status and stderr with kmod 30 everywhere. tests/real/modprobe.rs
/// ("kernel-request-form") and tests/modprobe_fixtures.rs (`the_kernels_call_never_takes_a_path`)
/// cover the same form with `-d`/`-S` and on synthetic trees.
#[test]
fn kernel_request_module_matches_kmod() {
    let Some(tree) = tree_61() else { return };
    if !namespace_prerequisites() {
        return;
    }
    let tmp = tempdir();
    let fake = tmp.path();
    std::fs::write(fake.join("cmdline"), "\n").unwrap();
    let live = fake.join("sys-module/e1000e");
    std::fs::create_dir_all(live.join("holders")).unwrap();
    std::fs::write(live.join("initstate"), "live\n").unwrap();
    std::fs::write(live.join("refcnt"), "0\n").unwrap();
    std::fs::create_dir_all(fake.join("modprobe.d")).unwrap();
    std::fs::write(
        fake.join("modprobe.d/clients.conf"),
        "alias rk-kernel-alias dummy\ninstall rk-install-only /bin/true\nblacklist igb\n\
         options dummy numdummies=2\nsoftdep vfat pre: nls_cp437\n",
    )
    .unwrap();
    let names = [
        "e1000e",
        "igb",
        "vfat",
        "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00",
        "pci:v00008086d00001533sv00008086sd00000001bc02sc00i00",
        "fs-vfat",
        "char-major-10-229",
        "net-pf-10",
        "crypto-sha256",
        "unix",
        "symbol:usb_register_driver",
        "rk-kernel-alias",
        "rk-install-only",
        "netdev-/usbserial",
        "no-such-module",
        "",
        "/lib/modules/@KVER@/kernel/drivers/net/dummy.ko",
        "./lib/modules/@KVER@/kernel/drivers/net/dummy.ko",
        "/nonexistent/dummy.ko",
    ];
    // Names that need no module inserted (live, builtin, not found, an install command of
    // /bin/true): these also run as the kernel runs them, without MODPROBE_OPTIONS.
    let no_insert = [
        "e1000e",
        "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00",
        "crypto-sha256",
        "unix",
        "rk-install-only",
        "netdev-/usbserial",
        "no-such-module",
        "",
        "/lib/modules/@KVER@/kernel/drivers/net/dummy.ko",
        "./lib/modules/@KVER@/kernel/drivers/net/dummy.ko",
        "/nonexistent/dummy.ko",
    ];
    let request = |tools: &Tools, name: &str, dry_run: bool| -> Run {
        let mut setup = module_dir(&tree.kmod30_moddir(), "$(uname -r)");
        setup.push_str(&bind(&fake.join("cmdline"), "/proc/cmdline"));
        setup.push_str(&bind(&fake.join("sys-module"), "/sys/module"));
        setup.push_str(&bind(&fake.join("modprobe.d"), "/etc/modprobe.d"));
        setup.push_str(&tools.setup());
        setup.push_str("name=$(printf '%s' \"$1\" | sed \"s/@KVER@/$(uname -r)/\")\nshift\n");
        setup.push_str("set -- \"$@\" \"$name\"\n");
        let mut argv = os(&[
            name,
            "env",
            "-i",
            "HOME=/",
            "TERM=linux",
            "PATH=/sbin:/usr/sbin:/bin:/usr/bin",
        ]);
        if dry_run {
            argv.push("MODPROBE_OPTIONS=-n".into());
        }
        argv.extend(os(&["/sbin/modprobe", "-q", "--"]));
        in_namespace(&setup, Path::new("/"), &[], &argv)
    };
    let head = kmod_head();
    let mut failures = Vec::new();
    let mut variants = vec![Tools::Rkmod, Tools::Kmod];
    if let Some(head) = &head {
        variants.push(Tools::Other(head.clone()));
    }
    for name in no_insert {
        let (ours, v30) = (
            request(&Tools::Rkmod, name, false),
            request(&Tools::Kmod, name, false),
        );
        if ours != v30 {
            failures.push(format!(
                "{name:?} (no dry run): rkmod {ours:?}, kmod 30 {v30:?}"
            ));
        }
    }
    for name in names {
        let runs: Vec<Run> = variants.iter().map(|t| request(t, name, true)).collect();
        let (ours, v30) = (&runs[0], &runs[1]);
        if name.starts_with('/') || name.starts_with("./") {
            // Deliberate (see src/modprobe.rs): from the kernel's call, a path is a name, as
            // in kmod 30; kmod 31 and later would load the file.
            if ours != v30 {
                failures.push(format!(
                    "{name:?}: a path must be looked up as a name, as kmod 30 does: rkmod {ours:?}, kmod 30 {v30:?}"
                ));
            }
            continue;
        }
        if (ours.code, &ours.stderr) != (v30.code, &v30.stderr) {
            failures.push(format!(
                "{name:?}: rkmod exit {} stderr {:?}; kmod 30 exit {} stderr {:?}",
                ours.code,
                ours.stderr_str(),
                v30.code,
                v30.stderr_str()
            ));
        }
        if let Some(theirs) = runs.get(2) {
            if ours != theirs {
                failures.push(format!(
                    "{name:?}: differs from kmod head: rkmod {ours:?}, head {theirs:?}"
                ));
            }
        } else if !ours.stdout_str().lines().all(|l| {
            // Without the head build, the dry run's two kinds of action line as kmod 31 and
            // later print them (captured from kmod's development head): `insmod PATH OPTS`,
            // and for the install-only name its command with the (empty) options after a
            // space. The old check took only insmod lines and so failed wherever the head
            // build was missing, as on a fresh machine.
            l.starts_with("insmod /lib/modules/") || l == "install /bin/true "
        }) {
            failures.push(format!(
                "{name:?}: unexpected output {:?}",
                ours.stdout_str()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    if head.is_none() {
        eprintln!("note: kmod head build not in the cache: the dry run's stdout is compared with no oracle");
    }
}

// ---------------------------------------------------------------------------------------------
// dracut-install: kmod's library against rkmod's.

/// Debian's dracut-install (package dracut-core), which resolves modules through libkmod.
const DRACUT_INSTALL: &str = "/usr/lib/dracut/dracut-install";

/// Whether dracut-install is here (installed when it is missing and we are root). Skips
/// otherwise.
fn dracut_install() -> bool {
    if apt_installed("dracut-core", || Path::new(DRACUT_INSTALL).exists()) {
        true
    } else {
        skip("dracut-install (apt-get install --no-install-recommends dracut-core, as root)");
        false
    }
}

/// Every entry under `dir` with its type and size (a directory's size left out, as it
/// depends on the file system's history), sorted, one a line.
fn tree_listing(dir: &Path) -> String {
    let output = Command::new("find")
        .arg(".")
        .args(["(", "-type", "d", "-printf", "%p d\\n", ")"])
        .args(["-o", "-printf", "%p %y %s %l\\n"])
        .current_dir(dir)
        .output()
        .expect("find");
    assert!(output.status.success());
    let mut lines: Vec<&str> = std::str::from_utf8(&output.stdout)
        .unwrap()
        .lines()
        .collect();
    lines.sort_unstable();
    lines.join("\n") + "\n"
}

/// One run of dracut-install with the library in `library_dir`, into a fresh `dest`: its
/// output and the listing of what it installed.
fn run_dracut_install(
    library_dir: &Path,
    dest: &Path,
    moddir: &Path,
    firmware: &Path,
    args: &[&str],
) -> (Run, String) {
    std::fs::create_dir_all(dest).unwrap();
    let run: Run = Command::new(DRACUT_INSTALL)
        .arg("-D")
        .arg(dest)
        .arg("--kerneldir")
        .arg(moddir)
        .arg("--firmwaredirs")
        .arg(firmware)
        .args(args)
        .env("LD_LIBRARY_PATH", library_dir)
        .env_remove("DRACUT_FIRMWARE_PATH")
        .env_remove("KMOD_LOG")
        .env_remove("MODPROBE_OPTIONS")
        .output()
        .expect("dracut-install runs")
        .into();
    (run, tree_listing(dest))
}

/// dracut's module resolution (dracut-install -m, as dracut's `instmods` calls it): names,
/// aliases and a symbol, `=DIR` forms with dracut's block-driver symbol filter and the path
/// and name filters, firmware (half of it present), and a module that does not exist. Each
/// runs unchanged with kmod's libkmod.so.2 and with rkmod's, into a fresh destination; the
/// installed tree (paths, types, sizes), stdout, stderr and exit status must be equal.
#[test]
fn dracut_install_resolves_the_same_modules_as_with_kmods_library() {
    let Some(tree) = tree_61() else { return };
    if !kmod_library_present() || !dracut_install() {
        return;
    }
    let work = tempdir();
    let lib_dir = work.path().join("lib");
    build_libkmod(&lib_dir).expect("scripts/build-libkmod");
    let moddir = tree.kmod30_moddir();

    // Placeholder firmware for every other firmware name of the network drivers.
    let net: Vec<PathBuf> = tree
        .modules()
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/drivers/net/ethernet/"))
        .collect();
    let names: Vec<String> = firmware_names(&net).into_iter().step_by(2).collect();
    assert!(names.len() > 20, "{names:?}");
    let firmware = work.path().join("firmware");
    firmware_dir(&firmware, &names);

    // dracut's 90kernel-modules: the block drivers are the modules under =drivers that use
    // one of these symbols.
    let block_symbols = "ahci_platform_get_resources|ata_scsi_ioctl|scsi_add_host|blk_cleanup_queue\
        |register_mtd_blktrans|scsi_esp_register|register_virtio_device|dasd_generic_remove\
        |blk_alloc_disk|blk_mq_alloc_disk|blk_mq_alloc_request|blk_mq_destroy_queue|blk_cleanup_disk";
    let cases: &[(&str, &[&str])] = &[
        (
            "names, aliases and a symbol",
            &[
                "-m",
                "ext4",
                "usb-storage",
                "xfs",
                "pci:v00008086d000010D3sv00001028sd00000000bc02sc00i00",
                "fs-btrfs",
                "symbol:usb_stor_probe1",
                "crc32c",
            ],
        ),
        (
            "the block-driver symbol filter",
            &["-m", "-s", block_symbols, "=drivers"],
        ),
        (
            "a directory, with path and name filters",
            &[
                "-m",
                "-P",
                "/wireless/",
                "-N",
                "^(iwl|ath)",
                "=drivers/net",
                "=drivers/hid",
            ],
        ),
        ("a directory", &["-m", "=drivers/ata", "=fs/nls"]),
        ("firmware", &["-m", "=drivers/net/ethernet", "tg3", "bnx2"]),
        ("a missing module", &["-m", "ext4", "no_such_module"]),
        (
            "a missing optional module",
            &["-o", "-m", "no_such_module", "vfat"],
        ),
    ];
    let mut failures = Vec::new();
    for (i, (what, args)) in cases.iter().enumerate() {
        let case = work.path().join(format!("case{i}"));
        let (theirs, their_tree) = run_dracut_install(
            Path::new(KMOD_LIBRARY_DIR),
            &case.join("kmod"),
            &moddir,
            &firmware,
            args,
        );
        let (ours, our_tree) =
            run_dracut_install(&lib_dir, &case.join("rkmod"), &moddir, &firmware, args);
        // dracut-install did the work with kmod's library.
        let installed = their_tree.matches(".ko ").count();
        if *what == "a missing module" {
            assert_ne!(theirs.code, 0, "{what}: {}", theirs.stderr_str());
        } else {
            assert_eq!(theirs.code, 0, "{what}: {}", theirs.stderr_str());
            assert!(installed > 0, "{what}: nothing installed\n{their_tree}");
        }
        if *what == "firmware" {
            // Installed at the path it was found at, under the destination.
            let found = format!(".{}/", firmware.display());
            assert!(their_tree.matches(&found).count() > 20, "{their_tree}");
        }
        eprintln!("dracut-install, {what}: {installed} modules");
        if ours != theirs {
            failures.push(format!(
                "{what}: rkmod exit {} stdout {:?} stderr {:?}; kmod exit {} stdout {:?} stderr {:?}",
                ours.code,
                ours.stdout_str(),
                ours.stderr_str(),
                theirs.code,
                theirs.stdout_str(),
                theirs.stderr_str()
            ));
        }
        if our_tree != their_tree {
            failures.push(format!(
                "{what}: installed trees differ, {}",
                first_difference(our_tree.as_bytes(), their_tree.as_bytes())
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

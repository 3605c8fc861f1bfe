//! depmod on small synthetic trees, compared with kmod's own output on the same trees.
//!
//! Each case under `testdata/depmod/cases/NAME/` holds a fake root (`root/`, with the module
//! directory `lib/modules/6.1.0-test`), the depmod arguments (`args`, one per line, `@ROOT@`
//! standing for wherever the root is copied), and what kmod produced from it in `expected/`
//! (see `testdata/depmod/README.md`): `expected/v30/` from Debian 12's kmod 30 and, where
//! present, `expected/head/` from kmod's development head, the reference.
//!
//! The trees are built from the [`ModuleSpec`]s in [`cases`]; [`fixtures_are_fresh`] checks
//! that the committed files are exactly what the builder makes, and
//! `RKMOD_REGENERATE_DEPMOD=1 cargo test --test tests depmod_fixtures::fixtures_are_fresh`
//! rewrites them (then run `testdata/depmod/capture.sh` to recapture kmod's outputs).
//!
//! Comparison rules, for each case:
//! - against `expected/head/`: every output file byte for byte, stdout, stderr, exit status;
//! - against `expected/v30/`: the text files byte for byte (kmod 30 writes no modules.weakdep),
//!   each `.bin` decoded to exactly the same entries, and byte-identical to what our index
//!   writer produces from kmod 30's decoded content (kmod 30 lays the trie out in post-order,
//!   kmod 34 in pre-order); stdout, stderr and exit status unless `v30-differs` says why not;
//! - a case with `rkmod-differs` lists (first word of each line) the streams rkmod deliberately
//!   words differently, and why; those are checked by property instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kmodcore::index::{Index, IndexBuilder};
use testkit::{compress, Format, ModuleSpec};

use crate::util::*;

const KVER: &str = "6.1.0-test";
const MODDIR: &str = "lib/modules/6.1.0-test";

/// The files depmod writes.
const OUTPUTS: [&str; 11] = [
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

fn case_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/depmod/cases")
        .join(name)
}

// ---------------------------------------------------------------------------------------------
// The cases.

/// A module spec built up fluently.
fn m(name: &str) -> ModuleSpec {
    ModuleSpec::new(name)
}

trait Spec {
    fn exports(self, names: &[(&str, u32)]) -> Self;
    fn imports(self, names: &[&str]) -> Self;
    fn versions(self, names: &[(&str, u64)]) -> Self;
    fn alias(self, value: &str) -> Self;
}

impl Spec for ModuleSpec {
    fn exports(mut self, names: &[(&str, u32)]) -> Self {
        self.exports
            .extend(names.iter().map(|(n, c)| (n.to_string(), *c)));
        self
    }
    fn imports(mut self, names: &[&str]) -> Self {
        self.imports.extend(names.iter().map(|n| n.to_string()));
        self
    }
    fn versions(mut self, names: &[(&str, u64)]) -> Self {
        self.versions
            .extend(names.iter().map(|(n, c)| (*c, n.to_string())));
        self
    }
    fn alias(self, value: &str) -> Self {
        self.info("alias", value)
    }
}

/// What one file of a case tree holds.
enum Content {
    Ko(ModuleSpec),
    Xz(ModuleSpec),
    Zst(ModuleSpec),
    /// The first half of the module's image.
    Truncated(ModuleSpec),
    /// The first half of the module's xz-compressed image.
    TruncatedXz(ModuleSpec),
    Bytes(Vec<u8>),
    Text(&'static str),
}

impl Content {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Content::Ko(spec) => spec.build(),
            Content::Xz(spec) => compress(&spec.build(), Format::Xz),
            Content::Zst(spec) => compress(&spec.build(), Format::Zstd),
            Content::Truncated(spec) => {
                let image = spec.build();
                image[..image.len() / 2].to_vec()
            }
            Content::TruncatedXz(spec) => {
                let packed = compress(&spec.build(), Format::Xz);
                packed[..packed.len() / 2].to_vec()
            }
            Content::Bytes(b) => b.clone(),
            Content::Text(t) => t.as_bytes().to_vec(),
        }
    }
}

struct Case {
    name: &'static str,
    /// Files relative to the root (module files usually under MODDIR).
    files: Vec<(String, Content)>,
    args: Vec<&'static str>,
}

fn md(rel: &str) -> String {
    format!("{MODDIR}/{rel}")
}

/// The standard arguments: the case root, a configuration directory inside it, the version.
fn std_args() -> Vec<&'static str> {
    vec!["-b", "@ROOT@", "-C", "@ROOT@/depmod.d", KVER]
}

fn with(extra: &[&'static str]) -> Vec<&'static str> {
    let mut args = extra.to_vec();
    args.extend(std_args());
    args
}

fn builtin_files() -> Vec<(String, Content)> {
    vec![
        (md("modules.builtin"), Content::Text("kernel/fs/ext4/ext4.ko\nkernel/drivers/usb/common/usb-common.ko\nkernel/crypto/crc32c_generic.ko\n")),
        (
            md("modules.builtin.modinfo"),
            Content::Bytes(
                b"ext4.alias=fs-ext4\0ext4.license=GPL\0ext4.alias=ext3\0usb_common.license=GPL\0\
                  crc32c_generic.alias=crypto-crc32c\0crc32c_generic.alias=crc32c-generic\0"
                    .to_vec(),
            ),
        ),
    ]
}

fn basic_modules() -> Vec<(String, Content)> {
    vec![
        (
            md("kernel/lib/core.ko"),
            Content::Ko(
                m("core")
                    .exports(&[("core_a", 0x11), ("core_b", 0x22)])
                    .alias("core-alias")
                    .imports(&["printk"]),
            ),
        ),
        (
            md("kernel/drivers/mid.ko"),
            Content::Ko(
                m("mid")
                    .imports(&["core_a", "printk"])
                    .exports(&[("mid_fn", 0x33)])
                    .alias("pci:v00001234d*sv*sd*bc*sc*i*")
                    .alias("mid_[0-9]-x")
                    .info("softdep", "pre: core post: leaf"),
            ),
        ),
        (
            md("kernel/drivers/leaf.ko.xz"),
            Content::Xz(
                m("leaf")
                    .imports(&["mid_fn", "core_b"])
                    .alias("devname:leafdev")
                    .alias("char-major-10-200")
                    .info("weakdep", "mid"),
            ),
        ),
        (
            md("kernel/drivers/other-mod.ko"),
            Content::Ko(
                m("other_mod")
                    .imports(&["printk", "mid_fn"])
                    .alias("other")
                    .alias("other-mod-x"),
            ),
        ),
        (
            md("kernel/fs/blk.ko"),
            Content::Ko(
                m("blk")
                    .alias("block-major-8-*")
                    .alias("devname:blkdev")
                    .alias("block-major-8-0"),
            ),
        ),
        (md("kernel/misc/lonely.ko"), Content::Ko(m("lonely"))),
        (
            // Depends on core only through a __versions record (no undefined symbol).
            md("kernel/misc/versioned.ko"),
            Content::Ko(m("versioned").versions(&[("module_layout", 0x99), ("core_a", 0x11)])),
        ),
    ]
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();

    let mut files = basic_modules();
    files.extend(builtin_files());
    files.push((md("modules.order"), Content::Text("kernel/drivers/leaf.ko\nkernel/lib/core.ko\nkernel/misc/nothere.ko\nkernel/drivers/mid.ko\n")));
    out.push(Case {
        name: "basic",
        files,
        args: std_args(),
    });

    // No modules.order: kmod's hash order alone, over enough names to fill many buckets.
    let mut files = builtin_files();
    let names = [
        "snd",
        "snd-pcm",
        "snd_timer",
        "e1000",
        "e1000e",
        "igb",
        "ixgbe",
        "usbcore",
        "usb-storage",
        "uas",
        "ext4",
        "jbd2",
        "mbcache",
        "xfs",
        "btrfs",
        "zstd_compress",
        "raid6_pq",
        "libcrc32c",
        "crc32c_intel",
        "nvme",
        "nvme-core",
        "ahci",
        "libahci",
        "libata",
        "scsi_mod",
        "sd_mod",
        "sr_mod",
        "cdrom",
        "a",
        "zz",
    ];
    for (i, name) in names.iter().enumerate() {
        let mut spec = m(name).exports(&[(&format!("{}_sym", name.replace('-', "_")), i as u32)]);
        if i > 0 {
            let prev = names[i - 1].replace('-', "_");
            spec = spec.imports(&[&format!("{prev}_sym")]);
        }
        if i % 3 == 0 {
            spec = spec.alias(&format!("alias-{name}"));
        }
        let dir = ["kernel/a", "kernel/b/c", "kernel"][i % 3];
        out_push(
            &mut files,
            md(&format!("{dir}/{name}.ko")),
            Content::Ko(spec),
        );
    }
    out.push(Case {
        name: "hash-order",
        files,
        args: std_args(),
    });

    let mut files = basic_modules();
    files.push((
        md("modules.order"),
        Content::Text("kernel/lib/core.ko\nkernel/drivers/mid.ko"),
    ));
    out.push(Case {
        name: "order-corrupt",
        files,
        args: std_args(),
    });

    let mut files = basic_modules();
    files.push((
        md("modules.order"),
        Content::Text("kernel/drivers/mid.ko\nkernel/lib/core.ko\nkernel/drivers/leaf.ko\nkernel/drivers/mid.ko\nkernel/misc/lonely.ko\nkernel/lib/core.ko\n"),
    ));
    out.push(Case {
        name: "order-duplicates",
        files,
        args: std_args(),
    });

    let mut files = builtin_files();
    files.push((
        md("kernel/a.ko"),
        Content::Ko(m("a").exports(&[("a_fn", 1)]).imports(&["b_fn"])),
    ));
    files.push((
        md("kernel/b.ko"),
        Content::Ko(m("b").exports(&[("b_fn", 2)]).imports(&["a_fn"])),
    ));
    files.push((md("kernel/c.ko"), Content::Ko(m("c").imports(&["a_fn"]))));
    files.push((
        md("kernel/d.ko"),
        Content::Ko(m("d").exports(&[("d_fn", 4)])),
    ));
    files.push((md("modules.dep"), Content::Text("old modules.dep\n")));
    files.push((md("modules.alias"), Content::Text("old modules.alias\n")));
    out.push(Case {
        name: "cycle",
        files,
        args: std_args(),
    });

    let files = vec![
        (
            md("kernel/a.ko"),
            Content::Ko(m("a").exports(&[("a_fn", 1)]).imports(&["b_fn", "c_fn"])),
        ),
        (
            md("kernel/b.ko"),
            Content::Ko(m("b").exports(&[("b_fn", 2)]).imports(&["d_fn"])),
        ),
        (
            md("kernel/c.ko"),
            Content::Ko(m("c").exports(&[("c_fn", 3)]).imports(&["d_fn"])),
        ),
        (
            md("kernel/d.ko"),
            Content::Ko(m("d").exports(&[("d_fn", 4)]).imports(&["a_fn"])),
        ),
        (
            md("kernel/e.ko"),
            Content::Ko(m("e").exports(&[("e_fn", 5)]).imports(&["e_fn"])),
        ),
        (
            md("modules.order"),
            Content::Text("kernel/a.ko\nkernel/b.ko\nkernel/c.ko\nkernel/d.ko\nkernel/e.ko\n"),
        ),
    ];
    out.push(Case {
        name: "cycle-diamond",
        files,
        args: std_args(),
    });

    // Duplicate names settled by depmod.d.
    let mut files = builtin_files();
    files.push((
        md("kernel/drivers/dup.ko"),
        Content::Ko(m("dup").alias("dup-kernel")),
    ));
    files.push((
        md("updates/dup.ko"),
        Content::Ko(m("dup").alias("dup-updates")),
    ));
    files.push((
        md("extra/dup.ko.xz"),
        Content::Xz(m("dup").alias("dup-extra")),
    ));
    files.push((
        md("kernel/over.ko"),
        Content::Ko(m("over").alias("over-kernel")),
    ));
    files.push((
        md("extra/over.ko"),
        Content::Ko(m("over").alias("over-extra")),
    ));
    files.push((
        md("kernel/pat.ko"),
        Content::Ko(m("pat").alias("pat-kernel")),
    ));
    files.push((
        md("updates/pat.ko"),
        Content::Ko(m("pat").alias("pat-updates")),
    ));
    files.push((
        md("kernel/nomatch.ko"),
        Content::Ko(m("nomatch").alias("nomatch-kernel")),
    ));
    files.push((
        md("updates/nomatch.ko"),
        Content::Ko(m("nomatch").alias("nomatch-updates")),
    ));
    files.push((
        "depmod.d/order.conf".into(),
        Content::Text(
            "# priorities\nsearch extra updates built-in\noverride over * kernel\n\
             override pat ^6\\.1\\.[0-9]+-test$ kernel\noverride nomatch 5\\..* kernel\n\
             include other.conf\nmake_map_files\nbogus line here\noverride incomplete *\n",
        ),
    ));
    out.push(Case {
        name: "override-search",
        files,
        args: std_args(),
    });

    // No configuration: "updates" first, then everything else.
    let mut files = builtin_files();
    files.push((md("kernel/x.ko"), Content::Ko(m("x").alias("x-kernel"))));
    files.push((md("updates/x.ko"), Content::Ko(m("x").alias("x-updates"))));
    files.push((md("kernel/y.ko"), Content::Ko(m("y").alias("y-kernel"))));
    files.push((md("extra/y.ko"), Content::Ko(m("y").alias("y-extra"))));
    files.push((
        md("updates/sub/z.ko"),
        Content::Ko(m("z").alias("z-updates")),
    ));
    files.push((md("kernel/z.ko.xz"), Content::Xz(m("z").alias("z-kernel"))));
    out.push(Case {
        name: "default-search",
        files,
        args: std_args(),
    });

    let mut files = builtin_files();
    files.push((md("kernel/keep.ko"), Content::Ko(m("keep"))));
    files.push((md("kernel/skipme/gone.ko"), Content::Ko(m("gone"))));
    files.push((md("kernel/deep/skipme/gone2.ko"), Content::Ko(m("gone2"))));
    files.push((md("kernel/other/also/gone3.ko"), Content::Ko(m("gone3"))));
    files.push((md("build/b.ko"), Content::Ko(m("b"))));
    files.push((md("source/s.ko"), Content::Ko(m("s"))));
    files.push((md("kernel/notamodule.o"), Content::Ko(m("notamodule"))));
    files.push((md("kernel/.ko"), Content::Ko(m("dotko"))));
    files.push((
        "depmod.d/exclude.conf".into(),
        Content::Text("exclude skipme\nexclude also\n"),
    ));
    out.push(Case {
        name: "exclude",
        files,
        args: std_args(),
    });

    let mut files = builtin_files();
    files.push((
        md("kernel/base.ko"),
        Content::Ko(m("base").exports(&[("base_fn", 1)])),
    ));
    files.push((
        md("kernel/shadow.ko"),
        Content::Ko(m("shadow").alias("shadow-kernel")),
    ));
    files.push((
        "opt/ext1/extmod.ko".into(),
        Content::Ko(m("extmod").imports(&["base_fn"]).alias("extmod")),
    ));
    files.push((
        "opt/ext1/shadow.ko".into(),
        Content::Ko(m("shadow").alias("shadow-ext1")),
    ));
    files.push((
        "opt/ext2/shadow.ko".into(),
        Content::Ko(m("shadow").alias("shadow-ext2")),
    ));
    files.push((
        "depmod.d/ext.conf".into(),
        Content::Text("search external built-in\nexternal * @ROOT@/opt/ext1\nexternal 6.1.* @ROOT@/opt/ext2\nexternal 5.* @ROOT@/opt/nothere\nexternal * @ROOT@/opt/missing\n"),
    ));
    out.push(Case {
        name: "external",
        files,
        args: std_args(),
    });

    // Configuration files from two directories: sorted by name, the first directory's file of
    // a name hiding the second's.
    let mut files = builtin_files();
    files.push((md("kernel/p.ko"), Content::Ko(m("p").alias("p-kernel"))));
    files.push((md("updates/p.ko"), Content::Ko(m("p").alias("p-updates"))));
    files.push((md("extra/p.ko"), Content::Ko(m("p").alias("p-extra"))));
    files.push((md("kernel/q.ko"), Content::Ko(m("q").alias("q-kernel"))));
    files.push((md("extra/q.ko"), Content::Ko(m("q").alias("q-extra"))));
    files.push((
        "etc/depmod.d/b.conf".into(),
        Content::Text("search extra built-in\n"),
    ));
    files.push((
        "lib/depmod.d/b.conf".into(),
        Content::Text("search updates built-in\n"),
    ));
    files.push((
        "lib/depmod.d/a.conf".into(),
        Content::Text("exclude nothing\n"),
    ));
    files.push((
        "lib/depmod.d/notes.txt".into(),
        Content::Text("search updates\n"),
    ));
    files.push((
        "lib/depmod.d/.hidden.conf".into(),
        Content::Text("search updates\n"),
    ));
    files.push((
        "lib/depmod.d/dir.conf/x.conf".into(),
        Content::Text("search updates\n"),
    ));
    files.push(("single.conf".into(), Content::Text("override q * kernel\n")));
    out.push(Case {
        name: "config-precedence",
        files,
        args: vec![
            "-b",
            "@ROOT@",
            "-C",
            "@ROOT@/etc/depmod.d",
            "-C",
            "@ROOT@/lib/depmod.d",
            "-C",
            "@ROOT@/single.conf",
            KVER,
        ],
    });

    let good = m("good").exports(&[("good_fn", 1)]).alias("good");
    let mut files = builtin_files();
    files.push((md("kernel/good.ko"), Content::Ko(good.clone())));
    files.push((
        md("kernel/user.ko"),
        Content::Ko(m("user").imports(&["good_fn", "broken_fn"])),
    ));
    files.push((
        md("kernel/broken.ko"),
        Content::Truncated(m("broken").exports(&[("broken_fn", 2)]).alias("broken")),
    ));
    files.push((
        md("kernel/garbage.ko"),
        Content::Bytes(b"this is not an ELF file, just some text\n".to_vec()),
    ));
    files.push((md("kernel/empty.ko"), Content::Bytes(Vec::new())));
    files.push((md("kernel/tiny.ko"), Content::Bytes(b"\x7fELF".to_vec())));
    files.push((
        md("modules.order"),
        Content::Text("kernel/good.ko\nkernel/broken.ko\nkernel/user.ko\n"),
    ));
    out.push(Case {
        name: "bad-modules",
        files,
        args: std_args(),
    });

    let mut files = builtin_files();
    files.push((md("kernel/good.ko"), Content::Ko(good)));
    files.push((
        md("kernel/cut.ko.xz"),
        Content::TruncatedXz(m("cut").exports(&[("cut_fn", 2)]).alias("cut")),
    ));
    files.push((
        md("kernel/user.ko"),
        Content::Ko(m("user").imports(&["good_fn", "cut_fn"])),
    ));
    out.push(Case {
        name: "bad-compressed",
        files,
        args: std_args(),
    });

    let mut files = builtin_files();
    files.push((
        md("kernel/a.ko"),
        Content::Ko(
            m("a")
                .exports(&[("a_fn", 1), ("printk", 7)])
                .imports(&["kfree", "nowhere_fn"]),
        ),
    ));
    files.push((
        md("kernel/b.ko"),
        Content::Ko(
            m("b")
                .imports(&["a_fn", "also_missing", "__this_module"])
                .versions(&[("module_layout", 5), ("vmlinux_only", 6)]),
        ),
    ));
    files.push((
        "System.map".into(),
        Content::Text("ffffffff81000000 T _text\nffffffff82000010 r __ksymtab_kfree\nffffffff82000020 r __ksymtab_printk\nffffffff82000030 r __ksymtab_module_layout\nbadline\nffffffff82000040 R __ksymtab_vmlinux_only\n"),
    ));
    out.push(Case {
        name: "errsyms-systemmap",
        files,
        args: with(&["-e", "-F", "@ROOT@/System.map"]),
    });

    let mut files = builtin_files();
    files.push((
        md("kernel/a.ko"),
        Content::Ko(
            m("a")
                .exports(&[("a_fn", 0x1111)])
                .imports(&["kfree", "kmalloc", "gone"])
                .versions(&[
                    ("kfree", 0xaaaa),
                    ("kmalloc", 0xbeef),
                    ("module_layout", 0x5),
                ]),
        ),
    ));
    files.push((
        md("kernel/b.ko"),
        Content::Ko(m("b").imports(&["a_fn"]).versions(&[("a_fn", 0x2222)])),
    ));
    files.push((
        md("kernel/c.ko"),
        Content::Ko(m("c").imports(&["a_fn"]).versions(&[("a_fn", 0x1111)])),
    ));
    files.push((
        "Module.symvers".into(),
        Content::Text("0x0000aaaa\tkfree\tvmlinux\tEXPORT_SYMBOL\n0x0000bbbb\tkmalloc\tvmlinux\tEXPORT_SYMBOL\n0x00000005\tmodule_layout\tvmlinux\tEXPORT_SYMBOL\n0x0000cccc\tother\tdrivers/x\tEXPORT_SYMBOL\n0xzz\tbroken\tvmlinux\tEXPORT_SYMBOL\nshort line\n"),
    ));
    out.push(Case {
        name: "errsyms-symvers",
        files,
        args: with(&["-e", "-E", "@ROOT@/Module.symvers"]),
    });

    let mut files = builtin_files();
    files.push((
        md("kernel/a.ko"),
        Content::Ko(m("a").exports(&[("_a_fn", 1), ("b_plain", 2)])),
    ));
    files.push((
        md("kernel/b.ko"),
        Content::Ko(m("b").imports(&["_a_fn", "b_plain", "_kfree"])),
    ));
    files.push((
        "System.map".into(),
        Content::Text("ffffffff82000010 r ___ksymtab_kfree\n"),
    ));
    out.push(Case {
        name: "prefix",
        files,
        args: with(&["-P", "_", "-e", "-F", "@ROOT@/System.map"]),
    });

    let mut files = basic_modules();
    files.extend(builtin_files());
    out.push(Case {
        name: "files-mode",
        files,
        args: vec![
            "-b",
            "@ROOT@",
            KVER,
            "@ROOT@/lib/modules/6.1.0-test/kernel/drivers/mid.ko",
            "@ROOT@/lib/modules/6.1.0-test/kernel/lib/core.ko",
            "@ROOT@/lib/modules/6.1.0-test/kernel/drivers/leaf.ko.xz",
        ],
    });

    let mut files = basic_modules();
    files.extend(builtin_files());
    files.push((md("modules.order"), Content::Text("kernel/lib/core.ko\n")));
    out.push(Case {
        name: "show",
        files,
        args: with(&["-n"]),
    });

    let mut files = builtin_files();
    files.push((
        md("kernel/d.ko"),
        Content::Ko(
            m("d")
                .alias("dup-alias")
                .alias("dup_alias")
                .alias("dup-alias")
                .alias("x[a-b]-y")
                .exports(&[("d_fn", 1)]),
        ),
    ));
    files.push((
        md("kernel/e.ko"),
        Content::Ko(m("e").alias("dup-alias").imports(&["d_fn"])),
    ));
    out.push(Case {
        name: "warn-dups",
        files,
        args: with(&["-w"]),
    });

    let mut files = builtin_files();
    files.push((
        md("kernel/nomajor.ko"),
        Content::Ko(m("nomajor").alias("devname:nomajor")),
    ));
    files.push((
        md("kernel/wild.ko"),
        Content::Ko(m("wild").alias("char-major-10-*").alias("devname:wild")),
    ));
    files.push((
        md("kernel/twice.ko"),
        Content::Ko(
            m("twice")
                .alias("char-major-1-2")
                .alias("devname:first")
                .alias("block-major-3-4")
                .alias("devname:second"),
        ),
    ));
    files.push((
        md("kernel/late.ko"),
        Content::Ko(m("late").alias("devname:late").alias("char-major-4-5")),
    ));
    files.push((
        md("kernel/sub/dir.ko"),
        Content::Ko(m("dir").alias("devname:sub/dir").alias("char-major-+7- 8")),
    ));
    out.push(Case {
        name: "devname-edge",
        files,
        args: std_args(),
    });

    let mut files = builtin_files();
    files.push((
        md("kernel/br.ko"),
        Content::Ko(
            m("br")
                .alias("usb:v[12")
                .alias("pci:v]x")
                .alias("of:N*T*Cfoo-bar[a-z-]x-y")
                .alias("plain-dash"),
        ),
    ));
    out.push(Case {
        name: "alias-brackets",
        files,
        args: std_args(),
    });

    let files = vec![
        (md("kernel/a.ko"), Content::Ko(m("a"))),
        (md("modules.builtin"), Content::Text("kernel/fs/ext4/ext4.ko\n/absolute/x.ko\n9starts/with/digit.ko\nkernel/noext\nkernel/a-b.c.ko\n\nlast/line.ko")),
        (
        md("modules.builtin.modinfo"),
        Content::Bytes(b"ext4.alias=fs-ext4\0noequals\0.alias=noname\0x.alias=\0y.alias=bad]\0z.license=GPL\0w.alias=a-[b-c]\0trailing.alias=unterminated".to_vec()),
        ),
    ];
    out.push(Case {
        name: "builtin-edge",
        files,
        args: std_args(),
    });

    let files = vec![(md("kernel/a.ko"), Content::Ko(m("a").alias("a")))];
    out.push(Case {
        name: "no-inputs",
        files,
        args: std_args(),
    });

    let mut files = basic_modules();
    files.extend(builtin_files());
    out.push(Case {
        name: "verbose",
        files,
        args: with(&["-v"]),
    });

    let mut files = builtin_files();
    files.push((
        md("kernel/z.ko.zst"),
        Content::Zst(m("z").exports(&[("z_fn", 1)]).alias("zalias")),
    ));
    files.push((md("kernel/y.ko.xz"), Content::Xz(m("y").imports(&["z_fn"]))));
    out.push(Case {
        name: "compressed-zst",
        files,
        args: std_args(),
    });

    let mut files = builtin_files();
    files.push((
        md("kernel/one.ko"),
        Content::Ko(
            m("one")
                .alias("shared:*")
                .alias("pci:v*")
                .exports(&[("twice", 1)]),
        ),
    ));
    files.push((
        md("kernel/two.ko"),
        Content::Ko(m("two").alias("shared:*").exports(&[("twice", 2)])),
    ));
    files.push((
        md("kernel/three.ko"),
        Content::Ko(
            m("three")
                .alias("shared:*")
                .alias("pci:v*")
                .imports(&["twice"]),
        ),
    ));
    files.push((
        md("modules.order"),
        Content::Text("kernel/two.ko\nkernel/three.ko\nkernel/one.ko\n"),
    ));
    out.push(Case {
        name: "shared-keys",
        files,
        args: std_args(),
    });

    out
}

fn out_push(files: &mut Vec<(String, Content)>, path: String, content: Content) {
    files.push((path, content));
}

// ---------------------------------------------------------------------------------------------
// Materialising and checking the committed trees.

fn tree_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

fn write_tree(root: &Path, case: &Case) {
    for (rel, content) in &case.files {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content.bytes()).unwrap();
    }
}

/// The committed trees and arguments are exactly what [`cases`] builds.
/// `RKMOD_REGENERATE_DEPMOD=1` rewrites them instead.
#[test]
fn fixtures_are_fresh() {
    let regenerate = std::env::var_os("RKMOD_REGENERATE_DEPMOD").is_some();
    for case in cases() {
        let dir = case_dir(case.name);
        let fresh = tempdir();
        write_tree(fresh.path(), &case);
        let args = case.args.join("\n") + "\n";
        if regenerate {
            let _ = std::fs::remove_dir_all(dir.join("root"));
            write_tree(&dir.join("root"), &case);
            std::fs::write(dir.join("args"), &args).unwrap();
            continue;
        }
        assert_eq!(
            tree_files(&dir.join("root")),
            tree_files(fresh.path()),
            "{}: the committed tree is stale (RKMOD_REGENERATE_DEPMOD=1 rewrites it)",
            case.name
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("args")).unwrap(),
            args,
            "{}: args",
            case.name
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Running a case.

/// What a depmod run left.
struct Outcome {
    status: i32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    files: BTreeMap<String, Vec<u8>>,
    /// The directory the run happened in (left as it was in the `.bin` files).
    root: String,
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// Copies the case's root to a fresh directory (with `@ROOT@` in depmod.d files replaced),
/// runs `depmod` (a command line whose first word is the program) there, and collects what
/// it produced, with the directory replaced by `@ROOT@`.
fn run_case(name: &str, program: &[String]) -> Outcome {
    let dir = case_dir(name);
    let tmp = tempdir();
    let root = tmp.path().join("root");
    let root_s = root.to_string_lossy().into_owned();
    for (rel, bytes) in tree_files(&dir.join("root")) {
        let path = root.join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let bytes = if rel.ends_with(".conf") {
            replace(&bytes, b"@ROOT@", root_s.as_bytes())
        } else {
            bytes
        };
        std::fs::write(path, bytes).unwrap();
    }
    let args: Vec<String> = std::fs::read_to_string(dir.join("args"))
        .unwrap()
        .lines()
        .map(|l| l.replace("@ROOT@", &root_s))
        .collect();
    let output = Command::new(&program[0])
        .args(&program[1..])
        .args(&args)
        .current_dir(&root)
        .env_remove("MODPROBE_OPTIONS")
        .output()
        .expect("depmod runs");
    let moddir = root.join(MODDIR);
    let files = OUTPUTS
        .iter()
        .filter_map(|f| {
            let bytes = std::fs::read(moddir.join(f)).ok()?;
            let bytes = if f.ends_with(".bin") {
                bytes
            } else {
                replace(&bytes, root_s.as_bytes(), b"@ROOT@")
            };
            Some((f.to_string(), bytes))
        })
        .collect();
    // Nothing but the outputs may appear in the module directory.
    for entry in std::fs::read_dir(&moddir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            OUTPUTS.contains(&name.as_str())
                || [
                    "kernel",
                    "updates",
                    "extra",
                    "build",
                    "source",
                    "modules.order",
                    "modules.builtin",
                    "modules.builtin.modinfo"
                ]
                .contains(&name.as_str()),
            "{name}: unexpected file left in the module directory"
        );
    }
    Outcome {
        status: output.status.code().unwrap_or(-1),
        stdout: replace(&output.stdout, root_s.as_bytes(), b"@ROOT@"),
        stderr: replace(&output.stderr, root_s.as_bytes(), b"@ROOT@"),
        files,
        root: root_s,
    }
}

fn rkmod_depmod() -> Vec<String> {
    vec![rkmod_bin().to_string_lossy().into_owned(), "depmod".into()]
}

/// The kmod development head's depmod, when the local oracle build exists.
pub fn kmod_head_depmod() -> Option<PathBuf> {
    let path = cache_dir().join("kmod-head-build/build/depmod");
    path.exists().then_some(path)
}

fn read_expected(dir: &Path) -> Option<Outcome> {
    if !dir.is_dir() {
        return None;
    }
    let files = OUTPUTS
        .iter()
        .filter_map(|f| Some((f.to_string(), std::fs::read(dir.join(f)).ok()?)))
        .collect();
    Some(Outcome {
        status: std::fs::read_to_string(dir.join("status"))
            .unwrap()
            .trim()
            .parse()
            .unwrap(),
        stdout: std::fs::read(dir.join("stdout")).unwrap(),
        stderr: std::fs::read(dir.join("stderr")).unwrap(),
        files,
        root: std::fs::read_to_string(dir.join("root")).unwrap(),
    })
}

fn note(name: &str, file: &str) -> Option<String> {
    std::fs::read_to_string(case_dir(name).join(file)).ok()
}

/// Streams (`stdout`, `stderr`, `status`) a note file lists as differing.
fn differs(note: &Option<String>, stream: &str) -> bool {
    note.as_ref().is_some_and(|n| {
        n.lines()
            .any(|l| l.split_whitespace().next() == Some(stream))
    })
}

/// Every entry of an index file, in kmod's dump order.
pub fn index_entries(bytes: &[u8]) -> Vec<(Vec<u8>, u32, Vec<u8>)> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let index = Index::from_bytes(bytes).expect("a valid index");
    index
        .iter()
        .map(|e| {
            let e = e.expect("a valid index entry");
            (e.key, e.priority, e.value)
        })
        .collect()
}

/// kmod 30's index re-encoded by our writer (the newest kmod's layout).
pub fn reencode(bytes: &[u8]) -> Vec<u8> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let index = Index::from_bytes(bytes).expect("a valid index");
    IndexBuilder::from_index(&index)
        .unwrap()
        .to_bytes()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Compares rkmod's outcome with kmod's expected one.
fn compare(
    case: &str,
    which: &str,
    ours: &Outcome,
    theirs: &Outcome,
    exact_bin: bool,
    note: &Option<String>,
) {
    for name in OUTPUTS {
        let mine = ours.files.get(name);
        let kmods = theirs.files.get(name);
        if which == "v30" && name == "modules.weakdep" {
            continue; // kmod 30 predates modules.weakdep
        }
        if differs(note, name) {
            continue;
        }
        match (mine, kmods) {
            (None, None) => {}
            (Some(a), Some(b))
                if name.ends_with(".bin")
                    && (a
                        .windows(ours.root.len())
                        .any(|w| w == ours.root.as_bytes())) =>
            {
                // Absolute paths inside (external modules): compare the decoded entries with
                // each run's directory replaced.
                let norm = |bytes: &[u8], root: &str| -> Vec<(Vec<u8>, u32, Vec<u8>)> {
                    index_entries(bytes)
                        .into_iter()
                        .map(|(k, p, v)| (k, p, replace(&v, root.as_bytes(), b"@ROOT@")))
                        .collect()
                };
                assert_eq!(
                    norm(a, &ours.root),
                    norm(b, &theirs.root),
                    "{case}/{which}: {name} content"
                );
            }
            (Some(a), Some(b)) if name.ends_with(".bin") && !exact_bin => {
                assert_eq!(
                    index_entries(a),
                    index_entries(b),
                    "{case}/{which}: {name} content"
                );
                assert_eq!(
                    a,
                    &reencode(b),
                    "{case}/{which}: {name} differs from kmod 30's content in pre-order"
                );
            }
            (Some(a), Some(b)) => assert_eq!(text(a), text(b), "{case}/{which}: {name}"),
            (a, b) => panic!(
                "{case}/{which}: {name}: rkmod {} it, kmod {} it",
                if a.is_some() {
                    "wrote"
                } else {
                    "did not write"
                },
                if b.is_some() {
                    "wrote"
                } else {
                    "did not write"
                }
            ),
        }
    }
    if !differs(note, "stdout") {
        assert_eq!(
            text(&ours.stdout),
            text(&theirs.stdout),
            "{case}/{which}: stdout"
        );
    }
    if !differs(note, "stderr") {
        assert_eq!(
            text(&ours.stderr),
            text(&theirs.stderr),
            "{case}/{which}: stderr"
        );
    }
    if !differs(note, "status") {
        assert_eq!(ours.status, theirs.status, "{case}/{which}: exit status");
    }
}

fn check_case(name: &str) {
    let ours = run_case(name, &rkmod_depmod());
    let rkmod_note = note(name, "rkmod-differs");
    let dir = case_dir(name).join("expected");
    let head = read_expected(&dir.join("head"));
    let v30 = read_expected(&dir.join("v30"))
        .unwrap_or_else(|| panic!("{name}: no expected/v30 (run testdata/depmod/capture.sh)"));
    if let Some(head) = &head {
        compare(name, "head", &ours, head, true, &rkmod_note);
    }
    let mut v30_note = note(name, "v30-differs").unwrap_or_default();
    v30_note.push_str(&rkmod_note.clone().unwrap_or_default());
    compare(name, "v30", &ours, &v30, false, &Some(v30_note));
    // The live oracle, when this machine has it: same files, same messages.
    if let Some(head) = kmod_head_depmod() {
        if note(name, "skip-head").is_none() {
            let live = run_case(name, &[head.to_string_lossy().into_owned()]);
            compare(name, "live head", &ours, &live, true, &rkmod_note);
        }
    }
}

macro_rules! fixture_tests {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_case($name);
            }
        )*
        const FIXTURE_NAMES: &[&str] = &[$($name),*];
    };
}

fixture_tests! {
    basic => "basic",
    hash_order => "hash-order",
    order_corrupt => "order-corrupt",
    order_duplicates => "order-duplicates",
    cycle => "cycle",
    cycle_diamond => "cycle-diamond",
    override_search => "override-search",
    default_search => "default-search",
    exclude => "exclude",
    external => "external",
    config_precedence => "config-precedence",
    bad_modules => "bad-modules",
    bad_compressed => "bad-compressed",
    errsyms_systemmap => "errsyms-systemmap",
    errsyms_symvers => "errsyms-symvers",
    prefix => "prefix",
    files_mode => "files-mode",
    show_n => "show",
    warn_dups => "warn-dups",
    devname_edge => "devname-edge",
    alias_brackets => "alias-brackets",
    builtin_edge => "builtin-edge",
    no_inputs => "no-inputs",
    verbose => "verbose",
    compressed_zst => "compressed-zst",
    shared_keys => "shared-keys",
}

#[test]
fn every_case_has_a_test() {
    let mut defined: Vec<&str> = cases().iter().map(|c| c.name).collect();
    defined.sort();
    let mut tested = FIXTURE_NAMES.to_vec();
    tested.sort();
    assert_eq!(defined, tested);
}

/// A truncated .ko.xz: kmod prints the decompressor's complaint once per read attempt, rkmod
/// reports the module once, with the reason.
#[test]
fn bad_compressed_module_is_reported_once() {
    let ours = run_case("bad-compressed", &rkmod_depmod());
    let text = text(&ours.stderr);
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("cut.ko.xz")).collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(lines[0].starts_with("depmod: ERROR: failed to load symbols from @ROOT@/lib/modules/6.1.0-test/kernel/cut.ko.xz: Invalid argument"), "{text}");
    assert_eq!(ours.status, 0);
}

/// A module whose section header string index is out of range makes kmod abort on an
/// assertion, writing nothing. rkmod treats it like any unreadable module: the outputs are
/// kmod's for the same tree with that file replaced by garbage (which kmod handles).
#[test]
fn bad_shstrndx_is_an_unreadable_module() {
    let mut image = m("garbage").build();
    // e_shstrndx (offset 62 in a 64-bit header) beyond e_shnum.
    image[62..64].copy_from_slice(&0xfff0u16.to_le_bytes());
    let dir = case_dir("bad-modules");
    let tmp = tempdir();
    let root = tmp.path().join("root");
    for (rel, bytes) in tree_files(&dir.join("root")) {
        let path = root.join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let bytes = if rel.ends_with("garbage.ko") {
            image.clone()
        } else {
            bytes
        };
        std::fs::write(path, bytes).unwrap();
    }
    let root_s = root.to_string_lossy().into_owned();
    let run = rkmod(
        "depmod",
        ["-b", &root_s, "-C", &format!("{root_s}/depmod.d"), KVER],
    );
    assert_eq!(run.code, 0, "{}", run.stderr_str());
    let expected = read_expected(&dir.join("expected/v30")).unwrap();
    for name in ["modules.dep", "modules.alias", "modules.symbols"] {
        let ours = std::fs::read(root.join(MODDIR).join(name)).unwrap();
        assert_eq!(text(&ours), text(&expected.files[name]), "{name}");
    }
    let text = run.stderr_str();
    assert_eq!(
        text.lines().filter(|l| l.contains("garbage.ko")).count(),
        1,
        "{text}"
    );
}

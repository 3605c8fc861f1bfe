//! Resolution on synthetic module trees: lookups, load order, softdeps with kmod's quirks,
//! options, commands, and the bounds.

use std::path::Path;

use super::*;
use crate::index::IndexBuilder;

/// A synthetic module directory: modules.dep and the binary indexes, and module files built
/// with testkit (so that a fake kernel can load them).
pub(crate) struct Tree {
    pub(crate) dir: tempfile::TempDir,
    dep: IndexBuilder,
    alias: IndexBuilder,
    symbols: IndexBuilder,
    builtin: IndexBuilder,
    builtin_alias: IndexBuilder,
    order: u32,
}

impl Tree {
    pub(crate) fn new() -> Tree {
        Tree {
            dir: tempfile::tempdir().unwrap(),
            dep: IndexBuilder::new(),
            alias: IndexBuilder::new(),
            symbols: IndexBuilder::new(),
            builtin: IndexBuilder::new(),
            builtin_alias: IndexBuilder::new(),
            order: 0,
        }
    }

    /// Adds module `name` at `kernel/NAME.ko` depending on `deps` (most dependent first, as
    /// modules.dep lists them), and writes its file.
    pub(crate) fn module(mut self, name: &str, deps: &[&str]) -> Tree {
        let rel = |n: &str| format!("kernel/{n}.ko");
        let mut line = format!("{}:", rel(name));
        for d in deps {
            line.push(' ');
            line.push_str(&rel(d));
        }
        let key = name.replace('-', "_");
        self.dep
            .insert(key.as_bytes(), line.as_bytes(), self.order)
            .unwrap();
        self.order += 1;
        let path = self.dir.path().join(rel(name));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, testkit::ModuleSpec::new(&key).build()).unwrap();
        self
    }

    pub(crate) fn alias(mut self, alias: &str, module: &str) -> Tree {
        let key = crate::modname::normalize_alias(alias.as_bytes()).unwrap();
        self.alias
            .insert(&key, module.as_bytes(), self.order)
            .unwrap();
        self.order += 1;
        self
    }

    pub(crate) fn symbol(mut self, symbol: &str, module: &str) -> Tree {
        let key = format!("symbol:{symbol}");
        self.symbols
            .insert(key.as_bytes(), module.as_bytes(), 0)
            .unwrap();
        self
    }

    pub(crate) fn builtin(mut self, name: &str) -> Tree {
        self.builtin.insert(name.as_bytes(), b"", 0).unwrap();
        self
    }

    pub(crate) fn builtin_alias(mut self, alias: &str, module: &str) -> Tree {
        let key = crate::modname::normalize_alias(alias.as_bytes()).unwrap();
        self.builtin_alias
            .insert(&key, module.as_bytes(), 0)
            .unwrap();
        self
    }

    /// Writes the indexes and returns the directory.
    pub(crate) fn write(self) -> (tempfile::TempDir, ModuleDir) {
        let p = self.dir.path();
        for (builder, file) in [
            (&self.dep, "modules.dep.bin"),
            (&self.alias, "modules.alias.bin"),
            (&self.symbols, "modules.symbols.bin"),
            (&self.builtin, "modules.builtin.bin"),
            (&self.builtin_alias, "modules.builtin.alias.bin"),
        ] {
            std::fs::write(p.join(file), builder.to_bytes().unwrap()).unwrap();
        }
        let dir = ModuleDir::new(p);
        (self.dir, dir)
    }
}

pub(crate) fn config(text: &str) -> Config {
    let mut c = Config::new();
    let mut w = Vec::new();
    c.add_file(Path::new("/t.conf"), text.as_bytes(), &mut w);
    assert!(w.is_empty(), "{w:?}");
    c
}

fn names(r: &Resolver<'_>, ids: &[ModId]) -> Vec<String> {
    ids.iter()
        .map(|&id| String::from_utf8_lossy(r.name(id)).into_owned())
        .collect()
}

fn plan(r: &mut Resolver<'_>, request: &str, ignore: bool) -> Vec<String> {
    let ids = r.lookup(request.as_bytes()).unwrap();
    assert_eq!(ids.len(), 1, "{request}");
    let steps = r.probe_list(ids[0], ignore).unwrap();
    steps
        .iter()
        .map(|s| {
            let mut n = String::from_utf8_lossy(r.name(s.module)).into_owned();
            if s.required {
                n.push('!');
            }
            if s.ignore_command {
                n.push('~');
            }
            n
        })
        .collect()
}

fn basic() -> (tempfile::TempDir, ModuleDir) {
    Tree::new()
        .module("top", &["mid", "low"])
        .module("mid", &["low"])
        .module("low", &[])
        .module("pre", &["low"])
        .module("post", &[])
        .module("usb-storage", &[])
        .alias("pci:v1234d*", "top")
        .alias("pci:v1234d0001", "mid")
        .alias("devname:snd/timer", "low")
        .symbol("low_fn", "low")
        .builtin("unix")
        .builtin_alias("net-pf-1", "unix")
        .write()
}

#[test]
fn dependencies_come_in_load_order() {
    let (_t, dir) = basic();
    let c = Config::new();
    let mut r = Resolver::new(&dir, &c);
    let top = r.lookup(b"top").unwrap()[0];
    let deps = r.dependencies(top).unwrap();
    assert_eq!(names(&r, &deps), ["low", "mid"]);
    let path = r.path(top).unwrap().unwrap();
    assert_eq!(path, dir.path().join("kernel/top.ko"));
    assert_eq!(plan(&mut r, "top", false), ["low!", "mid!", "top!"]);
}

#[test]
fn collect_frees_what_no_root_reaches_and_keeps_the_dependencies_of_what_it_keeps() {
    let (_t, dir) = basic();
    let c = Config::new();
    let mut r = Resolver::new(&dir, &c);
    let top = r.lookup(b"top").unwrap()[0];
    let usb = r.lookup(b"usb-storage").unwrap()[0];
    let deps = r.dependencies(top).unwrap();
    assert_eq!(r.live(), 4);
    assert!(!r.collect_due(), "below MIN_COLLECT");
    r.collect([top]);
    assert_eq!(r.live(), 3, "usb_storage went; top, mid and low stay");
    assert_eq!(names(&r, &deps), ["low", "mid"]);
    assert_eq!(
        r.path(top).unwrap().unwrap(),
        dir.path().join("kernel/top.ko")
    );
    // The freed number goes to the next record, which starts afresh.
    let again = r.lookup(b"usb-storage").unwrap()[0];
    assert_eq!(again, usb);
    assert_eq!(r.name(again), b"usb_storage");
    r.collect([]);
    assert_eq!(r.live(), 0);
    let top = r.lookup(b"top").unwrap()[0];
    let deps = r.dependencies(top).unwrap();
    assert_eq!(names(&r, &deps), ["low", "mid"]);
}

#[test]
fn collect_is_due_when_the_live_records_doubled() {
    let (_t, dir) = basic();
    let c = Config::new();
    let mut r = Resolver::new(&dir, &c);
    let held: Vec<ModId> = (0..MIN_COLLECT)
        .map(|i| r.module(format!("m{i}").as_bytes()).unwrap())
        .collect();
    assert!(r.collect_due());
    r.collect(held.iter().copied());
    assert!(!r.collect_due(), "all of them held: nothing went");
    for i in 0..MIN_COLLECT - 1 {
        r.module(format!("n{i}").as_bytes()).unwrap();
    }
    assert!(!r.collect_due());
    r.module(b"last").unwrap();
    assert!(r.collect_due());
    r.collect(held.iter().copied());
    assert_eq!(r.live(), MIN_COLLECT);
}

#[test]
fn lookups_record_the_alias_they_came_through() {
    let (_t, dir) = basic();
    let c = config("alias my-* mid\n");
    let mut r = Resolver::new(&dir, &c);
    let ids = r.lookup(b"pci:v1234d0001").unwrap();
    assert_eq!(names(&r, &ids), ["top", "mid"]);
    assert_eq!(r.alias(ids[0]), Some(&b"pci:v1234d0001"[..]));
    let ids = r.lookup(b"my-thing").unwrap();
    assert_eq!(names(&r, &ids), ["mid"]);
    assert_eq!(r.alias(ids[0]), Some(&b"my_*"[..]));
    let ids = r.lookup(b"symbol:low_fn").unwrap();
    assert_eq!(names(&r, &ids), ["low"]);
    let ids = r.lookup(b"usb_storage").unwrap();
    assert_eq!(r.alias(ids[0]), None);
    let ids = r.lookup(b"net-pf-1").unwrap();
    assert!(r.is_builtin(ids[0]).unwrap());
    assert_eq!(r.path(ids[0]).unwrap(), None);
    let ids = r.lookup(b"unix").unwrap();
    assert!(r.is_builtin(ids[0]).unwrap());
}

/// busybox CVE-2014-9645: names are looked up, never turned into paths; a real alias with a
/// slash still resolves.
#[test]
fn names_are_never_paths() {
    let (t, dir) = basic();
    std::fs::create_dir_all(t.path().join("netdev-")).unwrap();
    std::fs::write(t.path().join("netdev-/usbserial.ko"), b"x").unwrap();
    let c = Config::new();
    let mut r = Resolver::new(&dir, &c);
    for request in [
        "netdev-/usbserial",
        "../../tmp/evil",
        "kernel/top.ko",
        "/tmp/x.ko",
        "./top.ko",
    ] {
        assert!(
            r.lookup(request.as_bytes()).unwrap().is_empty(),
            "{request}"
        );
    }
    let ids = r.lookup(b"devname:snd/timer").unwrap();
    assert_eq!(names(&r, &ids), ["low"]);
}

#[test]
fn invalid_requests_are_not_found() {
    let (_t, dir) = basic();
    let c = Config::new();
    let mut r = Resolver::new(&dir, &c);
    assert!(matches!(
        r.lookup(b"pci:v[12"),
        Err(ResolveError::Core(Error::NotFound { .. }))
    ));
    let long = vec![b'a'; 5000];
    assert!(r.lookup(&long).is_err());
}

#[test]
fn softdeps_wrap_each_module_in_kmod_order() {
    let (_t, dir) = basic();
    let c = config("softdep top pre: pre post: post\nsoftdep mid pre: post\n");
    let mut r = Resolver::new(&dir, &c);
    // mid's pre-softdep comes before mid, top's before top. The softdep modules are not
    // required; `low` (a dependency of `pre` and of `top`) appears twice, and `post`, visited
    // already as mid's softdep, does not come again after top: both as in kmod.
    assert_eq!(
        plan(&mut r, "top", false),
        ["low!", "post", "mid!~", "low!", "pre", "top!~"]
    );
}

/// kmod issue #33: only the first matching softdep line is used.
#[test]
fn only_the_first_softdep_line_counts_kmod_issue_33() {
    let (_t, dir) = basic();
    let c = config("softdep top pre: pre\nsoftdep top post: post\n");
    let mut r = Resolver::new(&dir, &c);
    assert_eq!(
        plan(&mut r, "top", false),
        ["low!", "mid!", "low!", "pre", "top!~"]
    );
}

/// kmod issue #446: a module with softdeps loses its install command.
#[test]
fn softdeps_disable_the_install_command_kmod_issue_446() {
    let (_t, dir) = basic();
    let c = config("install post /bin/true\nsoftdep post pre: low\ninstall pre /bin/true\nsoftdep pre pre: nothing-here\n");
    let mut r = Resolver::new(&dir, &c);
    let steps = plan(&mut r, "post", false);
    assert_eq!(steps, ["low", "post!~"]);
    // A softdep that resolves to nothing does not count.
    let steps = plan(&mut r, "pre", false);
    assert_eq!(steps, ["low!", "pre!"]);
}

#[test]
fn ignore_command_drops_the_requested_modules_softdeps_only() {
    let (_t, dir) = basic();
    let c = config("softdep top pre: pre\nsoftdep mid post: post\n");
    let mut r = Resolver::new(&dir, &c);
    assert_eq!(
        plan(&mut r, "top", true),
        ["low!", "mid!~", "post", "top!~"]
    );
}

#[test]
fn softdep_cycles_end() {
    let (_t, dir) = basic();
    let c = config(
        "softdep top pre: mid post: top\nsoftdep mid pre: top post: mid\nsoftdep low pre: low\n",
    );
    let mut r = Resolver::new(&dir, &c);
    let steps = plan(&mut r, "top", false);
    assert!(steps.len() < 20, "{steps:?}");
    assert_eq!(steps.last().map(String::as_str), Some("top!~"));
}

#[test]
fn softdep_chains_deeper_than_the_bound_fail_clearly() {
    let mut tree = Tree::new();
    let mut text = String::new();
    for i in 0..=MAX_PROBE_DEPTH + 1 {
        tree = tree.module(&format!("m{i}"), &[]);
        text.push_str(&format!("softdep m{i} pre: m{}\n", i + 1));
    }
    let (_t, dir) = tree.write();
    let c = config(&text);
    let mut r = Resolver::new(&dir, &c);
    let top = r.lookup(b"m0").unwrap()[0];
    let err = r.probe_list(top, false).unwrap_err();
    assert!(matches!(err, ResolveError::TooDeep { .. }), "{err}");
    assert!(err.to_string().contains("nest deeper than 256"), "{err}");
}

#[test]
fn alias_loops_end() {
    let (_t, dir) = basic();
    let c = config("alias a b\nalias b a\n");
    let mut r = Resolver::new(&dir, &c);
    let ids = r.lookup(b"a").unwrap();
    assert_eq!(names(&r, &ids), ["b"]);
    assert_eq!(r.path(ids[0]).unwrap(), None);
    assert_eq!(r.probe_list(ids[0], false).unwrap().len(), 1);
}

#[test]
fn options_for_the_name_and_the_alias() {
    let (_t, dir) = basic();
    let mut c =
        config("options top a=1\nalias nic top\noptions nic b=2\noptions usb-storage c=3\n");
    c.add_kernel_cmdline(b"top.d=4 usb_storage.e=5", &mut Vec::new());
    let mut r = Resolver::new(&dir, &c);
    let by_name = r.lookup(b"top").unwrap()[0];
    assert_eq!(r.options(by_name), b"a=1 d=4".to_vec());
    let by_alias = r.lookup(b"nic").unwrap()[0];
    assert_eq!(r.options(by_alias), b"a=1 b=2 d=4".to_vec());
    let usb = r.lookup(b"usb-storage").unwrap()[0];
    assert_eq!(r.options(usb), b"c=3 e=5".to_vec());
}

#[test]
fn commands_first_match_and_exact_names() {
    let (_t, dir) = basic();
    let c = config("install t* /bin/first\ninstall top /bin/second\ninstall ghost /bin/ghost\nremove only-rm /bin/rm\n");
    let mut r = Resolver::new(&dir, &c);
    let top = r.lookup(b"top").unwrap()[0];
    assert_eq!(r.install_command(top), Some(b"/bin/first".to_vec()));
    let ghost = r.lookup(b"ghost").unwrap();
    assert_eq!(names(&r, &ghost), ["ghost"]);
    assert_eq!(r.install_command(ghost[0]), Some(b"/bin/ghost".to_vec()));
    let rm = r.lookup(b"only-rm").unwrap();
    assert_eq!(r.remove_command(rm[0]), Some(b"/bin/rm".to_vec()));
    assert_eq!(r.install_command(rm[0]), None);
}

#[test]
fn weakdeps_resolve_but_are_not_planned() {
    let (_t, dir) = basic();
    let c = config("weakdep top post pre\n");
    let mut r = Resolver::new(&dir, &c);
    let top = r.lookup(b"top").unwrap()[0];
    let weak = r.weakdeps(top).unwrap();
    assert_eq!(names(&r, &weak), ["post", "pre"]);
    assert_eq!(plan(&mut r, "top", false), ["low!", "mid!", "top!"]);
}

#[test]
fn paths_name_their_module() {
    let (t, dir) = basic();
    let c = config("options top from-path=1\n");
    let mut r = Resolver::new(&dir, &c);
    let id = r.from_path(&t.path().join("kernel/top.ko")).unwrap();
    assert_eq!(r.name(id), b"top");
    assert_eq!(r.options(id), b"from-path=1".to_vec());
    let deps = r.dependencies(id).unwrap();
    assert_eq!(names(&r, &deps), ["low", "mid"]);
    assert!(r.from_path(Path::new("/nonexistent/x.ko")).is_err());
}

#[test]
fn softdep_names_that_cannot_be_looked_up_are_noticed() {
    let (_t, dir) = basic();
    let c = config("softdep top pre: bad[name post: post\n");
    let mut r = Resolver::new(&dir, &c);
    let top = r.lookup(b"top").unwrap()[0];
    let (pre, post) = r.softdeps(top).unwrap();
    assert!(pre.is_empty());
    assert_eq!(names(&r, &post), ["post"]);
    let notices = r.take_notices();
    assert_eq!(
        notices.iter().map(Notice::message).collect::<Vec<_>>(),
        ["failed to lookup dependency 'bad[name', continuing anyway."]
    );
}

//! modprobe's configuration, as libkmod reads it: the modprobe.d files, `modules.softdep` and
//! `modules.weakdep` from the module directory, and the kernel command line.
//!
//! [`Config::load`] reads everything a [`ConfigSources`] names and returns the merged
//! [`Config`] together with the [`ConfigWarning`]s kmod would have logged; it never fails and
//! never prints. The submodules document each input:
//! - [`sources`]: which directories and files are read, and in which order;
//! - [`modprobe_d`]: the line format and every directive;
//! - [`cmdline`]: `MODULE.param=value` and `modprobe.blacklist=` on the kernel command line.
//!
//! Entries keep kmod's order within each kind: files in reading order, line by line, then the
//! kernel command line. Names stay byte strings; module names are normalised where kmod
//! normalises them (see [`modprobe_d`]), so the queries compare bytes exactly, as libkmod does,
//! and expect normalised names (`usb_storage`, not `usb-storage`). Note the one asymmetry with
//! libkmod's module names: those come from `modname_normalize`, which also stops at the first
//! `.`, whereas configuration names are normalised without that stop, so `options foo.bar x`
//! never applies to a module `foo` (only to an alias spelled `foo.bar`).
//!
//! [`Config::render_modprobe_c`] prints the configuration the way `modprobe -c` does.

pub mod cmdline;
pub mod modprobe_d;
pub mod sources;
pub mod warning;

#[cfg(test)]
mod golden_tests;

use std::path::Path;

use crate::fnmatch::fnmatch;

pub use sources::{ConfigSources, DEFAULT_CONFIG_DIRS};
pub use warning::{ConfigWarning, WarningKind};

/// An `alias PATTERN MODULE` line.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// The alias, a shell wildcard pattern, normalised.
    pub pattern: Vec<u8>,
    /// The module it stands for, normalised.
    pub module: Vec<u8>,
}

/// An `options MODULE OPTIONS` line, or a `MODULE.param=value` from the kernel command line.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModOptions {
    /// The module (or alias) name, normalised.
    pub module: Vec<u8>,
    /// The options, as written (rest of the line, tabs turned into spaces).
    pub options: Vec<u8>,
}

/// An `install MODULE COMMAND` or `remove MODULE COMMAND` line.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModCommand {
    /// The module name, normalised; matched as a wildcard pattern by
    /// [`Config::install_command`].
    pub module: Vec<u8>,
    /// The shell command, exactly as written after the module name.
    pub command: Vec<u8>,
}

/// A `softdep MODULE pre: ... post: ...` line.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftDep {
    /// The module name, normalised; matched as a wildcard pattern.
    pub module: Vec<u8>,
    /// Modules to load before it, as written (not normalised).
    pub pre: Vec<Vec<u8>>,
    /// Modules to load after it, as written (not normalised).
    pub post: Vec<Vec<u8>>,
}

/// A `weakdep MODULE NAMES...` line (kmod 33 and later).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeakDep {
    /// The module name, normalised; matched as a wildcard pattern.
    pub module: Vec<u8>,
    /// Modules it may use, as written (not normalised).
    pub weak: Vec<Vec<u8>>,
}

/// The merged configuration, each kind of entry in kmod's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    aliases: Vec<Alias>,
    options: Vec<ModOptions>,
    install: Vec<ModCommand>,
    remove: Vec<ModCommand>,
    blacklist: Vec<Vec<u8>>,
    softdeps: Vec<SoftDep>,
    weakdeps: Vec<WeakDep>,
}

impl Config {
    /// An empty configuration.
    pub fn new() -> Config {
        Config::default()
    }

    /// Reads every source, in kmod's order: the configuration files sorted by name (see
    /// [`sources`]), then the kernel command line. Problems are returned as warnings, in the
    /// order kmod reports them; nothing here fails.
    pub fn load(sources: &ConfigSources) -> (Config, Vec<ConfigWarning>) {
        sources::load(sources)
    }

    /// Parses the contents of one modprobe.d file and appends its entries. `path` is used only
    /// to name the file in warnings.
    pub fn add_file(&mut self, path: &Path, contents: &[u8], warnings: &mut Vec<ConfigWarning>) {
        modprobe_d::parse(self, path, contents, warnings);
    }

    /// Parses a kernel command line (the contents of `/proc/cmdline`) and appends its options
    /// and blacklist entries.
    pub fn add_kernel_cmdline(&mut self, cmdline: &[u8], warnings: &mut Vec<ConfigWarning>) {
        cmdline::parse(self, cmdline, warnings);
    }

    pub(crate) fn push_options(&mut self, module: Vec<u8>, options: &[u8]) {
        self.options
            .push(modprobe_d::options_entry(module, options));
    }

    /// Every `alias` line, in order.
    pub fn aliases(&self) -> &[Alias] {
        &self.aliases
    }

    /// Every `options` entry, in order (files, then the kernel command line).
    pub fn options(&self) -> &[ModOptions] {
        &self.options
    }

    /// Every `install` line, in order.
    pub fn install_commands(&self) -> &[ModCommand] {
        &self.install
    }

    /// Every `remove` line, in order.
    pub fn remove_commands(&self) -> &[ModCommand] {
        &self.remove
    }

    /// Every blacklisted name, in order (files, then `modprobe.blacklist=`). Names from the
    /// kernel command line are kept as written, dashes included.
    pub fn blacklisted(&self) -> &[Vec<u8>] {
        &self.blacklist
    }

    /// Every `softdep` line, in order.
    pub fn softdeps(&self) -> &[SoftDep] {
        &self.softdeps
    }

    /// Every `weakdep` line, in order.
    pub fn weakdeps(&self) -> &[WeakDep] {
        &self.weakdeps
    }

    /// The modules of every `alias` whose pattern matches `name` (shell wildcards, as kmod's
    /// `fnmatch(pattern, name, 0)`), in order. `name` should be normalised as an alias
    /// (`-` to `_` outside brackets) first, as libkmod does.
    pub fn aliases_matching(&self, name: &[u8]) -> Vec<&[u8]> {
        self.alias_entries_matching(name)
            .into_iter()
            .map(|alias| alias.module.as_slice())
            .collect()
    }

    /// Like [`Config::aliases_matching`], with the pattern that matched: libkmod remembers it
    /// as the module's alias, and `options` given for that pattern apply too (see
    /// [`Config::module_options`]).
    pub fn alias_entries_matching(&self, name: &[u8]) -> Vec<&Alias> {
        self.aliases
            .iter()
            .filter(|alias| fnmatch(&alias.pattern, name))
            .collect()
    }

    /// The options strings given for exactly `modname`, in order: every file spelling
    /// (`usb-storage`, `usb_storage`) has been normalised already, and the kernel command line
    /// comes last.
    pub fn options_for(&self, modname: &[u8]) -> Vec<&[u8]> {
        self.options
            .iter()
            .filter(|o| o.module == modname)
            .map(|o| o.options.as_slice())
            .collect()
    }

    /// The options libkmod passes to a module: every non-empty options string given for
    /// `modname` or for the `alias` it was reached through, in order, joined with one space
    /// (kmod's `kmod_module_get_options`). Empty when there are none.
    pub fn module_options(&self, modname: &[u8], alias: Option<&[u8]>) -> Vec<u8> {
        let mut joined = Vec::new();
        for entry in &self.options {
            let for_us = entry.module == modname || alias.is_some_and(|a| entry.module == a);
            if !for_us || entry.options.is_empty() {
                continue;
            }
            if !joined.is_empty() {
                joined.push(b' ');
            }
            joined.extend_from_slice(&entry.options);
        }
        joined
    }

    /// The command of the first `install` line whose module pattern matches `modname`
    /// (wildcards allowed, first match only, as module-init-tools did).
    pub fn install_command(&self, modname: &[u8]) -> Option<&[u8]> {
        first_matching_command(&self.install, modname)
    }

    /// The command of the first `remove` line whose module pattern matches `modname`.
    pub fn remove_command(&self, modname: &[u8]) -> Option<&[u8]> {
        first_matching_command(&self.remove, modname)
    }

    /// The command of the first `install` line written for exactly `name`. libkmod uses this
    /// exact comparison when it resolves a name that only has an install command.
    pub fn install_command_exact(&self, name: &[u8]) -> Option<&[u8]> {
        self.install
            .iter()
            .find(|c| c.module == name)
            .map(|c| c.command.as_slice())
    }

    /// The command of the first `remove` line written for exactly `name`.
    pub fn remove_command_exact(&self, name: &[u8]) -> Option<&[u8]> {
        self.remove
            .iter()
            .find(|c| c.module == name)
            .map(|c| c.command.as_slice())
    }

    /// Whether `modname` is blacklisted: exactly equal to a blacklist entry (no wildcards).
    pub fn is_blacklisted(&self, modname: &[u8]) -> bool {
        self.blacklist.iter().any(|b| b == modname)
    }

    /// The first `softdep` line whose module pattern matches `modname`. kmod quirk (kmod issue
    /// #33): later matching lines are never used, not even merged.
    pub fn softdeps_for(&self, modname: &[u8]) -> Option<&SoftDep> {
        self.softdeps.iter().find(|s| fnmatch(&s.module, modname))
    }

    /// The first `weakdep` line whose module pattern matches `modname`; later ones are unused,
    /// as with softdeps.
    pub fn weakdeps_for(&self, modname: &[u8]) -> Option<&WeakDep> {
        self.weakdeps.iter().find(|w| fnmatch(&w.module, modname))
    }

    /// The configuration part of `modprobe -c`: the `blacklist`, `install`, `remove`,
    /// `alias`, `options`, `softdep` and `weakdep` lines, in that order, each kind in
    /// configuration order.
    ///
    /// This is only the first half of kmod's output. The `modprobe -c` front end prints after
    /// it `"\n# End of configuration files. Dumping indexes now:\n\n"` and then the dump of
    /// `modules.alias` and `modules.symbols` from the module directory's indexes.
    ///
    /// Deliberate difference: kmod (v30 to today) prints a softdep with both lists as
    /// `softdep m pre: a post: b` with the space before `post:` missing (`pre: apost: b`).
    /// rkmod prints the space. Everything else matches kmod byte for byte, including the
    /// trailing space of a softdep or weakdep line with no names (`softdep m `).
    pub fn render_modprobe_c(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut line = |kind: &[u8], key: &[u8], value: Option<&[u8]>| {
            out.extend_from_slice(kind);
            out.push(b' ');
            out.extend_from_slice(key);
            if let Some(value) = value {
                out.push(b' ');
                out.extend_from_slice(value);
            }
            out.push(b'\n');
        };
        for name in &self.blacklist {
            line(b"blacklist", name, None);
        }
        for c in &self.install {
            line(b"install", &c.module, Some(&c.command));
        }
        for c in &self.remove {
            line(b"remove", &c.module, Some(&c.command));
        }
        for a in &self.aliases {
            line(b"alias", &a.pattern, Some(&a.module));
        }
        for o in &self.options {
            line(b"options", &o.module, Some(&o.options));
        }
        for s in &self.softdeps {
            let mut value = Vec::new();
            if !s.pre.is_empty() {
                value.extend_from_slice(b"pre: ");
                value.extend_from_slice(&s.pre.join(&b' '));
            }
            if !s.post.is_empty() {
                if !value.is_empty() {
                    value.push(b' ');
                }
                value.extend_from_slice(b"post: ");
                value.extend_from_slice(&s.post.join(&b' '));
            }
            line(b"softdep", &s.module, Some(&value));
        }
        for w in &self.weakdeps {
            line(b"weakdep", &w.module, Some(&w.weak.join(&b' ')));
        }
        out
    }
}

fn first_matching_command<'a>(commands: &'a [ModCommand], modname: &[u8]) -> Option<&'a [u8]> {
    commands
        .iter()
        .find(|c| fnmatch(&c.module, modname))
        .map(|c| c.command.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        let mut c = Config::new();
        let mut w = Vec::new();
        c.add_file(Path::new("/t.conf"), text.as_bytes(), &mut w);
        assert!(w.is_empty(), "{w:?}");
        c
    }

    #[test]
    fn aliases_match_with_wildcards_in_order() {
        let c =
            config("alias my* uas\nalias myfoo usb-storage\nalias other x\nalias m?f[a-z]o* y\n");
        assert_eq!(
            c.aliases_matching(b"myfoo"),
            vec![&b"uas"[..], b"usb_storage", b"y"]
        );
        assert_eq!(c.aliases_matching(b"nothing"), Vec::<&[u8]>::new());
        assert_eq!(c.alias_entries_matching(b"myfoo")[0].pattern, b"my*");
    }

    #[test]
    fn options_for_every_spelling_then_cmdline() {
        let mut c = config("options usb-storage a=1\noptions usb_storage b=2\noptions other c=3\n");
        c.add_kernel_cmdline(b"usb-storage.d=4", &mut Vec::new());
        assert_eq!(
            c.options_for(b"usb_storage"),
            vec![&b"a=1"[..], b"b=2", b"d=4"]
        );
        assert_eq!(c.options_for(b"usb-storage"), Vec::<&[u8]>::new());
    }

    #[test]
    fn module_options_join_name_and_alias_options() {
        let mut c = config("options m a=1\noptions my* b=2\noptions m  \noptions n z=9\n");
        c.add_kernel_cmdline(b"m.=", &mut Vec::new());
        c.add_kernel_cmdline(b"m.", &mut Vec::new());
        assert_eq!(
            c.module_options(b"m", Some(b"my*")),
            b"a=1 b=2   =".to_vec()
        );
        assert_eq!(c.module_options(b"m", None), b"a=1   =".to_vec());
        assert_eq!(c.module_options(b"x", None), b"".to_vec());
    }

    #[test]
    fn install_and_remove_take_the_first_match_with_wildcards() {
        let c = config(
            "install snd-* /bin/first\ninstall snd-hda /bin/second\nremove snd_hda /bin/r1\n\
             remove snd_hda /bin/r2\n",
        );
        assert_eq!(c.install_command(b"snd_hda"), Some(&b"/bin/first"[..]));
        assert_eq!(
            c.install_command_exact(b"snd_hda"),
            Some(&b"/bin/second"[..])
        );
        assert_eq!(c.install_command_exact(b"snd_*"), Some(&b"/bin/first"[..]));
        assert_eq!(c.remove_command(b"snd_hda"), Some(&b"/bin/r1"[..]));
        assert_eq!(c.remove_command_exact(b"snd_hda"), Some(&b"/bin/r1"[..]));
        assert_eq!(c.install_command(b"other"), None);
    }

    #[test]
    fn blacklist_is_exact() {
        let mut c = config("blacklist pc-spkr\nblacklist snd*\n");
        c.add_kernel_cmdline(b"modprobe.blacklist=nou-veau", &mut Vec::new());
        assert!(c.is_blacklisted(b"pc_spkr"));
        assert!(!c.is_blacklisted(b"snd_hda"));
        assert!(c.is_blacklisted(b"snd*"));
        // kmod keeps command line names as written, so the normalised name does not match.
        assert!(!c.is_blacklisted(b"nou_veau"));
        assert!(c.is_blacklisted(b"nou-veau"));
    }

    #[test]
    fn only_the_first_matching_softdep_is_used() {
        let c = config("softdep uas pre: a\nsoftdep uas post: b\nsoftdep u* pre: c\n");
        let s = c.softdeps_for(b"uas").unwrap();
        assert_eq!(s.pre, vec![b"a".to_vec()]);
        assert!(s.post.is_empty());
        assert_eq!(c.softdeps_for(b"usb").unwrap().pre, vec![b"c".to_vec()]);
        assert!(c.softdeps_for(b"x").is_none());
    }

    #[test]
    fn only_the_first_matching_weakdep_is_used() {
        let c = config("weakdep m* a\nweakdep mod b\n");
        assert_eq!(c.weakdeps_for(b"mod").unwrap().weak, vec![b"a".to_vec()]);
        assert!(c.weakdeps_for(b"x").is_none());
    }

    #[test]
    fn render_sections_in_kmod_order() {
        let c = config(
            "softdep s pre: a\nweakdep w x y\noptions o v=1\nalias a-b c\nremove r /bin/r\n\
             install i /bin/i\nblacklist b\n",
        );
        assert_eq!(
            String::from_utf8(c.render_modprobe_c()).unwrap(),
            "blacklist b\ninstall i /bin/i\nremove r /bin/r\nalias a_b c\noptions o v=1\n\
             softdep s pre: a\nweakdep w x y\n"
        );
    }

    #[test]
    fn render_empty_softdep_and_weakdep_keep_trailing_space() {
        let c = config("softdep s nothing\nweakdep w \t\n");
        assert_eq!(c.render_modprobe_c(), b"softdep s \nweakdep w \n".to_vec());
    }

    /// kmod prints `pre: apost: b`; rkmod deliberately prints the missing space.
    #[test]
    fn render_softdep_with_both_lists_has_a_space_unlike_kmod() {
        let c = config("softdep uas pre: ehci-hcd post: usbhid\n");
        assert_eq!(
            c.render_modprobe_c(),
            b"softdep uas pre: ehci-hcd post: usbhid\n".to_vec()
        );
    }
}

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alias<'a> {
    /// The alias, a shell wildcard pattern, normalised.
    pub pattern: &'a [u8],
    /// The module it stands for, normalised.
    pub module: &'a [u8],
}

/// An `options MODULE OPTIONS` line, or a `MODULE.param=value` from the kernel command line.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModOptions<'a> {
    /// The module (or alias) name, normalised.
    pub module: &'a [u8],
    /// The options, as written (rest of the line, tabs turned into spaces).
    pub options: &'a [u8],
}

/// An `install MODULE COMMAND` or `remove MODULE COMMAND` line.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModCommand<'a> {
    /// The module name, normalised; matched as a wildcard pattern by
    /// [`Config::install_command`].
    pub module: &'a [u8],
    /// The shell command, exactly as written after the module name.
    pub command: &'a [u8],
}

/// A `softdep MODULE pre: ... post: ...` line.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftDep<'a> {
    /// The module name, normalised; matched as a wildcard pattern.
    pub module: &'a [u8],
    /// Modules to load before it, as written (not normalised).
    pub pre: Names<'a>,
    /// Modules to load after it, as written (not normalised).
    pub post: Names<'a>,
}

/// A `weakdep MODULE NAMES...` line (kmod 33 and later).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeakDep<'a> {
    /// The module name, normalised; matched as a wildcard pattern.
    pub module: &'a [u8],
    /// Modules it may use, as written (not normalised).
    pub weak: Names<'a>,
}

/// A list of names in a [`SoftDep`] or [`WeakDep`].
#[derive(Clone, Copy)]
pub struct Names<'a> {
    text: &'a [u8],
    spans: &'a [Span],
}

impl<'a> Names<'a> {
    /// The names, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let text = self.text;
        self.spans.iter().map(move |span| span.of(text))
    }

    /// How many names there are.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The names joined with `sep`.
    pub fn join(&self, sep: u8) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, name) in self.iter().enumerate() {
            if i > 0 {
                out.push(sep);
            }
            out.extend_from_slice(name);
        }
        out
    }
}

impl std::fmt::Debug for Names<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

impl PartialEq for Names<'_> {
    fn eq(&self, other: &Names<'_>) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Names<'_> {}

impl PartialEq<Vec<Vec<u8>>> for Names<'_> {
    fn eq(&self, other: &Vec<Vec<u8>>) -> bool {
        self.iter().eq(other.iter().map(Vec::as_slice))
    }
}

/// Where a string sits in a [`Config`]'s text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: usize,
    end: usize,
}

impl Span {
    fn of(self, text: &[u8]) -> &[u8] {
        text.get(self.start..self.end).unwrap_or_default()
    }
}

/// Where a list sits in a [`Config`]'s table of names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct List {
    start: usize,
    end: usize,
}

/// A kind of modprobe.d directive, in the order `modprobe -c` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectiveKind {
    /// `blacklist`
    Blacklist,
    /// `install`
    Install,
    /// `remove`
    Remove,
    /// `alias`
    Alias,
    /// `options`
    Options,
    /// `softdep`
    Softdep,
    /// `weakdep`
    Weakdep,
}

impl DirectiveKind {
    /// Every kind, in `modprobe -c` order.
    pub const ALL: [DirectiveKind; 7] = [
        DirectiveKind::Blacklist,
        DirectiveKind::Install,
        DirectiveKind::Remove,
        DirectiveKind::Alias,
        DirectiveKind::Options,
        DirectiveKind::Softdep,
        DirectiveKind::Weakdep,
    ];

    /// The directive's keyword.
    pub fn keyword(self) -> &'static [u8] {
        match self {
            DirectiveKind::Blacklist => b"blacklist",
            DirectiveKind::Install => b"install",
            DirectiveKind::Remove => b"remove",
            DirectiveKind::Alias => b"alias",
            DirectiveKind::Options => b"options",
            DirectiveKind::Softdep => b"softdep",
            DirectiveKind::Weakdep => b"weakdep",
        }
    }
}

/// The merged configuration, each kind of entry in kmod's order.
///
/// Every string is kept in one buffer (`text`) and every entry names its strings by position,
/// so that reading a configuration costs a few allocations rather than one or more per line:
/// a short run such as `modprobe --show-depends` spent a third of its parsing in `malloc`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    text: Vec<u8>,
    names: Vec<Span>,
    aliases: Vec<[Span; 2]>,
    options: Vec<[Span; 2]>,
    install: Vec<[Span; 2]>,
    remove: Vec<[Span; 2]>,
    blacklist: Vec<Span>,
    softdeps: Vec<(Span, List, List)>,
    weakdeps: Vec<(Span, List)>,
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

    /// The text added since it was `start` bytes long.
    fn span_since(&self, start: usize) -> Span {
        Span {
            start,
            end: self.text.len(),
        }
    }

    /// Appends `bytes` to the text.
    pub(crate) fn push_text(&mut self, bytes: &[u8]) -> Span {
        let start = self.text.len();
        self.text.extend_from_slice(bytes);
        self.span_since(start)
    }

    /// Appends `name` normalised as kmod normalises configuration names (`-` to `_` outside
    /// brackets); on a bad name, nothing is kept and the error is the name as kmod shows it.
    pub(crate) fn push_name(&mut self, name: &[u8]) -> Result<Span, Vec<u8>> {
        let start = self.text.len();
        match modprobe_d::underscores_into(&mut self.text, name) {
            Ok(()) => Ok(self.span_since(start)),
            Err(()) => {
                let shown = self.text.get(start..).unwrap_or_default().to_vec();
                self.text.truncate(start);
                Err(shown)
            }
        }
    }

    /// Appends a list of names (as written) to the table of names.
    pub(crate) fn push_list<'w>(&mut self, words: impl IntoIterator<Item = &'w [u8]>) -> List {
        let start = self.names.len();
        for word in words {
            let span = self.push_text(word);
            self.names.push(span);
        }
        List {
            start,
            end: self.names.len(),
        }
    }

    /// Adds an `options` entry the way kmod stores it: tabs become spaces.
    pub(crate) fn push_options(&mut self, module: Span, options: &[u8]) {
        let start = self.text.len();
        self.text
            .extend(options.iter().map(|&b| if b == b'\t' { b' ' } else { b }));
        let options = self.span_since(start);
        self.options.push([module, options]);
    }

    fn str(&self, span: Span) -> &[u8] {
        span.of(&self.text)
    }

    fn list(&self, list: List) -> Names<'_> {
        Names {
            text: &self.text,
            spans: self.names.get(list.start..list.end).unwrap_or_default(),
        }
    }

    fn alias_at(&self, [pattern, module]: [Span; 2]) -> Alias<'_> {
        Alias {
            pattern: self.str(pattern),
            module: self.str(module),
        }
    }

    fn command_at(&self, [module, command]: [Span; 2]) -> ModCommand<'_> {
        ModCommand {
            module: self.str(module),
            command: self.str(command),
        }
    }

    fn softdep_at(&self, (module, pre, post): (Span, List, List)) -> SoftDep<'_> {
        SoftDep {
            module: self.str(module),
            pre: self.list(pre),
            post: self.list(post),
        }
    }

    fn weakdep_at(&self, (module, weak): (Span, List)) -> WeakDep<'_> {
        WeakDep {
            module: self.str(module),
            weak: self.list(weak),
        }
    }

    /// Every `alias` line, in order.
    pub fn aliases(&self) -> impl ExactSizeIterator<Item = Alias<'_>> + '_ {
        self.aliases.iter().map(|&a| self.alias_at(a))
    }

    /// Every `options` entry, in order (files, then the kernel command line).
    pub fn options(&self) -> impl ExactSizeIterator<Item = ModOptions<'_>> + '_ {
        self.options.iter().map(|&[module, options]| ModOptions {
            module: self.str(module),
            options: self.str(options),
        })
    }

    /// Every `install` line, in order.
    pub fn install_commands(&self) -> impl ExactSizeIterator<Item = ModCommand<'_>> + '_ {
        self.install.iter().map(|&c| self.command_at(c))
    }

    /// Every `remove` line, in order.
    pub fn remove_commands(&self) -> impl ExactSizeIterator<Item = ModCommand<'_>> + '_ {
        self.remove.iter().map(|&c| self.command_at(c))
    }

    /// Every blacklisted name, in order (files, then `modprobe.blacklist=`). Names from the
    /// kernel command line are kept as written, dashes included.
    pub fn blacklisted(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.blacklist.iter().map(|&b| self.str(b))
    }

    /// Every `softdep` line, in order.
    pub fn softdeps(&self) -> impl ExactSizeIterator<Item = SoftDep<'_>> + '_ {
        self.softdeps.iter().map(|&s| self.softdep_at(s))
    }

    /// Every `weakdep` line, in order.
    pub fn weakdeps(&self) -> impl ExactSizeIterator<Item = WeakDep<'_>> + '_ {
        self.weakdeps.iter().map(|&w| self.weakdep_at(w))
    }

    /// The modules of every `alias` whose pattern matches `name` (shell wildcards, as kmod's
    /// `fnmatch(pattern, name, 0)`), in order. `name` should be normalised as an alias
    /// (`-` to `_` outside brackets) first, as libkmod does.
    pub fn aliases_matching(&self, name: &[u8]) -> Vec<&[u8]> {
        self.alias_entries_matching(name)
            .into_iter()
            .map(|alias| alias.module)
            .collect()
    }

    /// Like [`Config::aliases_matching`], with the pattern that matched: libkmod remembers it
    /// as the module's alias, and `options` given for that pattern apply too (see
    /// [`Config::module_options`]).
    pub fn alias_entries_matching(&self, name: &[u8]) -> Vec<Alias<'_>> {
        self.aliases()
            .filter(|alias| fnmatch(alias.pattern, name))
            .collect()
    }

    /// The options strings given for exactly `modname`, in order: every file spelling
    /// (`usb-storage`, `usb_storage`) has been normalised already, and the kernel command line
    /// comes last.
    pub fn options_for(&self, modname: &[u8]) -> Vec<&[u8]> {
        self.options()
            .filter(|o| o.module == modname)
            .map(|o| o.options)
            .collect()
    }

    /// The options libkmod passes to a module: every non-empty options string given for
    /// `modname` or for the `alias` it was reached through, in order, joined with one space
    /// (kmod's `kmod_module_get_options`). Empty when there are none.
    pub fn module_options(&self, modname: &[u8], alias: Option<&[u8]>) -> Vec<u8> {
        let mut joined = Vec::new();
        for entry in self.options() {
            let for_us = entry.module == modname || alias.is_some_and(|a| entry.module == a);
            if !for_us || entry.options.is_empty() {
                continue;
            }
            if !joined.is_empty() {
                joined.push(b' ');
            }
            joined.extend_from_slice(entry.options);
        }
        joined
    }

    /// The command of the first `install` line whose module pattern matches `modname`
    /// (wildcards allowed, first match only, as module-init-tools did).
    pub fn install_command(&self, modname: &[u8]) -> Option<&[u8]> {
        first_matching_command(self.install_commands(), modname)
    }

    /// The command of the first `remove` line whose module pattern matches `modname`.
    pub fn remove_command(&self, modname: &[u8]) -> Option<&[u8]> {
        first_matching_command(self.remove_commands(), modname)
    }

    /// The command of the first `install` line written for exactly `name`. libkmod uses this
    /// exact comparison when it resolves a name that only has an install command.
    pub fn install_command_exact(&self, name: &[u8]) -> Option<&[u8]> {
        self.install_commands()
            .find(|c| c.module == name)
            .map(|c| c.command)
    }

    /// The command of the first `remove` line written for exactly `name`.
    pub fn remove_command_exact(&self, name: &[u8]) -> Option<&[u8]> {
        self.remove_commands()
            .find(|c| c.module == name)
            .map(|c| c.command)
    }

    /// Whether `modname` is blacklisted: exactly equal to a blacklist entry (no wildcards).
    pub fn is_blacklisted(&self, modname: &[u8]) -> bool {
        self.blacklisted().any(|b| b == modname)
    }

    /// The first `softdep` line whose module pattern matches `modname`. kmod quirk (kmod issue
    /// #33): later matching lines are never used, not even merged.
    pub fn softdeps_for(&self, modname: &[u8]) -> Option<SoftDep<'_>> {
        self.softdeps().find(|s| fnmatch(s.module, modname))
    }

    /// The first `weakdep` line whose module pattern matches `modname`; later ones are unused,
    /// as with softdeps.
    pub fn weakdeps_for(&self, modname: &[u8]) -> Option<WeakDep<'_>> {
        self.weakdeps().find(|w| fnmatch(w.module, modname))
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
        for kind in DirectiveKind::ALL {
            for (key, value) in self.directives(kind) {
                out.extend_from_slice(kind.keyword());
                out.push(b' ');
                out.extend_from_slice(&key);
                if let Some(value) = value {
                    out.push(b' ');
                    out.extend_from_slice(&value);
                }
                out.push(b'\n');
            }
        }
        out
    }

    /// Every directive of one kind as a key and a value, in the order `modprobe -c` and
    /// libkmod's `kmod_config_get_*` iterators give them: `blacklist NAME` (no value),
    /// `install`/`remove MODULE COMMAND`, `alias PATTERN MODULE`, `options MODULE OPTIONS`,
    /// `softdep MODULE "pre: A B post: C"` and `weakdep MODULE "A B"`.
    pub fn directives(&self, kind: DirectiveKind) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let pair = |key: &[u8], value: &[u8]| (key.to_vec(), Some(value.to_vec()));
        match kind {
            DirectiveKind::Blacklist => self.blacklisted().map(|n| (n.to_vec(), None)).collect(),
            DirectiveKind::Install => self
                .install_commands()
                .map(|c| pair(c.module, c.command))
                .collect(),
            DirectiveKind::Remove => self
                .remove_commands()
                .map(|c| pair(c.module, c.command))
                .collect(),
            DirectiveKind::Alias => self.aliases().map(|a| pair(a.pattern, a.module)).collect(),
            DirectiveKind::Options => self.options().map(|o| pair(o.module, o.options)).collect(),
            DirectiveKind::Softdep => self
                .softdeps()
                .map(|s| {
                    let mut value = Vec::new();
                    if !s.pre.is_empty() {
                        value.extend_from_slice(b"pre: ");
                        value.extend_from_slice(&s.pre.join(b' '));
                    }
                    if !s.post.is_empty() {
                        if !value.is_empty() {
                            value.push(b' ');
                        }
                        value.extend_from_slice(b"post: ");
                        value.extend_from_slice(&s.post.join(b' '));
                    }
                    (s.module.to_vec(), Some(value))
                })
                .collect(),
            DirectiveKind::Weakdep => self
                .weakdeps()
                .map(|w| (w.module.to_vec(), Some(w.weak.join(b' '))))
                .collect(),
        }
    }
}

/// The first entry an accessor gives, for tests.
#[cfg(test)]
pub(crate) fn first<T>(mut entries: impl Iterator<Item = T>) -> T {
    entries.next().expect("an entry")
}

fn first_matching_command<'a>(
    mut commands: impl Iterator<Item = ModCommand<'a>>,
    modname: &[u8],
) -> Option<&'a [u8]> {
    commands
        .find(|c| fnmatch(c.module, modname))
        .map(|c| c.command)
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

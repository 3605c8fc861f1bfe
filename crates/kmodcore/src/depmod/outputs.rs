//! The eleven files depmod writes, rendered into memory, byte for byte as kmod writes them.
//!
//! | file | content |
//! |---|---|
//! | `modules.dep` | `PATH: DEP DEP...` per module in order; PATH relative to the module directory (full path outside it); the full dependency list, users before what they use |
//! | `modules.dep.bin` | index: module name → its modules.dep line (no newline), priority = position |
//! | `modules.alias` | `# Aliases extracted from modules themselves.` then `alias ALIAS NAME` per `alias=` value, as written |
//! | `modules.alias.bin` | index: alias with `-` → `_` outside `[...]` → name (an unmatched bracket: warned, skipped) |
//! | `modules.softdep` | `# Soft dependencies extracted from modules themselves.` then `softdep NAME VALUE` |
//! | `modules.weakdep` | `# Weak dependencies extracted from modules themselves.` then `weakdep NAME VALUE` |
//! | `modules.symbols` | `# Aliases for symbols, used by symbol_request().` then `alias symbol:SYM NAME` in symbol-table order |
//! | `modules.symbols.bin` | index: `symbol:SYM` → owner name, priority = owner's position |
//! | `modules.builtin.bin` | index: each `modules.builtin` line's module name → `""`, priority 0; empty file without input |
//! | `modules.builtin.alias.bin` | index: `alias` records of `modules.builtin.modinfo` (`NAME.alias=VALUE\0`) → NAME, priority 0; empty file without input |
//! | `modules.devname` | `NAME DEVNAME cMAJ:MIN` (or `b`) for modules with a `devname:` alias and a `char-major-M-m`/`block-major-M-m` alias, after a header line; empty when none |
//!
//! Text lines end with `\n`. The binary index format is documented in [`crate::index`].
//! When writing to standard output (`-n`), only the text files are produced, in the same order.
//!
//! `modules.builtin` is read in `fgets` pieces of at most 4095 bytes; a piece must start with
//! a letter (else it is reported and skipped) and its module name is the part of its last
//! path component before the first `.` (normalised), which keeps a trailing newline when the
//! component has no `.` at all, as kmod does. `modules.builtin.modinfo` is read field by field
//! exactly as kmod's `fgetc` loop reads it, including its 4096-byte field limit.

use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::graph::{closure, Linked, Module};
use super::scan::{read_input, LINE_BUFFER};
use super::{Diagnostic, Fatal};
use crate::fs::fgets_pieces;
use crate::index::{IndexBuilder, IndexError};

/// The file names, in the order kmod writes them.
pub use crate::layout::OUTPUT_FILES as FILE_NAMES;

/// kmod's alias and module name buffer (`PATH_MAX`).
const NAME_BUFFER: usize = 4096;

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// Its name in the module directory.
    pub name: &'static str,
    /// Its complete contents.
    pub bytes: Vec<u8>,
}

/// What the outputs are made from.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The modules, in depmod's order.
    pub modules: &'a [Module],
    /// Their dependencies and symbols.
    pub linked: &'a Linked<'a>,
    /// The module directory, where `modules.builtin` and `modules.builtin.modinfo` are read.
    pub dirname: &'a [u8],
    /// `-w`: warn about duplicate index entries.
    pub warn_duplicates: bool,
}

#[derive(Clone, Copy)]
enum Kind {
    Dep,
    DepBin,
    Alias,
    AliasBin,
    Softdep,
    Weakdep,
    Symbols,
    SymbolsBin,
    BuiltinBin,
    BuiltinAliasBin,
    Devname,
}

const KINDS: [Kind; 11] = [
    Kind::Dep,
    Kind::DepBin,
    Kind::Alias,
    Kind::AliasBin,
    Kind::Softdep,
    Kind::Weakdep,
    Kind::Symbols,
    Kind::SymbolsBin,
    Kind::BuiltinBin,
    Kind::BuiltinAliasBin,
    Kind::Devname,
];

impl Kind {
    /// Where the file comes in the order of rendering, costliest first (measured on Debian's
    /// 6.1 tree: the alias and symbol indexes take most of the time).
    fn cost_rank(self) -> u8 {
        match self {
            Kind::AliasBin => 0,
            Kind::SymbolsBin => 1,
            Kind::DepBin => 2,
            Kind::Alias => 3,
            Kind::Symbols => 4,
            Kind::Dep => 5,
            Kind::Devname => 6,
            Kind::Softdep => 7,
            Kind::Weakdep => 8,
            Kind::BuiltinAliasBin => 9,
            Kind::BuiltinBin => 10,
        }
    }

    fn is_binary(self) -> bool {
        matches!(
            self,
            Kind::DepBin
                | Kind::AliasBin
                | Kind::SymbolsBin
                | Kind::BuiltinBin
                | Kind::BuiltinAliasBin
        )
    }
}

type Rendered = Result<(Vec<u8>, Vec<Diagnostic>), Fatal>;

/// What receives each output file as soon as it is rendered, before the others are done (the
/// publisher, to start writing it): its name and contents.
pub type Sink<'s> = &'s (dyn Fn(&'static str, &[u8]) + Sync);

/// Renders the outputs: all eleven files, or (`to_stdout`) only the text ones. Files are built
/// in parallel, each handed to `sink` (if any) as it is done; diagnostics come back in kmod's
/// file order.
pub fn render(
    inputs: &Inputs<'_>,
    to_stdout: bool,
    diagnostics: &mut Vec<Diagnostic>,
    sink: Option<Sink<'_>>,
) -> Result<Vec<OutputFile>, Fatal> {
    let lines = dep_lines(inputs);
    let selected: Vec<(usize, Kind)> = KINDS
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, k)| !(to_stdout && k.is_binary()))
        .collect();
    // The files differ in cost by two orders of magnitude: each worker takes the next file,
    // costliest first, so that the largest index does not start last and finish alone.
    let mut by_cost: Vec<usize> = (0..selected.len()).collect();
    by_cost.sort_by_key(|&i| selected.get(i).map_or(0, |&(_, kind)| kind.cost_rank()));
    let next = AtomicUsize::new(0);
    let workers = rayon::current_num_threads().clamp(1, selected.len().max(1));
    let mut rendered: Vec<(usize, Rendered)> = (0..workers)
        .into_par_iter()
        .with_max_len(1)
        .map(|_| {
            let mut done = Vec::new();
            while let Some(&at) = by_cost.get(next.fetch_add(1, Ordering::Relaxed)) {
                if let Some(&(i, kind)) = selected.get(at) {
                    let rendered = render_one(inputs, &lines, kind);
                    if let (Some(sink), Ok((bytes, _))) = (sink, &rendered) {
                        sink(file_name(i), bytes);
                    }
                    done.push((at, rendered));
                }
            }
            done
        })
        .flatten()
        .collect();
    rendered.sort_unstable_by_key(|&(at, _)| at);
    let mut files = Vec::with_capacity(rendered.len());
    for ((i, _), (_, result)) in selected.into_iter().zip(rendered) {
        let (bytes, diags) = result?;
        diagnostics.extend(diags);
        files.push(OutputFile {
            name: file_name(i),
            bytes,
        });
    }
    Ok(files)
}

/// The name of the output file at `i` of [`KINDS`].
fn file_name(i: usize) -> &'static str {
    FILE_NAMES.get(i).copied().unwrap_or("modules.unknown")
}

/// Each module's modules.dep line, without the newline.
fn dep_lines(inputs: &Inputs<'_>) -> Vec<Vec<u8>> {
    let count = inputs.modules.len();
    (0..count)
        .into_par_iter()
        .map_init(
            || vec![0usize; count],
            |seen, index| {
                let module = inputs.modules.get(index);
                let mut line = module
                    .map(|m| m.found.dep_path().to_vec())
                    .unwrap_or_default();
                line.push(b':');
                for dep in closure(inputs.linked, index, seen) {
                    if let Some(d) = inputs.modules.get(dep as usize) {
                        line.push(b' ');
                        line.extend_from_slice(d.found.dep_path());
                    }
                }
                line
            },
        )
        .collect()
}

/// Inserts into an index, turning kmod's fatal "bad character" into [`Fatal`].
fn insert(
    index: &mut IndexBuilder,
    key: &[u8],
    value: &[u8],
    priority: u32,
) -> Result<bool, Fatal> {
    index
        .insert(key, value, priority)
        .map_err(|error| match error {
            IndexError::NonAscii { byte } => {
                let offending = if key.iter().any(|&b| b >= 0x80) {
                    key
                } else {
                    value
                };
                Fatal::IndexCharacter {
                    byte,
                    string: offending.to_vec(),
                }
            }
            other => Fatal::Index { error: other },
        })
}

/// A builder that finds duplicate insertions only when they are to be warned about (`-w`).
fn builder(warn_duplicates: bool) -> IndexBuilder {
    if warn_duplicates {
        IndexBuilder::new()
    } else {
        IndexBuilder::without_duplicate_check()
    }
}

fn finish(index: &IndexBuilder) -> Result<Vec<u8>, Fatal> {
    index.to_bytes().map_err(|error| Fatal::Index { error })
}

fn priority(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

/// Renders the output file of `kind`, with the diagnostics kmod prints while writing it.
///
/// One arm per output file, each short: the function is a table of the eleven files and reads
/// best whole, beside the order kmod writes them in.
fn render_one(inputs: &Inputs<'_>, lines: &[Vec<u8>], kind: Kind) -> Rendered {
    let modules = inputs.modules;
    let mut out = Vec::new();
    let mut diags = Vec::new();
    match kind {
        Kind::Dep => {
            out.reserve(lines.iter().map(|l| l.len() + 1).sum());
            for line in lines {
                out.extend_from_slice(line);
                out.push(b'\n');
            }
        }
        Kind::DepBin => {
            let mut index = builder(inputs.warn_duplicates);
            for (i, (module, line)) in modules.iter().zip(lines).enumerate() {
                if insert(&mut index, &module.found.name, line, priority(i))?
                    && inputs.warn_duplicates
                {
                    diags.push(Diagnostic::DuplicateDeps { line: line.clone() });
                }
            }
            out = finish(&index)?;
        }
        Kind::Alias => {
            out.extend_from_slice(b"# Aliases extracted from modules themselves.\n");
            for module in modules {
                let s = &module.symbols;
                for &alias in &s.aliases {
                    out.extend_from_slice(b"alias ");
                    out.extend_from_slice(s.get(alias));
                    out.push(b' ');
                    out.extend_from_slice(&module.found.name);
                    out.push(b'\n');
                }
            }
        }
        Kind::AliasBin => {
            let mut index = builder(inputs.warn_duplicates);
            let mut normalized = Vec::new();
            for (i, module) in modules.iter().enumerate() {
                let s = &module.symbols;
                for &alias in &s.aliases {
                    let value = s.get(alias);
                    if !normalize_alias_into(value, &mut normalized) {
                        diags.push(Diagnostic::UnmatchedBracket {
                            alias: value.to_vec(),
                        });
                        continue;
                    }
                    if insert(&mut index, &normalized, &module.found.name, priority(i))?
                        && inputs.warn_duplicates
                    {
                        diags.push(Diagnostic::DuplicateAlias {
                            alias: normalized.clone(),
                            module: module.found.name.clone(),
                        });
                    }
                }
            }
            out = finish(&index)?;
        }
        Kind::Softdep | Kind::Weakdep => {
            let (header, word): (&[u8], &[u8]) = if matches!(kind, Kind::Softdep) {
                (
                    b"# Soft dependencies extracted from modules themselves.\n",
                    b"softdep ",
                )
            } else {
                (
                    b"# Weak dependencies extracted from modules themselves.\n",
                    b"weakdep ",
                )
            };
            out.extend_from_slice(header);
            for module in modules {
                let s = &module.symbols;
                let values = if matches!(kind, Kind::Softdep) {
                    &s.softdeps
                } else {
                    &s.weakdeps
                };
                for &value in values {
                    out.extend_from_slice(word);
                    out.extend_from_slice(&module.found.name);
                    out.push(b' ');
                    out.extend_from_slice(s.get(value));
                    out.push(b'\n');
                }
            }
        }
        Kind::Symbols => {
            out.extend_from_slice(b"# Aliases for symbols, used by symbol_request().\n");
            for (name, owner) in &inputs.linked.symbols {
                if let Some(module) = modules.get(*owner as usize) {
                    out.extend_from_slice(b"alias symbol:");
                    out.extend_from_slice(name);
                    out.push(b' ');
                    out.extend_from_slice(&module.found.name);
                    out.push(b'\n');
                }
            }
        }
        Kind::SymbolsBin => {
            let mut index = builder(inputs.warn_duplicates);
            let mut key = Vec::new();
            for (name, owner) in &inputs.linked.symbols {
                let Some(module) = modules.get(*owner as usize) else {
                    continue;
                };
                key.clear();
                key.extend_from_slice(b"symbol:");
                key.extend_from_slice(name);
                if insert(&mut index, &key, &module.found.name, *owner)? && inputs.warn_duplicates {
                    diags.push(Diagnostic::DuplicateSymbol {
                        key: key.clone(),
                        module: module.found.name.clone(),
                    });
                }
            }
            out = finish(&index)?;
        }
        Kind::BuiltinBin => {
            if let Some(builtin) = read_input(inputs.dirname, crate::layout::BUILTIN, &mut diags) {
                let mut index = builder(false);
                for piece in fgets_pieces(&builtin, LINE_BUFFER) {
                    let line = c_string(piece);
                    if !line.first().is_some_and(u8::is_ascii_alphabetic) {
                        diags.push(Diagnostic::BuiltinBadLine {
                            line: line.to_vec(),
                        });
                        continue;
                    }
                    let Some(name) = builtin_name(line) else {
                        continue;
                    };
                    insert(&mut index, &name, b"", 0)?;
                }
                out = finish(&index)?;
            }
        }
        Kind::BuiltinAliasBin => {
            if let Some(modinfo) =
                read_input(inputs.dirname, crate::layout::BUILTIN_MODINFO, &mut diags)
            {
                let mut index = builder(false);
                for (alias, module) in builtin_aliases(&modinfo, &mut diags) {
                    insert(&mut index, &alias, &module, 0)?;
                }
                out = finish(&index)?;
            }
        }
        Kind::Devname => {
            for module in modules {
                render_devname(module, &mut out, &mut diags);
            }
        }
    }
    Ok((out, diags))
}

fn c_string(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    bytes.get(..end).unwrap_or_default()
}

/// kmod's `alias_normalize` into a `PATH_MAX` buffer: `-` becomes `_` outside `[...]`; an
/// unmatched bracket (or one cut by the 4095-byte limit) gives `None`; longer aliases are cut.
pub fn normalize_alias(alias: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    normalize_alias_into(alias, &mut out).then_some(out)
}

/// [`normalize_alias`] into `out` (cleared first); whether the alias was well formed.
fn normalize_alias_into(alias: &[u8], out: &mut Vec<u8>) -> bool {
    let cut = alias
        .get(..alias.len().min(NAME_BUFFER - 1))
        .unwrap_or(alias);
    crate::modname::normalize_alias_into(cut, out)
}

/// The module name of a `modules.builtin` line (see the module documentation).
fn builtin_name(line: &[u8]) -> Option<Vec<u8>> {
    let base = match line.iter().rposition(|&b| b == b'/') {
        Some(slash) => line.get(slash + 1..)?,
        None => line,
    };
    if base.is_empty() {
        return None;
    }
    let stem = base.split(|&b| b == b'.').next().unwrap_or(base);
    let stem = stem.get(..stem.len().min(NAME_BUFFER - 1)).unwrap_or(stem);
    Some(crate::modname::normalize_name(stem))
}

/// A byte reader emulating kmod's `fgetc` loops over modules.builtin.modinfo.
struct FieldReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    eof: bool,
}

impl FieldReader<'_> {
    fn getc(&mut self) -> Option<u8> {
        match self.bytes.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Some(b)
            }
            None => {
                self.eof = true;
                None
            }
        }
    }

    /// Reads up to `end` (or NUL, or EOF) into at most `NAME_BUFFER` bytes; the field only
    /// counts when it ended at `end`.
    fn field(&mut self, end: u8, diags: &mut Vec<Diagnostic>) -> Vec<u8> {
        let mut buf = Vec::new();
        let stop = loop {
            let c = self.getc();
            match c {
                Some(b) if b != end && b != 0 && buf.len() < NAME_BUFFER => buf.push(b),
                other => break other,
            }
        };
        if buf.len() == NAME_BUFFER {
            diags.push(Diagnostic::BuiltinFieldTooLong {
                partial: buf.clone(),
            });
            buf.pop();
        }
        if stop == Some(end) {
            buf
        } else {
            Vec::new()
        }
    }

    fn skip_record(&mut self) {
        while let Some(b) = self.getc() {
            if b == 0 {
                break;
            }
        }
    }
}

/// The (normalised alias, module) pairs of modules.builtin.modinfo, in file order.
fn builtin_aliases(bytes: &[u8], diags: &mut Vec<Diagnostic>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut reader = FieldReader {
        bytes,
        pos: 0,
        eof: false,
    };
    let mut out = Vec::new();
    while !reader.eof {
        let module = reader.field(b'.', diags);
        if module.is_empty() {
            continue;
        }
        let key = reader.field(b'=', diags);
        if key != b"alias" {
            reader.skip_record();
            continue;
        }
        let value = reader.field(0, diags);
        if value.is_empty() {
            continue;
        }
        match normalize_alias(&value) {
            Some(alias) => out.push((alias, module)),
            None => diags.push(Diagnostic::UnmatchedBracket { alias: value }),
        }
    }
    out
}

/// `sscanf(value, "PREFIX%u-%u")`: two unsigned numbers as glibc converts them.
fn major_minor(value: &[u8], prefix: &[u8]) -> Option<(u32, u32)> {
    let rest = value.strip_prefix(prefix)?;
    let (major, rest) = scan_unsigned(rest)?;
    let rest = rest.strip_prefix(b"-")?;
    let (minor, _) = scan_unsigned(rest)?;
    Some((major, minor))
}

/// One `%u` conversion: optional white space and sign, then digits; the value wraps into 32
/// bits as glibc stores it (an overflowing value saturates first, as `strtoul` does).
fn scan_unsigned(text: &[u8]) -> Option<(u32, &[u8])> {
    let mut rest = text;
    while rest.first().is_some_and(|b| b.is_ascii_whitespace()) {
        rest = rest.get(1..)?;
    }
    let negative = rest.first() == Some(&b'-');
    if matches!(rest.first(), Some(b'-') | Some(b'+')) {
        rest = rest.get(1..)?;
    }
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let mut value: u64 = 0;
    for &d in rest.get(..digits)? {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .unwrap_or(u64::MAX);
    }
    if negative && value != u64::MAX {
        value = value.wrapping_neg();
    }
    // Truncation to unsigned int, as the conversion stores it.
    Some(((value & 0xffff_ffff) as u32, rest.get(digits..)?))
}

fn render_devname(module: &Module, out: &mut Vec<u8>, diags: &mut Vec<Diagnostic>) {
    let s = &module.symbols;
    let mut devname: Option<&[u8]> = None;
    let mut node: Option<(u8, u32, u32)> = None;
    for &alias in &s.aliases {
        let value = s.get(alias);
        if let Some(name) = value.strip_prefix(b"devname:") {
            devname = Some(name);
        } else if let Some((major, minor)) = major_minor(value, b"char-major-") {
            node = Some((b'c', major, minor));
        } else if let Some((major, minor)) = major_minor(value, b"block-major-") {
            node = Some((b'b', major, minor));
        }
        if node.is_some() && devname.is_some() {
            break;
        }
    }
    let Some(devname) = devname else {
        return;
    };
    let Some((kind, major, minor)) = node else {
        diags.push(Diagnostic::DevnameWithoutNumbers {
            module: module.found.name.clone(),
            devname: devname.to_vec(),
        });
        return;
    };
    if out.is_empty() {
        out.extend_from_slice(b"# Device nodes to trigger on-demand module loading.\n");
    }
    out.extend_from_slice(&module.found.name);
    out.push(b' ');
    out.extend_from_slice(devname);
    out.push(b' ');
    out.push(kind);
    out.extend_from_slice(format!("{major}:{minor}\n").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_minor_like_sscanf() {
        assert_eq!(
            major_minor(b"char-major-10-229", b"char-major-"),
            Some((10, 229))
        );
        assert_eq!(major_minor(b"char-major-10-*", b"char-major-"), None);
        assert_eq!(
            major_minor(b"char-major- 10-+3x", b"char-major-"),
            Some((10, 3))
        );
        assert_eq!(major_minor(b"block-major-8-0", b"char-major-"), None);
        assert_eq!(
            major_minor(b"char-major--1-2", b"char-major-"),
            Some((u32::MAX, 2))
        );
    }

    #[test]
    fn builtin_names() {
        assert_eq!(
            builtin_name(b"kernel/fs/ext4/ext4.ko\n"),
            Some(b"ext4".to_vec())
        );
        assert_eq!(
            builtin_name(b"kernel/a/usb-common.ko\n"),
            Some(b"usb_common".to_vec())
        );
        assert_eq!(builtin_name(b"kernel/a/noext\n"), Some(b"noext\n".to_vec()));
        assert_eq!(builtin_name(b"kernel/"), None);
    }

    #[test]
    fn builtin_modinfo_records() {
        let mut diags = Vec::new();
        let data = b"ext4.alias=fs-ext4\0ext4.license=GPL\0usb_common.alias=usb:v*d-1[0-9]\0noequals\0x.alias=bad]\0";
        let got = builtin_aliases(data, &mut diags);
        assert_eq!(
            got,
            vec![
                (b"fs_ext4".to_vec(), b"ext4".to_vec()),
                (b"usb:v*d_1[0-9]".to_vec(), b"usb_common".to_vec()),
            ]
        );
        assert_eq!(diags.len(), 1);
    }
}

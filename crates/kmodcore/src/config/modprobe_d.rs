//! The modprobe.d file format, as libkmod reads it.
//!
//! # Lines
//! - A file is a sequence of bytes split at `\n`. A `\` followed by a newline joins the next
//!   physical line to this one; a `\` followed by any other byte stands for that byte alone (so
//!   `\\` is one backslash and `\$` is `$`); a `\` at the very end of the file is dropped.
//! - A logical line is cut at its first NUL byte.
//! - A line that is empty or whose very first byte is `#` is skipped. A `#` after leading
//!   blanks is *not* a comment: the line is a bad line starting with `#...`, and a `#` later in
//!   a line is ordinary text.
//! - Warnings give the number of the *last* physical line of a continued line.
//!
//! # Words
//! Words are separated by runs of spaces and tabs only (a `\r` from a CRLF file stays part of
//! the last word). The first word is the command; commands are case-sensitive.
//!
//! | command | arguments | stored |
//! |---|---|---|
//! | `alias PATTERN MODULE` | two words, more are ignored | both names normalised |
//! | `blacklist MODULE` | one word, more are ignored | normalised |
//! | `options MODULE REST` | `REST` is the rest of the line | tabs in `REST` become spaces |
//! | `install MODULE REST` | as `options` | `REST` kept as is |
//! | `remove MODULE REST` | as `options` | `REST` kept as is |
//! | `softdep MODULE REST` | `REST` holds `pre:`/`post:` and names | dependency names kept as written |
//! | `weakdep MODULE REST` | `REST` holds names | dependency names kept as written |
//! | `include`, `config` | anything | nothing: a "deprecated" warning |
//!
//! `REST` starts right after the one separator byte that ends `MODULE`, so `options m  a=1`
//! stores ` a=1` with its leading space, and trailing blanks are kept. A missing `REST` (end of
//! line right after `MODULE` and at most one blank) makes the line bad.
//!
//! Names are normalised with kmod's rule: `-` becomes `_` except between `[` and `]`; an
//! unmatched `]` or an unclosed `[` makes the line bad. Normalisation does not stop at `.`.
//!
//! # softdep and weakdep words
//! `REST` is split at C `isspace` bytes (space, `\t`, `\n`, `\v`, `\f`, `\r`). In a softdep,
//! the words `pre:` and `post:` switch the list that following names go to, and names before
//! either are ignored. kmod quirk, reproduced: when `REST` begins with exactly one blank, that
//! blank stays glued to the first word, so `softdep m  pre: a` (two blanks after the module)
//! reads a word ` pre:`, which is neither marker, and the softdep ends up empty.

use std::borrow::Cow;
use std::path::Path;

use crate::fs::lines::LogicalLines;

use super::warning::{ConfigWarning, WarningKind};
use super::Config;

/// A logical line cut at its first NUL byte, as kmod's C strings cut it.
fn until_nul(mut line: Cow<'_, [u8]>) -> Cow<'_, [u8]> {
    if let Some(nul) = memchr::arch::all::memchr::One::new(0).find(&line) {
        match &mut line {
            Cow::Borrowed(text) => *text = text.get(..nul).unwrap_or_default(),
            Cow::Owned(text) => text.truncate(nul),
        }
    }
    line
}

/// Walks the words of a line the way kmod's `strtok_r(..., "\t ")` calls do.
struct Words<'a> {
    line: &'a [u8],
    pos: usize,
}

fn is_separator(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

impl<'a> Words<'a> {
    fn new(line: &'a [u8]) -> Words<'a> {
        Words { line, pos: 0 }
    }

    /// The next word, skipping separators before it and consuming the one separator after it.
    fn word(&mut self) -> Option<&'a [u8]> {
        let rest = self.line.get(self.pos..).unwrap_or_default();
        let Some(start) = rest.iter().position(|&b| !is_separator(b)) else {
            self.pos = self.line.len();
            return None;
        };
        let from_start = rest.get(start..).unwrap_or_default();
        match from_start.iter().position(|&b| is_separator(b)) {
            Some(len) => {
                self.pos = self.pos.saturating_add(start + len + 1);
                from_start.get(..len)
            }
            None => {
                self.pos = self.line.len();
                Some(from_start)
            }
        }
    }

    /// Everything after the last word taken, or `None` when nothing is left.
    fn rest(&mut self) -> Option<&'a [u8]> {
        let rest = self.line.get(self.pos..).unwrap_or_default();
        self.pos = self.line.len();
        (!rest.is_empty()).then_some(rest)
    }
}

/// [`underscores_into`] into a new buffer: the name, or the name as kmod leaves a bad one.
#[cfg(test)]
pub(crate) fn underscores(name: &[u8]) -> Result<Vec<u8>, Vec<u8>> {
    let mut out = Vec::with_capacity(name.len());
    match underscores_into(&mut out, name) {
        Ok(()) => Ok(out),
        Err(()) => Err(out),
    }
}

/// kmod's name normalisation (`underscores()` in its shared code), appended to `out`: `-`
/// becomes `_` outside `[...]`. On an unmatched `]` or an unclosed `[` it fails, and `out`
/// ends with the name as kmod would have left it: converted up to the fault, untouched after.
pub(crate) fn underscores_into(out: &mut Vec<u8>, name: &[u8]) -> Result<(), ()> {
    if !name.iter().any(|&b| matches!(b, b'-' | b'[' | b']')) {
        out.extend_from_slice(name);
        return Ok(());
    }
    let mut i = 0;
    while let Some(&b) = name.get(i) {
        match b {
            b'-' => out.push(b'_'),
            b']' => {
                out.extend_from_slice(name.get(i..).unwrap_or_default());
                return Err(());
            }
            b'[' => {
                let tail = name.get(i..).unwrap_or_default();
                match tail.iter().position(|&c| c == b']') {
                    Some(close) => {
                        out.extend_from_slice(tail.get(..=close).unwrap_or_default());
                        i = i.saturating_add(close);
                    }
                    None => {
                        out.extend_from_slice(tail);
                        return Err(());
                    }
                }
            }
            other => out.push(other),
        }
        i = i.saturating_add(1);
    }
    Ok(())
}

/// C's `isspace` in the "C" locale.
pub(crate) fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// A softdep/weakdep argument list split into words at `isspace` runs, as a vector.
#[cfg(test)]
pub(crate) fn dep_words(rest: &[u8]) -> Vec<&[u8]> {
    DepWords { rest, pos: 0 }.collect()
}

/// The words of a softdep/weakdep argument list, split at `isspace` runs, with kmod's quirk of
/// keeping a single leading blank attached to the first word.
struct DepWords<'a> {
    rest: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for DepWords<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let tail = self.rest.get(self.pos..).unwrap_or_default();
        let Some(skipped) = tail.iter().position(|&b| !is_c_space(b)) else {
            self.pos = self.rest.len();
            return None;
        };
        let from = self.pos + skipped;
        // kmod's scanner does not move past one lone leading blank.
        let start = if self.pos == 0 && from == 1 { 0 } else { from };
        let word_len = self
            .rest
            .get(from..)
            .unwrap_or_default()
            .iter()
            .position(|&b| is_c_space(b));
        let end = word_len.map_or(self.rest.len(), |len| from + len);
        self.pos = end;
        self.rest.get(start..end)
    }
}

/// Adds a `softdep` line: the names after `pre:` and after `post:` (names before either are
/// ignored, as by kmod).
fn add_softdep(config: &mut Config, module: super::Span, rest: &[u8]) {
    let mut into_pre = None;
    let mut post = Vec::new();
    let pre = config.push_list(DepWords { rest, pos: 0 }.filter(|&word| match word {
        b"pre:" => {
            into_pre = Some(true);
            false
        }
        b"post:" => {
            into_pre = Some(false);
            false
        }
        name => {
            if into_pre == Some(false) {
                post.push(name);
            }
            into_pre == Some(true)
        }
    }));
    let post = config.push_list(post);
    config.softdeps.push((module, pre, post));
}

/// Parses one modprobe.d file into `config`. `path` is only used in warnings.
pub(crate) fn parse(
    config: &mut Config,
    path: &Path,
    contents: &[u8],
    warnings: &mut Vec<ConfigWarning>,
) {
    // What a file adds to the text is never longer than the file.
    config.text.reserve(contents.len());
    for (line_no, line) in LogicalLines::new(contents) {
        let line = until_nul(line);
        if matches!(line.first(), None | Some(b'#')) {
            continue;
        }
        let mut words = Words::new(&line);
        let Some(command) = words.word() else {
            continue;
        };
        let ok = match command {
            b"alias" => {
                let mark = config.text.len();
                let pattern = words.word().map(|w| config.push_name(w));
                let module = words.word().map(|w| config.push_name(w));
                match (pattern, module) {
                    (Some(Ok(pattern)), Some(Ok(module))) => {
                        config.aliases.push([pattern, module]);
                        true
                    }
                    _ => {
                        // Nothing of a bad line is kept.
                        config.text.truncate(mark);
                        false
                    }
                }
            }
            b"blacklist" => match words.word().map(|w| config.push_name(w)) {
                Some(Ok(module)) => {
                    config.blacklist.push(module);
                    true
                }
                _ => false,
            },
            b"options" | b"install" | b"remove" | b"softdep" | b"weakdep" => {
                let mark = config.text.len();
                let module = words.word().map(|w| config.push_name(w));
                let rest = words.rest();
                match (module, rest) {
                    (Some(Ok(module)), Some(rest)) => {
                        add_directive(config, command, module, rest);
                        true
                    }
                    _ => {
                        config.text.truncate(mark);
                        false
                    }
                }
            }
            b"include" | b"config" => {
                warnings.push(ConfigWarning::new(
                    Some(path.to_path_buf()),
                    None,
                    WarningKind::Deprecated {
                        command: command.to_vec(),
                    },
                ));
                true
            }
            _ => false,
        };
        if !ok {
            warnings.push(ConfigWarning::new(
                Some(path.to_path_buf()),
                Some(line_no),
                WarningKind::BadLine {
                    first_word: command.to_vec(),
                },
            ));
        }
    }
}

fn add_directive(config: &mut Config, command: &[u8], module: super::Span, rest: &[u8]) {
    match command {
        b"options" => config.push_options(module, rest),
        b"install" => {
            let command = config.push_text(rest);
            config.install.push([module, command]);
        }
        b"remove" => {
            let command = config.push_text(rest);
            config.remove.push([module, command]);
        }
        b"softdep" => add_softdep(config, module, rest),
        _ => {
            let weak = config.push_list(DepWords { rest, pos: 0 });
            config.weakdeps.push((module, weak));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn lines(data: &[u8]) -> Vec<(u32, Vec<u8>)> {
        LogicalLines::new(data)
            .map(|(n, line)| (n, until_nul(line).into_owned()))
            .collect()
    }

    fn parse_str(text: &[u8]) -> (Config, Vec<ConfigWarning>) {
        let mut config = Config::default();
        let mut warnings = Vec::new();
        parse(&mut config, Path::new("/t.conf"), text, &mut warnings);
        (config, warnings)
    }

    fn bad(line: u32, word: &str) -> ConfigWarning {
        ConfigWarning::new(
            Some(PathBuf::from("/t.conf")),
            Some(line),
            WarningKind::BadLine {
                first_word: word.as_bytes().to_vec(),
            },
        )
    }

    /// The definition the fast path must keep: kmod's reader, one byte at a time.
    fn lines_byte_by_byte(data: &[u8]) -> Vec<(u32, Vec<u8>)> {
        let (mut out, mut line, mut bytes) = (Vec::new(), 0u32, data.iter());
        loop {
            let (mut text, mut physical, mut end) = (Vec::new(), 0u32, false);
            loop {
                match bytes.next() {
                    None => {
                        end = true;
                        if !text.is_empty() {
                            physical += 1;
                        }
                        break;
                    }
                    Some(b'\n') => {
                        physical += 1;
                        break;
                    }
                    Some(b'\\') => match bytes.next() {
                        Some(b'\n') => physical += 1,
                        Some(&escaped) => text.push(escaped),
                        None => {}
                    },
                    Some(&byte) => text.push(byte),
                }
            }
            if end && text.is_empty() {
                return out;
            }
            line += physical;
            if let Some(nul) = text.iter().position(|&b| b == 0) {
                text.truncate(nul);
            }
            out.push((line, text));
            if end {
                return out;
            }
        }
    }

    #[test]
    fn lines_match_the_byte_by_byte_definition() {
        // Every string of up to 6 bytes over the bytes that matter, and then some.
        let alphabet = [b'a', b'\n', b'\\', 0u8, b' '];
        let mut inputs: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..6 {
            let longer: Vec<Vec<u8>> = inputs
                .iter()
                .filter(|s| s.len() == inputs.last().map_or(0, Vec::len))
                .flat_map(|s| {
                    alphabet.iter().map(move |&b| {
                        let mut t = s.clone();
                        t.push(b);
                        t
                    })
                })
                .collect();
            inputs.extend(longer);
        }
        assert!(inputs.len() > 19_000);
        for input in &inputs {
            assert_eq!(lines(input), lines_byte_by_byte(input), "{input:?}");
        }
    }

    #[test]
    fn lines_split_and_number() {
        assert_eq!(
            lines(b"a\n\nb"),
            vec![(1, b"a".to_vec()), (2, b"".to_vec()), (3, b"b".to_vec())]
        );
        assert_eq!(lines(b""), vec![]);
        assert_eq!(lines(b"\n"), vec![(1, b"".to_vec())]);
    }

    #[test]
    fn continuation_reports_last_physical_line() {
        assert_eq!(
            lines(b"a \\\nb \\\nc\nd\n"),
            vec![(3, b"a b c".to_vec()), (4, b"d".to_vec())]
        );
    }

    #[test]
    fn continuation_at_end_of_file_counts_one_more_line() {
        // kmod counts the missing line after a trailing "\\\n" at end of file.
        assert_eq!(lines(b"alias x\\\n"), vec![(2, b"alias x".to_vec())]);
    }

    #[test]
    fn backslash_escapes_the_next_byte() {
        assert_eq!(lines(b"\\$a \\\\ \\q\n"), vec![(1, b"$a \\ q".to_vec())]);
    }

    #[test]
    fn backslash_at_end_of_file_is_dropped() {
        assert_eq!(lines(b"x\\"), vec![(1, b"x".to_vec())]);
        assert_eq!(lines(b"x\n\\"), vec![(1, b"x".to_vec())]);
    }

    #[test]
    fn nul_cuts_the_line() {
        assert_eq!(
            lines(b"ab\0cd\nef\n"),
            vec![(1, b"ab".to_vec()), (2, b"ef".to_vec())]
        );
    }

    #[test]
    fn words_consume_one_separator() {
        let mut w = Words::new(b"options  mod \t a=1 ");
        assert_eq!(w.word(), Some(&b"options"[..]));
        assert_eq!(w.word(), Some(&b"mod"[..]));
        assert_eq!(w.rest(), Some(&b"\t a=1 "[..]));
        assert_eq!(w.rest(), None);
        let mut w = Words::new(b"options mod ");
        w.word();
        w.word();
        assert_eq!(w.rest(), None);
        let mut w = Words::new(b"  \t ");
        assert_eq!(w.word(), None);
    }

    #[test]
    fn underscores_follow_kmod() {
        assert_eq!(underscores(b"snd-hda-intel"), Ok(b"snd_hda_intel".to_vec()));
        assert_eq!(
            underscores(b"pci:v-[0-9-]*-x"),
            Ok(b"pci:v_[0-9-]*_x".to_vec())
        );
        assert_eq!(underscores(b"a.b-c"), Ok(b"a.b_c".to_vec()));
        assert_eq!(underscores(b"x-y]z-w"), Err(b"x_y]z-w".to_vec()));
        assert_eq!(underscores(b"a-b[c-d"), Err(b"a_b[c-d".to_vec()));
        assert_eq!(underscores(b"a[[]-b"), Ok(b"a[[]_b".to_vec()));
    }

    #[test]
    fn underscores_agree_with_modname_on_success() {
        for name in [&b"a-b"[..], b"[a-b]-c", b"x", b"a[]]"] {
            assert_eq!(
                underscores(name).ok(),
                crate::modname::normalize_alias(name),
                "{}",
                String::from_utf8_lossy(name)
            );
        }
    }

    #[test]
    fn every_directive() {
        let (c, w) = parse_str(
            b"alias my-alias* snd-hda\nblacklist pc-spkr\noptions snd-hda a=1\n\
              install snd-hda /bin/true\nremove snd-hda /bin/false\n\
              softdep snd-hda pre: a-b post: c\nweakdep snd-hda x y\n",
        );
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(crate::config::first(c.aliases()).pattern, b"my_alias*");
        assert_eq!(crate::config::first(c.aliases()).module, b"snd_hda");
        assert_eq!(
            c.blacklisted().collect::<Vec<_>>(),
            vec![b"pc_spkr".to_vec()]
        );
        assert_eq!(crate::config::first(c.options()).module, b"snd_hda");
        assert_eq!(crate::config::first(c.options()).options, b"a=1");
        assert_eq!(
            crate::config::first(c.install_commands()).command,
            b"/bin/true"
        );
        assert_eq!(
            crate::config::first(c.remove_commands()).command,
            b"/bin/false"
        );
        assert_eq!(
            crate::config::first(c.softdeps()).pre,
            vec![b"a-b".to_vec()]
        );
        assert_eq!(crate::config::first(c.softdeps()).post, vec![b"c".to_vec()]);
        assert_eq!(
            crate::config::first(c.weakdeps()).weak,
            vec![b"x".to_vec(), b"y".to_vec()]
        );
    }

    #[test]
    fn comments_only_at_column_one() {
        let (c, w) = parse_str(b"# alias a b\n  # x\n\t#y z\n");
        assert!(c.aliases.is_empty());
        assert_eq!(w, vec![bad(2, "#"), bad(3, "#y")]);
    }

    #[test]
    fn blank_lines_are_skipped() {
        let (_, w) = parse_str(b"\n   \n\t\t\n");
        assert!(w.is_empty());
    }

    #[test]
    fn alias_and_blacklist_ignore_extra_words() {
        let (c, w) = parse_str(b"alias a b # c\nblacklist x y z\n");
        assert!(w.is_empty());
        assert_eq!(crate::config::first(c.aliases()).module, b"b");
        assert_eq!(c.blacklisted().collect::<Vec<_>>(), vec![b"x".to_vec()]);
    }

    #[test]
    fn options_keep_rest_of_line_and_turn_tabs_into_spaces() {
        let (c, _) = parse_str(b"options m a=1 # c\noptions m\t\tb=2\tc=3\noptions m  \n");
        let opts: Vec<&[u8]> = c.options().map(|o| o.options).collect();
        assert_eq!(opts, vec![&b"a=1 # c"[..], b" b=2 c=3", b" "]);
    }

    #[test]
    fn install_keeps_tabs() {
        let (c, _) = parse_str(b"install m /bin/echo\ta\n");
        assert_eq!(
            crate::config::first(c.install_commands()).command,
            b"/bin/echo\ta"
        );
    }

    #[test]
    fn cr_is_part_of_a_word() {
        let (c, _) = parse_str(b"alias a b\r\n");
        assert_eq!(crate::config::first(c.aliases()).module, b"b\r");
    }

    #[test]
    fn missing_arguments_are_bad_lines() {
        let (c, w) = parse_str(
            b"alias\nalias a\nblacklist\noptions\noptions m\noptions m \ninstall m\n\
              remove m\nsoftdep m\nweakdep m \n",
        );
        assert!(c.options.is_empty() && c.aliases.is_empty());
        let expected: Vec<ConfigWarning> = [
            (1, "alias"),
            (2, "alias"),
            (3, "blacklist"),
            (4, "options"),
            (5, "options"),
            (6, "options"),
            (7, "install"),
            (8, "remove"),
            (9, "softdep"),
            (10, "weakdep"),
        ]
        .into_iter()
        .map(|(l, word)| bad(l, word))
        .collect();
        assert_eq!(w, expected);
    }

    #[test]
    fn unknown_and_miscased_commands_are_bad_lines() {
        let (_, w) = parse_str(b"frob a b\nAlias a b\n");
        assert_eq!(w, vec![bad(1, "frob"), bad(2, "Alias")]);
    }

    #[test]
    fn malformed_brackets_are_bad_lines() {
        let (c, w) = parse_str(
            b"alias a]b x\nalias ok x[y\noptions m]n a=1\nblacklist b[\ninstall i] x\n\
              softdep s] pre: a\nalias [a-b]-c d-e\n",
        );
        assert_eq!(
            w,
            vec![
                bad(1, "alias"),
                bad(2, "alias"),
                bad(3, "options"),
                bad(4, "blacklist"),
                bad(5, "install"),
                bad(6, "softdep")
            ]
        );
        assert_eq!(crate::config::first(c.aliases()).pattern, b"[a-b]_c");
        assert_eq!(crate::config::first(c.aliases()).module, b"d_e");
    }

    #[test]
    fn include_and_config_are_deprecated() {
        let (_, w) = parse_str(b"include /etc/x\nconfig y\n");
        assert_eq!(
            w.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec![
                "/t.conf: command include is deprecated and not parsed anymore",
                "/t.conf: command config is deprecated and not parsed anymore"
            ]
        );
        assert_eq!(w[0].line(), None);
    }

    #[test]
    fn names_are_not_cut_at_dots() {
        let (c, _) = parse_str(b"options foo.bar-x a=1\n");
        assert_eq!(crate::config::first(c.options()).module, b"foo.bar_x");
    }

    /// kmod's scanner, one byte at a time: the definition [`dep_words`] must keep.
    fn dep_words_byte_by_byte(rest: &[u8]) -> Vec<&[u8]> {
        let mut words = Vec::new();
        let mut start: Option<usize> = None;
        for (i, &b) in rest.iter().enumerate() {
            if is_c_space(b) {
                if let Some(s) = start.take() {
                    words.push(&rest[s..i]);
                }
            } else if start.is_none() {
                let glued = i == 1 && is_c_space(rest[0]);
                start = Some(if glued { 0 } else { i });
            }
        }
        if let Some(s) = start {
            words.push(&rest[s..]);
        }
        words
    }

    #[test]
    fn dep_words_match_the_byte_by_byte_definition() {
        let alphabet = [b'a', b' ', b'\t', b'\n', b'p'];
        let mut inputs: Vec<Vec<u8>> = vec![Vec::new()];
        let mut last = vec![Vec::new()];
        for _ in 0..6 {
            last = last
                .iter()
                .flat_map(|s: &Vec<u8>| {
                    alphabet.iter().map(move |&b| {
                        let mut t = s.clone();
                        t.push(b);
                        t
                    })
                })
                .collect();
            inputs.extend(last.iter().cloned());
        }
        assert!(inputs.len() > 19_000);
        for input in &inputs {
            assert_eq!(dep_words(input), dep_words_byte_by_byte(input), "{input:?}");
        }
    }

    #[test]
    fn dep_words_split_at_isspace() {
        assert_eq!(
            dep_words(b"pre: a\x0bb\x0cc\rd  e\t"),
            vec![&b"pre:"[..], b"a", b"b", b"c", b"d", b"e"]
        );
    }

    #[test]
    fn dep_words_glue_one_leading_blank() {
        assert_eq!(dep_words(b" pre: a"), vec![&b" pre:"[..], b"a"]);
        assert_eq!(dep_words(b"\tx y"), vec![&b"\tx"[..], b"y"]);
        assert_eq!(dep_words(b"  pre: a"), vec![&b"pre:"[..], b"a"]);
        assert_eq!(dep_words(b" "), Vec::<&[u8]>::new());
    }

    #[test]
    fn softdep_lists() {
        let (c, w) = parse_str(
            b"softdep a pre: x y post: z\nsoftdep b post: z pre: x\nsoftdep c w pre: x\n\
              softdep d pre:x post:y\nsoftdep e pre: x pre: y\nsoftdep f  pre: x\n\
              softdep g PRE: x\n",
        );
        assert!(w.is_empty());
        type Lists = (Vec<Vec<u8>>, Vec<Vec<u8>>);
        let owned = |names: super::super::Names<'_>| names.iter().map(<[u8]>::to_vec).collect();
        let got: Vec<Lists> = c
            .softdeps()
            .map(|s| (owned(s.pre), owned(s.post)))
            .collect();
        let v = |l: &[&str]| l.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        assert_eq!(
            got,
            vec![
                (v(&["x", "y"]), v(&["z"])),
                (v(&["x"]), v(&["z"])),
                (v(&["x"]), v(&[])),
                (v(&[]), v(&[])),
                (v(&["x", "y"]), v(&[])),
                (v(&[]), v(&[])),
                (v(&[]), v(&[])),
            ]
        );
    }

    #[test]
    fn softdep_module_is_normalised_but_deps_are_not() {
        let (c, _) = parse_str(b"softdep a-b pre: c-d\n");
        assert_eq!(crate::config::first(c.softdeps()).module, b"a_b");
        assert_eq!(
            crate::config::first(c.softdeps()).pre,
            vec![b"c-d".to_vec()]
        );
    }

    #[test]
    fn weakdep_words() {
        let (c, _) = parse_str(b"weakdep a-b  x\ty-z pre:\n");
        assert_eq!(crate::config::first(c.weakdeps()).module, b"a_b");
        assert_eq!(
            crate::config::first(c.weakdeps()).weak,
            vec![b" x".to_vec(), b"y-z".to_vec(), b"pre:".to_vec()]
        );
    }

    #[test]
    fn bad_line_after_continuation_reports_last_line() {
        let (_, w) = parse_str(b"bogus a \\\nb\n");
        assert_eq!(w, vec![bad(2, "bogus")]);
    }
}

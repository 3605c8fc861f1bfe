//! Module configuration on the kernel command line, as libkmod reads it from `/proc/cmdline`.
//!
//! The caller reads `/proc/cmdline` (or passes any bytes); only the first
//! [`KCMDLINE_MAX`] bytes count, up to the first NUL.
//!
//! # What is taken
//! The line is a sequence of words separated by blanks (space, `\t`, `\n`, `\v`, `\f`, `\r`).
//! A word of the form `MODULE.PARAM` or `MODULE.PARAM=VALUE` gives:
//! - for `modprobe.blacklist=A,B,...`: blacklist entries `A`, `B`, ... split at every comma and
//!   kept exactly as written (no dash folding; an empty piece is an empty entry);
//! - for anything else: an `options MODULE PARAM[=VALUE]` entry, `MODULE` normalised (`-` to
//!   `_` outside brackets) and tabs in the option turned into spaces. A malformed `MODULE`
//!   (unbalanced brackets) gives a warning instead. This includes `modprobe.OTHER=...`, which
//!   becomes options for a module called `modprobe`.
//!
//! Words without a `.` before any `=` (`root=...`, `quiet`), with a `=` before the `.`, or with a
//! second `.` before the `=` (`a.b.c=d`) are ignored. `MODULE` may be empty (`.x=1`) and so may
//! `PARAM` (`foo.`).
//!
//! # Quotes
//! A `"` toggles quoting. Inside quotes, blanks are allowed only in the value. A quote is
//! allowed at the very start of a word, or anywhere in the value; anywhere else the word is
//! ignored. When a word starts with a quote (as GRUB writes
//! `"parport.dyndbg=file a.c +p"`), the quote is moved to just after the `=`, giving
//! `dyndbg="file a.c +p"`. A quote left open swallows the rest of the line, and a word still
//! open at the end of the line is dropped. Quote state carries over from one word to the next
//! exactly as in kmod, so one stray quote (`a"b`) can disable every word after it.

use super::warning::{ConfigWarning, WarningKind};
use super::Config;

/// How many bytes of the kernel command line kmod reads (its buffer is 4096 bytes with a NUL).
pub const KCMDLINE_MAX: usize = 4095;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Skipping the rest of a word that cannot be a module parameter.
    Ignore,
    /// Reading the module name, up to a `.`.
    Module,
    /// Reading the parameter name, up to a `=` or the end of the word.
    Param,
    /// Reading the value.
    Value,
}

fn is_blank(b: u8) -> bool {
    matches!(b, 0 | b' ' | b'\n' | b'\t' | 0x0b | 0x0c | b'\r')
}

/// Parses kernel command line bytes into `config`.
pub(crate) fn parse(config: &mut Config, cmdline: &[u8], warnings: &mut Vec<ConfigWarning>) {
    let text = cmdline.get(..KCMDLINE_MAX).unwrap_or(cmdline);
    let text = match text.iter().position(|&b| b == 0) {
        Some(nul) => text.get(..nul).unwrap_or_default(),
        None => text,
    };

    let mut state = State::Module;
    let mut quoted = false;
    let mut word_start = 0usize;
    let mut leading_quote = false;
    let mut dot = 0usize;
    let mut value_start = 0usize;

    // One step past the end stands for the terminating NUL, which ends the last word.
    for i in 0..=text.len() {
        let byte = text.get(i).copied().unwrap_or(0);
        match byte {
            b'"' => {
                quoted = !quoted;
                if quoted && state == State::Module && i == word_start {
                    leading_quote = true;
                    word_start = i.saturating_add(1);
                } else if state != State::Value {
                    state = State::Ignore;
                }
            }
            b if is_blank(b) => {
                if quoted {
                    if state != State::Value {
                        state = State::Ignore;
                    }
                } else {
                    if matches!(state, State::Param | State::Value) {
                        let module = text.get(word_start..dot).unwrap_or_default();
                        let param_name = text.get(dot.saturating_add(1)..i).unwrap_or_default();
                        let value = (state == State::Value)
                            .then(|| text.get(value_start..i).unwrap_or_default());
                        take_word(config, warnings, module, param_name, value, leading_quote);
                    }
                    word_start = i.saturating_add(1);
                    state = State::Module;
                    leading_quote = false;
                }
            }
            b'.' => {
                if state == State::Module {
                    dot = i;
                    state = State::Param;
                } else if state == State::Param {
                    state = State::Ignore;
                }
            }
            b'=' => {
                if state == State::Param {
                    value_start = i.saturating_add(1);
                    state = State::Value;
                } else if state == State::Module {
                    state = State::Ignore;
                }
            }
            _ => {}
        }
    }
}

/// Handles one complete `MODULE.PARAM[=VALUE]` word. `param` runs from after the dot to the end
/// of the word; `value`, when present, is the part after the first `=`.
fn take_word(
    config: &mut Config,
    warnings: &mut Vec<ConfigWarning>,
    module: &[u8],
    param: &[u8],
    value: Option<&[u8]>,
    leading_quote: bool,
) {
    // GRUB quotes the whole word; kmod moves the opening quote to just after the '='.
    let (param, value): (Vec<u8>, Option<Vec<u8>>) = match value {
        Some(value) if leading_quote => {
            let name_len = param.len().saturating_sub(value.len());
            let mut requoted = param.get(..name_len).unwrap_or_default().to_vec();
            requoted.push(b'"');
            requoted.extend_from_slice(value);
            let mut quoted_value = vec![b'"'];
            quoted_value.extend_from_slice(value);
            (requoted, Some(quoted_value))
        }
        other => (param.to_vec(), other.map(<[u8]>::to_vec)),
    };

    if module == b"modprobe" && param.starts_with(b"blacklist=") {
        let list = value.unwrap_or_default();
        for name in list.split(|&b| b == b',') {
            let name = config.push_text(name);
            config.blacklist.push(name);
        }
        return;
    }
    match config.push_name(module) {
        Ok(module) => config.push_options(module, &param),
        Err(shown) => warnings.push(ConfigWarning::new(
            None,
            None,
            WarningKind::BadCmdlineModule { name: shown },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(line: &str) -> (Config, Vec<ConfigWarning>) {
        let mut config = Config::default();
        let mut warnings = Vec::new();
        parse(&mut config, line.as_bytes(), &mut warnings);
        (config, warnings)
    }

    fn options(line: &str) -> Vec<(String, String)> {
        run(line)
            .0
            .options()
            .map(|o| {
                (
                    String::from_utf8_lossy(o.module).into_owned(),
                    String::from_utf8_lossy(o.options).into_owned(),
                )
            })
            .collect()
    }

    fn pair(m: &str, o: &str) -> (String, String) {
        (m.to_string(), o.to_string())
    }

    #[test]
    fn module_params_become_options() {
        assert_eq!(
            options("root=/dev/sda ro snd-hda-intel.model=auto usbcore.autosuspend=-1\n"),
            vec![
                pair("snd_hda_intel", "model=auto"),
                pair("usbcore", "autosuspend=-1")
            ]
        );
    }

    #[test]
    fn blacklist_is_split_and_kept_raw() {
        let (c, w) = run("modprobe.blacklist=nouveau,snd-pcsp,,x modprobe.blacklist=");
        assert!(w.is_empty());
        let names: Vec<&[u8]> = c.blacklisted().collect();
        assert_eq!(names, vec![&b"nouveau"[..], b"snd-pcsp", b"", b"x", b""]);
        assert!(c.options.is_empty());
    }

    #[test]
    fn other_modprobe_params_are_options_for_modprobe() {
        assert_eq!(
            options("modprobe.foo=bar modprobe.blacklist"),
            vec![pair("modprobe", "foo=bar"), pair("modprobe", "blacklist")]
        );
    }

    #[test]
    fn words_that_are_not_module_params_are_ignored() {
        assert_eq!(options("a.b.c=d e=f.g quiet BOOT_IMAGE=/x.y"), vec![]);
    }

    #[test]
    fn empty_names_are_kept() {
        assert_eq!(
            options(".x=1 foo. foo.bar bar.=x"),
            vec![
                pair("", "x=1"),
                pair("foo", ""),
                pair("foo", "bar"),
                pair("bar", "=x")
            ]
        );
    }

    #[test]
    fn dots_after_the_equals_sign_are_value() {
        assert_eq!(options("a.b=c.d"), vec![pair("a", "b=c.d")]);
    }

    #[test]
    fn grub_quoting_is_undone() {
        assert_eq!(
            options("\"parport.dyndbg=file drivers/parport/ieee1284_ops.c +mpf\""),
            vec![pair(
                "parport",
                "dyndbg=\"file drivers/parport/ieee1284_ops.c +mpf\""
            )]
        );
        assert_eq!(options("\"m.p=x\"tail"), vec![pair("m", "p=\"x\"tail")]);
    }

    #[test]
    fn quoted_values_keep_their_quotes() {
        assert_eq!(
            options("m.p=\"a b\" n.q=a\"b c\"d"),
            vec![pair("m", "p=\"a b\""), pair("n", "q=a\"b c\"d")]
        );
    }

    #[test]
    fn quoted_blacklist_keeps_quote_characters() {
        let (c, _) = run("\"modprobe.blacklist=a,b\"");
        let names: Vec<&[u8]> = c.blacklisted().collect();
        assert_eq!(names, vec![&b"\"a"[..], b"b\""]);
    }

    #[test]
    fn misplaced_quotes_ignore_the_word() {
        assert_eq!(
            options("\"m .p=x\" \"m.p x\" ok.p=1"),
            vec![pair("ok", "p=1")]
        );
    }

    #[test]
    fn a_stray_quote_disables_what_follows() {
        assert_eq!(options("a\"b.c=1 m.p=1 n.q=2"), vec![]);
    }

    #[test]
    fn unterminated_quote_drops_the_last_word() {
        assert_eq!(options("m1.p=1 \"m2.p=2 m3.p=3\n"), vec![pair("m1", "p=1")]);
    }

    #[test]
    fn bad_module_names_warn_with_partial_normalisation() {
        let (c, w) = run("x-y]z.p=1 ok[-]x.p=1 br[k.p=1");
        assert_eq!(c.options().len(), 1);
        assert_eq!(crate::config::first(c.options()).module, b"ok[-]x");
        let msgs: Vec<String> = w.iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            vec![
                "Ignoring bad option on kernel command line while parsing module name: 'x_y]z'",
                "Ignoring bad option on kernel command line while parsing module name: 'br[k'"
            ]
        );
    }

    #[test]
    fn every_blank_separates_words() {
        assert_eq!(
            options("a\tb.p=1 c\nd.q=2 e\x0bf.r=3"),
            vec![pair("b", "p=1"), pair("d", "q=2"), pair("f", "r=3")]
        );
    }

    #[test]
    fn tabs_in_quoted_values_become_spaces() {
        assert_eq!(options("m.p=\"a\tb\""), vec![pair("m", "p=\"a b\"")]);
    }

    #[test]
    fn input_stops_at_nul_and_at_the_buffer_size() {
        assert_eq!(options("a.b=1\0c.d=2"), vec![pair("a", "b=1")]);
        let mut long = "x".repeat(KCMDLINE_MAX - 3);
        long.push_str(" m.p=1");
        // Only "m." fits in kmod's buffer.
        assert_eq!(options(&long), vec![pair("m", "")]);
    }
}

//! `install` and `remove` commands: how they are shown, and how they are run without ever
//! letting option text reach the shell as code.
//!
//! # kmod's behaviour, and the fault rkmod does not copy
//! kmod replaces every `$CMDLINE_OPTS` in the command text with the module's options (the
//! configured ones and those from the command line) and hands the result to `system(3)`. The
//! options are pasted into the shell's input as they are, so an option such as
//! `x=1;reboot` given on the command line, in a configuration file, or on the kernel command
//! line, becomes shell code.
//!
//! # What rkmod does
//! The options never enter the command text. They are passed to the shell in the environment
//! variable `CMDLINE_OPTS`, and each `$CMDLINE_OPTS` of the command text is rewritten into a
//! reference to that variable ([`rewrite_for_shell`]):
//!
//! | where `$CMDLINE_OPTS` is | rewritten to | the shell then sees |
//! |---|---|---|
//! | outside quotes | `${CMDLINE_OPTS}` | the options, split into words at blanks, as with kmod |
//! | inside `"..."` | `${CMDLINE_OPTS}` | the options as one literal string, as with kmod |
//! | inside `'...'` | `'"${CMDLINE_OPTS}"'` | the options as literal text, as with kmod |
//! | after a `\` | `\${CMDLINE_OPTS}` | the literal text `${CMDLINE_OPTS}` |
//!
//! A shell expands a variable's value without parsing it again, so nothing in the options can
//! end a quote, start a command or substitute one; the worst a misjudged quoting context can
//! do is leave the text `${CMDLINE_OPTS}` literal. One visible difference remains: an option
//! whose value is quoted (`opt="a b"`) reaches the command as the two words `opt="a` and `b"`
//! rather than the one word `opt=a b`. A nested `modprobe $CMDLINE_OPTS`, the common use,
//! joins them back into the same parameter string either way. A `$CMDLINE_OPTS` that is
//! escaped with a backslash stays literal (kmod pastes the options after the backslash).
//!
//! What `--show-depends` and `--dry-run` print, and the command quoted in error messages, are
//! kmod's textual substitution ([`expand_for_display`]), since that is only shown.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// The variable kmod substitutes in install and remove commands.
pub const CMDLINE_OPTS: &[u8] = b"$CMDLINE_OPTS";

/// The environment variable the options are passed in.
pub const CMDLINE_OPTS_ENV: &str = "CMDLINE_OPTS";

/// The environment variable that names the module a command runs for, as kmod sets it.
pub const MODPROBE_MODULE_ENV: &str = "MODPROBE_MODULE";

/// The shell commands run through.
pub const SHELL: &str = "/bin/sh";

/// kmod's textual substitution: every `$CMDLINE_OPTS` replaced with `options`. For display
/// only; never run this.
pub fn expand_for_display(command: &[u8], options: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(command.len() + options.len());
    let mut rest = command;
    while let Some(at) = find(rest, CMDLINE_OPTS) {
        out.extend_from_slice(rest.get(..at).unwrap_or_default());
        out.extend_from_slice(options);
        rest = rest.get(at + CMDLINE_OPTS.len()..).unwrap_or_default();
    }
    out.extend_from_slice(rest);
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    Double,
}

/// Rewrites every `$CMDLINE_OPTS` of `command` into a reference to the environment variable
/// [`CMDLINE_OPTS_ENV`], according to the quoting around it (see the module documentation).
pub fn rewrite_for_shell(command: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(command.len() + 16);
    let mut quote = Quote::None;
    let mut i = 0;
    while let Some(&b) = command.get(i) {
        let rest = command.get(i..).unwrap_or_default();
        if rest.starts_with(CMDLINE_OPTS) {
            match quote {
                Quote::Single => out.extend_from_slice(b"'\"${CMDLINE_OPTS}\"'"),
                Quote::None | Quote::Double => out.extend_from_slice(b"${CMDLINE_OPTS}"),
            }
            i += CMDLINE_OPTS.len();
            continue;
        }
        match (quote, b) {
            (Quote::None, b'\\') | (Quote::Double, b'\\') => {
                // The next byte is escaped, whatever it is.
                out.push(b);
                i += 1;
                if let Some(&next) = command.get(i) {
                    let rest = command.get(i..).unwrap_or_default();
                    if rest.starts_with(CMDLINE_OPTS) {
                        out.extend_from_slice(b"${CMDLINE_OPTS}");
                        i += CMDLINE_OPTS.len();
                        continue;
                    }
                    out.push(next);
                    i += 1;
                }
                continue;
            }
            (Quote::None, b'\'') => quote = Quote::Single,
            (Quote::Single, b'\'') => quote = Quote::None,
            (Quote::None, b'"') => quote = Quote::Double,
            (Quote::Double, b'"') => quote = Quote::None,
            _ => {}
        }
        out.push(b);
        i += 1;
    }
    out
}

/// What a command run ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandStatus {
    /// It exited with this code.
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
}

/// A command to run through the shell, with the environment kmod gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellCommand {
    /// The command text, already rewritten with [`rewrite_for_shell`].
    pub script: Vec<u8>,
    /// The module it runs for ([`MODPROBE_MODULE_ENV`]).
    pub module: Vec<u8>,
    /// The options ([`CMDLINE_OPTS_ENV`]).
    pub options: Vec<u8>,
    /// The command as configured, before the rewriting (libkmod hands a client's
    /// `run_install` this with `$CMDLINE_OPTS` expanded: [`expand_for_display`]).
    pub configured: Vec<u8>,
    /// The resolver's record of the module, when the command runs for one.
    pub record: Option<super::ModId>,
}

impl ShellCommand {
    /// The command for `command` (as configured) run for `module` with `options`.
    pub fn new(command: &[u8], module: &[u8], options: &[u8]) -> ShellCommand {
        ShellCommand {
            script: rewrite_for_shell(command),
            module: module.to_vec(),
            options: options.to_vec(),
            configured: command.to_vec(),
            record: None,
        }
    }

    /// A [`std::process::Command`] that runs it: `/bin/sh -c SCRIPT` with the two variables
    /// set. The caller adds what else the environment needs (`MODPROBE_OPTIONS`).
    pub fn to_process(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(SHELL);
        cmd.arg("-c")
            .arg(OsString::from_vec(self.script.clone()))
            .env(MODPROBE_MODULE_ENV, OsString::from_vec(self.module.clone()))
            .env(CMDLINE_OPTS_ENV, OsString::from_vec(self.options.clone()));
        cmd
    }
}

/// Runs install and remove commands; tests substitute a fake.
pub trait CommandRunner {
    /// Runs `command` and waits for it.
    fn run(&mut self, command: &ShellCommand) -> std::io::Result<CommandStatus>;
}

/// Runs commands through `/bin/sh -c`, with extra environment variables.
#[derive(Debug, Clone, Default)]
pub struct ShellRunner {
    /// Variables added to (or replacing in) the command's environment.
    pub env: Vec<(OsString, OsString)>,
}

impl CommandRunner for ShellRunner {
    fn run(&mut self, command: &ShellCommand) -> std::io::Result<CommandStatus> {
        use std::os::unix::process::ExitStatusExt;
        let mut process = command.to_process();
        for (key, value) in &self.env {
            process.env(key, value);
        }
        let status = process.status()?;
        Ok(match (status.code(), status.signal()) {
            (Some(code), _) => CommandStatus::Exited(code),
            (None, Some(signal)) => CommandStatus::Signaled(signal),
            (None, None) => CommandStatus::Exited(-1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_expansion_is_kmods() {
        assert_eq!(
            expand_for_display(b"a $CMDLINE_OPTS b $CMDLINE_OPTSX", b"x=1"),
            b"a x=1 b x=1X".to_vec()
        );
        assert_eq!(expand_for_display(b"none", b"x"), b"none".to_vec());
        assert_eq!(expand_for_display(b"$CMDLINE_OPTS", b""), b"".to_vec());
    }

    #[test]
    fn rewriting_follows_quotes() {
        assert_eq!(
            rewrite_for_shell(b"modprobe --ignore-install foo $CMDLINE_OPTS"),
            b"modprobe --ignore-install foo ${CMDLINE_OPTS}".to_vec()
        );
        assert_eq!(
            rewrite_for_shell(b"echo \"[$CMDLINE_OPTS]\" '$CMDLINE_OPTS' $CMDLINE_OPTSX"),
            b"echo \"[${CMDLINE_OPTS}]\" ''\"${CMDLINE_OPTS}\"'' ${CMDLINE_OPTS}X".to_vec()
        );
        assert_eq!(
            rewrite_for_shell(b"echo \\$CMDLINE_OPTS \"\\$CMDLINE_OPTS\""),
            b"echo \\${CMDLINE_OPTS} \"\\${CMDLINE_OPTS}\"".to_vec()
        );
        // A quote inside double quotes and an escaped quote do not change the state.
        assert_eq!(
            rewrite_for_shell(b"echo \"it's\" \\' $CMDLINE_OPTS"),
            b"echo \"it's\" \\' ${CMDLINE_OPTS}".to_vec()
        );
    }

    fn run_sh(command: &[u8], options: &[u8]) -> Vec<u8> {
        let cmd = ShellCommand::new(command, b"mod", options);
        let out = cmd.to_process().output().unwrap();
        assert!(out.status.success(), "{out:?}");
        out.stdout
    }

    /// Option text with shell syntax in it stays data in every quoting context: the output
    /// is exactly what the text would give as a variable's value, and nothing ran.
    #[test]
    fn options_never_become_code() {
        let evil = "x=1;echo PWNED $(echo PWNED) `echo PWNED` ' \" \\";
        let words: String = evil.split(' ').map(|w| format!("<{w}>")).collect();
        let joined = format!("<{}>", evil.split(' ').collect::<Vec<_>>().join(" "));
        for (command, expected) in [
            (&b"printf '<%s>' $CMDLINE_OPTS"[..], words.clone()),
            (b"printf '<%s>' \"$CMDLINE_OPTS\"", format!("<{evil}>")),
            (b"printf '<%s>' '$CMDLINE_OPTS'", format!("<{evil}>")),
            (b"printf '<%s>' \"$(echo $CMDLINE_OPTS)\"", joined),
            (
                b"printf '<%s>' \\$CMDLINE_OPTS",
                "<${CMDLINE_OPTS}>".to_string(),
            ),
        ] {
            let out = run_sh(command, evil.as_bytes());
            assert_eq!(
                String::from_utf8_lossy(&out),
                expected,
                "{}",
                String::from_utf8_lossy(command)
            );
        }
        // Unquoted: split into words, like kmod's paste of plain options.
        assert_eq!(
            run_sh(b"printf '<%s>' $CMDLINE_OPTS", b"a=1 b=2"),
            b"<a=1><b=2>".to_vec()
        );
        assert_eq!(
            run_sh(b"printf '<%s>' \"$CMDLINE_OPTS\"", b"a=1 b=2"),
            b"<a=1 b=2>".to_vec()
        );
        assert_eq!(
            run_sh(b"printf '<%s>' 'pre $CMDLINE_OPTS post'", b"a=1 b=2"),
            b"<pre a=1 b=2 post>".to_vec()
        );
        assert_eq!(run_sh(b"echo \"$MODPROBE_MODULE\"", b""), b"mod\n".to_vec());
    }
}

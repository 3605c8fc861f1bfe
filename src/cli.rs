//! Argument handling shared by the tools: kmod-style option errors and the version text.

use std::ffi::OsString;

/// The kmod release whose behaviour rkmod follows.
pub const KMOD_COMPAT_VERSION: &str = "34";

/// What `--version` prints: kmod's first line (scripts parse the version number from its
/// third word) with rkmod's own version after it, then the feature line.
pub fn version_text() -> String {
    format!(
        "kmod version {KMOD_COMPAT_VERSION} (rkmod {})\n+ZSTD +XZ +ZLIB +LIBCRYPTO -EXPERIMENTAL",
        env!("CARGO_PKG_VERSION")
    )
}

/// Parses `args` with `command`, turning clap's errors into getopt's wording on stderr and
/// exit code 1, as kmod's tools do. `Err(code)` means: exit with this code now (help and
/// version were printed, or an error was).
pub fn parse(command: clap::Command, tool: &str, args: Vec<OsString>) -> Result<clap::ArgMatches, i32> {
    match command.try_get_matches_from(args) {
        Ok(matches) => Ok(matches),
        Err(err) => {
            use clap::error::{ContextKind, ContextValue, ErrorKind};
            match err.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = err.print();
                    Err(0)
                }
                kind => {
                    let arg = match err.get(ContextKind::InvalidArg) {
                        Some(ContextValue::String(s)) => s.clone(),
                        _ => String::new(),
                    };
                    let message = match kind {
                        ErrorKind::UnknownArgument if arg.starts_with("--") => {
                            format!("unrecognized option '{arg}'")
                        }
                        ErrorKind::UnknownArgument => {
                            format!("invalid option -- '{}'", arg.trim_start_matches('-'))
                        }
                        ErrorKind::InvalidValue | ErrorKind::NoEquals
                            if arg.starts_with("--") =>
                        {
                            format!("option '{}' requires an argument", arg.split(' ').next().unwrap_or(&arg))
                        }
                        ErrorKind::InvalidValue | ErrorKind::NoEquals => format!(
                            "option requires an argument -- '{}'",
                            arg.trim_start_matches('-').chars().next().unwrap_or('?')
                        ),
                        _ => err.to_string().trim_end().trim_start_matches("error: ").to_string(),
                    };
                    eprintln!("{tool}: {message}");
                    Err(1)
                }
            }
        }
    }
}

//! `lsmod` (and `kmod list`): show the loaded modules, byte for byte as kmod's lsmod does.
//!
//! The list and its order come from `/proc/modules`; each module's size, use count and users
//! come from `/sys/module/NAME` (`coresize`, `refcnt`, `holders/` in directory order), as
//! libkmod reads them. The format is kmod's:
//!
//! ```text
//! Module                  Size  Used by
//! NAME (left-aligned in 19) SIZE (right-aligned in 8), two spaces, COUNT[ HOLDER,HOLDER...]
//! ```
//!
//! A value that cannot be read is printed as kmod prints it: as a negative errno. The reading
//! is kmodcore's ([`kmodcore::kernel::listing`]); this module reports and prints.

use std::ffi::OsString;

use clap::{Arg, ArgAction, Command};
use kmodcore::kernel::listing::loaded_module_status;
use kmodcore::kernel::{Errno, Kernel, NixKernel};
use serde::Serialize;

use crate::json::{text, to_output};
use crate::logger::Logger;
use crate::report::Output;
use kmodcore::fs::strerror;

/// The header line.
const HEADER: &[u8] = b"Module                  Size  Used by\n";

/// Deliberate differences from kmod, for the man page.
pub const DIFFERENCES: &[&str] = &[
    "A /proc/modules line whose first field could not be a module name (it contains '/', is '.' or '..', or is longer than 255 bytes) is skipped; kmod would look it up in /sys.",
    "--json is an rkmod extension (see JSON OUTPUT).",
    "--version prints \"kmod version 34 (rkmod VERSION)\" so that scripts reading kmod's version keep working.",
];

/// lsmod's command-line definition; `name` is `lsmod`, or `list` for `kmod list`.
pub fn command_named(name: &'static str) -> Command {
    let command = Command::new(name)
        .about("Show the status of modules in the Linux kernel")
        .override_usage(format!("{name} [options]"))
        .disable_version_flag(true)
        .infer_long_args(true);
    crate::cli::logging_and_version_args(command)
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("print the list as one JSON document (rkmod extension)"),
        )
        .arg(
            Arg::new("extra")
                .value_parser(clap::value_parser!(OsString))
                .action(ArgAction::Append)
                .hide(true),
        )
}

/// lsmod's command-line definition.
pub fn command() -> Command {
    command_named("lsmod")
}

/// Runs lsmod with `args` (argv, starting with the program name); returns the exit code.
pub fn run(args: Vec<OsString>) -> i32 {
    run_as("lsmod", "lsmod", args)
}

/// Runs lsmod's code as `tool` (its name in messages: `lsmod`, or `kmod` for `kmod list`).
pub fn run_as(tool: &str, name: &'static str, args: Vec<OsString>) -> i32 {
    let matches = match crate::cli::parse(command_named(name), tool, args) {
        Ok(m) => m,
        Err(code) => return code,
    };
    if matches.get_flag("version") {
        println!("{}", crate::cli::version_text());
        return 0;
    }
    let log = Logger::new(
        tool,
        matches.get_flag("syslog"),
        matches.get_count("verbose"),
    );
    if matches.get_many::<OsString>("extra").is_some() {
        log.error("too many arguments provided.");
        return 1;
    }
    let mut out = Output::new();
    let rendered = if matches.get_flag("json") {
        render_json(&NixKernel::new(), &log)
    } else {
        render(&NixKernel::new(), &log)
    };
    let code = match rendered {
        Some(bytes) => {
            out.write(&bytes);
            0
        }
        None => 1,
    };
    out.flush();
    code
}

/// One loaded module as lsmod shows it, after the reading errors have been reported.
struct Row {
    /// The name, as /proc/modules gives it.
    name: Vec<u8>,
    /// `coresize`, or the negative errno kmod prints (null in JSON).
    size: Result<i64, i64>,
    /// `refcnt` (in kmod's `int`), or the negative errno kmod prints.
    count: Result<i32, i32>,
    /// The holders in directory order, or `None` when `holders/` could not be listed.
    holders: Option<Vec<Vec<u8>>>,
}

/// Reads the loaded modules from `kernel`, reporting on `log` what kmod reports; `None`
/// (after an error on `log`) when the list of modules cannot be read.
fn rows(kernel: &dyn Kernel, log: &Logger) -> Option<Vec<Row>> {
    let modules = match loaded_module_status(kernel) {
        Ok(modules) => modules,
        Err(e) => {
            let errno = e.errno();
            log.error(&format!(
                "could not open /proc/modules: {}",
                strerror(errno)
            ));
            log.error(&format!(
                "could not get list of modules: {}",
                strerror(errno)
            ));
            return None;
        }
    };
    let mut rows = Vec::with_capacity(modules.len());
    for module in modules {
        let name = module.name;
        let shown = String::from_utf8_lossy(&name);
        // kmod keeps the count in an int.
        let count = match module.refcnt {
            Ok(count) => Ok(count as i32),
            Err(errno) => {
                if errno == Errno::EINVAL {
                    log.error(&format!(
                        "could not read integer from '/sys/module/{shown}/refcnt': '{}'",
                        strerror(errno as i32)
                    ));
                }
                Err(-(errno as i32))
            }
        };
        let size = match module.coresize {
            Ok(size) => Ok(size),
            // A coresize that does not parse: kmod reports it and shows 0.
            Err(Errno::EINVAL) => {
                log.error(&format!("failed to read coresize from /sys/module/{shown}"));
                Ok(0)
            }
            Err(errno) => Err(-(errno as i64)),
        };
        let holders = match module.holders {
            Ok(holders) => Some(holders),
            Err(errno) => {
                log.error(&format!(
                    "could not open '/sys/module/{shown}/holders': {}",
                    strerror(errno as i32)
                ));
                None
            }
        };
        rows.push(Row {
            name,
            size,
            count,
            holders,
        });
    }
    Some(rows)
}

/// lsmod's output for `kernel`, or `None` (after an error on `log`) when the list of modules
/// cannot be read.
pub fn render(kernel: &dyn Kernel, log: &Logger) -> Option<Vec<u8>> {
    let rows = rows(kernel, log)?;
    let mut out = HEADER.to_vec();
    for row in rows {
        let name = row.name;
        let size = row.size.unwrap_or_else(|errno| errno);
        let count = row.count.unwrap_or_else(|errno| errno);
        out.extend_from_slice(&name);
        out.extend(std::iter::repeat(b' ').take(19usize.saturating_sub(name.len())));
        out.extend_from_slice(format!(" {size:>8}  {count}").as_bytes());
        let mut separator = b' ';
        for holder in row.holders.unwrap_or_default() {
            out.push(separator);
            separator = b',';
            out.extend_from_slice(&holder);
        }
        out.push(b'\n');
    }
    Some(out)
}

/// The `--json` document: `{"modules": [...]}` (the field table is in lsmod(8), JSON OUTPUT).
#[derive(Serialize)]
struct JsonListing {
    /// The loaded modules, in /proc/modules order.
    modules: Vec<JsonModule>,
}

/// One module of the `--json` document.
#[derive(Serialize)]
struct JsonModule {
    /// The module's name.
    name: String,
    /// Its core size in bytes, or null when `coresize` could not be read.
    size: Option<i64>,
    /// Its use count, or null when `refcnt` could not be read.
    refcnt: Option<i32>,
    /// The modules that use it, or null when `holders/` could not be listed.
    holders: Option<Vec<String>>,
}

/// lsmod's `--json` output for `kernel` (one document and a newline), or `None` (after an
/// error on `log`) when the list of modules cannot be read. The same messages as the text
/// form go to `log`.
pub fn render_json(kernel: &dyn Kernel, log: &Logger) -> Option<Vec<u8>> {
    let modules = rows(kernel, log)?
        .into_iter()
        .map(|row| JsonModule {
            name: text(&row.name),
            size: row.size.ok(),
            refcnt: row.count.ok(),
            holders: row
                .holders
                .map(|holders| holders.iter().map(|h| text(h)).collect()),
        })
        .collect();
    Some(to_output(&JsonListing { modules }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmodcore::kernel::{FakeKernel, FakeModule};

    #[test]
    fn format_matches_kmods_printf() {
        // Expected bytes written from kmod's format: "%-19s %8ld  %d", then " h1,h2".
        let mut long = FakeModule::live("a_module_name_longer_than_19");
        long.size = 123456789;
        let kernel = FakeKernel::new()
            .with_module(FakeModule::live("e1000"))
            .with_module(FakeModule::live("libata").held_by(&["ata_piix", "ata_generic"]))
            .with_module(long);
        let log = Logger::memory("lsmod", 0);
        let out = render(&kernel, &log).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Module                  Size  Used by\n\
             a_module_name_longer_than_19 123456789  0\n\
             libata                 16384  2 ata_piix,ata_generic\n\
             e1000                  16384  0\n"
        );
        assert_eq!(log.captured(), "");
    }

    /// A root whose /proc/modules lists `gone` (no /sys/module entry at all) and `odd` (a
    /// refcnt that is not a number, no coresize, no holders/).
    fn unreadable_values_root() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("proc")).unwrap();
        std::fs::write(
            r.join("proc/modules"),
            "gone 4096 0 - Live 0x0\nodd 8192 0 - Live 0x0\n",
        )
        .unwrap();
        std::fs::create_dir_all(r.join("sys/module/odd")).unwrap();
        std::fs::write(r.join("sys/module/odd/refcnt"), "x\n").unwrap();
        root
    }

    #[test]
    fn unreadable_values_are_negative_errnos() {
        let root = unreadable_values_root();
        let kernel = NixKernel::with_root(root.path());
        let log = Logger::memory("lsmod", 0);
        let out = render(&kernel, &log).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Module                  Size  Used by\n\
             gone                      -2  -2\n\
             odd                     8192  -22\n"
        );
        assert_eq!(
            log.captured(),
            "lsmod: ERROR: could not open '/sys/module/gone/holders': No such file or directory\n\
             lsmod: ERROR: could not read integer from '/sys/module/odd/refcnt': 'Invalid argument'\n\
             lsmod: ERROR: could not open '/sys/module/odd/holders': No such file or directory\n"
        );
    }

    #[test]
    fn json_lists_the_same_modules_with_typed_fields() {
        let kernel = FakeKernel::new()
            .with_module(FakeModule::live("e1000"))
            .with_module(FakeModule::live("libata").held_by(&["ata_piix", "ata_generic"]));
        let log = Logger::memory("lsmod", 0);
        let out = render_json(&kernel, &log).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"modules\":[\
             {\"name\":\"libata\",\"size\":16384,\"refcnt\":2,\"holders\":[\"ata_piix\",\"ata_generic\"]},\
             {\"name\":\"e1000\",\"size\":16384,\"refcnt\":0,\"holders\":[]}]}\n"
        );
        assert_eq!(log.captured(), "");
    }

    #[test]
    fn json_shows_unreadable_values_as_null_and_reports_as_text_does() {
        let root = unreadable_values_root();
        let kernel = NixKernel::with_root(root.path());
        let log = Logger::memory("lsmod", 0);
        let out = render_json(&kernel, &log).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"modules\":[\
             {\"name\":\"gone\",\"size\":null,\"refcnt\":null,\"holders\":null},\
             {\"name\":\"odd\",\"size\":8192,\"refcnt\":null,\"holders\":null}]}\n"
        );
        let text_log = Logger::memory("lsmod", 0);
        render(&kernel, &text_log).unwrap();
        assert_eq!(log.captured(), text_log.captured());
    }

    #[test]
    fn json_escapes_names() {
        let kernel = FakeKernel::new().with_module(FakeModule::live("a\"b\\c"));
        let log = Logger::memory("lsmod", 0);
        let out = render_json(&kernel, &log).unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .starts_with("{\"modules\":[{\"name\":\"a\\\"b\\\\c\","));
    }

    #[test]
    fn json_without_proc_modules_fails_as_text_does() {
        let root = tempfile::tempdir().unwrap();
        let log = Logger::memory("lsmod", 0);
        assert_eq!(render_json(&NixKernel::with_root(root.path()), &log), None);
        assert!(log.captured().contains("could not get list of modules"));
    }

    #[test]
    fn no_proc_modules() {
        let root = tempfile::tempdir().unwrap();
        let log = Logger::memory("lsmod", 0);
        assert_eq!(render(&NixKernel::with_root(root.path()), &log), None);
        assert_eq!(
            log.captured(),
            "lsmod: ERROR: could not open /proc/modules: No such file or directory\n\
             lsmod: ERROR: could not get list of modules: No such file or directory\n"
        );
    }
}

//! `modinfo`: show information about kernel modules, byte for byte as kmod's modinfo does.
//!
//! Each argument is a module file (a path ending in a module suffix that names a regular
//! file), a module name (`-m`), or anything else resolved as an alias through the
//! configuration and the indexes; every module an alias matches is shown. The work for each
//! argument (decompression, ELF and signature parsing) runs in parallel; output is printed in
//! argument order.
//!
//! Deliberate differences from kmod:
//! - A module that cannot be read is reported as `could not get modinfo from 'NAME': REASON`
//!   where REASON names the file and what is wrong with it, instead of a bare errno text.
//! - `.ko.gz` files are always recognised (kmod only when built with zlib).
//!
//! Extensions: `--json` prints the modules as one JSON document (module `json`); `--verify CERT`
//! checks each module's appended signature against the given certificates
//! ([`kmodcore::module::verify`]) instead of showing its fields, one line per module (with
//! `--json`, one document of verdicts).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, Command};
use kmodcore::lookup::{self, LookupConfig, NoConfig};
use kmodcore::moddir::ModuleDir;
use kmodcore::modname;
use kmodcore::module::info::{read_module_details, InfoEntry, ModuleDetails};
use kmodcore::module::verify::{verify_file, CertificateSet, Verdict};

use crate::cli::flag;
use crate::report;

mod json;

const TOOL: &str = "modinfo";

/// Deliberate differences from kmod, for the man page.
pub const DIFFERENCES: &[&str] = &[
    "A module that cannot be read is reported as \"could not get modinfo from 'NAME': REASON\", where REASON names the file and says what is wrong with it (kmod prints only an errno text such as \"Invalid argument\").",
    "An ELF file with an out-of-range section header string index is reported as an invalid module; kmod aborts on an assertion.",
    ".ko.gz files are always recognised; kmod recognises them only when built with zlib.",
    "A field name longer than 15 bytes is printed without padding, as kmod 34 and later do (kmod 30 to 33 pad it with a negative printf width, which adds spaces).",
    "A module with a GNU build-id note gets a \"build-id:\" line after its .modinfo fields, as kmod's development branch prints it; released kmod (up to 34.2) has no such line.",
    "--version prints \"kmod version 34 (rkmod VERSION)\" so that scripts reading kmod's version keep working.",
    "--json and --verify are rkmod extensions (see JSON OUTPUT and SIGNATURE VERIFICATION). Because of them, the abbreviations --v and --ver of --version are ambiguous here; kmod accepts them.",
];

/// modinfo's command-line definition.
pub fn command() -> Command {
    Command::new(TOOL)
        .about("Show information about a Linux kernel module")
        .override_usage("modinfo [options] <modulename|filename> [args]")
        .disable_version_flag(true)
        .infer_long_args(true)
        .arg(flag("author", 'a', "Print only 'author'"))
        .arg(flag("description", 'd', "Print only 'description'"))
        .arg(flag("license", 'l', "Print only 'license'"))
        .arg(flag("parameters", 'p', "Print only 'parm'"))
        .arg(flag("filename", 'n', "Print only 'filename'"))
        .arg(flag("null", '0', "Use \\0 instead of \\n"))
        .arg(flag(
            "modname",
            'm',
            "Handle argument as module name instead of alias or filename",
        ))
        .arg(
            Arg::new("field")
                .short('F')
                .long("field")
                .value_name("FIELD")
                .action(ArgAction::Append)
                .help("Print only provided FIELD"),
        )
        .arg(
            Arg::new("set-version")
                .short('k')
                .long("set-version")
                .value_name("VERSION")
                .value_parser(clap::value_parser!(OsString))
                .action(ArgAction::Set)
                .help("Use VERSION instead of $(uname -r)"),
        )
        .arg(
            Arg::new("basedir")
                .short('b')
                .long("basedir")
                .value_name("DIR")
                .value_parser(clap::value_parser!(OsString))
                .action(ArgAction::Set)
                .help("Use DIR as filesystem root for /lib/modules"),
        )
        .arg(
            Arg::new("verify")
                .long("verify")
                .value_name("CERT")
                .value_parser(clap::value_parser!(OsString))
                .action(ArgAction::Append)
                .help("Verify each module's signature against the X.509 certificates in CERT (DER or PEM; repeat for several files) instead of showing its fields (rkmod extension)"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print one JSON document instead of text; with --verify, the verdicts (rkmod extension)"),
        )
        .arg(flag("version", 'V', "Show version"))
        .arg(
            Arg::new("targets")
                .value_name("MODULE")
                .value_parser(clap::value_parser!(OsString))
                .action(ArgAction::Append)
                .help("Module files, names or aliases"),
        )
}

/// modinfo's options as plain data.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Print only this field's values (`-F`, or the shorthand flags).
    pub field: Option<Vec<u8>>,
    /// The record separator: `\n`, or NUL with `-0`.
    pub separator: u8,
    /// Treat arguments as module names (`-m`).
    pub modname: bool,
    /// The kernel version (`-k`).
    pub kernel_version: Option<OsString>,
    /// The root directory (`-b`).
    pub basedir: Option<OsString>,
    /// The certificate files of `--verify`; when there are any, modules are verified
    /// instead of shown.
    pub verify: Vec<OsString>,
    /// Print one JSON document instead of text (`--json`).
    pub json: bool,
    /// The arguments.
    pub targets: Vec<OsString>,
}

impl Options {
    fn from_matches(m: &clap::ArgMatches) -> Options {
        // The last of -a/-d/-l/-p/-n/-F on the command line decides the field, as with getopt.
        let shorthand = [
            ("author", "author"),
            ("description", "description"),
            ("license", "license"),
            ("parameters", "parm"),
            ("filename", "filename"),
        ];
        let mut field: Option<(usize, Vec<u8>)> = None;
        let mut consider = |index: Option<usize>, value: Vec<u8>| {
            if let Some(index) = index {
                if field.as_ref().map_or(true, |(best, _)| index > *best) {
                    field = Some((index, value));
                }
            }
        };
        for (id, name) in shorthand {
            if m.get_flag(id) {
                consider(m.index_of(id), name.as_bytes().to_vec());
            }
        }
        if let (Some(values), Some(indices)) =
            (m.get_many::<String>("field"), m.indices_of("field"))
        {
            for (value, index) in values.zip(indices) {
                consider(Some(index), value.as_bytes().to_vec());
            }
        }
        Options {
            field: field.map(|(_, f)| f),
            separator: if m.get_flag("null") { 0 } else { b'\n' },
            modname: m.get_flag("modname"),
            kernel_version: m.get_one::<OsString>("set-version").cloned(),
            basedir: m.get_one::<OsString>("basedir").cloned(),
            verify: m
                .get_many::<OsString>("verify")
                .map(|v| v.cloned().collect())
                .unwrap_or_default(),
            json: m.get_flag("json"),
            targets: m
                .get_many::<OsString>("targets")
                .map(|v| v.cloned().collect())
                .unwrap_or_default(),
        }
    }

    /// The module directory these options select: `BASEDIR/lib/modules/KVER`, with the running
    /// kernel's release when `-k` is not given.
    pub fn module_dir(&self) -> ModuleDir {
        let release = || {
            nix::sys::utsname::uname()
                .map(|u| u.release().to_os_string())
                .unwrap_or_default()
        };
        let kver = self.kernel_version.clone().unwrap_or_else(release);
        let root = self.basedir.clone().unwrap_or_default();
        ModuleDir::for_kernel(Path::new(&root), &kver.to_string_lossy())
    }
}

/// What one argument produced: its stdout bytes (or with `--json`, its objects), its stderr
/// lines, and whether it failed.
#[derive(Debug, Default)]
struct Rendered {
    stdout: Vec<u8>,
    objects: Vec<json::ModuleObject>,
    verdicts: Vec<json::VerdictObject>,
    stderr: Vec<String>,
    failed: bool,
}

impl Rendered {
    fn error(&mut self, message: String) {
        self.stderr.push(message);
        self.failed = true;
    }
}

/// A module to show: its name, and its file when it has one (none means builtin).
struct Target {
    name: Vec<u8>,
    path: Option<Vec<u8>>,
    builtin_hint: bool,
}

/// Runs modinfo with `args` (argv, starting with the program name) and returns the exit code.
pub fn run(args: Vec<OsString>) -> i32 {
    let matches = match crate::cli::parse(command(), TOOL, args) {
        Ok(m) => m,
        Err(code) => return code,
    };
    if matches.get_flag("version") {
        println!("{}", crate::cli::version_text());
        return 0;
    }
    let options = Options::from_matches(&matches);
    if options.json && (options.field.is_some() || options.separator == 0) {
        report::error(
            TOOL,
            "--json cannot be combined with -F, -a, -d, -l, -p, -n or -0",
        );
        return 1;
    }
    if options.targets.is_empty() {
        report::error(TOOL, "missing module or filename.");
        return 1;
    }
    let dir = options.module_dir();
    let certs = match load_certificates(&options.verify) {
        Ok(certs) => certs,
        Err(e) => {
            report::error(TOOL, &e.to_string());
            return 1;
        }
    };
    let certs = certs.as_ref();
    // kmod's modinfo creates its context with an empty configuration list (`null_config`):
    // modprobe.d aliases do not resolve (checked against kmod 30 in tests/real/modprobe.rs).
    let config = NoConfig;
    let mut out = report::Output::new();
    let mut failed = false;
    let mut objects = Vec::new();
    let mut verdicts = Vec::new();
    // Every argument is worked on in parallel (decompression dominates); output stays in
    // argument order.
    crate::parallel::map_ordered(
        &options.targets,
        |target| render_argument(&options, &dir, &config, certs, target),
        |mut r| {
            out.write(&r.stdout);
            objects.append(&mut r.objects);
            verdicts.append(&mut r.verdicts);
            if !r.stderr.is_empty() {
                out.flush();
                for line in &r.stderr {
                    report::error(TOOL, line);
                }
            }
            failed |= r.failed;
            true
        },
    );
    if options.json {
        // One document, after every argument's diagnostics.
        let document = if certs.is_some() {
            crate::json::to_output(&json::Document { modules: verdicts })
        } else {
            crate::json::to_output(&json::Document { modules: objects })
        };
        out.write(&document);
    }
    out.flush();
    i32::from(failed)
}

/// Whether kmod would treat `arg` as a module file: a module suffix and a regular file.
fn is_module_filename(arg: &OsStr) -> bool {
    modname::has_module_suffix(arg.as_bytes())
        && kmodcore::fs::stat(Path::new(arg)).is_ok_and(|m| m.is_file())
}

fn absolute(path: &OsStr) -> Vec<u8> {
    if path.as_bytes().first() == Some(&b'/') {
        return path.as_bytes().to_vec();
    }
    let mut abs = std::env::current_dir()
        .map(PathBuf::into_os_string)
        .unwrap_or_default()
        .into_vec();
    abs.push(b'/');
    abs.extend_from_slice(path.as_bytes());
    abs
}

/// The certificates of `--verify`, or `None` without it.
fn load_certificates(files: &[OsString]) -> kmodcore::Result<Option<CertificateSet>> {
    if files.is_empty() {
        return Ok(None);
    }
    let mut certs = CertificateSet::new();
    for file in files {
        certs.load_file(Path::new(file))?;
    }
    Ok(Some(certs))
}

fn render_argument(
    options: &Options,
    dir: &ModuleDir,
    config: &dyn LookupConfig,
    certs: Option<&CertificateSet>,
    arg: &OsStr,
) -> Rendered {
    let mut r = Rendered::default();
    let shown = String::from_utf8_lossy(arg.as_bytes()).into_owned();
    if options.modname {
        match lookup::lookup_name(dir, arg.as_bytes()) {
            Ok(Some(found)) => {
                let builtin = found.is_builtin();
                let target = target_for(dir, found.name, builtin, &mut r);
                if let Some(target) = target {
                    render_module(options, dir, certs, &target, &mut r);
                }
            }
            Ok(None) => r.error(format!("Module name {shown} not found.")),
            Err(e) => r.error(e.to_string()),
        }
    } else if is_module_filename(arg) {
        let target = Target {
            name: modname::name_from_path(arg.as_bytes()),
            path: Some(absolute(arg)),
            builtin_hint: false,
        };
        render_module(options, dir, certs, &target, &mut r);
    } else {
        match lookup::lookup(dir, config, arg.as_bytes()) {
            Ok(found) if found.is_empty() => r.error(format!("Module {shown} not found.")),
            Ok(found) => {
                for f in found {
                    if let Some(target) = target_for(dir, f.name.clone(), f.is_builtin(), &mut r) {
                        render_module(options, dir, certs, &target, &mut r);
                    }
                }
            }
            Err(kmodcore::Error::NotFound { .. }) => {
                r.error(format!("Module alias {shown} not found."))
            }
            Err(e) => r.error(e.to_string()),
        }
    }
    r
}

/// Finds the file of a module found by name (from modules.dep); none means builtin.
fn target_for(
    dir: &ModuleDir,
    name: Vec<u8>,
    builtin_hint: bool,
    r: &mut Rendered,
) -> Option<Target> {
    match dir.dep_entry(&name) {
        Ok(entry) => {
            let path = entry.map(|e| dir.module_path(&e.path).into_os_string().into_vec());
            Some(Target {
                name,
                path,
                builtin_hint,
            })
        }
        Err(e) => {
            r.error(e.to_string());
            None
        }
    }
}

fn push_padded(out: &mut Vec<u8>, key: &[u8], value: &[u8], separator: u8) {
    // "key:" then spaces up to column 16; keys of 15 bytes or more get none.
    out.extend_from_slice(key);
    out.push(b':');
    let pad = 15usize.saturating_sub(key.len());
    out.extend(std::iter::repeat(b' ').take(pad));
    out.extend_from_slice(value);
    out.push(separator);
}

fn render_module(
    options: &Options,
    dir: &ModuleDir,
    certs: Option<&CertificateSet>,
    target: &Target,
    r: &mut Rendered,
) {
    if let Some(certs) = certs {
        render_verdict(options, certs, target, r);
        return;
    }
    if options.json {
        render_object(dir, target, r);
        return;
    }
    let sep = options.separator;
    let field = options.field.as_deref();
    let filename: &[u8] = match &target.path {
        Some(path) => path,
        None => {
            match field {
                None => push_padded(&mut r.stdout, b"name", &target.name, sep),
                Some(b"name") => {
                    r.stdout.extend_from_slice(&target.name);
                    r.stdout.push(sep);
                }
                Some(_) => {}
            }
            b"(builtin)"
        }
    };
    match field {
        Some(b"filename") => {
            r.stdout.extend_from_slice(filename);
            r.stdout.push(sep);
            return;
        }
        None => push_padded(&mut r.stdout, b"filename", filename, sep),
        Some(_) => {}
    }
    if let Some(Found {
        details: Some(details),
        ..
    }) = find_details(dir, target, r)
    {
        render_info(&details.entries(), field, sep, r);
    }
}

/// What modinfo found of a module to show.
struct Found {
    /// Whether it is built into the kernel.
    builtin: bool,
    /// Its records, build-id and signature; none when kmod shows no fields (a module with
    /// neither a file nor a builtin record, or a kernel without modules.builtin.modinfo).
    details: Option<ModuleDetails>,
}

/// Reads what modinfo shows of `target`: its file, or for a builtin module its records in
/// modules.builtin.modinfo. `None` when that failed (the error is in `r`).
fn find_details(dir: &ModuleDir, target: &Target, r: &mut Rendered) -> Option<Found> {
    let failed = |r: &mut Rendered, e: kmodcore::Error| {
        r.error(format!(
            "could not get modinfo from '{}': {e}",
            String::from_utf8_lossy(&target.name)
        ));
    };
    if let Some(path) = &target.path {
        return match read_module_details(Path::new(OsStr::from_bytes(path))) {
            Ok(details) => Some(Found {
                builtin: false,
                details: Some(details),
            }),
            Err(e) => {
                failed(r, e);
                None
            }
        };
    }
    let builtin = target.builtin_hint || dir.is_builtin(&target.name).unwrap_or(false);
    if !builtin {
        // kmod finds no file and no builtin record: it prints nothing more and counts this
        // as success.
        return Some(Found {
            builtin,
            details: None,
        });
    }
    match dir.builtin_modinfo(&target.name) {
        Ok(records) => Some(Found {
            builtin,
            details: records.map(ModuleDetails::from_records),
        }),
        Err(e) => {
            failed(r, e);
            None
        }
    }
}

/// `--json`: the object of one module, with invalid parameter records reported on standard
/// error as the text form reports them.
fn render_object(dir: &ModuleDir, target: &Target, r: &mut Rendered) {
    let Some(found) = find_details(dir, target, r) else {
        return;
    };
    let details = found.details.unwrap_or_default();
    let (object, invalid) = json::module_object(
        &target.name,
        target.path.as_deref(),
        found.builtin,
        &details,
    );
    for entry in invalid {
        report_invalid_param(r, entry);
    }
    r.objects.push(object);
}

/// Whether a `.modinfo` record describes a parameter.
fn is_param(key: &[u8]) -> bool {
    key == b"parm" || key == b"parmtype"
}

/// Reports a parameter record without a `:`; kmod reports it and carries on, without failing.
fn report_invalid_param(r: &mut Rendered, entry: &InfoEntry) {
    r.stderr.push(format!(
        "Found invalid \"{}={}\": missing ':'",
        String::from_utf8_lossy(&entry.key),
        String::from_utf8_lossy(&entry.value)
    ));
}

/// A module parameter gathered from `parm` and `parmtype` records.
struct Param<'a> {
    name: &'a [u8],
    description: Option<&'a [u8]>,
    kind: Option<&'a [u8]>,
}

/// Adds a `parm`/`parmtype` record to `params`; false when it has no `:`.
fn add_param<'a>(params: &mut Vec<Param<'a>>, entry: &'a InfoEntry) -> bool {
    let Some(colon) = entry.value.iter().position(|&b| b == b':') else {
        return false;
    };
    let name = entry.value.get(..colon).unwrap_or_default();
    let rest = entry.value.get(colon + 1..).unwrap_or_default();
    let index = match params.iter().position(|p| p.name == name) {
        Some(index) => index,
        None => {
            params.push(Param {
                name,
                description: None,
                kind: None,
            });
            params.len() - 1
        }
    };
    if let Some(param) = params.get_mut(index) {
        if entry.key == b"parm" {
            param.description = Some(rest);
        } else {
            param.kind = Some(rest);
        }
    }
    true
}

fn render_info(info: &[InfoEntry], field: Option<&[u8]>, sep: u8, r: &mut Rendered) {
    let mut params: Vec<Param<'_>> = Vec::new();
    for entry in info {
        match field {
            Some(b"parm") => {
                if is_param(&entry.key) && !add_param(&mut params, entry) {
                    report_invalid_param(r, entry);
                }
            }
            Some(wanted) => {
                if entry.key == wanted {
                    r.stdout.extend_from_slice(&entry.value);
                    r.stdout.push(sep);
                }
            }
            None if is_param(&entry.key) => {
                if !add_param(&mut params, entry) {
                    report_invalid_param(r, entry);
                }
            }
            None if sep == 0 => {
                r.stdout.extend_from_slice(&entry.key);
                r.stdout.push(b'=');
                r.stdout.extend_from_slice(&entry.value);
                r.stdout.push(0);
            }
            None => push_padded(&mut r.stdout, &entry.key, &entry.value, sep),
        }
    }
    let with_prefix = match field {
        None => true,
        Some(b"parm") => false,
        Some(_) => return,
    };
    // kmod keeps parameters in a list it prepends to, so they print in reverse order of their
    // first appearance.
    for p in params.iter().rev() {
        let mut line = Vec::new();
        if with_prefix {
            line.extend_from_slice(format!("{:<16}", "parm:").as_bytes());
        }
        line.extend_from_slice(p.name);
        line.push(b':');
        match (p.description, p.kind) {
            // A type without a description: `name:TYPE` in the full listing, but
            // `name: (TYPE)` with -p, as kmod prints them.
            (None, Some(kind)) if with_prefix => line.extend_from_slice(kind),
            (None, Some(kind)) => {
                line.extend_from_slice(b" (");
                line.extend_from_slice(kind);
                line.push(b')');
            }
            (Some(desc), Some(kind)) => {
                line.extend_from_slice(desc);
                line.extend_from_slice(b" (");
                line.extend_from_slice(kind);
                line.push(b')');
            }
            (Some(desc), None) => line.extend_from_slice(desc),
            (None, None) => {}
        }
        line.push(sep);
        r.stdout.extend_from_slice(&line);
    }
}

/// What `--verify` shows of one module: a line, or with `--json` an object.
fn render_verdict(options: &Options, certs: &CertificateSet, target: &Target, r: &mut Rendered) {
    let Some(path) = &target.path else {
        let name = String::from_utf8_lossy(&target.name);
        r.error(format!("{name}: builtin module, no file to verify"));
        return;
    };
    let shown = String::from_utf8_lossy(path).into_owned();
    let result = verify_file(Path::new(OsStr::from_bytes(path)), certs);
    r.failed |= !result.as_ref().is_ok_and(Verdict::is_valid);
    if options.json {
        r.verdicts.push(json::verdict_object(&shown, &result));
    } else {
        r.stdout
            .extend_from_slice(verdict_line(&shown, &result).as_bytes());
        r.stdout.push(b'\n');
    }
}

/// `PATH: KIND (REASON; signer: NAME, key id: HEX)`, with the parts a verdict has.
fn verdict_line(path: &str, result: &kmodcore::Result<Verdict>) -> String {
    let (kind, signer, key_id, reason) = json::verdict_fields(result);
    let mut details = Vec::new();
    if let Some(reason) = reason {
        details.push(reason);
    }
    match (signer, key_id) {
        (Some(signer), Some(key_id)) if !signer.is_empty() => {
            details.push(format!("signer: {signer}, key id: {key_id}"))
        }
        (_, Some(key_id)) => details.push(format!("key id: {key_id}")),
        _ => {}
    }
    if details.is_empty() {
        format!("{path}: {kind}")
    } else {
        format!("{path}: {kind} ({})", details.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_lines() {
        let valid = Ok(Verdict::Valid {
            signer: b"Build key".to_vec(),
            key_id: vec![0x6a, 0x09],
        });
        assert_eq!(
            verdict_line("/m.ko", &valid),
            "/m.ko: valid (signer: Build key, key id: 6A:09)"
        );
        assert_eq!(
            verdict_line("/m.ko", &Ok(Verdict::Unsigned)),
            "/m.ko: unsigned"
        );
        assert_eq!(
            crate::json::to_line(&json::verdict_object("/m.ko", &valid)),
            r#"{"file":"/m.ko","verdict":"valid","signer":"Build key","key_id":"6A:09","reason":null}"#
        );
    }
}

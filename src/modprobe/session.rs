//! One modprobe run acting on its [`Options`]: resolving each request, loading or removing
//! modules through the kernel, showing the configuration or a module's symbols, and running
//! install and remove commands.

use std::ffi::{OsStr, OsString};
use std::ops::ControlFlow;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use kmodcore::config::Config;
use kmodcore::kernel::{Kernel, NixKernel};
use kmodcore::moddir::{IndexKind, ModuleDir, MODULE_DIRECTORY};
use kmodcore::module::ModuleFile;
use kmodcore::resolve::command::{CommandRunner, CommandStatus, ShellCommand, ShellRunner};
use kmodcore::resolve::probe::{self, Inserted, Level, ProbeError, Report, Reporter};
use kmodcore::resolve::{ModId, ResolveError, Resolver};

use super::args::{Mode, Options};
use crate::report;

use super::args::{LOG_CRIT, LOG_WARNING};
use super::output::Log;
use super::plan::{PlanDocument, Request};
use super::{DEPTH_ENV, MAX_COMMAND_DEPTH, MODPROBE_OPTIONS};

/// The module directory kmod uses: `ROOT/lib/modules/KVER` when `-d` or `-S` is given, else
/// `/lib/modules/$(uname -r)`, made absolute.
pub(super) fn module_dir_path(options: &Options) -> Result<PathBuf, String> {
    let release = || {
        nix::sys::utsname::uname()
            .map(|u| u.release().to_os_string())
            .map_err(|e| format!("uname() failed: {}", kmodcore::fs::strerror(e as i32)))
    };
    let mut path = Vec::new();
    if options.root.is_some() || options.kernel_version.is_some() {
        let kver = match &options.kernel_version {
            Some(k) => k.clone(),
            None => release()?,
        };
        path.extend_from_slice(options.root.as_deref().unwrap_or_default().as_bytes());
        path.extend_from_slice(MODULE_DIRECTORY.as_bytes());
        path.push(b'/');
        path.extend_from_slice(kver.as_bytes());
        if path.len() >= 4096 {
            return Err(format!(
                "bad directory {}{MODULE_DIRECTORY}/{}: path too long",
                options
                    .root
                    .as_deref()
                    .unwrap_or_default()
                    .to_string_lossy(),
                kver.to_string_lossy()
            ));
        }
    } else {
        path.extend_from_slice(MODULE_DIRECTORY.as_bytes());
        path.push(b'/');
        path.extend_from_slice(release()?.as_bytes());
    }
    Ok(kmodcore::resolve::absolute_path(Path::new(
        OsStr::from_bytes(&path),
    )))
}

/// One modprobe run's state.
pub(super) struct Session<'a> {
    pub(super) options: &'a Options,
    pub(super) log: Log,
    pub(super) out: report::Output,
    pub(super) dir: &'a ModuleDir,
    pub(super) dir_path: &'a Path,
    pub(super) kernel: &'a NixKernel,
    /// An explanation for the last failed load, printed after kmod's message.
    pub(super) hint: Option<String>,
    /// `--show-depends --json`: the plan being collected instead of printed.
    pub(super) plan: Option<PlanDocument>,
}

/// What a step of the run ended with: go on, or stop now (a FATAL message was printed).
type Step<T> = Result<T, Stop>;

/// The run must end now, unsuccessfully.
pub(super) struct Stop;

impl Session<'_> {
    /// Prints one of modprobe's own `LOG()` messages: FATAL (ending the run) by default, a
    /// warning with `-a`.
    fn fatal(&mut self, text: &str) -> Step<()> {
        let level = self.options.log_level;
        self.out.flush();
        if self.log.print(level, text) && level <= LOG_CRIT {
            return Err(Stop);
        }
        Ok(())
    }

    fn error(&mut self, text: &str) {
        self.out.flush();
        self.log.print(3, text);
    }

    pub(super) fn dispatch(&mut self, config: &Config) -> bool {
        if self.options.json {
            if !(self.options.mode == Mode::ShowConfig || self.shows_depends()) {
                self.error(
                    "--json is supported with -c (--show-config) and -D (--show-depends) only",
                );
                return false;
            }
            if self.options.mode == Mode::Insert {
                self.plan = Some(PlanDocument::default());
            }
        }
        match self.options.mode {
            Mode::ShowConfig => self.show_config(config),
            Mode::ShowModversions | Mode::ShowExports => {
                let mut resolver = Resolver::new(self.dir, config);
                let arg = self.options.args.first().cloned().unwrap_or_default();
                self.show_symbols(&mut resolver, &arg).unwrap_or(false)
            }
            Mode::Remove => {
                let mut resolver = Resolver::new(self.dir, config);
                let mut ok = true;
                for arg in self.options.args.clone() {
                    match self.remove(&mut resolver, &arg) {
                        Ok(true) => {}
                        Ok(false) => ok = false,
                        Err(Stop) => return false,
                    }
                }
                ok
            }
            Mode::Insert => {
                let ok = self.insert_all(config);
                if let Some(plan) = self.plan.take() {
                    // The plan of every request found, also when one of them failed.
                    self.out.write(&crate::json::to_output(&plan));
                }
                ok
            }
        }
    }

    /// Whether this run is `--show-depends` (`-D`): a dry run of the insert mode that shows
    /// every step, loaded or not, and only that.
    fn shows_depends(&self) -> bool {
        let o = self.options;
        o.mode == Mode::Insert && o.flags.dry_run && o.flags.ignore_loaded && !o.lookup_only
    }

    /// The insert mode: every argument with `-a`, else the first with the rest as options.
    fn insert_all(&mut self, config: &Config) -> bool {
        let mut resolver = Resolver::new(self.dir, config);
        let args = self.options.args.clone();
        if let Some(threads) = self.parallel_threads() {
            return self.insert_parallel(&mut resolver, &args, threads);
        }
        if self.options.all {
            let mut ok = true;
            for arg in &args {
                match self.insert(&mut resolver, arg, None) {
                    Ok(true) => {}
                    Ok(false) => ok = false,
                    Err(Stop) => return false,
                }
            }
            ok
        } else {
            let (first, params) = args
                .split_first()
                .map_or((OsString::new(), &[][..]), |(f, p)| (f.clone(), p));
            let extra = (!params.is_empty())
                .then(|| kmodcore::kernel::join_params(params.iter().map(|p| p.as_bytes())));
            self.insert(&mut resolver, &first, extra.as_deref())
                .unwrap_or(false)
        }
    }

    fn show_config(&mut self, config: &Config) -> bool {
        if self.options.json {
            return match super::json::config_document(config, self.dir) {
                Ok(document) => {
                    self.out.write(&crate::json::to_output(&document));
                    true
                }
                Err(failure) => {
                    self.error(&failure.0);
                    false
                }
            };
        }
        self.out.write(&config.render_modprobe_c());
        self.out
            .write(b"\n# End of configuration files. Dumping indexes now:\n\n");
        self.out.flush();
        for kind in [IndexKind::Alias, IndexKind::Symbols] {
            match self.dir.index(kind) {
                Ok(Some(index)) => {
                    let mut buf = Vec::new();
                    let result = index.dump(&mut buf, true);
                    self.out.write(&buf);
                    if let Err(e) = result {
                        self.out.flush();
                        self.error(&format!("{}: {e}", self.dir.index_path(kind).display()));
                        return false;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    self.error(&e.to_string());
                    return false;
                }
            }
        }
        true
    }

    /// Whether an argument names a module file: it starts with `/` or `./` (kmod 31 and
    /// later), and the command line is not the kernel's own request.
    fn is_path(&self, arg: &OsStr) -> bool {
        let bytes = arg.as_bytes();
        !self.options.kernel_request && (bytes.starts_with(b"/") || bytes.starts_with(b"./"))
    }

    /// Resolves an argument as kmod's `module_new_from_any` does, printing its message when
    /// nothing is found. `Ok(None)`: not found (reported).
    pub(super) fn resolve_any(
        &mut self,
        resolver: &mut Resolver<'_>,
        arg: &OsStr,
    ) -> Step<Option<Vec<ModId>>> {
        if self.is_path(arg) {
            return match resolver.from_path(Path::new(arg)) {
                Ok(id) => Ok(Some(vec![id])),
                Err(e) => {
                    let reason = match &e {
                        ResolveError::Core(core) => kmodcore::fs::strerror(core.errno()),
                        other => other.to_string(),
                    };
                    self.fatal(&format!(
                        "Failed to get module from path {}: {reason}",
                        arg.to_string_lossy()
                    ))?;
                    Ok(None)
                }
            };
        }
        match resolver.lookup(arg.as_bytes()) {
            Ok(ids) if !ids.is_empty() => Ok(Some(ids)),
            Ok(_) | Err(ResolveError::Core(kmodcore::Error::NotFound { .. })) => {
                self.not_found_hint();
                self.fatal(&format!(
                    "Module {} not found in directory {}",
                    arg.to_string_lossy(),
                    self.dir_path.display()
                ))?;
                Ok(None)
            }
            Err(e) => {
                self.index_error(&e);
                Ok(None)
            }
        }
    }

    /// kmod says nothing when modules.dep.bin is missing; rkmod adds a hint before the "not
    /// found" message.
    fn not_found_hint(&mut self) {
        let path = self.dir.index_path(IndexKind::Dep);
        // Opened without blocking: a FIFO in its place must not hang the run.
        let problem = match kmodcore::fs::open_regular_file(&path) {
            Ok((_, 0)) => "empty file".to_string(),
            Ok(_) => return,
            Err(kmodcore::Error::Io { source, .. }) => {
                kmodcore::fs::strerror(source.raw_os_error().unwrap_or(5))
            }
            Err(_) => "not a regular file".to_string(),
        };
        let text = format!(
            "{}: {problem} (run depmod to create the module indexes)",
            path.display()
        );
        self.log.print(LOG_WARNING, &text);
    }

    fn index_error(&mut self, e: &dyn std::fmt::Display) {
        self.error(&format!("{e} (run depmod to rebuild the module indexes)"));
    }

    fn insert(
        &mut self,
        resolver: &mut Resolver<'_>,
        arg: &OsStr,
        extra: Option<&[u8]>,
    ) -> Step<bool> {
        let Some(ids) = self.resolve_any(resolver, arg)? else {
            return Ok(false);
        };
        if let Some(plan) = &mut self.plan {
            plan.requests.push(Request::new(arg.as_bytes()));
        }
        let mut ok = true;
        for id in ids {
            ok = self.insert_one(resolver, id, extra)?;
        }
        Ok(ok)
    }

    fn insert_one(
        &mut self,
        resolver: &mut Resolver<'_>,
        id: ModId,
        extra: Option<&[u8]>,
    ) -> Step<bool> {
        let name = String::from_utf8_lossy(resolver.name(id)).into_owned();
        if self.options.lookup_only {
            let mut line = resolver.name(id).to_vec();
            line.push(b'\n');
            self.out.write(&line);
            return Ok(true);
        }
        let mut runner = NestedRunner::new(self.options);
        self.hint = None;
        let result = {
            let mut reporter = SessionReporter { session: self };
            probe::insert(
                resolver,
                reporter.session.kernel,
                &mut runner,
                id,
                reporter.session.options.flags,
                extra,
                &mut reporter,
            )
        };
        self.insert_outcome(&name, result)
    }

    /// Reports how inserting module `name` ended, as kmod words it.
    pub(super) fn insert_outcome(
        &mut self,
        name: &str,
        result: Result<Inserted, ProbeError>,
    ) -> Step<bool> {
        match result {
            Ok(Inserted::Done | Inserted::AlreadyLoaded | Inserted::Blacklisted(_)) => Ok(true),
            Err(ProbeError::Stopped) => Err(Stop),
            Err(ProbeError::Errno(errno)) => {
                let text = match errno {
                    nix::errno::Errno::EEXIST => "Module already in kernel".to_string(),
                    nix::errno::Errno::ENOENT => {
                        "Unknown symbol in module, or unknown parameter (see dmesg)".to_string()
                    }
                    other => kmodcore::fs::strerror(other as i32),
                };
                let mut message = format!("could not insert '{name}': {text}");
                if let Some(hint) = self.hint.take() {
                    message.push_str(" (");
                    message.push_str(&hint);
                    message.push(')');
                }
                self.error(&message);
                Ok(false)
            }
            Err(ProbeError::Resolve(e)) => {
                self.index_error(&e);
                Ok(false)
            }
            Err(other) => {
                self.error(&format!("could not insert '{name}': {other}"));
                Ok(false)
            }
        }
    }

    fn remove(&mut self, resolver: &mut Resolver<'_>, arg: &OsStr) -> Step<bool> {
        let ids = match resolver.lookup(arg.as_bytes()) {
            Ok(ids) => ids,
            Err(ResolveError::Core(kmodcore::Error::NotFound { .. })) => Vec::new(),
            Err(e) => {
                self.index_error(&e);
                return Ok(false);
            }
        };
        if ids.is_empty() {
            self.not_found_hint();
            self.fatal(&format!("Module {} not found.", arg.to_string_lossy()))?;
            return Ok(false);
        }
        let mut runner = NestedRunner::new(self.options);
        for id in ids {
            let result = {
                let mut reporter = SessionReporter { session: self };
                probe::remove(
                    resolver,
                    reporter.session.kernel,
                    &mut runner,
                    id,
                    reporter.session.options.flags,
                    &mut reporter,
                )
            };
            match result {
                Ok(()) => {}
                Err(ProbeError::Stopped) => return Err(Stop),
                Err(ProbeError::Errno(_)) => return Ok(false),
                Err(ProbeError::Resolve(e)) => {
                    self.index_error(&e);
                    return Ok(false);
                }
                Err(other) => {
                    self.error(&other.to_string());
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// `--show-modversions` and `--show-exports`.
    fn show_symbols(&mut self, resolver: &mut Resolver<'_>, arg: &OsStr) -> Step<bool> {
        let Some(ids) = self.resolve_any(resolver, arg)? else {
            return Ok(false);
        };
        let exports = self.options.mode == Mode::ShowExports;
        let mut ok = true;
        for id in ids {
            let name = String::from_utf8_lossy(resolver.name(id)).into_owned();
            let listed = match resolver.path(id) {
                Ok(Some(path)) => symbol_list(&path, exports),
                Ok(None) => Err(nix::errno::Errno::ENOENT),
                Err(e) => {
                    self.index_error(&e);
                    ok = false;
                    continue;
                }
            };
            match listed {
                Ok(list) => {
                    let mut text = Vec::new();
                    for (crc, symbol) in list {
                        text.extend_from_slice(format!("0x{crc:08x}\t").as_bytes());
                        text.extend_from_slice(&symbol);
                        text.push(b'\n');
                    }
                    self.out.write(&text);
                    ok = true;
                }
                Err(errno) => {
                    let what = if exports { "symbols" } else { "modversions" };
                    self.fatal(&format!(
                        "could not get {what} of {name}: {}",
                        kmodcore::fs::strerror(errno as i32)
                    ))?;
                    ok = false;
                }
            }
        }
        Ok(ok)
    }
}

/// The `(crc, symbol)` pairs of a module's `__versions` (imports) or exports, as kmod lists
/// them, or the errno kmod fails with.
fn symbol_list(path: &Path, exports: bool) -> Result<Vec<(u64, Vec<u8>)>, nix::errno::Errno> {
    use nix::errno::Errno;
    let file = ModuleFile::open(path).map_err(|e| Errno::from_raw(e.errno()))?;
    let elf = file.elf().map_err(|_| Errno::EINVAL)?;
    if exports {
        kmodcore::module::symbols::exports(&elf)
    } else {
        kmodcore::module::symbols::modversions(&elf)
    }
}

/// Routes the resolver's reports to the session's output and log.
pub(super) struct SessionReporter<'s, 'a> {
    pub(super) session: &'s mut Session<'a>,
}

impl Reporter for SessionReporter<'_, '_> {
    fn report(&mut self, report: Report<'_>) -> ControlFlow<()> {
        let s = &mut *self.session;
        match report {
            Report::Show(shown) => {
                if let Some(plan) = &mut s.plan {
                    if let Some(request) = plan.requests.last_mut() {
                        request.push(&shown);
                    }
                } else if s.options.show {
                    s.out.write(&shown.line());
                }
            }
            Report::Message(level, text) => {
                let level = match level {
                    Level::Critical => s.options.log_level,
                    other => other as i32,
                };
                s.out.flush();
                if s.log.print(level, &text) && level <= LOG_CRIT {
                    return ControlFlow::Break(());
                }
            }
            Report::LoadFailed {
                name,
                path,
                params,
                error,
            } => {
                if let Some(errno) = error.kernel_errno() {
                    let context = kmodcore::kernel::hint::InsertContext {
                        path: Some(path),
                        name,
                        params,
                    };
                    s.hint = kmodcore::kernel::hint::insert_hint(
                        s.kernel as &dyn Kernel,
                        errno,
                        &context,
                    );
                } else {
                    s.hint = Some(error.to_string());
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// Runs install and remove commands through `/bin/sh`, passing on `MODPROBE_OPTIONS` and
/// counting the nesting depth.
pub(super) struct NestedRunner {
    shell: ShellRunner,
    depth: u32,
}

impl NestedRunner {
    pub(super) fn new(options: &Options) -> NestedRunner {
        let depth = std::env::var(DEPTH_ENV)
            .ok()
            .and_then(|d| d.parse::<u32>().ok())
            .unwrap_or(0);
        let mut shell = ShellRunner::default();
        shell.env.push((
            DEPTH_ENV.into(),
            (depth.saturating_add(1)).to_string().into(),
        ));
        if !options.nested_options.is_empty() {
            shell
                .env
                .push((MODPROBE_OPTIONS.into(), options.nested_options.clone()));
        }
        NestedRunner { shell, depth }
    }
}

impl CommandRunner for NestedRunner {
    fn run(&mut self, command: &ShellCommand) -> std::io::Result<CommandStatus> {
        if self.depth >= MAX_COMMAND_DEPTH {
            return Err(std::io::Error::other(format!(
                "install and remove commands nest deeper than {MAX_COMMAND_DEPTH} levels ({DEPTH_ENV}); \
                 a command probably runs modprobe for its own module"
            )));
        }
        self.shell.run(command)
    }
}

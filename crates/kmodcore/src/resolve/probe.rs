//! Carrying out a plan: inserting a module with everything it needs, and removing one, through
//! the [`Kernel`] trait and a [`CommandRunner`], the way `modprobe` does.
//!
//! Nothing here prints. What kmod prints on the way (the `insmod`/`install`/`rmmod`/`remove`
//! lines of `--show-depends`, `--dry-run` and `-v`, and its messages) is handed to a
//! [`Reporter`] as a [`Report`], in the order kmod prints it. A reporter may stop the run
//! (kmod's FATAL messages end the process); the run then returns [`ProbeError::Stopped`].
//!
//! # Inserting ([`insert`])
//! 1. A module that is builtin or live is done (an error with `--first-time`), unless
//!    `--show-depends` asked to ignore what is loaded.
//! 2. A blacklisted module is skipped, successfully, when it was reached through an alias, or
//!    always with `-b`. Dependencies and softdeps are never filtered.
//! 3. The probe list ([`Resolver::probe_list`]) is walked. For each module: one that became
//!    live or builtin meanwhile is skipped; then its install command runs (unless ignored), or
//!    its file is loaded with its options (the command line's options go to the requested
//!    module only).
//! 4. `EEXIST` (another loader won a race) counts as success, except for the requested module
//!    under `--first-time`. A failure of a module that is only a softdep is ignored; any other
//!    failure stops the walk.
//!
//! # Removing ([`remove`])
//! kmod's order: the post-softdeps (in reverse, errors ignored), then with `--remove-holders`
//! the modules holding this one, then the module itself (its remove command, or
//! `delete_module`, refused while in use unless `--wait`), then its dependencies that became
//! unused, then its pre-softdeps (in reverse, errors ignored).

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use super::command::{expand_for_display, CommandRunner, CommandStatus, ShellCommand};
use super::{ModId, ResolveError, Resolver};
use crate::kernel::{self, DeleteFlags, Errno, InitState, InsertFlags, Kernel, KernelError};

/// How a run was asked to behave (modprobe's flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeFlags {
    /// Do not look at what is loaded (`--show-depends`).
    pub ignore_loaded: bool,
    /// Fail when the module is loaded already, or not loaded on removal (`--first-time`).
    pub first_time: bool,
    /// Change nothing (`--dry-run`, `--show-depends`).
    pub dry_run: bool,
    /// Ignore the requested module's install/remove command and softdeps (`-i`).
    pub ignore_command: bool,
    /// Apply the blacklist to modules requested by name too (`-b`; libkmod's
    /// `KMOD_PROBE_APPLY_BLACKLIST`).
    pub use_blacklist: bool,
    /// Do not skip a blacklisted module that was reached through an alias. modprobe always
    /// skips it; a libkmod caller asks for that with `KMOD_PROBE_APPLY_BLACKLIST_ALIAS_ONLY`.
    pub keep_blacklisted_aliases: bool,
    /// Leave every blacklisted module out of the probe list, dependencies and softdeps too
    /// (libkmod's `KMOD_PROBE_APPLY_BLACKLIST_ALL`); nothing left is [`Inserted::Blacklisted`].
    pub blacklist_all: bool,
    /// Ignore symbol versions (`--force-modversion`, `-f`).
    pub force_modversion: bool,
    /// Ignore the version magic (`--force-vermagic`, `-f`).
    pub force_vermagic: bool,
    /// Unload even a module in use (`-f` with `-r`).
    pub force_remove: bool,
    /// Also remove the modules holding the requested one (`--remove-holders`).
    pub remove_holders: bool,
    /// Keep trying to remove a module in use for this long (`--wait`); zero: do not wait.
    pub wait: Duration,
}

/// A line `--show-depends`, `--dry-run` or `-v` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// `insmod PATH OPTIONS`
    Insmod {
        /// The module's record (libkmod hands it to `print_action`).
        module: ModId,
        /// The module's name (not shown in the line).
        name: Vec<u8>,
        /// The module file.
        path: Vec<u8>,
        /// Its options (possibly empty).
        options: Vec<u8>,
    },
    /// `install COMMAND OPTIONS`: the configured command, unexpanded.
    Install {
        /// The module's record.
        module: ModId,
        /// The module the command is run for (not shown in the line).
        name: Vec<u8>,
        /// The command as configured.
        command: Vec<u8>,
        /// The options.
        options: Vec<u8>,
    },
    /// `builtin NAME`
    Builtin {
        /// The module's record.
        module: ModId,
        /// The module.
        name: Vec<u8>,
        /// The options it would have been given (not shown in the line).
        options: Vec<u8>,
    },
    /// A module with neither a file nor a builtin entry, about to fail to load: modprobe shows
    /// nothing ([`Shown::line`] is empty), libkmod still hands it to `print_action`.
    NoFile {
        /// The module's record.
        module: ModId,
        /// The module.
        name: Vec<u8>,
        /// The options it would have been given.
        options: Vec<u8>,
    },
    /// `rmmod NAME`
    Rmmod {
        /// The module.
        name: Vec<u8>,
    },
    /// `remove COMMAND`, with `$CMDLINE_OPTS` expanded to nothing.
    Remove {
        /// The command as it is shown.
        command: Vec<u8>,
    },
}

impl Shown {
    /// The line kmod prints, with its newline; empty for [`Shown::NoFile`].
    pub fn line(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Shown::NoFile { .. } = self {
            return out;
        }
        let mut put = |parts: &[&[u8]]| {
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(part);
            }
            out.push(b'\n');
        };
        match self {
            Shown::Insmod { path, options, .. } => put(&[b"insmod", path, options]),
            Shown::Install {
                command, options, ..
            } => put(&[b"install", command, options]),
            Shown::Builtin { name, .. } => put(&[b"builtin", name]),
            Shown::Rmmod { name } => put(&[b"rmmod", name]),
            Shown::NoFile { .. } => {}
            Shown::Remove { command } => put(&[b"remove", command]),
        }
        out
    }
}

/// The importance of a message, as syslog levels (kmod shows a message when its level is at
/// most the verbosity: errors by default, info with `-vv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// kmod's `LOG()`: FATAL (ending the run), or a warning with `-a`.
    Critical = 2,
    /// An error.
    Error = 3,
    /// A warning.
    Warning = 4,
    /// Information (`-vv`).
    Info = 6,
}

/// Something kmod prints while it works.
#[derive(Debug)]
pub enum Report<'a> {
    /// A line of `--show-depends`, `--dry-run` or `-v`.
    Show(Shown),
    /// A message: its level and kmod's wording (no program prefix, no newline).
    Message(Level, String),
    /// A module could not be loaded; the kernel's errno and what the tool knows about the
    /// load, for a hint.
    LoadFailed {
        /// The module.
        name: &'a [u8],
        /// Its file.
        path: &'a std::path::Path,
        /// The parameters it was given.
        params: &'a [u8],
        /// The error.
        error: &'a KernelError,
    },
}

/// Receives what a run reports, in order; returning `ControlFlow::Break` stops the run.
pub trait Reporter {
    /// Takes one report.
    fn report(&mut self, report: Report<'_>) -> ControlFlow<()>;
}

/// Why a run failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Resolving failed (an index, or a bound).
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The reporter stopped the run.
    #[error("stopped")]
    Stopped,
    /// A step failed with this errno (kmod's return value); the messages were reported.
    #[error("{}", crate::fs::strerror(*.0 as i32))]
    Errno(Errno),
}

impl From<crate::Error> for ProbeError {
    fn from(e: crate::Error) -> ProbeError {
        ProbeError::Resolve(ResolveError::Core(e))
    }
}

/// How an insertion ended well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// The plan was carried out (or shown, in a dry run).
    Done,
    /// The module was loaded (or builtin) already.
    AlreadyLoaded,
    /// The module is blacklisted and was skipped, by this rule.
    Blacklisted(BlacklistRule),
}

/// Which rule of [`ProbeFlags`] skipped a blacklisted module (libkmod returns it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlacklistRule {
    /// It was reached through an alias (`KMOD_PROBE_APPLY_BLACKLIST_ALIAS_ONLY`).
    AliasOnly,
    /// [`ProbeFlags::blacklist_all`] left nothing to load (`KMOD_PROBE_APPLY_BLACKLIST_ALL`).
    All,
    /// [`ProbeFlags::use_blacklist`] (`KMOD_PROBE_APPLY_BLACKLIST`).
    Requested,
}

pub(super) fn say(reporter: &mut dyn Reporter, report: Report<'_>) -> Result<(), ProbeError> {
    match reporter.report(report) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(ProbeError::Stopped),
    }
}

pub(super) fn message(
    reporter: &mut dyn Reporter,
    level: Level,
    text: String,
) -> Result<(), ProbeError> {
    say(reporter, Report::Message(level, text))
}

/// Whether kmod considers the module loaded: builtin, or live.
pub(super) fn in_kernel(
    resolver: &mut Resolver<'_>,
    kernel: &dyn Kernel,
    id: ModId,
) -> Result<bool, ProbeError> {
    if resolver.is_builtin(id)? {
        return Ok(true);
    }
    Ok(matches!(
        kernel.initstate(resolver.name(id)),
        Ok(Some(InitState::Live))
    ))
}

/// Reports the problems the resolver noted (taken with [`Resolver::take_notices`]).
pub(super) fn notices(
    noticed: Vec<super::Notice>,
    reporter: &mut dyn Reporter,
) -> Result<(), ProbeError> {
    for notice in noticed {
        message(reporter, Level::Error, notice.message())?;
    }
    Ok(())
}

/// Joins the module's own options with the command line's (kmod's
/// `module_options_concat`): `OWN EXTRA`, or whichever exists. kmod leaves a trailing space
/// when there are options of its own and none from the command line, and so does this.
pub(super) fn concat_options(own: &[u8], extra: Option<&[u8]>) -> Vec<u8> {
    let extra = extra.unwrap_or_default();
    if own.is_empty() {
        return extra.to_vec();
    }
    let mut out = own.to_vec();
    out.push(b' ');
    out.extend_from_slice(extra);
    out
}

/// Whether the blacklist skips the requested module, and by which rule (libkmod's order:
/// the alias rule, then all, then the requested-module rule).
pub(super) fn blacklist_rule(
    resolver: &Resolver<'_>,
    top: ModId,
    flags: ProbeFlags,
) -> Option<BlacklistRule> {
    if !resolver.is_blacklisted(top) {
        return None;
    }
    if resolver.alias(top).is_some() && !flags.keep_blacklisted_aliases {
        Some(BlacklistRule::AliasOnly)
    } else if flags.blacklist_all {
        Some(BlacklistRule::All)
    } else if flags.use_blacklist {
        Some(BlacklistRule::Requested)
    } else {
        None
    }
}

/// The resolver a run asks its questions of ([`insert`]). The run borrows it for each
/// question and gives it back before each report and each command, so that a reporter or a
/// command runner may use it too: libkmod's `print_action` and `run_install` callbacks call
/// back into the library, which answers from the same resolver.
pub trait Lend<'d> {
    /// Runs `question` with the resolver.
    fn with<T>(&mut self, question: impl FnOnce(&mut Resolver<'d>) -> T) -> T;
}

/// A resolver the run has to itself.
impl<'d> Lend<'d> for &mut Resolver<'d> {
    fn with<T>(&mut self, question: impl FnOnce(&mut Resolver<'d>) -> T) -> T {
        question(self)
    }
}

/// A resolver shared with the reporter and the runner, borrowed for one question at a time.
impl<'d> Lend<'d> for &std::cell::RefCell<Resolver<'d>> {
    fn with<T>(&mut self, question: impl FnOnce(&mut Resolver<'d>) -> T) -> T {
        question(&mut self.borrow_mut())
    }
}

/// Inserts module `top` with everything it needs; `extra_options` are the options given on
/// the command line. See the module documentation for the steps. The resolver is not
/// borrowed while a report or a command is handed out (see [`Lend`]).
pub fn insert<'d>(
    mut resolver: impl Lend<'d>,
    kernel: &dyn Kernel,
    runner: &mut dyn CommandRunner,
    top: ModId,
    flags: ProbeFlags,
    extra_options: Option<&[u8]>,
    reporter: &mut dyn Reporter,
) -> Result<Inserted, ProbeError> {
    if !flags.ignore_loaded && resolver.with(|r| in_kernel(r, kernel, top))? {
        if flags.first_time {
            return Err(ProbeError::Errno(Errno::EEXIST));
        }
        return Ok(Inserted::AlreadyLoaded);
    }
    if let Some(rule) = resolver.with(|r| blacklist_rule(r, top, flags)) {
        return Ok(Inserted::Blacklisted(rule));
    }
    let (steps, noticed) =
        resolver.with(|r| (r.probe_list(top, flags.ignore_command), r.take_notices()));
    notices(noticed, reporter)?;
    let mut steps = steps?;
    if flags.blacklist_all {
        resolver.with(|r| steps.retain(|step| !r.is_blacklisted(step.module)));
        if steps.is_empty() {
            return Ok(Inserted::Blacklisted(BlacklistRule::All));
        }
    }
    let mut result: Result<(), Errno> = Ok(());
    for step in steps {
        let m = step.module;
        result = if !flags.ignore_loaded && resolver.with(|r| in_kernel(r, kernel, m))? {
            Err(Errno::EEXIST)
        } else {
            let (name, own, command) =
                resolver.with(|r| (r.name(m).to_vec(), r.options(m), r.install_command(m)));
            let options = concat_options(&own, if m == top { extra_options } else { None });
            match command {
                Some(command) if !step.ignore_command => {
                    say(
                        reporter,
                        Report::Show(Shown::Install {
                            module: m,
                            name: name.clone(),
                            command: command.clone(),
                            options: options.clone(),
                        }),
                    )?;
                    if flags.dry_run {
                        Ok(())
                    } else {
                        run_command(runner, m, &name, "install", &command, &options, reporter)?
                    }
                }
                _ => load(&mut resolver, kernel, m, name, &options, flags, reporter)?,
            }
        };
        match result {
            Err(Errno::EEXIST) if m == top && flags.first_time => break,
            Err(Errno::EEXIST) => result = Ok(()),
            Err(_) if !step.required => result = Ok(()),
            Err(_) => break,
            Ok(()) => {}
        }
    }
    match result {
        Ok(()) => Ok(Inserted::Done),
        Err(errno) => Err(ProbeError::Errno(errno)),
    }
}

/// Shows and (unless a dry run) loads module `m`'s file; `name` is its name. `Ok(Err(errno))`
/// is a failure kmod carries on from or stops at, depending on the module.
fn load<'d>(
    resolver: &mut impl Lend<'d>,
    kernel: &dyn Kernel,
    m: ModId,
    name: Vec<u8>,
    options: &[u8],
    flags: ProbeFlags,
    reporter: &mut dyn Reporter,
) -> Result<Result<(), Errno>, ProbeError> {
    let path = resolver.with(|r| r.path(m))?;
    match &path {
        Some(path) => say(
            reporter,
            Report::Show(Shown::Insmod {
                module: m,
                name: name.clone(),
                path: path.as_os_str().as_encoded_bytes().to_vec(),
                options: options.to_vec(),
            }),
        )?,
        None => {
            // A module without a file: builtin ones are shown as such, others not at all.
            let name = name.clone();
            let options = options.to_vec();
            let shown = if resolver.with(|r| r.is_builtin(m))? {
                Shown::Builtin {
                    module: m,
                    name,
                    options,
                }
            } else {
                Shown::NoFile {
                    module: m,
                    name,
                    options,
                }
            };
            say(reporter, Report::Show(shown))?;
        }
    }
    if flags.dry_run {
        return Ok(Ok(()));
    }
    let Some(path) = path else {
        message(
            reporter,
            Level::Error,
            format!(
                "could not find module by name='{}'",
                String::from_utf8_lossy(&name)
            ),
        )?;
        return Ok(Err(Errno::ENOENT));
    };
    load_file(kernel, &name, &path, options, flags, reporter)
}

/// Loads module `name` from `path` (the part of loading after the plan: the kernel call and
/// its failure messages). `Ok(Err(errno))` is a failure of the load.
pub(super) fn load_file(
    kernel: &dyn Kernel,
    name: &[u8],
    path: &std::path::Path,
    options: &[u8],
    flags: ProbeFlags,
    reporter: &mut dyn Reporter,
) -> Result<Result<(), Errno>, ProbeError> {
    let insert_flags = InsertFlags {
        force_modversion: flags.force_modversion,
        force_vermagic: flags.force_vermagic,
    };
    match kernel::insert_module(kernel, path, options, insert_flags) {
        Ok(_) => Ok(Ok(())),
        Err(error) => {
            let errno = Errno::from_raw(error.errno());
            message(
                reporter,
                Level::Info,
                format!(
                    "Failed to insert module '{}': {}",
                    path.display(),
                    crate::fs::strerror(errno as i32)
                ),
            )?;
            say(
                reporter,
                Report::LoadFailed {
                    name,
                    path,
                    params: options,
                    error: &error,
                },
            )?;
            Ok(Err(errno))
        }
    }
}

/// Runs an install or remove command for module `name`; `Ok(Err(EINVAL))` when it failed, as
/// kmod reports it.
pub(super) fn run_command(
    runner: &mut dyn CommandRunner,
    record: ModId,
    name: &[u8],
    kind: &str,
    command: &[u8],
    options: &[u8],
    reporter: &mut dyn Reporter,
) -> Result<Result<(), Errno>, ProbeError> {
    let shown = String::from_utf8_lossy(&expand_for_display(command, options)).into_owned();
    let shown_name = String::from_utf8_lossy(name).into_owned();
    let mut shell = ShellCommand::new(command, name, options);
    shell.record = Some(record);
    match runner.run(&shell) {
        Ok(CommandStatus::Exited(0)) => Ok(Ok(())),
        Ok(CommandStatus::Exited(code)) => {
            message(
                reporter,
                Level::Error,
                format!("Error running {kind} command '{shown}' for module {shown_name}: retcode {code}"),
            )?;
            Ok(Err(Errno::EINVAL))
        }
        Ok(CommandStatus::Signaled(signal)) => {
            message(
                reporter,
                Level::Error,
                format!(
                    "Error running {kind} command '{shown}' for module {shown_name}: killed by signal {signal}"
                ),
            )?;
            Ok(Err(Errno::EINVAL))
        }
        Err(e) => {
            message(
                reporter,
                Level::Error,
                format!("Could not run {kind} command '{shown}' for module {shown_name}: {e}"),
            )?;
            Ok(Err(Errno::EINVAL))
        }
    }
}

/// Which removal this is: the requested module, or one kmod removes on the way (whose
/// builtin-ness is not an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RemoveAs {
    holders: bool,
    ignore_builtin: bool,
}

/// Removes module `m` as `modprobe -r` does. See the module documentation for the order.
pub fn remove(
    resolver: &mut Resolver<'_>,
    kernel: &dyn Kernel,
    runner: &mut dyn CommandRunner,
    m: ModId,
    flags: ProbeFlags,
    reporter: &mut dyn Reporter,
) -> Result<(), ProbeError> {
    let how = RemoveAs {
        holders: flags.remove_holders,
        ignore_builtin: false,
    };
    remove_one(resolver, kernel, runner, m, flags, how, 0, reporter)
}

/// How deep removal may recurse through softdeps and holders.
pub const MAX_REMOVE_DEPTH: usize = super::MAX_PROBE_DEPTH;

/// Removes module `m` and what goes with it, `depth` levels into softdeps and holders.
///
/// Long on purpose: it is kmod's removal sequence, five numbered steps (post-softdeps,
/// holders, the module, unused dependencies, pre-softdeps) whose order and error rules are
/// easiest to check against kmod side by side in one place.
#[allow(clippy::too_many_arguments)]
fn remove_one(
    resolver: &mut Resolver<'_>,
    kernel: &dyn Kernel,
    runner: &mut dyn CommandRunner,
    m: ModId,
    flags: ProbeFlags,
    how: RemoveAs,
    depth: usize,
    reporter: &mut dyn Reporter,
) -> Result<(), ProbeError> {
    if depth >= MAX_REMOVE_DEPTH {
        return Err(ResolveError::TooDeep {
            module: String::from_utf8_lossy(resolver.name(m)).into_owned(),
        }
        .into());
    }
    let name = resolver.name(m).to_vec();
    let shown_name = String::from_utf8_lossy(&name).into_owned();
    let (mut pre, mut post, mut command) = (Vec::new(), Vec::new(), None);
    if !flags.ignore_command {
        let softdeps = resolver.softdeps(m);
        notices(resolver.take_notices(), reporter)?;
        (pre, post) = softdeps?;
        command = resolver.remove_command(m);
    }

    if command.is_none() && !flags.ignore_loaded {
        if resolver.is_builtin(m)? {
            if how.ignore_builtin {
                return Ok(());
            }
            message(
                reporter,
                Level::Critical,
                format!("Module {shown_name} is builtin."),
            )?;
            return Err(ProbeError::Errno(Errno::ENOENT));
        }
        match kernel.initstate(&name) {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                if flags.first_time {
                    message(
                        reporter,
                        Level::Critical,
                        format!("Module {shown_name} is not in kernel."),
                    )?;
                    return Err(ProbeError::Errno(Errno::ENOENT));
                }
                return Ok(());
            }
        }
    }

    let nested = RemoveAs {
        holders: false,
        ignore_builtin: true,
    };
    // 1. Post-softdeps, in reverse order; their errors do not matter.
    for &p in post.iter().rev() {
        match remove_one(
            resolver,
            kernel,
            runner,
            p,
            flags,
            nested,
            depth + 1,
            reporter,
        ) {
            Err(ProbeError::Errno(_)) | Ok(()) => {}
            Err(other) => return Err(other),
        }
    }
    // 2. The modules holding this one.
    if how.holders {
        let holders = kernel.holders(&name).unwrap_or_default();
        for holder in holders.iter().rev() {
            let Ok(holder_id) = resolver.intern(crate::modname::normalize_name(holder), None)
            else {
                continue;
            };
            remove_one(
                resolver,
                kernel,
                runner,
                holder_id,
                flags,
                nested,
                depth + 1,
                reporter,
            )?;
        }
    }
    // 3. The module itself.
    if command.is_none() && !flags.ignore_loaded && flags.wait.is_zero() {
        if let Ok(usage) = kernel.refcnt(&name) {
            if usage > 0 {
                message(
                    reporter,
                    Level::Critical,
                    format!("Module {shown_name} is in use."),
                )?;
                return Err(ProbeError::Errno(Errno::EBUSY));
            }
        }
    }
    match &command {
        None => {
            if kernel.refcnt(&name) != Err(Errno::ENOENT) {
                delete(kernel, &name, flags, reporter)?;
            }
        }
        Some(command) => {
            say(
                reporter,
                Report::Show(Shown::Remove {
                    command: expand_for_display(command, b""),
                }),
            )?;
            if !flags.dry_run {
                if let Err(errno) = run_command(runner, m, &name, "remove", command, b"", reporter)?
                {
                    return Err(ProbeError::Errno(errno));
                }
            }
        }
    }
    // 4. Dependencies left unused; errors do not matter.
    if command.is_none() {
        for dep in resolver.dependencies(m)? {
            let dep_name = resolver.name(dep).to_vec();
            if kernel.refcnt(&dep_name) == Ok(0) {
                match delete(kernel, &dep_name, flags, reporter) {
                    Err(ProbeError::Errno(_)) | Ok(()) => {}
                    Err(other) => return Err(other),
                }
            }
        }
    }
    // 5. Pre-softdeps, in reverse order; their errors do not matter.
    for &p in pre.iter().rev() {
        match remove_one(
            resolver,
            kernel,
            runner,
            p,
            flags,
            nested,
            depth + 1,
            reporter,
        ) {
            Err(ProbeError::Errno(_)) | Ok(()) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(())
}

/// Shows and (unless a dry run) unloads one module, retrying with kmod's backoff while it is
/// in use when asked to wait.
fn delete(
    kernel: &dyn Kernel,
    name: &[u8],
    flags: ProbeFlags,
    reporter: &mut dyn Reporter,
) -> Result<(), ProbeError> {
    let shown_name = String::from_utf8_lossy(name).into_owned();
    say(
        reporter,
        Report::Show(Shown::Rmmod {
            name: name.to_vec(),
        }),
    )?;
    if flags.dry_run {
        return Ok(());
    }
    let delete_flags = DeleteFlags {
        force: flags.force_remove,
    };
    let deadline = Instant::now().checked_add(flags.wait);
    let mut interval = Duration::ZERO;
    let err = loop {
        let err = match kernel::remove_module(kernel, name, delete_flags) {
            Ok(()) => return Ok(()),
            Err(error) => Errno::from_raw(error.errno()),
        };
        if err != Errno::EAGAIN || flags.wait.is_zero() {
            break err;
        }
        // kmod's backoff: double the interval, halve it until it fits before the deadline.
        let left = deadline.map_or(Duration::ZERO, |d| {
            d.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            break err;
        }
        interval = if interval.is_zero() {
            Duration::from_millis(1)
        } else {
            interval.saturating_mul(2)
        };
        while interval > left && interval > Duration::from_millis(1) {
            interval /= 2;
        }
        std::thread::sleep(interval.min(left));
    };
    message(
        reporter,
        Level::Error,
        format!(
            "could not remove '{shown_name}': {}",
            crate::fs::strerror(err as i32)
        ),
    )?;
    Err(ProbeError::Errno(err))
}

#[cfg(test)]
mod tests;

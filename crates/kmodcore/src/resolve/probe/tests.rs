//! Inserting and removing with a fake kernel and a fake command runner.

use std::ops::ControlFlow;
use std::time::Duration;

use super::*;
use crate::config::Config;
use crate::kernel::{Call, FakeKernel, FakeModule, Syscall};
use crate::resolve::command::{CommandRunner, CommandStatus, ShellCommand};
use crate::resolve::tests::{config, Tree};

/// Records what was reported, as the lines kmod would print.
#[derive(Default)]
struct Log {
    lines: Vec<String>,
    /// Stop at the first message of this level or more important.
    stop_at: Option<Level>,
}

impl Reporter for Log {
    fn report(&mut self, report: Report<'_>) -> ControlFlow<()> {
        match report {
            // Shown::NoFile has no line: modprobe prints nothing for it.
            Report::Show(shown) if shown.line().is_empty() => {}
            Report::Show(shown) => {
                let line = String::from_utf8_lossy(&shown.line()).into_owned();
                self.lines
                    .push(line.strip_suffix('\n').unwrap_or(&line).to_string());
            }
            Report::Message(level, text) => {
                self.lines.push(format!("{level:?}: {text}"));
                if self.stop_at.is_some_and(|stop| level <= stop) {
                    return ControlFlow::Break(());
                }
            }
            Report::LoadFailed { name, error, .. } => self.lines.push(format!(
                "load failed: {}: {}",
                String::from_utf8_lossy(name),
                error
            )),
        }
        ControlFlow::Continue(())
    }
}

/// Runs nothing; records commands and answers with a scripted status.
#[derive(Default)]
struct Runner {
    ran: Vec<(String, String, String)>,
    status: Option<CommandStatus>,
}

impl CommandRunner for Runner {
    fn run(&mut self, command: &ShellCommand) -> std::io::Result<CommandStatus> {
        self.ran.push((
            String::from_utf8_lossy(&command.script).into_owned(),
            String::from_utf8_lossy(&command.module).into_owned(),
            String::from_utf8_lossy(&command.options).into_owned(),
        ));
        Ok(self.status.unwrap_or(CommandStatus::Exited(0)))
    }
}

fn tree() -> (tempfile::TempDir, crate::moddir::ModuleDir) {
    Tree::new()
        .module("top", &["mid", "low"])
        .module("mid", &["low"])
        .module("low", &[])
        .module("soft", &[])
        .module("other", &[])
        .alias("pci:v1234d*", "top")
        .builtin("unix")
        .write()
}

fn loads(kernel: &FakeKernel) -> Vec<String> {
    kernel
        .calls()
        .iter()
        .map(|c| match c {
            Call::Finit { name, params, .. } | Call::Init { name, params, .. } => format!(
                "load {} [{}]",
                String::from_utf8_lossy(name),
                String::from_utf8_lossy(params)
            ),
            Call::Delete { name, .. } => format!("delete {}", String::from_utf8_lossy(name)),
        })
        .collect()
}

struct Env<'a> {
    resolver: Resolver<'a>,
    kernel: FakeKernel,
    runner: Runner,
    log: Log,
}

impl<'a> Env<'a> {
    fn new(dir: &'a crate::moddir::ModuleDir, config: &'a Config) -> Env<'a> {
        Env {
            resolver: Resolver::new(dir, config),
            kernel: FakeKernel::new(),
            runner: Runner::default(),
            log: Log::default(),
        }
    }

    fn insert(
        &mut self,
        request: &str,
        flags: ProbeFlags,
        extra: Option<&str>,
    ) -> Result<Inserted, ProbeError> {
        let id = self.resolver.lookup(request.as_bytes()).unwrap()[0];
        insert(
            &mut self.resolver,
            &self.kernel,
            &mut self.runner,
            id,
            flags,
            extra.map(str::as_bytes),
            &mut self.log,
        )
    }

    fn remove(&mut self, request: &str, flags: ProbeFlags) -> Result<(), ProbeError> {
        let id = self.resolver.lookup(request.as_bytes()).unwrap()[0];
        remove(
            &mut self.resolver,
            &self.kernel,
            &mut self.runner,
            id,
            flags,
            &mut self.log,
        )
    }
}

#[test]
fn inserts_dependencies_first_with_their_options() {
    let (_t, dir) = tree();
    let c = config("options top a=1\noptions low b=2\n");
    let mut env = Env::new(&dir, &c);
    assert_eq!(
        env.insert("top", ProbeFlags::default(), Some("x=9"))
            .unwrap(),
        Inserted::Done
    );
    assert_eq!(
        loads(&env.kernel),
        ["load low [b=2 ]", "load mid []", "load top [a=1 x=9]"]
    );
    let p = dir.path().display();
    assert_eq!(
        env.log.lines,
        [
            format!("insmod {p}/kernel/low.ko b=2 "),
            format!("insmod {p}/kernel/mid.ko "),
            format!("insmod {p}/kernel/top.ko a=1 x=9"),
        ]
    );
}

#[test]
fn loaded_modules_are_skipped_and_first_time_fails() {
    let (_t, dir) = tree();
    let c = Config::new();
    let mut env = Env::new(&dir, &c);
    env.kernel = FakeKernel::new().with_module(FakeModule::live("low"));
    env.insert("top", ProbeFlags::default(), None).unwrap();
    assert_eq!(loads(&env.kernel), ["load mid []", "load top []"]);
    assert_eq!(
        env.insert("top", ProbeFlags::default(), None).unwrap(),
        Inserted::AlreadyLoaded
    );
    let first = ProbeFlags {
        first_time: true,
        ..ProbeFlags::default()
    };
    assert!(matches!(
        env.insert("top", first, None),
        Err(ProbeError::Errno(Errno::EEXIST))
    ));
    assert_eq!(
        env.insert("unix", ProbeFlags::default(), None).unwrap(),
        Inserted::AlreadyLoaded
    );
}

/// Another loader won the race: the kernel says EEXIST, which counts as success, except for
/// the requested module under --first-time.
#[test]
fn eexist_from_a_race_is_success() {
    let (_t, dir) = tree();
    let c = Config::new();
    let mut env = Env::new(&dir, &c);
    env.kernel
        .fail(Syscall::FinitModule, Some("mid"), Errno::EEXIST);
    env.kernel
        .fail(Syscall::FinitModule, Some("top"), Errno::EEXIST);
    assert_eq!(
        env.insert("top", ProbeFlags::default(), None).unwrap(),
        Inserted::Done
    );
    let mut env = Env::new(&dir, &c);
    env.kernel
        .fail(Syscall::FinitModule, Some("top"), Errno::EEXIST);
    let first = ProbeFlags {
        first_time: true,
        ..ProbeFlags::default()
    };
    assert!(matches!(
        env.insert("top", first, None),
        Err(ProbeError::Errno(Errno::EEXIST))
    ));
}

/// A module another loader is still initialising (coming) is not live: it is loaded again and
/// the kernel's EEXIST (or EBUSY when that load fails) decides.
#[test]
fn a_coming_module_is_not_loaded_yet() {
    let (_t, dir) = tree();
    let c = Config::new();
    let mut env = Env::new(&dir, &c);
    env.kernel = FakeKernel::new().with_module(FakeModule::live("low").in_state(InitState::Coming));
    env.insert("low", ProbeFlags::default(), None).unwrap();
    assert_eq!(loads(&env.kernel), ["load low []"]);
}

#[test]
fn a_failing_dependency_stops_and_a_failing_softdep_does_not() {
    let (_t, dir) = tree();
    let c = config("softdep top pre: soft\n");
    let mut env = Env::new(&dir, &c);
    env.kernel
        .fail(Syscall::FinitModule, Some("soft"), Errno::ENOEXEC);
    env.insert("top", ProbeFlags::default(), None).unwrap();
    assert!(env.kernel.is_loaded("top"));

    let mut env = Env::new(&dir, &c);
    env.kernel
        .fail(Syscall::FinitModule, Some("mid"), Errno::ENOEXEC);
    let err = env.insert("top", ProbeFlags::default(), None).unwrap_err();
    assert!(matches!(err, ProbeError::Errno(Errno::ENOEXEC)));
    assert!(!env.kernel.is_loaded("top"));
    assert!(env
        .log
        .lines
        .iter()
        .any(|l| l.starts_with("load failed: mid")));
}

#[test]
fn blacklist_all_drops_blacklisted_dependencies_and_aliases_can_be_kept() {
    let (_t, dir) = tree();
    let c = config("blacklist top\nblacklist low\n");
    let mut env = Env::new(&dir, &c);
    let keep = ProbeFlags {
        keep_blacklisted_aliases: true,
        ..ProbeFlags::default()
    };
    // libkmod without APPLY_BLACKLIST_ALIAS_ONLY: the alias loads like the name.
    assert_eq!(
        env.insert("pci:v1234d0001", keep, None).unwrap(),
        Inserted::Done
    );
    let mut env = Env::new(&dir, &c);
    let all = ProbeFlags {
        blacklist_all: true,
        ..ProbeFlags::default()
    };
    // The requested module itself is blacklisted: nothing is loaded.
    assert_eq!(
        env.insert("top", all, None).unwrap(),
        Inserted::Blacklisted(BlacklistRule::All)
    );
    assert!(env.kernel.calls().is_empty());
    // A blacklisted dependency is left out of the list, the rest loads.
    let c = config("blacklist low\n");
    let mut env = Env::new(&dir, &c);
    assert_eq!(env.insert("top", all, None).unwrap(), Inserted::Done);
    assert_eq!(loads(&env.kernel), ["load mid []", "load top []"]);
}

#[test]
fn blacklist_applies_to_aliases_and_with_use_blacklist() {
    let (_t, dir) = tree();
    let c = config("blacklist top\nblacklist low\n");
    let mut env = Env::new(&dir, &c);
    assert_eq!(
        env.insert("pci:v1234d0001", ProbeFlags::default(), None)
            .unwrap(),
        Inserted::Blacklisted(BlacklistRule::AliasOnly)
    );
    assert!(env.kernel.calls().is_empty());
    let b = ProbeFlags {
        use_blacklist: true,
        ..ProbeFlags::default()
    };
    assert_eq!(
        env.insert("top", b, None).unwrap(),
        Inserted::Blacklisted(BlacklistRule::Requested)
    );
    // By name, without -b, it loads, and a blacklisted dependency loads too.
    assert_eq!(
        env.insert("top", ProbeFlags::default(), None).unwrap(),
        Inserted::Done
    );
    assert_eq!(
        loads(&env.kernel),
        ["load low []", "load mid []", "load top []"]
    );
}

#[test]
fn install_commands_run_with_options_in_the_environment() {
    let (_t, dir) = tree();
    let c =
        config("install top /sbin/modprobe --ignore-install top $CMDLINE_OPTS\noptions top a=1\n");
    let mut env = Env::new(&dir, &c);
    env.insert("top", ProbeFlags::default(), Some("b=$(reboot)"))
        .unwrap();
    assert_eq!(loads(&env.kernel), ["load low []", "load mid []"]);
    assert_eq!(
        env.runner.ran,
        [(
            "/sbin/modprobe --ignore-install top ${CMDLINE_OPTS}".to_string(),
            "top".to_string(),
            "a=1 b=$(reboot)".to_string()
        )]
    );
    assert_eq!(
        env.log.lines.last().unwrap(),
        "install /sbin/modprobe --ignore-install top $CMDLINE_OPTS a=1 b=$(reboot)"
    );
}

#[test]
fn a_failing_install_command_is_reported_as_kmod_does() {
    let (_t, dir) = tree();
    let c = config("install low /bin/false $CMDLINE_OPTS\n");
    let mut env = Env::new(&dir, &c);
    env.runner.status = Some(CommandStatus::Exited(3));
    let err = env
        .insert("low", ProbeFlags::default(), Some("x=1"))
        .unwrap_err();
    assert!(matches!(err, ProbeError::Errno(Errno::EINVAL)));
    assert_eq!(
        env.log.lines.last().unwrap(),
        "Error: Error running install command '/bin/false x=1' for module low: retcode 3"
    );
    let mut env = Env::new(&dir, &c);
    env.runner.status = Some(CommandStatus::Signaled(9));
    assert!(env.insert("low", ProbeFlags::default(), None).is_err());
}

#[test]
fn dry_runs_change_nothing() {
    let (_t, dir) = tree();
    let c = config("install mid /bin/echo mid\n");
    let mut env = Env::new(&dir, &c);
    let flags = ProbeFlags {
        dry_run: true,
        ignore_loaded: true,
        ..ProbeFlags::default()
    };
    env.kernel = FakeKernel::new().with_module(FakeModule::live("top"));
    env.insert("top", flags, None).unwrap();
    assert!(env.kernel.calls().is_empty());
    assert!(env.runner.ran.is_empty());
    assert_eq!(env.log.lines.len(), 3);
    assert_eq!(env.log.lines[1], "install /bin/echo mid ");
    env.insert("unix", flags, None).unwrap();
    assert_eq!(env.log.lines.last().unwrap(), "builtin unix");
}

#[test]
fn a_module_without_a_file_cannot_be_loaded() {
    let (_t, dir) = tree();
    let c = config("alias ghost no-such-module\n");
    let mut env = Env::new(&dir, &c);
    let err = env
        .insert("ghost", ProbeFlags::default(), None)
        .unwrap_err();
    assert!(matches!(err, ProbeError::Errno(Errno::ENOENT)));
    assert_eq!(
        env.log.lines,
        ["Error: could not find module by name='no_such_module'"]
    );
}

#[test]
fn removal_takes_unused_dependencies() {
    let (_t, dir) = tree();
    let c = Config::new();
    let mut env = Env::new(&dir, &c);
    env.kernel = FakeKernel::new()
        .with_module(FakeModule::live("low"))
        .with_module(FakeModule::live("mid"))
        .with_module(FakeModule::live("top"))
        .with_module(FakeModule::live("other").held_by(&["x"]));
    env.remove("top", ProbeFlags::default()).unwrap();
    assert_eq!(
        loads(&env.kernel),
        ["delete top", "delete low", "delete mid"]
    );
    assert!(env.kernel.modules().iter().all(|m| m.name == b"other"));
}

#[test]
fn removal_refuses_a_module_in_use() {
    let (_t, dir) = tree();
    let c = Config::new();
    let mut env = Env::new(&dir, &c);
    env.kernel = FakeKernel::new().with_module(FakeModule::live("low").held_by(&["mid"]));
    env.log.stop_at = Some(Level::Critical);
    let err = env.remove("low", ProbeFlags::default()).unwrap_err();
    assert!(matches!(err, ProbeError::Stopped));
    assert_eq!(env.log.lines, ["Critical: Module low is in use."]);
    assert!(env.kernel.calls().is_empty());
}

#[test]
fn removal_with_holders_removes_them_first() {
    let (_t, dir) = tree();
    let c = Config::new();
    let mut env = Env::new(&dir, &c);
    env.kernel = FakeKernel::new()
        .with_module(FakeModule::live("low").held_by(&["mid"]))
        .with_module(FakeModule::live("mid").held_by(&["top"]))
        .with_module(FakeModule::live("top"));
    // The fake kernel keeps use counts fixed; removing a holder does not lower them, so
    // force the unloads of the held modules.
    let flags = ProbeFlags {
        remove_holders: true,
        force_remove: true,
        ..ProbeFlags::default()
    };
    env.remove(
        "low",
        ProbeFlags {
            wait: Duration::from_millis(1),
            ..flags
        },
    )
    .unwrap();
    // One level of holders (mid), not their holders in turn; then the module itself.
    assert_eq!(loads(&env.kernel), ["delete mid", "delete low"]);
}

#[test]
fn removal_of_builtin_and_absent_modules() {
    let (_t, dir) = tree();
    let c = Config::new();
    let mut env = Env::new(&dir, &c);
    assert!(matches!(
        env.remove("unix", ProbeFlags::default()),
        Err(ProbeError::Errno(Errno::ENOENT))
    ));
    assert_eq!(env.log.lines, ["Critical: Module unix is builtin."]);
    env.log.lines.clear();
    env.remove("top", ProbeFlags::default()).unwrap();
    let first = ProbeFlags {
        first_time: true,
        ..ProbeFlags::default()
    };
    assert!(env.remove("top", first).is_err());
    assert_eq!(env.log.lines, ["Critical: Module top is not in kernel."]);
}

#[test]
fn removal_runs_remove_commands_and_softdeps_in_kmods_order() {
    let (_t, dir) = tree();
    let c = config("softdep top pre: soft post: other\nremove mid /bin/echo bye $CMDLINE_OPTS\n");
    let mut env = Env::new(&dir, &c);
    env.kernel = FakeKernel::new()
        .with_module(FakeModule::live("soft"))
        .with_module(FakeModule::live("other"))
        .with_module(FakeModule::live("low"))
        .with_module(FakeModule::live("top"));
    env.remove("top", ProbeFlags::default()).unwrap();
    // post-softdeps first, the module, its unused dependencies, then pre-softdeps.
    assert_eq!(
        loads(&env.kernel),
        ["delete other", "delete top", "delete low", "delete soft"]
    );
    env.remove("mid", ProbeFlags::default()).unwrap();
    assert_eq!(env.runner.ran.len(), 1);
    assert_eq!(env.runner.ran[0].0, "/bin/echo bye ${CMDLINE_OPTS}");
    assert_eq!(env.runner.ran[0].2, "");
    assert_eq!(env.log.lines.last().unwrap(), "remove /bin/echo bye ");
}

#[test]
fn waiting_for_a_busy_module_gives_up_at_the_deadline() {
    let (_t, dir) = tree();
    let c = Config::new();
    let mut env = Env::new(&dir, &c);
    env.kernel = FakeKernel::new().with_module(FakeModule::live("low").held_by(&["x"]));
    let flags = ProbeFlags {
        wait: Duration::from_millis(30),
        ..ProbeFlags::default()
    };
    let started = std::time::Instant::now();
    let err = env.remove("low", flags).unwrap_err();
    assert!(matches!(err, ProbeError::Errno(Errno::EAGAIN)), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(30));
    let deletes = loads(&env.kernel).len();
    assert!(deletes > 2 && deletes < 40, "{deletes} attempts");
    assert_eq!(
        env.log.lines.last().unwrap(),
        "Error: could not remove 'low': Resource temporarily unavailable"
    );
}

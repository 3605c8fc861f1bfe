//! Parallel loading with a fake kernel: the order constraints, the same result as the
//! sequential run, errors, and that independent modules really load at the same time.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::ops::ControlFlow;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::config::Config;
use crate::kernel::{Call, DeleteFlags, FakeKernel, InitFlags, LoadedModule, Syscall};
use crate::module::Compression;
use crate::resolve::command::{CommandStatus, ShellCommand};
use crate::resolve::probe::insert;
use crate::resolve::tests::{config, Tree};

/// Records reports and outcomes.
#[derive(Default)]
struct Log {
    lines: Vec<String>,
    outcomes: Vec<(usize, Result<Inserted, String>)>,
}

impl Reporter for Log {
    fn report(&mut self, report: Report<'_>) -> ControlFlow<()> {
        match report {
            Report::Show(shown) => {
                let line = String::from_utf8_lossy(&shown.line()).into_owned();
                self.lines.push(line.trim_end().to_string());
            }
            Report::Message(level, text) => self.lines.push(format!("{level:?}: {text}")),
            Report::LoadFailed { name, error, .. } => self.lines.push(format!(
                "load failed: {}: {error}",
                String::from_utf8_lossy(name)
            )),
        }
        ControlFlow::Continue(())
    }
}

impl ParallelReporter for Log {
    fn finished(
        &mut self,
        request: usize,
        outcome: Result<Inserted, ProbeError>,
    ) -> ControlFlow<()> {
        self.outcomes
            .push((request, outcome.map_err(|e| e.to_string())));
        ControlFlow::Continue(())
    }
}

#[derive(Default)]
struct Runner {
    ran: Vec<String>,
}

impl CommandRunner for Runner {
    fn run(&mut self, command: &ShellCommand) -> std::io::Result<CommandStatus> {
        self.ran
            .push(String::from_utf8_lossy(&command.script).into_owned());
        Ok(CommandStatus::Exited(0))
    }
}

/// A fake kernel that records when each load starts and ends, and holds the loads of the
/// modules named in `meet` until that many of them are in flight at once (or a timeout: the
/// test then sees fewer than that in flight and fails instead of hanging).
#[derive(Default)]
struct Timed {
    inner: FakeKernel,
    meet: Vec<Vec<u8>>,
    events: Mutex<Vec<(Vec<u8>, bool)>>,
    in_flight: Mutex<(usize, usize)>,
    changed: Condvar,
}

impl Timed {
    fn name_of(file: &File) -> Vec<u8> {
        use std::io::{Read, Seek, SeekFrom};
        let mut bytes = Vec::new();
        let _ = (&*file).read_to_end(&mut bytes);
        let _ = (&*file).seek(SeekFrom::Start(0));
        crate::module::elf::ElfModule::parse(&bytes)
            .ok()
            .and_then(|e| e.this_module_name().map(<[u8]>::to_vec))
            .unwrap_or_default()
    }

    /// The most loads of `meet` modules that were in flight at once.
    fn most_at_once(&self) -> usize {
        self.in_flight.lock().unwrap().1
    }

    /// Names in the order their loads started (`true`) and ended (`false`).
    fn events(&self) -> Vec<(String, bool)> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|(n, s)| (String::from_utf8_lossy(n).into_owned(), *s))
            .collect()
    }
}

impl Kernel for Timed {
    fn finit_module(&self, file: &File, params: &CString, flags: InitFlags) -> Result<(), Errno> {
        let name = Timed::name_of(file);
        self.events.lock().unwrap().push((name.clone(), true));
        if self.meet.contains(&name) {
            let mut guard = self.in_flight.lock().unwrap();
            guard.0 += 1;
            guard.1 = guard.1.max(guard.0);
            self.changed.notify_all();
            let deadline = Instant::now() + Duration::from_secs(2);
            while guard.0 < self.meet.len() && guard.1 < self.meet.len() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                guard = self.changed.wait_timeout(guard, left).unwrap().0;
            }
            guard.0 -= 1;
        } else {
            std::thread::sleep(Duration::from_millis(2));
        }
        let result = self.inner.finit_module(file, params, flags);
        self.events.lock().unwrap().push((name, false));
        result
    }
    fn init_module(&self, image: &[u8], params: &CString) -> Result<(), Errno> {
        self.inner.init_module(image, params)
    }
    fn delete_module(&self, name: &CString, flags: DeleteFlags) -> Result<(), Errno> {
        self.inner.delete_module(name, flags)
    }
    fn loaded_modules(&self) -> crate::Result<Vec<LoadedModule>> {
        self.inner.loaded_modules()
    }
    fn initstate(&self, name: &[u8]) -> Result<Option<InitState>, Errno> {
        self.inner.initstate(name)
    }
    fn refcnt(&self, name: &[u8]) -> Result<i64, Errno> {
        self.inner.refcnt(name)
    }
    fn holders(&self, name: &[u8]) -> Result<Vec<Vec<u8>>, Errno> {
        self.inner.holders(name)
    }
    fn coresize(&self, name: &[u8]) -> Result<i64, Errno> {
        self.inner.coresize(name)
    }
    fn compression(&self) -> Option<Compression> {
        self.inner.compression()
    }
    fn modules_disabled(&self) -> Option<bool> {
        self.inner.modules_disabled()
    }
    fn release(&self) -> Option<Vec<u8>> {
        self.inner.release()
    }
}

/// Two independent chains and a softdep:
/// `top` needs `mid` and `low`; `mid` needs `low`; `net` needs `phy`; `pre` and `post` are
/// softdeps of `top` (`softdep top pre: pre post: post`); `alone` needs nothing.
fn tree() -> (tempfile::TempDir, crate::moddir::ModuleDir) {
    Tree::new()
        .module("top", &["mid", "low"])
        .module("mid", &["low"])
        .module("low", &[])
        .module("pre", &[])
        .module("post", &[])
        .module("net", &["phy"])
        .module("phy", &[])
        .module("alone", &[])
        .module("broken_user", &["broken"])
        .module("broken", &[])
        .write()
}

const CONF: &str = "softdep top pre: pre post: post\noptions low speed=3\noptions net x=1\n";

fn requests(resolver: &mut Resolver<'_>, names: &[&str]) -> Vec<Request> {
    names
        .iter()
        .map(|n| Request {
            module: resolver.lookup(n.as_bytes()).unwrap()[0],
            extra_options: None,
        })
        .collect()
}

fn run_parallel(
    dir: &crate::moddir::ModuleDir,
    c: &Config,
    kernel: &(dyn Kernel + Sync),
    names: &[&str],
    flags: ProbeFlags,
    threads: usize,
) -> Log {
    let mut resolver = Resolver::new(dir, c);
    let reqs = requests(&mut resolver, names);
    let mut log = Log::default();
    let mut runner = Runner::default();
    insert_all(
        &mut resolver,
        kernel,
        &mut runner,
        &reqs,
        flags,
        threads,
        &mut log,
    )
    .unwrap();
    log
}

/// The loaded modules with their parameters, sorted.
fn loaded(kernel: &FakeKernel) -> Vec<(String, String)> {
    let mut out: Vec<_> = kernel
        .modules()
        .iter()
        .map(|m| {
            (
                String::from_utf8_lossy(&m.name).into_owned(),
                String::from_utf8_lossy(&m.params).into_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn sequential(
    dir: &crate::moddir::ModuleDir,
    c: &Config,
    kernel: &FakeKernel,
    names: &[&str],
    flags: ProbeFlags,
) -> Vec<Result<Inserted, String>> {
    let mut resolver = Resolver::new(dir, c);
    let reqs = requests(&mut resolver, names);
    let mut log = Log::default();
    let mut runner = Runner::default();
    reqs.iter()
        .map(|r| {
            insert(
                &mut resolver,
                kernel,
                &mut runner,
                r.module,
                flags,
                None,
                &mut log,
            )
            .map_err(|e| e.to_string())
        })
        .collect()
}

const ALL: &[&str] = &["top", "net", "alone", "mid"];

#[test]
fn same_loaded_set_and_parameters_as_the_sequential_run() {
    let (_t, dir) = tree();
    let c = config(CONF);
    let seq = FakeKernel::new();
    let seq_outcomes = sequential(&dir, &c, &seq, ALL, ProbeFlags::default());
    for threads in [1, 2, 8] {
        let par = FakeKernel::new();
        let log = run_parallel(&dir, &c, &par, ALL, ProbeFlags::default(), threads);
        assert_eq!(loaded(&par), loaded(&seq), "{threads} threads");
        let outcomes: Vec<_> = log.outcomes.iter().map(|(_, o)| o.clone()).collect();
        // The sequential run finds mid loaded by top's request.
        assert_eq!(seq_outcomes[3], Ok(Inserted::AlreadyLoaded));
        assert_eq!(
            outcomes,
            [
                Ok(Inserted::Done),
                Ok(Inserted::Done),
                Ok(Inserted::Done),
                Ok(Inserted::Done)
            ]
        );
        assert_eq!(
            log.outcomes.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        // Every module is loaded once, even mid, listed by two requests.
        assert_eq!(par.calls().len(), 8, "{:?}", par.calls());
    }
    assert!(loaded(&seq).contains(&("low".into(), "speed=3 ".into())));
}

/// A dependency always finishes loading before its dependent starts; a pre-softdep before
/// its module, a post-softdep after it.
#[test]
fn dependencies_and_softdeps_keep_their_order() {
    let (_t, dir) = tree();
    let c = config(CONF);
    for _ in 0..20 {
        let kernel = Timed::default();
        run_parallel(&dir, &c, &kernel, ALL, ProbeFlags::default(), 4);
        let events = kernel.events();
        let at = |name: &str, start: bool| {
            events
                .iter()
                .position(|(n, s)| n == name && *s == start)
                .unwrap_or_else(|| panic!("{name} {start} missing from {events:?}"))
        };
        for (before, after) in [
            ("low", "mid"),
            ("low", "top"),
            ("mid", "top"),
            ("pre", "top"),
            ("top", "post"),
            ("phy", "net"),
        ] {
            assert!(
                at(before, false) < at(after, true),
                "{before} must end before {after} starts: {events:?}"
            );
        }
    }
}

/// Independent modules are loaded at the same time: `alone` and `phy` each wait in the kernel
/// until the other one is in flight. With one thread they cannot meet (the wait times out),
/// which shows the check can fail.
#[test]
fn independent_modules_load_at_the_same_time() {
    let (_t, dir) = tree();
    let c = config(CONF);
    let kernel = Timed {
        meet: vec![b"alone".to_vec(), b"phy".to_vec()],
        ..Timed::default()
    };
    run_parallel(
        &dir,
        &c,
        &kernel,
        &["net", "alone"],
        ProbeFlags::default(),
        2,
    );
    assert_eq!(kernel.most_at_once(), 2);
    assert!(kernel.inner.is_loaded("net") && kernel.inner.is_loaded("alone"));

    let kernel = Timed {
        meet: vec![b"alone".to_vec(), b"phy".to_vec()],
        ..Timed::default()
    };
    // Short of a 2 s wait per module: one thread, so the two loads are never in flight
    // together.
    run_parallel(
        &dir,
        &c,
        &kernel,
        &["net", "alone"],
        ProbeFlags::default(),
        1,
    );
    assert_eq!(kernel.most_at_once(), 1);
}

/// A failed dependency fails its dependents (not tried) with its error, reported for the
/// request as the sequential run reports it; independent modules still load.
#[test]
fn a_failed_dependency_fails_its_dependents_only() {
    let (_t, dir) = tree();
    let c = config(CONF);
    let names = &["broken_user", "alone", "net"];

    let seq = FakeKernel::new();
    seq.fail(Syscall::FinitModule, Some("broken"), Errno::ENOEXEC);
    let seq_outcomes = sequential(&dir, &c, &seq, names, ProbeFlags::default());

    let par = FakeKernel::new();
    par.fail(Syscall::FinitModule, Some("broken"), Errno::ENOEXEC);
    let log = run_parallel(&dir, &c, &par, names, ProbeFlags::default(), 3);
    let outcomes: Vec<_> = log.outcomes.iter().map(|(_, o)| o.clone()).collect();
    assert_eq!(outcomes, seq_outcomes);
    assert!(outcomes[0].is_err() && outcomes[1].is_ok() && outcomes[2].is_ok());
    assert_eq!(loaded(&par), loaded(&seq));
    assert!(!par.is_loaded("broken_user"));
    // broken_user was never tried.
    assert!(!par.calls().iter().any(|call| matches!(
        call,
        Call::Finit { name, .. } if name == b"broken_user"
    )));
    // The failed load's report comes right before the outcome (for the hint).
    assert!(log
        .lines
        .iter()
        .any(|l| l.starts_with("load failed: broken:")));
}

/// A softdep's failure is ignored, as in the sequential run: the module itself still loads.
#[test]
fn a_failed_softdep_is_ignored() {
    let (_t, dir) = tree();
    let c = config(CONF);
    let par = FakeKernel::new();
    par.fail(Syscall::FinitModule, Some("pre"), Errno::EINVAL);
    let log = run_parallel(&dir, &c, &par, &["top"], ProbeFlags::default(), 2);
    assert_eq!(log.outcomes, [(0, Ok(Inserted::Done))]);
    assert!(par.is_loaded("top") && par.is_loaded("post") && !par.is_loaded("pre"));
}

#[test]
fn loaded_modules_and_first_time_as_the_sequential_run() {
    let (_t, dir) = tree();
    let c = config(CONF);
    let first = ProbeFlags {
        first_time: true,
        ..ProbeFlags::default()
    };
    let names = &["alone", "top", "mid"];
    let seq = FakeKernel::new().with_module(crate::kernel::FakeModule::live("alone"));
    let seq_outcomes = sequential(&dir, &c, &seq, names, first);
    let par = FakeKernel::new().with_module(crate::kernel::FakeModule::live("alone"));
    let log = run_parallel(&dir, &c, &par, names, first, 2);
    let outcomes: Vec<_> = log.outcomes.iter().map(|(_, o)| o.clone()).collect();
    assert_eq!(outcomes, seq_outcomes);
    // alone was loaded before; mid was loaded by top's request.
    assert!(outcomes[0].is_err() && outcomes[1].is_ok() && outcomes[2].is_err());
    assert_eq!(loaded(&par), loaded(&seq));
}

/// Install commands run (one at a time) instead of the load, with the module's options.
#[test]
fn install_commands_run_instead_of_the_load() {
    let (_t, dir) = tree();
    let c = config("install alone /bin/true\ninstall phy /bin/false\n");
    let kernel = FakeKernel::new();
    let mut resolver = Resolver::new(&dir, &c);
    let reqs = requests(&mut resolver, &["alone", "net"]);
    let mut log = Log::default();
    let mut runner = Runner::default();
    insert_all(
        &mut resolver,
        &kernel,
        &mut runner,
        &reqs,
        ProbeFlags::default(),
        2,
        &mut log,
    )
    .unwrap();
    let mut ran = runner.ran.clone();
    ran.sort();
    assert_eq!(ran, ["/bin/false", "/bin/true"]);
    assert!(kernel.is_loaded("net") && !kernel.is_loaded("alone"));
    let mut names: HashMap<String, usize> = HashMap::new();
    for line in &log.lines {
        *names.entry(line.clone()).or_default() += 1;
    }
    assert_eq!(names.get("install /bin/true"), Some(&1), "{:?}", log.lines);
}

//! Parallel loading (`modprobe --parallel`): the plans of several requests merged into one
//! dependency graph, and carried out by worker threads, each module starting as soon as the
//! modules it needs are in.
//!
//! # The plan
//! Every request is resolved exactly as [`probe::insert`](super::probe::insert) resolves it, in request order, on
//! the caller's thread: the loaded/builtin and blacklist checks of the requested module, its
//! probe list ([`Resolver::probe_list`]: dependencies, softdeps, `-i`), and for each module
//! of the list its options and its install command. A module already loaded (or builtin) when
//! the plan is made is left out. Every other module becomes one *job*, shared by all the
//! requests that list it; the first listing (in the order the sequential run would have met
//! it) decides the job's action and options, which is the listing the sequential run would
//! have carried out (it skips the later ones as loaded).
//!
//! # The graph
//! Jobs are numbered in that order of first listing, and a job only ever waits for jobs with
//! a lower number, so the graph has no cycle whatever the softdeps say. Job `v` waits for job
//! `u < v` when
//! - `u` is in `v`'s modules.dep line (a *hard* edge: when `u` fails, `v` is not tried and
//!   fails with `u`'s error, as it would fail with unknown symbols);
//! - `u` is one of `v`'s pre-softdeps, or `v` is one of `u`'s post-softdeps (*soft* edges:
//!   only the order counts, the sequential run ignores a softdep's failure).
//!
//! When a module's dependencies or softdeps cannot be read again, its job waits for every job
//! before it.
//!
//! # Running it
//! The caller's thread schedules; `threads` workers take the jobs that are ready. A job loads
//! its module with [`probe`](super::probe)'s own loading code (`insmod` shown, `finit_module`/`init_module`,
//! kmod's messages) after checking again that it is not live meanwhile (`EEXIST`, as in the
//! sequential run). Jobs with an install command run the shell one at a time (a lock around
//! the [`CommandRunner`]), so that commands never overlap each other; loads go on beside them.
//! The kernel handles concurrent `finit_module` calls itself: a second load of a module that
//! is coming waits for it and gets `EEXIST`, which counts as success, as in the sequential
//! run.
//!
//! # Outcomes
//! A request's outcome is the sequential run's rule applied to its probe list: the first
//! module (in list order) that is required (the requested module and its dependencies) and
//! failed gives the error; failures of softdeps are ignored; `EEXIST`, and a module an earlier
//! request loaded, count as loaded (an error for the requested module with `--first-time`).
//! Outcomes are passed to [`ParallelReporter::finished`] in request order. What differs from
//! the sequential run:
//! - messages and `insmod`/`install` lines come in the order the work happens;
//! - a module that failed is not tried again for a later request (the sequential run tries
//!   again, and usually fails the same way);
//! - after a failure, the modules of the failing request that do not depend on the failed
//!   module are still loaded (the sequential run stops that request at the failure).
//!
//! Dry runs (`--dry-run`, `--show-depends`) are not planned here: callers use the sequential
//! path, which prints the plan in kmod's order.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};

use super::command::CommandRunner;
use super::probe::{
    concat_options, in_kernel, load_file, message, notices, run_command, say, Inserted, Level,
    ProbeError, ProbeFlags, Report, Reporter, Shown,
};
use super::{ModId, Resolver};
use crate::kernel::{Errno, InitState, Kernel, KernelError};

/// One module to insert, as `modprobe` was asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The requested module (from [`Resolver::lookup`] or [`Resolver::from_path`]).
    pub module: ModId,
    /// The command line's options for it (only without `-a`).
    pub extra_options: Option<Vec<u8>>,
}

/// Receives what a parallel run reports. Reports come from the caller's thread only.
///
/// [`Report::LoadFailed`] is not passed on while the work goes on: it is passed just before
/// the [`finished`](ParallelReporter::finished) of a request that failed because of that
/// load, so that a reporter may keep it to explain that outcome, as with the sequential run.
pub trait ParallelReporter: Reporter {
    /// Request number `request` (an index into the requests) ended with `outcome`.
    /// `ControlFlow::Break` stops the run as a break from [`Reporter::report`] does.
    fn finished(
        &mut self,
        request: usize,
        outcome: Result<Inserted, ProbeError>,
    ) -> ControlFlow<()>;
}

/// The number of worker threads `--parallel` without a value uses: the number of CPUs.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// What a job does.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    /// Load the module file with these options.
    Load { path: PathBuf, options: Vec<u8> },
    /// Run the install command.
    Install { command: Vec<u8>, options: Vec<u8> },
    /// A module without a file that is not builtin: kmod's "could not find module".
    Missing,
}

#[derive(Debug)]
struct Job {
    name: Vec<u8>,
    id: ModId,
    action: Action,
    /// The request that listed it first.
    first_request: usize,
    /// Jobs this one waits for, with whether their failure fails it (a hard edge).
    preds: Vec<(usize, bool)>,
}

#[derive(Debug, Clone, Copy)]
struct Step {
    job: usize,
    required: bool,
    top: bool,
}

enum Planned {
    /// Decided while planning.
    Done(Result<Inserted, ProbeError>),
    /// The jobs of its probe list, in order.
    Steps(Vec<Step>),
}

/// The merged plan of several requests (see the [module documentation](self)).
struct Plan {
    jobs: Vec<Job>,
    requests: Vec<Planned>,
}

fn plan(
    resolver: &mut Resolver<'_>,
    kernel: &dyn Kernel,
    requests: &[Request],
    flags: ProbeFlags,
    reporter: &mut dyn Reporter,
) -> Result<Plan, ProbeError> {
    let mut jobs: Vec<Job> = Vec::new();
    let mut by_name: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut planned = Vec::with_capacity(requests.len());
    for (r, request) in requests.iter().enumerate() {
        match plan_request(
            resolver,
            kernel,
            r,
            request,
            flags,
            &mut jobs,
            &mut by_name,
            reporter,
        ) {
            Ok(p) => planned.push(p),
            Err(ProbeError::Stopped) => return Err(ProbeError::Stopped),
            Err(e) => planned.push(Planned::Done(Err(e))),
        }
    }
    // The edges, only ever towards lower numbers.
    for v in 0..jobs.len() {
        let Some(job) = jobs.get(v) else { break };
        let id = job.id;
        let number = |resolver: &Resolver<'_>, m: ModId| by_name.get(resolver.name(m)).copied();
        let mut preds: Vec<(usize, bool)> = Vec::new();
        let mut posts: Vec<usize> = Vec::new();
        match (resolver.dependencies(id), resolver.softdeps(id)) {
            (Ok(deps), Ok((pre, post))) => {
                for m in deps {
                    if let Some(u) = number(resolver, m).filter(|&u| u < v) {
                        preds.push((u, true));
                    }
                }
                for m in pre {
                    if let Some(u) = number(resolver, m).filter(|&u| u < v) {
                        preds.push((u, false));
                    }
                }
                posts.extend(post.into_iter().filter_map(|m| number(resolver, m)));
            }
            _ => preds.extend((0..v).map(|u| (u, false))),
        }
        // The softdep lookups were noticed while planning already.
        drop(resolver.take_notices());
        if let Some(job) = jobs.get_mut(v) {
            job.preds.extend(preds);
        }
        for x in posts.into_iter().filter(|&x| x > v) {
            if let Some(later) = jobs.get_mut(x) {
                later.preds.push((v, false));
            }
        }
    }
    Ok(Plan {
        jobs,
        requests: planned,
    })
}

#[allow(clippy::too_many_arguments)]
fn plan_request(
    resolver: &mut Resolver<'_>,
    kernel: &dyn Kernel,
    r: usize,
    request: &Request,
    flags: ProbeFlags,
    jobs: &mut Vec<Job>,
    by_name: &mut HashMap<Vec<u8>, usize>,
    reporter: &mut dyn Reporter,
) -> Result<Planned, ProbeError> {
    let top = request.module;
    if in_kernel(resolver, kernel, top)? {
        if flags.first_time {
            return Ok(Planned::Done(Err(ProbeError::Errno(Errno::EEXIST))));
        }
        return Ok(Planned::Done(Ok(Inserted::AlreadyLoaded)));
    }
    if let Some(rule) = super::probe::blacklist_rule(resolver, top, flags) {
        return Ok(Planned::Done(Ok(Inserted::Blacklisted(rule))));
    }
    let list = resolver.probe_list(top, flags.ignore_command);
    notices(resolver.take_notices(), reporter)?;
    let list = list?;
    let mut steps = Vec::with_capacity(list.len());
    for step in list {
        let m = step.module;
        if in_kernel(resolver, kernel, m)? {
            continue;
        }
        let name = resolver.name(m).to_vec();
        let job = match by_name.get(&name) {
            Some(&job) => job,
            None => {
                let own = resolver.options(m);
                let extra = if m == top {
                    request.extra_options.as_deref()
                } else {
                    None
                };
                let options = concat_options(&own, extra);
                let action = match resolver.install_command(m) {
                    Some(command) if !step.ignore_command => Action::Install { command, options },
                    _ => match resolver.path(m)? {
                        Some(path) => Action::Load { path, options },
                        None => Action::Missing,
                    },
                };
                let number = jobs.len();
                jobs.push(Job {
                    name: name.clone(),
                    id: m,
                    action,
                    first_request: r,
                    preds: Vec::new(),
                });
                by_name.insert(name, number);
                number
            }
        };
        steps.push(Step {
            job,
            required: step.required,
            top: m == top,
        });
    }
    Ok(Planned::Steps(steps))
}

/// A report made on a worker thread, owned, on its way to the caller's thread.
enum Event {
    Show(Shown),
    Message(Level, String),
    LoadFailed {
        job: usize,
        path: PathBuf,
        params: Vec<u8>,
        error: KernelError,
    },
    Done(usize, Result<(), Errno>),
}

/// The reporter of a worker: sends everything to the caller's thread.
struct Forward<'a> {
    job: usize,
    events: &'a mpsc::Sender<Event>,
}

impl Reporter for Forward<'_> {
    fn report(&mut self, report: Report<'_>) -> ControlFlow<()> {
        let event = match report {
            Report::Show(shown) => Event::Show(shown),
            Report::Message(level, text) => Event::Message(level, text),
            Report::LoadFailed {
                path,
                params,
                error,
                ..
            } => Event::LoadFailed {
                job: self.job,
                path: path.to_path_buf(),
                params: params.to_vec(),
                // KernelError is not Clone; its errno and text are what reporters use.
                error: clone_error(error),
            },
        };
        // The caller's thread outlives the workers; a failed send only loses a report of a
        // run that is stopping.
        let _ = self.events.send(event);
        ControlFlow::Continue(())
    }
}

/// A copy of a kernel error good enough for reporting: the same variant for the kernel's
/// refusals, else a file error with the same text and errno.
fn clone_error(error: &KernelError) -> KernelError {
    match error {
        KernelError::Syscall { syscall, errno } => KernelError::Syscall {
            syscall: *syscall,
            errno: *errno,
        },
        KernelError::Nul { what } => KernelError::Nul { what },
        other => KernelError::File(crate::Error::Io {
            path: PathBuf::new(),
            source: std::io::Error::from_raw_os_error(other.errno()),
        }),
    }
}

/// Carries out one job on a worker thread.
fn run_job(
    job: &Job,
    kernel: &(dyn Kernel + Sync),
    runner: &Mutex<&mut (dyn CommandRunner + Send)>,
    flags: ProbeFlags,
    reporter: &mut dyn Reporter,
) -> Result<(), Errno> {
    if matches!(kernel.initstate(&job.name), Ok(Some(InitState::Live))) {
        return Err(Errno::EEXIST);
    }
    let result = match &job.action {
        Action::Install { command, options } => say(
            reporter,
            Report::Show(Shown::Install {
                module: job.id,
                name: job.name.clone(),
                command: command.clone(),
                options: options.clone(),
            }),
        )
        .and_then(|()| {
            let mut runner = runner.lock().unwrap_or_else(|e| e.into_inner());
            run_command(
                &mut **runner,
                job.id,
                &job.name,
                "install",
                command,
                options,
                reporter,
            )
        }),
        Action::Load { path, options } => say(
            reporter,
            Report::Show(Shown::Insmod {
                module: job.id,
                name: job.name.clone(),
                path: path.as_os_str().as_encoded_bytes().to_vec(),
                options: options.clone(),
            }),
        )
        .and_then(|()| load_file(kernel, &job.name, path, options, flags, reporter)),
        Action::Missing => message(
            reporter,
            Level::Error,
            format!(
                "could not find module by name='{}'",
                String::from_utf8_lossy(&job.name)
            ),
        )
        .map(|()| Err(Errno::ENOENT)),
    };
    // A forwarding reporter never stops a job; anything else is a failure of this job.
    result.unwrap_or(Err(Errno::EINVAL))
}

/// The scheduler's view of one job.
#[derive(Debug, Default)]
struct State {
    /// Predecessors not finished yet.
    waiting: usize,
    /// The error of a failed hard predecessor.
    failed: Option<Errno>,
    outcome: Option<Result<(), Errno>>,
    /// The failed load's report, kept for the outcome of the requests it fails.
    load_failed: Option<(PathBuf, Vec<u8>, KernelError)>,
}

/// Whether a job's outcome counts as a failure for what waits on it.
fn failure(outcome: Result<(), Errno>) -> Option<Errno> {
    match outcome {
        Ok(()) | Err(Errno::EEXIST) => None,
        Err(errno) => Some(errno),
    }
}

/// Inserts every request with everything it needs, with `threads` workers (at least one);
/// see the [module documentation](self). The outcomes go to `reporter`'s
/// [`finished`](ParallelReporter::finished), in request order; the result is an error only
/// when the reporter stopped the run ([`ProbeError::Stopped`]).
pub fn insert_all(
    resolver: &mut Resolver<'_>,
    kernel: &(dyn Kernel + Sync),
    runner: &mut (dyn CommandRunner + Send),
    requests: &[Request],
    flags: ProbeFlags,
    threads: usize,
    reporter: &mut dyn ParallelReporter,
) -> Result<(), ProbeError> {
    let Plan {
        jobs,
        requests: planned,
    } = plan(resolver, kernel, requests, flags, reporter)?;
    let mut states: Vec<State> = jobs
        .iter()
        .map(|job| State {
            waiting: job.preds.len(),
            ..State::default()
        })
        .collect();
    let mut successors: Vec<Vec<(usize, bool)>> = vec![Vec::new(); jobs.len()];
    for (v, job) in jobs.iter().enumerate() {
        for &(u, hard) in &job.preds {
            if let Some(list) = successors.get_mut(u) {
                list.push((v, hard));
            }
        }
    }
    let runner = Mutex::new(runner);
    let stop = AtomicBool::new(false);
    let (job_tx, job_rx) = mpsc::channel::<usize>();
    let job_rx = Mutex::new(job_rx);
    let (event_tx, event_rx) = mpsc::channel::<Event>();
    let threads = threads.clamp(1, jobs.len().max(1));
    let mut scheduler = Scheduler {
        jobs: &jobs,
        states: &mut states,
        successors: &successors,
        planned: planned.into_iter().map(Some).collect(),
        first_time: flags.first_time,
        next_request: 0,
        in_flight: 0,
        finished: 0,
        stopped: false,
        job_tx: Some(job_tx),
    };
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (job_rx, events, jobs, runner, stop) =
                (&job_rx, event_tx.clone(), &jobs, &runner, &stop);
            scope.spawn(move || loop {
                let next = job_rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok(number) = next else { break };
                let outcome = match jobs.get(number) {
                    Some(_) if stop.load(Ordering::Relaxed) => Err(Errno::ECANCELED),
                    Some(job) => {
                        let mut forward = Forward {
                            job: number,
                            events: &events,
                        };
                        run_job(job, kernel, runner, flags, &mut forward)
                    }
                    None => Err(Errno::EINVAL),
                };
                if events.send(Event::Done(number, outcome)).is_err() {
                    break;
                }
            });
        }
        drop(event_tx);
        let ready: Vec<usize> = (0..jobs.len())
            .filter(|&j| scheduler.states.get(j).is_some_and(|s| s.waiting == 0))
            .collect();
        for j in ready {
            scheduler.dispatch(j);
        }
        let result = scheduler.run(&event_rx, reporter, &stop);
        // No more jobs: the workers end.
        scheduler.job_tx = None;
        result
    })
}

struct Scheduler<'p> {
    jobs: &'p [Job],
    states: &'p mut [State],
    successors: &'p [Vec<(usize, bool)>],
    planned: Vec<Option<Planned>>,
    first_time: bool,
    next_request: usize,
    in_flight: usize,
    finished: usize,
    stopped: bool,
    job_tx: Option<mpsc::Sender<usize>>,
}

impl Scheduler<'_> {
    fn dispatch(&mut self, job: usize) {
        if self.stopped {
            return;
        }
        if let Some(tx) = &self.job_tx {
            if tx.send(job).is_ok() {
                self.in_flight += 1;
            }
        }
    }

    fn run(
        &mut self,
        events: &mpsc::Receiver<Event>,
        reporter: &mut dyn ParallelReporter,
        stop: &AtomicBool,
    ) -> Result<(), ProbeError> {
        // Requests decided while planning, and runs without jobs.
        self.report_finished(reporter, stop);
        while self.finished < self.jobs.len() && !(self.stopped && self.in_flight == 0) {
            let Ok(event) = events.recv() else { break };
            let flow = match event {
                Event::Show(shown) => reporter.report(Report::Show(shown)),
                Event::Message(level, text) => reporter.report(Report::Message(level, text)),
                Event::LoadFailed {
                    job,
                    path,
                    params,
                    error,
                } => {
                    if let Some(state) = self.states.get_mut(job) {
                        state.load_failed = Some((path, params, error));
                    }
                    ControlFlow::Continue(())
                }
                Event::Done(job, outcome) => {
                    self.in_flight = self.in_flight.saturating_sub(1);
                    self.complete(job, outcome);
                    ControlFlow::Continue(())
                }
            };
            if flow.is_break() {
                self.stop(stop);
            }
            self.report_finished(reporter, stop);
        }
        if self.stopped {
            Err(ProbeError::Stopped)
        } else {
            Ok(())
        }
    }

    fn stop(&mut self, stop: &AtomicBool) {
        self.stopped = true;
        stop.store(true, Ordering::Relaxed);
    }

    /// Records a job's outcome and releases what waited for it; a job whose hard predecessor
    /// failed finishes at once with that error, untried.
    fn complete(&mut self, job: usize, outcome: Result<(), Errno>) {
        let mut work = vec![(job, outcome)];
        while let Some((job, outcome)) = work.pop() {
            let Some(state) = self.states.get_mut(job) else {
                continue;
            };
            if state.outcome.is_some() {
                continue;
            }
            state.outcome = Some(outcome);
            self.finished += 1;
            let failed = failure(outcome);
            for &(next, hard) in self.successors.get(job).map_or(&[][..], Vec::as_slice) {
                let Some(state) = self.states.get_mut(next) else {
                    continue;
                };
                if hard && state.failed.is_none() {
                    state.failed = failed;
                }
                state.waiting = state.waiting.saturating_sub(1);
                if state.waiting == 0 {
                    match state.failed {
                        Some(errno) => work.push((next, Err(errno))),
                        None => self.dispatch(next),
                    }
                }
            }
        }
    }

    /// Passes on the outcomes of the requests, in order, as far as they are complete.
    fn report_finished(&mut self, reporter: &mut dyn ParallelReporter, stop: &AtomicBool) {
        while let Some(slot) = self.planned.get_mut(self.next_request) {
            if self.stopped {
                return;
            }
            let r = self.next_request;
            if let Some(Planned::Steps(steps)) = slot {
                if steps.iter().any(|s| {
                    self.states
                        .get(s.job)
                        .map_or(true, |state| state.outcome.is_none())
                }) {
                    return;
                }
            }
            let outcome = match slot.take() {
                None => Err(ProbeError::Stopped),
                Some(Planned::Done(outcome)) => outcome,
                Some(Planned::Steps(steps)) => {
                    let mut result = Ok(Inserted::Done);
                    for step in &steps {
                        let state = self.states.get_mut(step.job);
                        let Some(state) = state else { continue };
                        let mut outcome = state.outcome.unwrap_or(Err(Errno::EINVAL));
                        let earlier = self
                            .jobs
                            .get(step.job)
                            .is_some_and(|job| job.first_request < r);
                        if outcome.is_ok() && earlier {
                            outcome = Err(Errno::EEXIST);
                        }
                        match outcome {
                            Err(Errno::EEXIST) if step.top && self.first_time => {
                                result = Err(ProbeError::Errno(Errno::EEXIST));
                                break;
                            }
                            Err(Errno::EEXIST) | Ok(()) => {}
                            Err(_) if !step.required => {}
                            Err(errno) => {
                                if let Some((path, params, error)) = &state.load_failed {
                                    let name = self
                                        .jobs
                                        .get(step.job)
                                        .map_or(&[][..], |job| job.name.as_slice());
                                    let flow = reporter.report(Report::LoadFailed {
                                        name,
                                        path,
                                        params,
                                        error,
                                    });
                                    if flow.is_break() {
                                        self.stop(stop);
                                        return;
                                    }
                                }
                                result = Err(ProbeError::Errno(errno));
                                break;
                            }
                        }
                    }
                    result
                }
            };
            self.next_request += 1;
            if reporter.finished(r, outcome).is_break() {
                self.stop(stop);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;

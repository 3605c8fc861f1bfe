//! `modprobe --parallel[=N]`: the arguments are resolved in order, as without the option, and
//! handed together to [`kmodcore::resolve::parallel`], which loads independent modules at the
//! same time. The outcomes come back in argument order and are reported with the same words
//! and exit code as the sequential run.

use std::ffi::{OsStr, OsString};
use std::ops::ControlFlow;
use std::os::unix::ffi::OsStrExt;

use kmodcore::resolve::parallel::{self, ParallelReporter, Request};
use kmodcore::resolve::probe::{Inserted, ProbeError, Report, Reporter};
use kmodcore::resolve::Resolver;

use super::session::{NestedRunner, Session, SessionReporter, Stop};

impl Session<'_> {
    /// The threads `--parallel` asks for, or `None` for the sequential run: without the
    /// option, and for dry runs and `-R`, which print the plan in kmod's order.
    pub(super) fn parallel_threads(&self) -> Option<usize> {
        let o = self.options;
        let threads = o.parallel?;
        if o.flags.dry_run || o.lookup_only {
            return None;
        }
        Some(match threads {
            0 => parallel::default_threads(),
            n => usize::from(n),
        })
    }

    /// Inserts the arguments (every one with `-a`, else the first with the others as its
    /// parameters) with `threads` workers. Returns whether all went well.
    pub(super) fn insert_parallel(
        &mut self,
        resolver: &mut Resolver<'_>,
        args: &[OsString],
        threads: usize,
    ) -> bool {
        let (wanted, extra): (&[OsString], Option<Vec<u8>>) = if self.options.all {
            (args, None)
        } else {
            let (first, params) = args.split_first().map_or((&[][..], &[][..]), |(_, p)| {
                (args.get(..1).unwrap_or_default(), p)
            });
            let extra = (!params.is_empty())
                .then(|| kmodcore::kernel::join_params(params.iter().map(|p| p.as_bytes())));
            (first, extra)
        };
        let mut requests = Vec::new();
        // For each request: its argument and its name.
        let mut owners: Vec<(usize, String)> = Vec::new();
        let mut found = vec![false; wanted.len()];
        for (i, arg) in wanted.iter().enumerate() {
            let ids = match self.resolve_any(resolver, OsStr::new(arg)) {
                Ok(Some(ids)) => ids,
                Ok(None) => continue,
                Err(Stop) => return false,
            };
            if let Some(f) = found.get_mut(i) {
                *f = true;
            }
            for id in ids {
                owners.push((i, String::from_utf8_lossy(resolver.name(id)).into_owned()));
                requests.push(Request {
                    module: id,
                    extra_options: extra.clone(),
                });
            }
        }
        let mut runner = NestedRunner::new(self.options);
        let kernel = self.kernel;
        let flags = self.options.flags;
        let mut reporter = Outcomes {
            session: self,
            owners: &owners,
            results: vec![false; requests.len()],
        };
        let run = parallel::insert_all(
            resolver,
            kernel,
            &mut runner,
            &requests,
            flags,
            threads,
            &mut reporter,
        );
        if run.is_err() {
            return false;
        }
        // As in the sequential run, an argument matching several modules counts by its last.
        let mut ok = found;
        for (r, &(arg, _)) in owners.iter().enumerate() {
            if let Some(slot) = ok.get_mut(arg) {
                *slot = reporter.results.get(r).copied().unwrap_or(false);
            }
        }
        ok.iter().all(|&b| b)
    }
}

/// Passes the reports to the session and turns the outcomes into kmod's messages.
struct Outcomes<'s, 'a, 'o> {
    session: &'s mut Session<'a>,
    owners: &'o [(usize, String)],
    results: Vec<bool>,
}

impl Reporter for Outcomes<'_, '_, '_> {
    fn report(&mut self, report: Report<'_>) -> ControlFlow<()> {
        SessionReporter {
            session: self.session,
        }
        .report(report)
    }
}

impl ParallelReporter for Outcomes<'_, '_, '_> {
    fn finished(
        &mut self,
        request: usize,
        outcome: Result<Inserted, ProbeError>,
    ) -> ControlFlow<()> {
        let name = self
            .owners
            .get(request)
            .map_or("", |(_, name)| name.as_str());
        let result = self.session.insert_outcome(name, outcome);
        self.session.hint = None;
        match result {
            Ok(ok) => {
                if let Some(slot) = self.results.get_mut(request) {
                    *slot = ok;
                }
                ControlFlow::Continue(())
            }
            Err(Stop) => ControlFlow::Break(()),
        }
    }
}

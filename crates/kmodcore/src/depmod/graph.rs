//! From symbols to dependencies: the symbol table, each module's direct dependencies, kmod's
//! topological numbering, and the dependency cycle report.
//!
//! # Symbols
//!
//! The table starts with the kernel's own symbols (from `-F`/`-E`, owned by nobody), then
//! takes every module's exports in module order; a name already present is taken over, so
//! the last module in the order that exports a symbol owns it. A name that starts with the
//! `-P` prefix character is stored without it.
//!
//! # Dependencies
//!
//! For each module in order, each needed symbol is looked up (without a leading `.`, then
//! without the prefix). Unknown symbols are skipped, with a warning under `-e` (not for weak
//! references); under `-E` a CRC that differs from the table's is warned about too. A symbol
//! owned by a module makes that module a direct dependency, once, in order of first use.
//!
//! # Numbering
//!
//! Dependencies are ordered by a topological number computed exactly as kmod does: a stack
//! of modules nobody depends on (pushed in module order), popping the top, numbering it,
//! and pushing each of its dependencies (in order of first use) once its last user has been
//! numbered. A module's full dependency list (`modules.dep`) is sorted by this number, so it
//! lists the users before what they use.
//!
//! # Cycles
//!
//! Modules left unnumbered sit on or behind a cycle. kmod then walks from each of them along
//! direct dependencies with a stack, reporting every path that returns to the starting module
//! as `a -> b -> a` and removing the modules on it from the starting points, and finally
//! counts the distinct modules seen on cycles. The starting points are a ring in module
//! order: each removal moves the ring's head to the module after the one removed, so the
//! next start is not simply the first one left (see `StartRing`); that is what makes kmod
//! start the report of `a -> b -> c -> a` at `c` in its testsuite's tree. [`link`] reproduces that
//! walk step for step, with one exception: kmod walks on into a module already on the path it
//! is walking (a cycle reachable from the start that does not contain it), and then never
//! ends (kmod 34 and master print ever longer "Cycle detected" lines until the disk is full:
//! a plain bug). rkmod does not walk into such a module, which changes nothing where kmod's
//! walk ends. Where kmod's walk would overflow its stack, rkmod stops exploring from that
//! start after [`MAX_CYCLE_STEPS`] steps or at the same stack bound, and says so.

use rayon::prelude::*;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::scan::FoundModule;
use super::symbols::{lookup_key, KernelSymbols, ModuleSymbols};
use super::{order, Diagnostic};

/// The most vertices one cycle walk may create before rkmod gives up on that start.
pub const MAX_CYCLE_STEPS: usize = 1_000_000;

/// A module with what was read from its file.
#[derive(Debug, Clone)]
pub struct Module {
    /// Where it was found.
    pub found: FoundModule,
    /// What its file holds.
    pub symbols: ModuleSymbols,
}

/// How symbols are resolved and what is reported.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkOptions {
    /// `-P`: the architecture's symbol prefix character.
    pub prefix: Option<u8>,
    /// `-E`: compare CRCs with the table.
    pub check_symvers: bool,
    /// `-e` (with `-F` or `-E`): warn about unknown symbols and CRC mismatches.
    pub print_unknown: bool,
    /// `-v`: list every dependency found.
    pub verbose: bool,
}

/// The linked module set; symbol names point into the modules' extracts.
#[derive(Debug, Clone, Default)]
pub struct Linked<'m> {
    /// Each module's direct dependencies (indexes into the module list), sorted by
    /// [`Linked::number`].
    pub deps: Vec<Vec<u32>>,
    /// Each module's topological number.
    pub number: Vec<u32>,
    /// The module-owned symbols, in kmod's symbol-table order, with their owner.
    pub symbols: Vec<(&'m [u8], u32)>,
}

/// The result of a dependency cycle: the cycles were reported as diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CyclesFound {
    /// How many distinct modules are on the reported cycles.
    pub modules: usize,
}

#[derive(Clone, Copy)]
struct Entry {
    owner: Option<u32>,
    crc: u64,
}

/// Resolves symbols and orders dependencies (see the module documentation). `modules` must be
/// in depmod's order. Diagnostics (load failures, then per-module symbol messages, then
/// cycles) are appended in kmod's order.
///
/// Long on purpose: its steps (symbol table, per-module resolution by `resolve`, kmod's
/// numbering) share the tables they build, and splitting them further would pass those tables
/// around without making any step clearer; the comments mark each step.
pub fn link<'m>(
    modules: &'m [Module],
    kernel: Option<&'m KernelSymbols>,
    options: LinkOptions,
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<Linked<'m>, CyclesFound> {
    let prefix = options.prefix;
    let exports: usize = modules.iter().map(|m| m.symbols.exports.len()).sum();
    let kernel_count = kernel.map_or(0, |k| k.symbols.len());
    let mut table: HashMap<&'m [u8], Entry> =
        HashMap::with_capacity_and_hasher(exports + kernel_count, Default::default());
    if let Some(kernel) = kernel {
        for (name, crc) in &kernel.symbols {
            table.insert(
                name,
                Entry {
                    owner: None,
                    crc: *crc,
                },
            );
        }
    }
    for (index, module) in modules.iter().enumerate() {
        let symbols = &module.symbols;
        if let Some(error) = &symbols.load_error {
            diagnostics.push(Diagnostic::LoadSymbolsFailed {
                path: module.found.path.clone(),
                error: error.clone(),
            });
        }
        let owner = u32::try_from(index).ok();
        for export in &symbols.exports {
            let mut name = symbols.get(export.name);
            if let Some(p) = prefix {
                if name.first() == Some(&p) {
                    name = name.get(1..).unwrap_or_default();
                }
            }
            table.insert(
                name,
                Entry {
                    owner,
                    crc: export.crc,
                },
            );
        }
    }

    let count = modules.len();
    // Each module's symbols are resolved on its own, in parallel: its dependencies and its
    // messages are then taken in depmod's order, which the outputs and messages follow.
    let resolved: Vec<(Vec<u32>, Vec<Diagnostic>)> = modules
        .par_iter()
        .enumerate()
        .map_init(
            || vec![0usize; count],
            |stamp, (index, module)| resolve(modules, index, module, &table, options, stamp),
        )
        .collect();
    let mut deps: Vec<Vec<u32>> = Vec::with_capacity(count);
    let mut users: Vec<u32> = vec![0; count];
    for (list, messages) in resolved {
        for &owner in &list {
            if let Some(u) = users.get_mut(owner as usize) {
                *u = u.saturating_add(1);
            }
        }
        deps.push(list);
        diagnostics.extend(messages);
    }

    // kmod's numbering: a stack of modules without users.
    let mut remaining = users.clone();
    let mut number: Vec<u32> = vec![u32::MAX; count];
    let mut stack: Vec<u32> = (0..count)
        .filter(|&i| remaining.get(i) == Some(&0))
        .filter_map(|i| u32::try_from(i).ok())
        .collect();
    let mut next: u32 = 0;
    while let Some(src) = stack.pop() {
        if let Some(n) = number.get_mut(src as usize) {
            *n = next;
        }
        next = next.saturating_add(1);
        for &dst in deps
            .get(src as usize)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if let Some(r) = remaining.get_mut(dst as usize) {
                *r = r.saturating_sub(1);
                if *r == 0 {
                    stack.push(dst);
                }
            }
        }
    }
    if (next as usize) < count {
        let names: Vec<&[u8]> = modules.iter().map(|m| m.found.name.as_slice()).collect();
        let found = report_cycles(&names, &deps, &remaining, diagnostics);
        return Err(found);
    }
    for list in &mut deps {
        list.sort_by_key(|&d| number.get(d as usize).copied().unwrap_or(u32::MAX));
    }

    let symbols: Vec<(&[u8], u32)> = table
        .into_iter()
        .filter_map(|(name, entry)| Some((name, entry.owner?)))
        .collect();
    let symbols = order::sort_in_hash_order(symbols, order::SYMBOL_BUCKETS, |(name, _)| name);
    Ok(Linked {
        deps,
        number,
        symbols,
    })
}

/// The direct dependencies of module `index` (in order of first use) and the messages about
/// its needed symbols, in kmod's order. `stamp` is scratch space of one `usize` per module,
/// none of them `index + 1` on entry.
fn resolve(
    modules: &[Module],
    index: usize,
    module: &Module,
    table: &HashMap<&[u8], Entry>,
    options: LinkOptions,
    stamp: &mut [usize],
) -> (Vec<u32>, Vec<Diagnostic>) {
    let mut deps = Vec::new();
    let mut diagnostics = Vec::new();
    let symbols = &module.symbols;
    let Some(imports) = &symbols.imports else {
        return (deps, diagnostics);
    };
    for import in imports {
        let name = symbols.get(import.name);
        let Some(entry) = table.get(lookup_key(name, options.prefix)) else {
            if options.print_unknown && !import.weak {
                diagnostics.push(Diagnostic::UnknownSymbol {
                    path: module.found.path.clone(),
                    symbol: name.to_vec(),
                });
            }
            continue;
        };
        if options.check_symvers && entry.crc != import.crc && !import.weak && options.print_unknown
        {
            diagnostics.push(Diagnostic::VersionMismatch {
                path: module.found.path.clone(),
                symbol: name.to_vec(),
            });
        }
        let Some(owner) = entry.owner else {
            continue;
        };
        let Some(slot) = stamp.get_mut(owner as usize) else {
            continue;
        };
        if *slot == index + 1 {
            continue;
        }
        *slot = index + 1;
        deps.push(owner);
        if options.verbose {
            diagnostics.push(Diagnostic::Needs {
                path: module.found.path.clone(),
                symbol: lookup_key(name, options.prefix).to_vec(),
                owner: modules
                    .get(owner as usize)
                    .map(|m| m.found.path.clone())
                    .unwrap_or_default(),
            });
        }
    }
    (deps, diagnostics)
}

/// The starting points of kmod's cycle walk: a ring in module order with a head, as kmod keeps
/// them in its circular list. Taking a module out makes the module after it the head (kmod's
/// list removal returns the next node, and depmod keeps that as the list): so after a cycle is
/// reported, the next walk starts after the last of its modules in the ring, not at the first
/// starting point left. Taking out a module that is not in the ring changes nothing.
struct StartRing {
    /// Each module's neighbours in the ring, by module index (meaningless when not `listed`).
    next: Vec<u32>,
    prev: Vec<u32>,
    listed: Vec<bool>,
    head: Option<u32>,
}

impl StartRing {
    /// The ring of `starts` (module indexes below `modules`, in order).
    fn new(starts: &[u32], modules: usize) -> StartRing {
        let mut ring = StartRing {
            next: vec![0; modules],
            prev: vec![0; modules],
            listed: vec![false; modules],
            head: starts.first().copied(),
        };
        for (i, &m) in starts.iter().enumerate() {
            let after = starts.get(i + 1).or(starts.first()).copied().unwrap_or(m);
            let before = match i.checked_sub(1) {
                Some(b) => starts.get(b).copied(),
                None => starts.last().copied(),
            }
            .unwrap_or(m);
            if let (Some(n), Some(p), Some(l)) = (
                ring.next.get_mut(m as usize),
                ring.prev.get_mut(m as usize),
                ring.listed.get_mut(m as usize),
            ) {
                (*n, *p, *l) = (after, before, true);
            }
        }
        ring
    }

    fn head(&self) -> Option<u32> {
        self.head
    }

    /// Takes `m` out of the ring (see the type's documentation).
    fn remove(&mut self, m: u32) {
        let at = m as usize;
        if !self.listed.get(at).copied().unwrap_or(false) {
            return;
        }
        let (Some(&after), Some(&before)) = (self.next.get(at), self.prev.get(at)) else {
            return;
        };
        if let Some(flag) = self.listed.get_mut(at) {
            *flag = false;
        }
        if after == m {
            self.head = None;
            return;
        }
        if let Some(n) = self.next.get_mut(before as usize) {
            *n = after;
        }
        if let Some(p) = self.prev.get_mut(after as usize) {
            *p = before;
        }
        self.head = Some(after);
    }
}

/// Whether module `m` is on the path from the walk's start to vertex `v` (both included).
fn on_path(vertices: &[(u32, Option<usize>)], v: usize, m: u32) -> bool {
    let mut at = Some(v);
    while let Some(&(module, parent)) = at.and_then(|i| vertices.get(i)) {
        if module == m {
            return true;
        }
        at = parent;
    }
    false
}

/// kmod's cycle report (see the module documentation).
///
/// Long on purpose: it is one walk with its own stack, reproducing kmod's search and its
/// output order, and reads best as one loop.
fn report_cycles(
    modules: &[&[u8]],
    deps: &[Vec<u32>],
    remaining: &[u32],
    diagnostics: &mut Vec<Diagnostic>,
) -> CyclesFound {
    let name = |m: u32| -> Vec<u8> {
        modules
            .get(m as usize)
            .map(|name| name.to_vec())
            .unwrap_or_default()
    };
    let starts: Vec<u32> = (0..remaining.len())
        .filter(|&i| remaining.get(i).is_some_and(|&r| r > 0))
        .filter_map(|i| u32::try_from(i).ok())
        .collect();
    let stack_limit = starts.len();
    let mut starts = StartRing::new(&starts, modules.len());
    let mut visited = vec![false; modules.len()];
    let mut on_cycles: HashSet<Vec<u8>> = HashSet::default();
    while let Some(root) = starts.head() {
        starts.remove(root);
        // Vertices: (module, parent vertex).
        let mut vertices: Vec<(u32, Option<usize>)> = vec![(root, None)];
        let mut stack: Vec<usize> = vec![0];
        let mut gave_up = false;
        while let Some(v) = stack.pop() {
            let Some(&(m, _)) = vertices.get(v) else {
                break;
            };
            let seen = visited.get(m as usize).copied().unwrap_or(false);
            if seen && m == root {
                // Walk the parents back to the root, then print root first.
                let mut path = Vec::new();
                let mut at = vertices.get(v).and_then(|&(_, p)| p);
                while let Some(p) = at {
                    let Some(&(pm, parent)) = vertices.get(p) else {
                        break;
                    };
                    path.push(pm);
                    at = parent;
                }
                let mut names: Vec<Vec<u8>> = Vec::with_capacity(path.len() + 1);
                for &pm in path.iter().rev() {
                    on_cycles.insert(name(pm));
                    starts.remove(pm);
                    names.push(name(pm));
                }
                names.push(name(m));
                diagnostics.push(Diagnostic::Cycle { modules: names });
                continue;
            }
            if let Some(flag) = visited.get_mut(m as usize) {
                *flag = true;
            }
            let next = deps.get(m as usize).map(Vec::as_slice).unwrap_or_default();
            if next.is_empty() {
                starts.remove(m);
                continue;
            }
            for &dep in next {
                // A module already on this path (other than the start) would be walked
                // again and again: kmod never ends there. rkmod leaves it out, which changes
                // nothing wherever kmod's walk ends, and reports each cycle through the start
                // once.
                if dep != root && on_path(&vertices, v, dep) {
                    continue;
                }
                if stack.len() >= stack_limit || vertices.len() >= MAX_CYCLE_STEPS {
                    gave_up = true;
                    break;
                }
                vertices.push((dep, Some(v)));
                stack.push(vertices.len() - 1);
            }
            if gave_up {
                break;
            }
        }
        if gave_up {
            diagnostics.push(Diagnostic::CycleSearchStopped { start: name(root) });
        }
    }
    let found = CyclesFound {
        modules: on_cycles.len(),
    };
    diagnostics.push(Diagnostic::CycleCount {
        modules: found.modules,
    });
    found
}

/// The full dependency list of module `index`: every module reachable through direct
/// dependencies, sorted by topological number. `seen` is scratch space of one `usize` per
/// module, all different from `index + 1` on entry (a per-call stamp).
pub fn closure(linked: &Linked<'_>, index: usize, seen: &mut [usize]) -> Vec<u32> {
    let stamp = index + 1;
    let mut out = Vec::new();
    let mut stack: Vec<u32> = linked.deps.get(index).cloned().unwrap_or_default();
    stack.reverse();
    while let Some(d) = stack.pop() {
        let Some(slot) = seen.get_mut(d as usize) else {
            continue;
        };
        if *slot == stamp {
            continue;
        }
        *slot = stamp;
        out.push(d);
        if let Some(next) = linked.deps.get(d as usize) {
            stack.extend(next.iter().rev());
        }
    }
    out.sort_by_key(|&d| linked.number.get(d as usize).copied().unwrap_or(u32::MAX));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the cycle report on modules named `names` (in module order) with direct
    /// dependencies `deps` (by index, in order of first use), every module left unnumbered,
    /// and returns the report's lines.
    fn cycle_report(names: &[&str], deps: &[&[u32]]) -> Vec<String> {
        let names: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
        let deps: Vec<Vec<u32>> = deps.iter().map(|d| d.to_vec()).collect();
        let remaining = vec![1; names.len()];
        let mut diagnostics = Vec::new();
        report_cycles(&names, &deps, &remaining, &mut diagnostics);
        diagnostics
            .iter()
            .map(|d| match d {
                Diagnostic::Cycle { modules } => {
                    let names: Vec<String> = modules
                        .iter()
                        .map(|m| String::from_utf8_lossy(m).into_owned())
                        .collect();
                    names.join(" -> ")
                }
                Diagnostic::CycleCount { modules } => format!("{modules} on cycles"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    /// kmod's testsuite tree test-depmod/detect-loop, in kmod's module order (its hash walk:
    /// d i b a h j f c g k e). kmod's expected output (correct.txt) starts the third cycle at
    /// c: its list of starting points moves its head past each module removed, so after the
    /// {h, i, j, k} cycles the next start is f, then c, not b.
    #[test]
    fn the_walk_starts_where_kmods_ring_of_starts_says() {
        let names = ["d", "i", "b", "a", "h", "j", "f", "c", "g", "k", "e"];
        let index = |n: &str| names.iter().position(|&x| x == n).unwrap() as u32;
        let uses = |n: &str| -> Vec<u32> {
            let deps: &[&str] = match n {
                "a" => &["b", "f", "g"],
                "b" => &["c", "f", "g"],
                "c" => &["a"],
                "d" => &["e"],
                "e" => &["d"],
                "h" => &["i"],
                "i" => &["j"],
                "j" => &["h", "k"],
                "k" => &["h"],
                _ => &[],
            };
            deps.iter().map(|d| index(d)).collect()
        };
        let deps: Vec<Vec<u32>> = names.iter().map(|n| uses(n)).collect();
        let deps: Vec<&[u32]> = deps.iter().map(Vec::as_slice).collect();
        let report = cycle_report(&names, &deps);
        assert_eq!(
            report,
            [
                "d -> e -> d",
                "i -> j -> k -> h -> i",
                "i -> j -> h -> i",
                "c -> a -> b -> c",
                "9 on cycles",
            ]
        );
    }

    /// A start from which a cycle that does not pass through it is reachable: kmod (34 and
    /// master) walks that cycle forever, printing ever longer "Cycle detected" lines until the
    /// disk is full (kmod's plain bug; seen with kmod's own detect-loop tree and a
    /// modules.order that lists mod-loop-b). rkmod reports the cycle through the start once,
    /// counts every module on a cycle, and ends.
    #[test]
    fn a_cycle_behind_the_start_is_not_walked_forever() {
        // k -> h -> i -> j -> {h, k}: h i j is a cycle that k reaches but is not on.
        let names = ["k", "h", "i", "j"];
        let deps: [&[u32]; 4] = [&[1], &[2], &[3], &[1, 0]];
        assert_eq!(
            cycle_report(&names, &deps),
            ["k -> h -> i -> j -> k", "4 on cycles"]
        );
    }
}

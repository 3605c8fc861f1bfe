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
//! Modules left unnumbered sit on or behind a cycle. kmod then walks from each of them (in
//! module order) along direct dependencies with a stack, reporting every path that returns
//! to the starting module as `a -> b -> a` and removing the modules on it from the starting
//! points, and finally counts the distinct modules seen on cycles. [`link`] reproduces that
//! walk step for step. Where kmod's walk would run forever (a cycle reachable from the start
//! that does not contain it) or overflow its stack, rkmod stops exploring from that start after
//! [`MAX_CYCLE_STEPS`] steps or at the same stack bound, and says so.

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
        let found = report_cycles(modules, &deps, &remaining, diagnostics);
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

/// kmod's cycle report (see the module documentation).
///
/// Long on purpose: it is one walk with its own stack, reproducing kmod's search and its
/// output order, and reads best as one loop.
fn report_cycles(
    modules: &[Module],
    deps: &[Vec<u32>],
    remaining: &[u32],
    diagnostics: &mut Vec<Diagnostic>,
) -> CyclesFound {
    let name = |m: u32| -> Vec<u8> {
        modules
            .get(m as usize)
            .map(|module| module.found.name.clone())
            .unwrap_or_default()
    };
    let starts: Vec<u32> = (0..remaining.len())
        .filter(|&i| remaining.get(i).is_some_and(|&r| r > 0))
        .filter_map(|i| u32::try_from(i).ok())
        .collect();
    let stack_limit = starts.len();
    let mut is_start = vec![false; modules.len()];
    for &s in &starts {
        if let Some(flag) = is_start.get_mut(s as usize) {
            *flag = true;
        }
    }
    let mut visited = vec![false; modules.len()];
    let mut on_cycles: HashSet<Vec<u8>> = HashSet::default();
    let mut cursor = 0;
    loop {
        // The first starting point still listed.
        while starts
            .get(cursor)
            .is_some_and(|&s| !is_start.get(s as usize).copied().unwrap_or(false))
        {
            cursor += 1;
        }
        let Some(&root) = starts.get(cursor) else {
            break;
        };
        if let Some(flag) = is_start.get_mut(root as usize) {
            *flag = false;
        }
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
                    if let Some(flag) = is_start.get_mut(pm as usize) {
                        *flag = false;
                    }
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
                if let Some(flag) = is_start.get_mut(m as usize) {
                    *flag = false;
                }
                continue;
            }
            for &dep in next {
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

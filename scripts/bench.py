#!/usr/bin/env python3
"""Side-by-side benchmark: rkmod against kmod, in one run, printing wall-time ratios.

    scripts/bench.py [--rounds N] [--static] [GROUP...]   groups: modinfo, depmod, modprobe (default: all)

Runs each case alternately with kmod and rkmod (release build of this tree) so that both see
the same machine state, and reports the median wall time of each and the ratio rkmod/kmod.
With --static, the fully static build (the initramfs form, README) runs in the same rounds as a
third column: it starts faster, since it needs no dynamic loader.
The real trees come from scripts/real-trees.sh (run first). kmod is whatever `modinfo`,
`depmod` and `modprobe` are in /usr/sbin (Debian's kmod 30), or the directory given by
KMOD_BIN_DIR. KMOD_BIN_DIR may name several directories separated by ':' (for example a local
build of kmod's development head first, then /usr/sbin): each is a kmod column, all run in the
same rounds, and every rkmod column gets a ratio against each; goals are judged against the first.
The modprobe group also times a static program that does nothing (the floor of a process start,
built with `gcc -static` into the cache when gcc is there), as a ratio against the same kmods.
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("RKMOD_CACHE", Path.home() / ".cache/rkmod"))
KMOD_BIN_DIRS = [Path(d) for d in os.environ.get("KMOD_BIN_DIR", "/usr/sbin").split(":") if d]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
RKMOD = TARGET / "release/rkmod"
STATIC_TRIPLE = "x86_64-unknown-linux-gnu"
RKMOD_STATIC = TARGET / STATIC_TRIPLE / "release/rkmod"
# The rkmod binaries measured: the release build, and with --static the static one too.
VARIANTS = [RKMOD]

TREES = {
    "6.1": ("tree-6.1.0", "kmod30-6.1", "6.1.0-47-amd64"),
    "6.12": ("tree-6.12.107", "kmod30-6.12", "6.12.107+deb12-amd64"),
}


# With --nice, both tools run at nice -20 (needs root), so that other work on a shared machine
# disturbs the comparison less. Both get the same treatment.
PREFIX = []


def kmod(tool, bin_dir=None):
    return PREFIX + [str((bin_dir or KMOD_BIN_DIRS[0]) / tool)]


def rkmod(tool, binary=RKMOD):
    return PREFIX + [str(binary), tool]


# The order of the tools in each round of compare(), shuffled with a fixed seed.
ORDER = random.Random(1)

# Each run is started with posix_spawn and reaped with waitpid, stdout and stderr on /dev/null:
# the least a harness can add to a run (subprocess.run also closes every descriptor in the
# child and sets up a pipe for exec errors, about 0.2 ms here, the same for both tools, which
# pulls the ratios of millisecond runs towards 1).
DEVNULL = os.open(os.devnull, os.O_WRONLY)
SPAWN_FILES = [(os.POSIX_SPAWN_DUP2, DEVNULL, 1), (os.POSIX_SPAWN_DUP2, DEVNULL, 2)]


def program_path(name):
    """`name` as a path: as it is when it has a slash, else found on PATH (as `nice`)."""
    return name if "/" in name else shutil.which(name)


def timed(cmd, expect_ok=True):
    program = program_path(cmd[0])
    start = time.perf_counter()
    pid = os.posix_spawn(program, cmd, os.environ, file_actions=SPAWN_FILES)
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if expect_ok and code != 0:
        sys.exit(f"bench: command failed ({code}): {' '.join(cmd[:6])} ...")
    return elapsed


def settle_page_cache(programs):
    """Drops the page cache of each program and of the shared libraries it loads, so that both
    tools' code is read back from disk the same way, as after a boot. How a file came into the
    cache matters: a binary just written by the linker sits in small pages, a copied or
    installed one in large ones, and a run of a millisecond is mostly page faults on its code."""
    files = set()
    for program in programs:
        path = program_path(program)
        files.add(os.path.realpath(path))
        ldd = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
        for line in ldd.splitlines():
            for word in line.split():
                if word.startswith("/"):
                    files.add(os.path.realpath(word))
    for path in sorted(files):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def row(label, theirs_by_kmod, ours_by_variant, goal=None, static_goal=None):
    """Prints one table row: each kmod's median, then each rkmod variant's median and its ratio
    to each kmod. The goal is judged against the first kmod; the static build's against
    `static_goal` when there is one."""
    ks = [statistics.median(t) for t in theirs_by_kmod]
    cells, ratios = [], []
    for ours in ours_by_variant:
        r = statistics.median(ours)
        ratios.append(r / ks[0])
        cells.append(f" {r * 1000:9.2f} ms |" + "".join(f" {r / k:5.2f} |" for k in ks))
    verdict = ""
    if goal is not None:
        verdict = "  goal <= %.2f: %s" % (goal, "MET" if ratios[0] <= goal else "NOT MET")
        if len(ratios) > 1:
            sgoal = goal if static_goal is None else static_goal
            verdict += " (static <= %.2f: %s)" % (sgoal, "MET" if ratios[1] <= sgoal else "NOT MET")
    kcells = "".join(f" {k * 1000:9.2f} ms |" for k in ks)
    print(f"| {label:<50} |" + kcells + "".join(cells) + verdict)
    return ratios


def compare(label, tool, args, rounds, repeat=1, goal=None, extra=(), static_goal=None):
    """Times `tool args` rounds x repeat times, alternating every kmod and each rkmod variant run
    by run (so that a slow spell of the machine falls on all), and compares the medians. `extra`
    adds (label, command) pairs timed in the same rounds and printed as rows of their own."""
    theirs = [[] for _ in KMOD_BIN_DIRS]
    ours = [[] for _ in VARIANTS]
    others = [[] for _ in extra]
    runs = [(kmod(tool, d) + args, times) for d, times in zip(KMOD_BIN_DIRS, theirs)]
    runs += [(rkmod(tool, binary) + args, times) for binary, times in zip(VARIANTS, ours)]
    runs += [(cmd, times) for (_, cmd), times in zip(extra, others)]
    for _ in range(rounds * repeat):
        # In a new order each time: what ran just before (and is still in the caches) is then
        # the same for every tool on average.
        ORDER.shuffle(runs)
        for cmd, times in runs:
            times.append(timed(cmd))
    ratios = row(label, theirs, ours, goal, static_goal)
    for (name, _), times in zip(extra, others):
        ks = [statistics.median(t) for t in theirs]
        r = statistics.median(times)
        print(f"| {name:<50} |" + "".join(f" {k * 1000:9.2f} ms |" for k in ks)
              + f" {r * 1000:9.2f} ms |" + "".join(f" {r / k:5.2f} |" for k in ks))
    return ratios


def floor_program():
    """A static C program that does nothing, built once into the cache: the least a process
    start costs here. None (with a note) when gcc cannot build it."""
    path = CACHE / "bench-floor/true-static"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        source = path.with_suffix(".c")
        source.write_text("int main(void) { return 0; }\n")
        built = subprocess.run(["gcc", "-O2", "-static", "-o", str(path), str(source)],
                               capture_output=True)
        if built.returncode != 0:
            print("bench: NOTE: no static floor program (gcc -static failed); floor rows left out")
            return None
    return str(path)


def modules(tree_dir, suffix):
    return sorted(str(p) for p in (CACHE / tree_dir).rglob("*" + suffix))


def group_modinfo(rounds):
    tree, copy, kver = TREES["6.12"]
    base = ["-b", str(CACHE / copy), "-k", kver]
    compare("modinfo by name (usb-storage, 6.12 tree)", "modinfo", base + ["usb-storage"], rounds, repeat=20, goal=0.80)
    compare("modinfo by name (e1000e, 6.1 tree)", "modinfo",
            ["-b", str(CACHE / TREES["6.1"][1]), "-k", TREES["6.1"][2], "e1000e"], rounds, repeat=20, goal=0.80)
    compare("modinfo by alias (pci modalias, 6.12 tree)", "modinfo",
            base + ["pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00"], rounds, repeat=20)
    xz = modules(tree, ".ko.xz")
    compare(f"modinfo of all {len(xz)} .ko.xz, one process", "modinfo", xz, max(3, rounds // 4), goal=0.60)
    ko = modules(TREES["6.1"][0], ".ko")
    compare(f"modinfo of all {len(ko)} .ko, one process", "modinfo", ko, max(3, rounds // 4))


def linked_copy(tree_dir, kver, dest):
    """A copy of a pristine tree sharing its module files (depmod only adds index files)."""
    target = dest / "lib/modules"
    target.mkdir(parents=True)
    src = CACHE / tree_dir / "lib/modules" / kver
    if subprocess.run(["cp", "-al", str(src), str(target)]).returncode != 0:
        subprocess.run(["cp", "-as", str(src), str(target)], check=True)
    return dest


def group_depmod(rounds):
    """The whole of depmod -b ROOT KVER: scan, read every module, write the eleven files.

    Each tool writes into its own hard-linked copy of the pristine tree, so both do the same
    work every round (kmod 30 has no -o). rkmod runs with --no-cache here, so that it reads
    every module as kmod does; one_module_changed() measures the cache."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix="rkmod-bench-") as tmp:
        tmp = Path(tmp)
        for label, (tree, _copy, kver) in TREES.items():
            roots = [linked_copy(tree, kver, tmp / f"kmod{i}-{label}") for i in range(len(KMOD_BIN_DIRS))]
            mine = [linked_copy(tree, kver, tmp / f"rkmod{i}-{label}") for i in range(len(VARIANTS))]
            count = len(modules(tree, ".ko")) + len(modules(tree, ".ko.xz"))
            others, ours = [[] for _ in KMOD_BIN_DIRS], [[] for _ in VARIANTS]
            for _ in range(max(3, rounds // 2)):
                for bin_dir, root, times in zip(KMOD_BIN_DIRS, roots, others):
                    times.append(timed(kmod("depmod", bin_dir) + ["-b", str(root), kver]))
                for binary, root, times in zip(VARIANTS, mine, ours):
                    times.append(timed(rkmod("depmod", binary) + ["--no-cache", "-b", str(root), kver]))
            row(f"depmod -b ROOT {kver} ({count} modules)", others, ours, goal=0.40)
            one_module_changed(label, tree, kver, roots, mine, rounds)


def one_module_changed(label, tree, kver, roots, mine, rounds):
    """depmod after one module changed (a fresh copy of usb-storage put in updates/ before
    every run), rkmod with its module cache warm; then rkmod's first run with an empty cache
    (it reads everything and writes the cache) against its run with --no-cache."""
    import shutil
    import time
    src = next(Path(p) for p in modules(tree, ".ko") + modules(tree, ".ko.xz") if "/usb-storage.ko" in p)
    for root in mine:
        (root / "var/cache/rkmod/depmod").mkdir(parents=True, exist_ok=True)
    def change(root):
        updates = root / "lib/modules" / kver / "updates"
        updates.mkdir(exist_ok=True)
        dest = updates / Path(src).name
        if dest.exists():
            dest.unlink()
        shutil.copyfile(src, dest)
    for binary, root in zip(VARIANTS, mine):
        subprocess.run(rkmod("depmod", binary) + ["-b", str(root), kver], check=True)
    time.sleep(3)  # files younger than 2 s are not cached
    for binary, root in zip(VARIANTS, mine):
        subprocess.run(rkmod("depmod", binary) + ["-b", str(root), kver], check=True)
    others, ours = [[] for _ in KMOD_BIN_DIRS], [[] for _ in VARIANTS]
    for _ in range(max(3, rounds // 2)):
        for bin_dir, root, times in zip(KMOD_BIN_DIRS, roots, others):
            change(root)
            times.append(timed(kmod("depmod", bin_dir) + ["-b", str(root), kver]))
        for binary, root, times in zip(VARIANTS, mine, ours):
            change(root)
            times.append(timed(rkmod("depmod", binary) + ["-b", str(root), kver]))
    row(f"depmod, one module changed, {label} tree (rkmod: cache warm)", others, ours,
        goal=0.05 if label == "6.12" else 0.10)
    # The first run with an empty cache reads every module and writes the cache: against
    # rkmod's own run without the cache (the goal: at most 5% slower), in the same rounds.
    empty, bypass = [[] for _ in VARIANTS], [[] for _ in VARIANTS]
    for _ in range(max(3, rounds // 2)):
        for binary, root, e_times, b_times in zip(VARIANTS, mine, empty, bypass):
            cache = root / "var/cache/rkmod/depmod" / kver
            if cache.exists():
                cache.unlink()
            e_times.append(timed(rkmod("depmod", binary) + ["-b", str(root), kver]))
            b_times.append(timed(rkmod("depmod", binary) + ["--no-cache", "-b", str(root), kver]))
    for binary, e_times, b_times in zip(VARIANTS, empty, bypass):
        e, b = statistics.median(e_times), statistics.median(b_times)
        verdict = "MET" if e / b <= 1.05 else "NOT MET"
        print(f"| {'  first run, empty cache / --no-cache, ' + label:<50} | {Path(binary).parent.name}: "
              f"{e * 1000:.2f} ms / {b * 1000:.2f} ms = {e / b:5.2f}  goal <= 1.05: {verdict}")


def group_modprobe(rounds):
    """modprobe --show-depends (the query initramfs builders run for every module), by name
    and by a PCI modalias, on both trees with kmod 30's indexes and the machine's own
    configuration. The first case also times the floor: a static program that does nothing.
    Goals (issue 14, against the first kmod): the plain build at most 0.95, the static one 0.85."""
    floor = floor_program()
    goals = {"goal": 0.95, "static_goal": 0.85}
    for label, (_tree, copy, kver) in TREES.items():
        base = ["-d", str(CACHE / copy), "-S", kver, "--show-depends"]
        extra = [("floor: a static program that does nothing", [floor])] if floor else []
        compare(f"modprobe -D by name (usb-storage, {label} tree)", "modprobe",
                base + ["usb-storage"], rounds, repeat=20, extra=extra, **goals)
        compare(f"modprobe -D by name (snd-hda-intel, {label} tree)", "modprobe",
                base + ["snd-hda-intel"], rounds, repeat=20, **goals)
        compare(f"modprobe -D by PCI modalias (e1000e, {label} tree)", "modprobe",
                base + ["pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00"], rounds, repeat=20, **goals)


GROUPS = {"modinfo": group_modinfo, "depmod": group_depmod, "modprobe": group_modprobe}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--no-build", action="store_true", help="use the release binary as it is")
    parser.add_argument("--nice", action="store_true", help="run both tools at nice -20 (root)")
    parser.add_argument("--static", action="store_true", help="also measure the static build (initramfs form)")
    parser.add_argument("groups", nargs="*", default=list(GROUPS))
    args = parser.parse_args()
    if args.nice:
        PREFIX.extend(["nice", "-n", "-20"])
    if not (CACHE / "kmod30-6.12/.complete").exists():
        subprocess.run([str(ROOT / "scripts/real-trees.sh")], check=True)
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    if args.static:
        VARIANTS.append(RKMOD_STATIC)
        if not args.no_build:
            subprocess.run([str(ROOT / "scripts/build-static"), "--quiet"], cwd=ROOT, check=True)
    settle_page_cache([kmod(tool, d)[-1] for d in KMOD_BIN_DIRS for tool in ("modinfo", "modprobe", "depmod")]
                      + [str(v) for v in VARIANTS])
    print("rkmod: " + ", ".join(str(v) for v in VARIANTS))
    for number, bin_dir in enumerate(KMOD_BIN_DIRS, 1):
        version = subprocess.run(kmod("modinfo", bin_dir) + ["--version"], capture_output=True,
                                 text=True).stdout.splitlines()[0]
        print(f"kmod {number}: {bin_dir} ({version})")
    if PREFIX:
        print("both tools run as: " + " ".join(PREFIX))
    load = " ".join("%.2f" % x for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load}; median of {args.rounds} rounds, kmod and rkmod alternating\n")
    kmods = range(1, len(KMOD_BIN_DIRS) + 1)
    header = f"| {'case':<50} |" + "".join(f" {'kmod %d' % n:>12} |" for n in kmods) + "".join(
        f" {name:>12} |" + "".join(f" /k{n:<3}|" for n in kmods)
        for name in ["rkmod", "rkmod static"][: len(VARIANTS)])
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for group in args.groups:
        GROUPS[group](args.rounds)


if __name__ == "__main__":
    main()

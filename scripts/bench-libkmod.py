#!/usr/bin/env python3
"""Side-by-side benchmark of rkmod's libkmod.so.2 against kmod's, in one run, printing ratios.

    scripts/bench-libkmod.py [--rounds N] [--no-build] [--step K]

One C program (crates/libkmod/tests/c/coldplug.c, built once against rkmod's header) does what
systemd-udevd does at boot: kmod_new + kmod_load_resources, then for every modalias
kmod_module_new_from_lookup and kmod_module_probe_insert_module (dry run, udev's blacklist
flag) of each module found. The modaliases are every K-th pattern (default 10) of the
modules.alias of the real Debian 6.1 tree (scripts/real-trees.sh). The same binary runs with
LD_LIBRARY_PATH pointing at rkmod's library (release build, scripts/build-libkmod) and at each
kmod library directory in KMOD_LIB_DIR (':'-separated; default: Debian's libkmod2, kmod 30),
alternately. It reports the median of the program's own timings of the two phases, the wall
time of the process, and its peak resident memory (VmHWM), with the ratio rkmod/kmod for each.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("RKMOD_CACHE", Path.home() / ".cache/rkmod"))
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
OUT = TARGET / "libkmod-install"
KMOD_LIB_DIRS = [
    Path(d)
    for d in os.environ.get("KMOD_LIB_DIR", "/usr/lib/x86_64-linux-gnu").split(":")
    if d
]
MODDIR = CACHE / "kmod30-6.1/lib/modules/6.1.0-47-amd64"


def run_once(program, lib_dir, moddir, aliases):
    env = dict(os.environ, LD_LIBRARY_PATH=str(lib_dir))
    env.pop("KMOD_LOG", None)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(program), str(moddir), str(aliases)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    out = proc.stdout.read().decode()
    _, status, _ = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        sys.exit(f"{program} with {lib_dir} failed: status {status}")
    values = dict(line.split(" ", 1) for line in out.splitlines())
    return {
        "init": float(values["init"]),
        "lookups": float(values["lookups"]),
        "wall": wall,
        "rss": float(values["hwm"]),  # KiB, the program's own VmHWM
        "counts": values["requests"],
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--step", type=int, default=10)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()

    if not MODDIR.exists():
        sys.exit(f"the real 6.1 tree is missing ({MODDIR}): run scripts/real-trees.sh")
    if not args.no_build:
        subprocess.run([str(ROOT / "scripts/build-libkmod"), str(OUT)], check=True)
    program = OUT / "coldplug"
    subprocess.run(
        ["gcc", "-O2", "-Wall", "-Werror", "-o", str(program), "-I", str(OUT),
         str(ROOT / "crates/libkmod/tests/c/coldplug.c"), "-L", str(OUT), "-lkmod"],
        check=True,
    )
    aliases = OUT / "modaliases"
    patterns = [
        line.split(" ")[1]
        for line in (MODDIR / "modules.alias").read_text().splitlines()[1:: args.step]
        if line.startswith("alias ")
    ]
    aliases.write_text("\n".join(patterns) + "\n")

    columns = [("rkmod", OUT)] + [(f"kmod {d}", d) for d in KMOD_LIB_DIRS]
    results = {name: [] for name, _ in columns}
    for _ in range(args.rounds):
        for name, lib_dir in columns:
            results[name].append(run_once(program, lib_dir, MODDIR, aliases))

    counts = {name: runs[0]["counts"] for name, runs in results.items()}
    if len(set(counts.values())) != 1:
        sys.exit(f"the libraries disagree on what they found: {counts}")
    print(f"{len(patterns)} modaliases of the 6.1 tree; {counts['rkmod']}; {args.rounds} rounds")
    print(f"load: {os.getloadavg()[0]:.2f}")

    def median(name, key):
        return statistics.median(r[key] for r in results[name])

    header = f"| {'measure':<38} | " + " | ".join(f"{n:<28}" for n, _ in columns)
    print(header)
    for key, label, unit in [
        ("init", "kmod_new + kmod_load_resources", "ms"),
        ("lookups", "lookups + dry-run probes", "ms"),
        ("wall", "whole process (wall)", "ms"),
        ("rss", "peak resident memory", "KiB"),
    ]:
        base = median("rkmod", key)
        cells = []
        for name, _ in columns:
            value = median(name, key)
            shown = f"{value * 1000:.2f} ms" if unit == "ms" else f"{value:.0f} KiB"
            if name != "rkmod":
                shown += f" (rkmod/kmod {base / value:.2f})"
            cells.append(f"{shown:<28}")
        print(f"| {label:<38} | " + " | ".join(cells))


if __name__ == "__main__":
    main()

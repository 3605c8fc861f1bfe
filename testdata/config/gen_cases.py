#!/usr/bin/env python3
"""Generates random modprobe.d files and kernel command lines for a differential run against kmod.

Usage: gen_cases.py OUTDIR COUNT SEED

Each OUTDIR/gNNNN is a case laid out like those in cases/ (etc/modprobe.d/*.conf and cmdline),
built from the directive words, separators, brackets, quotes, backslashes and odd bytes that
kmod's parsers treat specially. Capture them with capture.sh (CASES_DIR=OUTDIR) and compare with
RKMOD_CONFIG_CASES=OUTDIR cargo test -p kmodcore golden; see README.md.
"""
import os, random, sys, shutil
out = sys.argv[1]; n = int(sys.argv[2]); seed = int(sys.argv[3])
rng = random.Random(seed)
shutil.rmtree(out, ignore_errors=True)
CMDS = ["alias","options","install","remove","blacklist","softdep","weakdep","include","config","bogus","#","Alias",""]
NAMECH = "ab-_[]*?.:x"
def name():
    return "".join(rng.choice(NAMECH) for _ in range(rng.randint(0,5)))
def ws():
    return rng.choice([" ", " ", "\t", "  ", " \t", "\\\n", "\x0b", "\r"])
def tok():
    r = rng.random()
    if r < 0.15: return rng.choice(["pre:", "post:"])
    if r < 0.2: return rng.choice(["\\", "\\\\", "#", "\"", "\x00", "\xff"])
    return name()
def line():
    parts = []
    if rng.random() < 0.2: parts.append(ws())
    parts.append(rng.choice(CMDS))
    for _ in range(rng.randint(0,5)):
        parts.append(ws()); parts.append(tok())
    if rng.random() < 0.2: parts.append(ws())
    return "".join(parts)
CMDCH = "ab-_.=\" \t,[]\n"
def cmdline():
    words = []
    for _ in range(rng.randint(0,8)):
        r = rng.random()
        if r < 0.15: words.append("modprobe.blacklist=" + "".join(rng.choice("ab-_,\"") for _ in range(rng.randint(0,6))))
        elif r < 0.3: words.append("\"" + "".join(rng.choice("ab-.= ") for _ in range(rng.randint(0,8))) + rng.choice(["\"",""]))
        else: words.append("".join(rng.choice(CMDCH) for _ in range(rng.randint(0,8))))
    return rng.choice([" ", "  ", "\t"]).join(words) + rng.choice(["\n", ""])
for i in range(n):
    d = os.path.join(out, "g%04d" % i)
    os.makedirs(os.path.join(d, "etc/modprobe.d"))
    for f in range(rng.randint(1,2)):
        text = "\n".join(line() for _ in range(rng.randint(1,12)))
        if rng.random() < 0.7: text += "\n"
        with open(os.path.join(d, "etc/modprobe.d", "f%d.conf" % f), "wb") as fh:
            fh.write(text.encode("latin-1"))
    with open(os.path.join(d, "cmdline"), "wb") as fh:
        fh.write(cmdline().encode("latin-1"))

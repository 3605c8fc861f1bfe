#!/usr/bin/env python3
"""Writes the hand-made hostile inputs under fuzz/regressions/TARGET/seed-*.

tests/fuzz_regressions.rs replays every file under fuzz/regressions/TARGET/ through the same
kmodcore calls as fuzz/fuzz_targets/TARGET.rs, and scripts/fuzz.sh copies them into the
corpus, so these seeds are both regression tests and starting points for the fuzzer. Each seed
is described in fuzz/regressions/README.md. Crashes found by the fuzzer are added beside them
under libFuzzer's own name (crash-SHA1, timeout-SHA1, oom-SHA1) and are never regenerated.

    fuzz/regressions/make-seeds.py     rewrites every seed-* file (the output is deterministic)
"""
import gzip
import lzma
import os
import struct
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- elf_modinfo

def elf64(sections, shstrndx=None, shoff=None, shnum=None, ident_class=2, ident_data=1,
          trailer=b""):
    """A relocatable ELF64 little-endian image. sections: [(name, type, data)], after the
    null section; .shstrtab is added last. Keyword overrides corrupt the header."""
    names = b"\0"
    offsets = []
    for name, _, _ in sections + [(b".shstrtab", 3, None)]:
        offsets.append(len(names))
        names += name + b"\0"
    body = b""
    placed = []
    base = 64
    for (name, typ, data), noff in zip(sections + [(b".shstrtab", 3, names)], offsets):
        placed.append((noff, typ, base + len(body), len(data)))
        body += data
        body += b"\0" * (-len(body) % 8)
    real_shoff = base + len(body)
    shdrs = b"\0" * 64
    for noff, typ, off, size in placed:
        shdrs += struct.pack("<IIQQQQIIQQ", noff, typ, 0, 0, off, size, 0, 0, 1, 0)
    count = len(placed) + 1
    header = b"\x7fELF" + bytes([ident_class, ident_data, 1]) + b"\0" * 9
    header += struct.pack(
        "<HHIQQQIHHHHHH", 1, 62, 1, 0, 0,
        real_shoff if shoff is None else shoff, 0, 64, 0, 0, 64,
        count if shnum is None else shnum,
        count - 1 if shstrndx is None else shstrndx)
    return header + body + shdrs + trailer


MODINFO = b"license=GPL\0name=seed\0alias=pci:v00001234d*sv*sd*bc*sc*i*\0depends=\0vermagic=6.1.0 SMP\0"
THIS_MODULE = b"\0" * 24 + b"seed".ljust(56, b"\0") + b"\0" * 944
SECTIONS = [(b".modinfo", 1, MODINFO), (b".gnu.linkonce.this_module", 1, THIS_MODULE)]


def elf_seeds():
    t = "elf_modinfo"
    write(t, "minimal.ko", elf64(SECTIONS))
    write(t, "empty", b"")
    write(t, "magic-only", b"\x7fELF")
    # e_shstrndx far past the section table: kmod 30's depmod aborts on an assert here.
    write(t, "bad-shstrndx.ko", elf64(SECTIONS, shstrndx=0x7FFF))
    write(t, "shoff-past-end.ko", elf64(SECTIONS, shoff=0xFFFFFFFFFFFFFF00))
    write(t, "shnum-huge.ko", elf64(SECTIONS, shnum=0xFFFF))
    # e_shnum 0 means "the count is in section 0's sh_size": here it is absent.
    write(t, "shnum-zero.ko", elf64(SECTIONS, shnum=0))
    # A section whose offset + size wraps around 2^64.
    img = bytearray(elf64(SECTIONS))
    shoff = struct.unpack_from("<Q", img, 40)[0]
    struct.pack_into("<QQ", img, shoff + 64 + 24, 0xFFFFFFFFFFFFFFF0, 0x20)
    write(t, "section-offset-wraps.ko", bytes(img))
    # .modinfo without a final NUL, and records without '='.
    write(t, "modinfo-unterminated.ko",
          elf64([(b".modinfo", 1, b"license=GPL\0noequals\0\0\0=\0alias"), SECTIONS[1]]))
    # __versions whose size is not a multiple of the 64-byte record.
    write(t, "versions-ragged.ko", elf64(SECTIONS + [(b"__versions", 1, b"\1" * 100)]))
    # A symbol table whose entry size is 0 and whose string table link is out of range.
    symtab = struct.pack("<IBBHQQ", 0, 0, 0, 0, 0, 0) + struct.pack("<IBBHQQ", 0xFFFFFF, 0x12, 0, 0xFFF1, 7, 0)
    img = bytearray(elf64(SECTIONS + [(b".symtab", 2, symtab)]))
    write(t, "symtab-bad-link.ko", bytes(img))
    # A 32-bit and a big-endian header over the same bytes.
    write(t, "class32.ko", elf64(SECTIONS, ident_class=1))
    write(t, "big-endian.ko", elf64(SECTIONS, ident_data=2))
    # A signature trailer claiming 2 GiB of signature before a 100-byte file.
    sig = bytes([0, 0, 2, 0, 0, 0, 0, 0]) + struct.pack(">I", 0x7FFFFFFF) + b"~Module signature appended~\n"
    write(t, "signature-past-start.ko", elf64(SECTIONS, trailer=sig))
    write(t, "signature-only", sig)


# ---------------------------------------------------------------- decompress

ZSTD_MAGIC = bytes([0x28, 0xB5, 0x2F, 0xFD])


def zstd_block(last, typ, size, payload):
    return struct.pack("<I", (size << 3) | (typ << 1) | last)[:3] + payload


def decompress_seeds():
    t = "decompress"
    # A frame without a content size (Frame_Content_Size_flag 0, no single segment), one raw
    # block: the decoder must not depend on the size being declared.
    write(t, "zstd-no-content-size.zst",
          ZSTD_MAGIC + bytes([0x00, 0x38]) + zstd_block(1, 0, 5, b"hello"))
    # 100 RLE blocks of 128 KiB: 12.5 MiB out of 400 bytes, past the fuzz target's 8 MiB cap.
    blocks = b"".join(zstd_block(0, 1, 128 * 1024, b"\0") for _ in range(99))
    write(t, "zstd-rle-bomb.zst",
          ZSTD_MAGIC + bytes([0x00, 0x38]) + blocks + zstd_block(1, 1, 128 * 1024, b"\0"))
    # A single-segment frame declaring 1 TiB of content (so a 1 TiB window) with 5 bytes in it.
    write(t, "zstd-declares-1tib.zst",
          ZSTD_MAGIC + bytes([0xE0]) + struct.pack("<Q", 1 << 40) + zstd_block(1, 0, 5, b"hello"))
    # A reserved block type (3).
    write(t, "zstd-reserved-block.zst", ZSTD_MAGIC + bytes([0x00, 0x38]) + zstd_block(1, 3, 1, b"x"))
    write(t, "zstd-magic-only.zst", ZSTD_MAGIC)
    write(t, "xz-magic-only.xz", bytes([0xFD]) + b"7zXZ\0")
    write(t, "xz-garbage.xz", bytes([0xFD]) + b"7zXZ\0" + bytes(range(256)) * 4)
    write(t, "xz-bomb.xz", lzma.compress(b"\0" * (9 << 20), format=lzma.FORMAT_XZ, preset=9))
    data = lzma.compress(bytes(range(256)) * 64, format=lzma.FORMAT_XZ)
    write(t, "xz-truncated.xz", data[: len(data) // 2])
    write(t, "gzip-bomb.gz", gzip.compress(b"\0" * (9 << 20), mtime=0))
    # 2000 empty gzip members back to back.
    write(t, "gzip-empty-members.gz", gzip.compress(b"", mtime=0) * 2000)
    # FEXTRA announcing 65535 bytes that are not there.
    write(t, "gzip-fextra-past-end.gz", bytes([0x1F, 0x8B, 8, 4, 0, 0, 0, 0, 0, 3, 0xFF, 0xFF, 1, 2]))
    write(t, "gzip-magic-only.gz", bytes([0x1F, 0x8B]))


# ---------------------------------------------------------------- index_read

def index(root, body):
    return struct.pack(">III", 0xB007F457, 0x00020001, root) + body


P, V, C = 0x80000000, 0x40000000, 0x20000000


def index_seeds():
    t = "index_read"
    q = bytes([3])  # the fuzz target's first byte: query the last 3 bytes, reversed
    write(t, "no-root", q + index(0, b""))
    write(t, "root-past-end", q + index(C | 0x0FFFFFFF, b""))
    # The root's only child is the root: a self-referencing node.
    write(t, "self-reference", q + index(C | 12, b"aa" + struct.pack(">I", C | 12)))
    # Two nodes pointing at each other.
    write(t, "two-node-loop",
          q + index(C | 12, b"aa" + struct.pack(">I", C | 18) + b"bb" + struct.pack(">I", C | 12)))
    # A child range of 256 words in a file that has two.
    write(t, "child-range-past-end", q + index(C | 12, bytes([0, 0xFF]) + struct.pack(">II", 0, 0)))
    write(t, "child-range-reversed", q + index(C | 12, bytes([0x7A, 0x61]) + struct.pack(">I", 0)))
    # A child character above 127 (kmod's keys are 7-bit).
    write(t, "child-range-high", q + index(C | 12, bytes([0x80, 0xFF]) + b"\0" * 512))
    # A prefix with no NUL before the end of the file.
    write(t, "prefix-unterminated",
          q + index(C | 12, b"aa" + struct.pack(">I", P | V | 18) + b"abc" * 10))
    # Four billion values in a 20-byte node.
    write(t, "value-count-huge", q + index(V | 12, struct.pack(">II", 0xFFFFFFFF, 0) + b"x\0"))
    write(t, "value-unterminated", q + index(V | 12, struct.pack(">II", 1, 0) + b"xyz"))
    write(t, "bad-magic", q + struct.pack(">III", 0xB007F458, 0x00020001, 0))
    write(t, "bad-version", q + struct.pack(">III", 0xB007F457, 0x00030001, 0))
    write(t, "header-truncated", q + struct.pack(">I", 0xB007F457))


def roundtrip_seeds():
    t = "index_roundtrip"

    def rec(key, value, prio):
        # The priority part is one byte, or empty for 0 (a NUL byte would end the part).
        return key + b"\0" + value + b"\0" + (bytes([prio]) if prio else b"") + b"\0"

    write(t, "non-ascii", rec(b"\xff\xfe", b"v", 1) + rec(b"a\x80", b"\xc3\xa9", 2))
    write(t, "long-key", rec(b"a" * 4096, b"v", 0) + rec(b"a" * 4095, b"w", 0))
    write(t, "priorities", rec(b"k", b"one", 5) + rec(b"k", b"two", 1) + rec(b"k", b"three", 5)
          + rec(b"k", b"one", 0))
    write(t, "wildcards", rec(b"pci:v*d*", b"a", 0) + rec(b"[", b"b", 0) + rec(b"]", b"c", 0)
          + rec(b"*", b"d", 0))
    write(t, "empty-values", rec(b"x", b"", 0) + rec(b"x", b"", 0) + rec(b"y", b"", 255))


# ---------------------------------------------------------------- config_parse

def config_seeds():
    t = "config_parse"
    write(t, "long-line.conf", b"options m p=" + b"a" * 65536)
    write(t, "continuations.conf", b"options m \\\n" * 4000 + b"x=1\n")
    write(t, "shell-in-install.conf",
          b"install m /bin/true $(touch /tmp/pwned) `id` ; rm -rf / $CMDLINE_OPTS\n"
          b"remove m $CMDLINE_OPTS $CMDLINE_OPTS\noptions m 'a=$(id)'\n")
    write(t, "non-utf8.conf", b"alias \xff\xfe m\xc3\nblacklist \x80\x81\noptions \xe9 a=\xff\n")
    write(t, "keywords-without-arguments.conf",
          b"softdep\nsoftdep m\nsoftdep m pre: pre: post: post:\noptions\nalias\nalias x\n"
          b"blacklist\ninstall\ninstall m\nremove\nweakdep\nsearch\noverride\noverride a\n"
          b"external\nexclude\n")
    write(t, "nul-bytes.conf", b"alias a\0b m\n\0\0options m x=\0y\n")
    write(t, "wildcards.conf", b"alias * m\nalias [ m\nalias ] m\nalias [!-] m\nalias pci:v* m\n")
    write(t, "depmod.conf",
          b"search updates built-in extra weak-updates /abs ../x\noverride m * extra\n"
          b"override m 6.1.0-47-amd64 ../../etc\nexternal * /a /b\nexclude .. /\n"
          b"make_map_files no\n")


def cmdline_seeds():
    t = "cmdline_parse"
    write(t, "unterminated-quote", b'quiet "a.b=c d')
    write(t, "many-commas", b"modprobe.blacklist=" + b"," * 10000 + b"x")
    write(t, "dots-and-equals", b". = .= =. a. .a a.= a..b=c ..=. a.b.c=d.e")
    write(t, "nul-and-high-bytes", b"a.b=\0\xff c\xfe.d=\x80 modprobe.blacklist=\xff")
    write(t, "quotes", b'a.b="x y" "c.d=e f" g.h="" "" "i.j=')


def proc_modules_seeds():
    t = "proc_modules"
    write(t, "huge-numbers", b"a 99999999999999999999999 -5 - Live 0xffffffffffffffffff\n")
    write(t, "missing-fields", b"a\n\n \nb 1\nc 1 0\nd 1 0 -\n")
    write(t, "non-utf8", b"\xff\xfe 16384 0 - Live 0x0 (OE)\n")
    write(t, "holder-list", b"a 1 2 b,c,,,d, Live 0x0\ne 1 1 -, Loading 0x0\n")
    write(t, "no-newline-long-name", b"m" * 10000 + b" 1 0 - Live 0x0")


def alias_seeds():
    t = "alias_match"
    write(t, "open-bracket", b"[\0[")
    write(t, "bracket-edge-cases", b"[!]\0]")
    write(t, "close-first", b"[]]\0]")
    # Many stars against a long text that almost matches: must stay polynomial.
    write(t, "star-storm", b"*a" * 32 + b"*b\0" + b"a" * 4000)
    write(t, "class-unterminated", b"[[:alpha:]\0a")
    write(t, "range-unterminated", b"[a-\0a")
    write(t, "trailing-backslash", b"x\\\0x\\")
    write(t, "dashes", b"pci-v*-[-]\0pci_v1_-")


def libkmod_seeds():
    """A module directory in one input: five u16 lengths, then the query, a configuration
    file, modules.dep.bin, modules.alias.bin, modules.symbols.bin; the rest is a module file."""
    t = "libkmod_api"
    top = os.path.dirname(os.path.dirname(ROOT))
    idx = os.path.join(top, "testdata/index/kmod30")
    ko = os.path.join(top, "testdata/depmod/cases/alias-brackets/root/lib/modules/6.1.0-test/kernel/br.ko")
    parts = [b"usb:v1234p5678d0100dc00dsc00dp00ic08isc06ip50in00",
             b"alias foo usb-storage\noptions usb_storage delay_use=1\nsoftdep usb_storage pre: foo\n"]
    for name in ("modules.dep.bin", "modules.alias.bin", "modules.symbols.bin"):
        with open(os.path.join(idx, name), "rb") as f:
            parts.append(f.read())
    with open(ko, "rb") as f:
        module = f.read()
    write(t, "real", struct.pack("<5H", *(len(p) for p in parts)) + b"".join(parts) + module)
    write(t, "empty", b"")
    # Lengths past the end, a query of wildcards and bad bytes, commands, indexes of garbage.
    write(t, "hostile", struct.pack("<5H", 9, 40, 300, 12, 65535) + b"*?[a-\\]\xfe"
          + b"install foo /bin/false\nblacklist *\n\xff\xfe\n" + b"\x57\xf4\xf4\xee" * 100)


def main():
    if len(sys.argv) > 1:
        print(__doc__)
        return
    elf_seeds()
    decompress_seeds()
    index_seeds()
    roundtrip_seeds()
    config_seeds()
    cmdline_seeds()
    proc_modules_seeds()
    alias_seeds()
    libkmod_seeds()


if __name__ == "__main__":
    main()

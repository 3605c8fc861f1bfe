#!/usr/bin/env bash
# Builds and runs every cargo-fuzz target, seeded from fuzz/regressions and from real files.
#
#   scripts/fuzz.sh smoke [SECONDS]  every target for SECONDS (default 10); scripts/check runs this
#   scripts/fuzz.sh long [SECONDS]   every target for SECONDS (default 600), one after another
#   scripts/fuzz.sh run TARGET SECS  one target
#
# The toolchain here is stable: RUSTC_BOOTSTRAP=1 lets cargo-fuzz use the sanitizer flags it
# needs (the AddressSanitizer runtime ships with the stable compiler). cargo-fuzz is installed
# from crates.io when missing; if that fails the script exits 3, which scripts/check treats as
# a missing prerequisite (a loud skip, or a failure under CI=true). A crash exits 1 with
# libFuzzer's report; keep the input under fuzz/regressions/TARGET/ so that
# tests/fuzz_regressions.rs replays it forever (see fuzz/regressions/README.md).
#
# Seeds: fuzz/corpus is not in git. Each run copies in the target's kept inputs from
# fuzz/regressions (always present), and, once per corpus, real files: small modules and
# indexes from testdata/ (always present) and from the real Debian trees when
# scripts/real-trees.sh has fetched them. A missing source is skipped, never fatal.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1
CACHE=${RKMOD_CACHE:-$HOME/.cache/rkmod}
TARGETS=(elf_modinfo decompress index_read index_roundtrip config_parse cmdline_parse proc_modules alias_match verify_signature libkmod_api)

if ! command -v cargo-fuzz >/dev/null; then
  echo "==> installing cargo-fuzz (cargo install cargo-fuzz --locked)"
  if ! cargo install cargo-fuzz --locked --quiet; then
    echo "fuzz.sh: cargo-fuzz could not be built or installed" >&2
    exit 3
  fi
fi

# Copies up to N files found by `find ARGS...` into DIR (nothing when the place is missing).
take() {
  local dir=$1 n=$2; shift 2
  { find "$@" 2>/dev/null || true; } | sort | head -n "$n" | while IFS= read -r f; do
    cp "$f" "$dir/$(echo "$f" | tr / _)"
  done || true
}

seed() {
  local t=$1 dir=fuzz/corpus/$1 mark=fuzz/corpus/.seeded-$1
  mkdir -p "$dir"
  # The kept regressions and hand-made seeds: in git, so present on a clean clone.
  if [ -d "fuzz/regressions/$t" ]; then
    cp -n "fuzz/regressions/$t"/* "$dir/" 2>/dev/null || true
  fi
  [ -e "$mark" ] && return 0
  local tree61="$CACHE/tree-6.1.0/lib/modules/6.1.0-47-amd64"
  local idx="$CACHE/kmod30-6.1/lib/modules/6.1.0-47-amd64"
  case $t in
    elf_modinfo)
      take "$dir" 24 testdata -name '*.ko' -size -64k
      take "$dir" 8 "$tree61/kernel/drivers/usb/storage" -name '*.ko' -size -200k ;;
    decompress)
      take "$dir" 8 testdata \( -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz' \) -size -64k
      take "$dir" 4 "$CACHE/tree-6.12.107" -name '*.ko.xz' -size -20k
      printf 'kmod' | gzip -c > "$dir/small.gz"
      if command -v zstd >/dev/null; then printf 'kmod' | zstd -q -c > "$dir/small.zst"; fi ;;
    index_read)
      # The target reads its first byte as a query length: give each index one.
      for f in testdata/index/head/*.bin testdata/index/kmod30/*.bin \
               "$idx/modules.builtin.bin" "$idx/modules.builtin.alias.bin"; do
        if [ -f "$f" ]; then
          { printf '\005'; cat "$f"; } > "$dir/$(echo "$f" | tr / _)"
        fi
      done ;;
    index_roundtrip)
      # Records KEY NUL VALUE NUL PRIORITY NUL, from a real modules.alias.
      if [ -f testdata/index/modules/modules.alias ]; then
        head -n 200 testdata/index/modules/modules.alias | awk '$1 == "alias" { print $2; print $3; print "a" }' \
          | tr '\n' '\0' > "$dir/modules.alias.records"
      fi ;;
    config_parse)
      take "$dir" 40 testdata/config testdata/modprobe -type f -size -8k ;;
    cmdline_parse)
      cp /proc/cmdline "$dir/host" 2>/dev/null || true
      printf 'modprobe.blacklist=a,b usb-storage.delay_use=3 "x.y=a b" quiet' > "$dir/sample" ;;
    proc_modules)
      cp /proc/modules "$dir/host" 2>/dev/null || true
      printf 'e1000 155648 0 - Live 0x0000000000000000\nusb_storage 81920 1 uas, Live 0x0000000000000000 (E)\n' > "$dir/sample" ;;
    libkmod_api)
      # A 10-byte header of five u16 lengths, then a query, a configuration file,
      # modules.dep.bin, modules.alias.bin and modules.symbols.bin, then a module file: from
      # the small real indexes and modules of testdata/.
      local ko
      ko=$(find testdata -name '*.ko' -size -16k | sort | sed -n 1p)
      python3 - "$dir/real" testdata/index/kmod30 "$ko" <<'PY' || true
import struct, sys
out, idx, ko = sys.argv[1:4]
parts = [b"usb:v1234p5678d0100dc00dsc00dp00ic08isc06ip50in00",
         b"alias foo usb-storage\noptions usb_storage delay_use=1\nsoftdep usb_storage pre: foo\n"]
for name in ("modules.dep.bin", "modules.alias.bin", "modules.symbols.bin"):
    parts.append(open(f"{idx}/{name}", "rb").read()[:65535])
with open(out, "wb") as f:
    f.write(struct.pack("<5H", *(len(p) for p in parts)) + b"".join(parts) + open(ko, "rb").read())
PY
      ;;
    alias_match)
      printf 'pci:v00008086d*sv*sd*bc02sc00i*\0pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00' > "$dir/pci"
      printf 'usb:v13FDp3940d0[0-2]*dc*\0usb:v13FDp3940d0100dc00' > "$dir/usb" ;;
  esac
  touch "$mark"
}

run() {
  local t=$1 secs=$2 before after
  seed "$t"
  echo "==> fuzz $t for ${secs}s ($(find "fuzz/corpus/$t" -type f | wc -l) inputs in the corpus)"
  before=$(ls -A "fuzz/artifacts/$t" 2>/dev/null || true)
  cargo fuzz run -O "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -max_len=1048576 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 2>&1 \
    | grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|Done)|panicked at|Test unit written' || true
  # cargo fuzz exits non-zero on a crash; grep's status would hide it, so check the artifacts.
  after=$(ls -A "fuzz/artifacts/$t" 2>/dev/null || true)
  if [ "$after" != "$before" ]; then
    echo "FAILED: fuzz target $t left new artifacts in fuzz/artifacts/$t:" >&2
    comm -13 <(echo "$before") <(echo "$after") >&2
    echo "Keep each under fuzz/regressions/$t/ and fix the bug (see fuzz/regressions/README.md)." >&2
    exit 1
  fi
}

build() {
  echo "==> cargo fuzz build -O"
  local started=$SECONDS
  cargo fuzz build -O
  echo "    built in $((SECONDS - started)) s"
}

mode=${1:-smoke}
case $mode in
  smoke) secs=${2:-10}; build; for t in "${TARGETS[@]}"; do run "$t" "$secs"; done ;;
  long) secs=${2:-600}; build; for t in "${TARGETS[@]}"; do run "$t" "$secs"; done ;;
  run) run "$2" "${3:-60}" ;;
  *) echo "usage: $0 smoke [SECONDS] | long [SECONDS] | run TARGET SECONDS" >&2; exit 2 ;;
esac
echo "fuzz: all targets ran without a crash"

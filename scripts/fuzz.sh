#!/usr/bin/env bash
# Builds and runs every cargo-fuzz target with seed corpora taken from real files.
#
#   scripts/fuzz.sh smoke            every target for 15 s (CI runs this)
#   scripts/fuzz.sh long [SECONDS]   every target for SECONDS (default 600), one after another
#   scripts/fuzz.sh run TARGET SECS  one target
#
# The toolchain here is stable: RUSTC_BOOTSTRAP=1 lets cargo-fuzz use the sanitizer flags it
# needs (the AddressSanitizer runtime ships with the stable compiler). cargo-fuzz is installed
# from crates.io when missing. A crash stops the run with libFuzzer's report; keep the input
# under fuzz/regressions/TARGET/ so that tests/fuzz_regressions.rs replays it forever.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1
CACHE=${RKMOD_CACHE:-$HOME/.cache/rkmod}
TARGETS=(elf_modinfo decompress index_read index_roundtrip config_parse cmdline_parse proc_modules alias_match)

if ! command -v cargo-fuzz >/dev/null; then
  cargo install cargo-fuzz --locked --quiet
fi

seed() {
  # `find | head` ends find with SIGPIPE; that is expected here, not a failure.
  set +o pipefail
  seed_target "$@"
  set -o pipefail
}

seed_target() {
  local t=$1 dir=fuzz/corpus/$1
  mkdir -p "$dir"
  [ -n "$(ls -A "$dir" 2>/dev/null)" ] && return 0
  local tree61="$CACHE/tree-6.1.0/lib/modules/6.1.0-47-amd64"
  local idx="$CACHE/kmod30-6.1/lib/modules/6.1.0-47-amd64"
  case $t in
    elf_modinfo)
      find "$tree61/kernel/drivers/usb/storage" -name '*.ko' -size -200k 2>/dev/null | head -8 | xargs -r cp -t "$dir" ;;
    decompress)
      find "$CACHE/tree-6.12.107" -name '*.ko.xz' -size -20k 2>/dev/null | head -4 | xargs -r cp -t "$dir"
      printf 'kmod' | gzip -c > "$dir/small.gz"; printf 'kmod' | zstd -q -c > "$dir/small.zst" 2>/dev/null || true ;;
    index_read|index_roundtrip)
      for f in modules.builtin.bin modules.builtin.alias.bin; do [ -f "$idx/$f" ] && cp "$idx/$f" "$dir/"; done
      cp testdata/index/*.bin "$dir/" 2>/dev/null || true ;;
    config_parse)
      find testdata/config -name '*.conf' -size -8k 2>/dev/null | head -40 | while read -r f; do cp "$f" "$dir/$(echo "$f" | tr / _)"; done ;;
    cmdline_parse)
      cp /proc/cmdline "$dir/host" 2>/dev/null || true
      printf 'modprobe.blacklist=a,b usb-storage.delay_use=3 "x.y=a b" quiet' > "$dir/sample" ;;
    proc_modules)
      printf 'e1000 155648 0 - Live 0x0000000000000000\nusb_storage 81920 1 uas, Live 0x0000000000000000 (E)\n' > "$dir/sample" ;;
    alias_match)
      printf 'pci:v00008086d*sv*sd*bc02sc00i*\0pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00' > "$dir/pci"
      printf 'usb:v13FDp3940d0[0-2]*dc*\0usb:v13FDp3940d0100dc00' > "$dir/usb" ;;
  esac
}

run() {
  local t=$1 secs=$2
  seed "$t"
  echo "==> fuzz $t for ${secs}s"
  cargo fuzz run -O "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -max_len=1048576 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 2>&1 \
    | grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|Done)' || true
  # cargo fuzz exits non-zero on a crash; grep's status would hide it, so check the artifacts.
  if [ -n "$(ls -A "fuzz/artifacts/$t" 2>/dev/null)" ]; then
    echo "FAILED: fuzz target $t left artifacts in fuzz/artifacts/$t" >&2
    exit 1
  fi
}

mode=${1:-smoke}
case $mode in
  smoke) cargo fuzz build -O >/dev/null; for t in "${TARGETS[@]}"; do run "$t" 15; done ;;
  long) secs=${2:-600}; cargo fuzz build -O >/dev/null; for t in "${TARGETS[@]}"; do run "$t" "$secs"; done ;;
  run) run "$2" "${3:-60}" ;;
  *) echo "usage: $0 smoke | long [SECONDS] | run TARGET SECONDS" >&2; exit 2 ;;
esac
echo "fuzz: all targets ran without a crash"

#!/usr/bin/env bash
# Builds the VM test modules from the C sources here against a kernel's headers.
#
#   testdata/modules/build.sh OUTDIR [KVER]
#
# KVER defaults to 6.1.0-47-amd64 (apt-get install linux-headers-6.1.0-47-amd64). The modules
# land in OUTDIR/*.ko; nothing is written next to the sources. rk_vermagic.ko then gets a
# foreign version magic: its last word, "modversions", becomes "modversionz" (same length),
# so the kernel refuses it unless the load is forced. (On a kernel with modversions the
# release part of vermagic is not compared, hence the last word.)
#
# The build is skipped when OUTDIR/.stamp matches the sources' checksum.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR [KVER]}
kver=${2:-6.1.0-47-amd64}
headers=/usr/src/linux-headers-$kver
[ -d "$headers" ] || { echo "build.sh: $headers is missing (apt-get install linux-headers-$kver)" >&2; exit 1; }

stamp=$( (cd "$here" && cat Kbuild ./*.c build.sh; echo "$kver") | sha256sum | cut -d' ' -f1)
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
  exit 0
fi

rm -rf "$out" && mkdir -p "$out/src"
cp "$here"/Kbuild "$here"/*.c "$out/src/"
make -s -C "$headers" M="$out/src" modules >"$out/build.log" 2>&1 || { cat "$out/build.log" >&2; exit 1; }
cp "$out"/src/*.ko "$out/"

# A foreign vermagic, same length, so nothing else in the file moves.
python3 - "$out/rk_vermagic.ko" <<'PY'
import sys
path = sys.argv[1]
data = open(path, "rb").read()
start = data.index(b"vermagic=")
end = data.index(b"\0", start)
magic = data[start:end]
if b"modversions" not in magic:
    sys.exit(f"unexpected vermagic {magic!r}")
data = data[:start] + magic.replace(b"modversions", b"modversionz") + data[end:]
open(path, "wb").write(data)
PY
echo "$stamp" >"$out/.stamp"

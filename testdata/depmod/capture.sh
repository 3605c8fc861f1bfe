#!/bin/bash
# Captures kmod's depmod output for every case under cases/ into cases/NAME/expected/.
#
#   KMOD30=/usr/sbin/depmod KMODHEAD=/path/to/kmod/build/depmod testdata/depmod/capture.sh [CASE...]
#
#   KMOD30    Debian 12's depmod (kmod 30), default /usr/sbin/depmod    -> expected/v30/
#   KMODHEAD  depmod built from kmod's development head (optional)      -> expected/head/
#             (skipped for cases with a `skip-head` file)
#
# For each case and each kmod: copy root/ to a fresh temporary directory, replace @ROOT@ in its
# *.conf files by that directory, run depmod there with the lines of `args` (@ROOT@ replaced
# the same way), and store the exit status, stdout and stderr (the directory replaced back by
# @ROOT@), every modules.* output file found afterwards in lib/modules/6.1.0-test (the
# directory replaced by @ROOT@ in text files), and the directory itself in `root`.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
KMOD30=${KMOD30:-/usr/sbin/depmod}
KMODHEAD=${KMODHEAD:-}
KVER=6.1.0-test
OUTPUTS=(modules.dep modules.dep.bin modules.alias modules.alias.bin modules.softdep modules.weakdep
         modules.symbols modules.symbols.bin modules.builtin.bin modules.builtin.alias.bin modules.devname)

capture() { # tool casedir outdir
    local tool=$1 case=$2 out=$3 tmp root status
    tmp=$(mktemp -d)
    root=$tmp/root
    cp -a "$case/root" "$root"
    find "$root" -name '*.conf' -type f -exec sed -i "s|@ROOT@|$root|g" {} +
    mapfile -t args < <(sed "s|@ROOT@|$root|g" "$case/args")
    (cd "$root" && exec "$tool" "${args[@]}") >"$tmp/stdout" 2>"$tmp/stderr"
    status=$?
    rm -rf "$out"
    mkdir -p "$out"
    sed "s|$root|@ROOT@|g" "$tmp/stdout" >"$out/stdout"
    sed "s|$root|@ROOT@|g" "$tmp/stderr" >"$out/stderr"
    echo "$status" >"$out/status"
    for f in "${OUTPUTS[@]}"; do
        [ -f "$root/lib/modules/$KVER/$f" ] || continue
        case $f in
            # Text files: the directory becomes @ROOT@, as in stdout and stderr.
            *.bin) cp "$root/lib/modules/$KVER/$f" "$out/$f" ;;
            *) sed "s|$root|@ROOT@|g" "$root/lib/modules/$KVER/$f" >"$out/$f" ;;
        esac
    done
    # Binary files keep the directory as it was (a different length would change the
    # layout); the test substitutes it in their decoded entries.
    printf '%s' "$root" >"$out/root"
    rm -rf "$tmp"
}

if [ $# -gt 0 ]; then cases=("$@"); else cases=($(ls "$here/cases")); fi
for name in "${cases[@]}"; do
    case=$here/cases/$name
    capture "$KMOD30" "$case" "$case/expected/v30"
    if [ -n "$KMODHEAD" ] && [ ! -e "$case/skip-head" ]; then
        capture "$KMODHEAD" "$case" "$case/expected/head"
    fi
    echo "captured $name"
done

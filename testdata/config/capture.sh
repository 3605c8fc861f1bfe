#!/bin/bash
# Captures kmod's `modprobe -c` output for every case under cases/ into cases/NAME/expected/.
#
# Needs root (for a private mount namespace) and two kmod builds:
#   KMOD30    Debian 12's modprobe (kmod 30), default /usr/sbin/modprobe
#   KMODHEAD  modprobe built from kmod's development head (see README.md)
#
# For each case:
#   - the configuration paths are the five default modprobe.d directories under the case
#     directory, in kmod's precedence order, or the lines of the case's `paths` file;
#   - the module directory is CASE/lib/modules/6.1.0 (`-d CASE -S 6.1.0`);
#   - /proc/cmdline is replaced, in a private mount namespace, by the case's `cmdline` file,
#     or by an empty file when the case has none, so the machine's own command line never
#     leaks into a golden file.
# The absolute case directory is replaced by @ROOT@ in both stdout and stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
KMOD30=${KMOD30:-/usr/sbin/modprobe}
KMODHEAD=${KMODHEAD:?set KMODHEAD to a modprobe built from kmod HEAD}
KVER=6.1.0
DEFAULT_DIRS=(etc/modprobe.d run/modprobe.d usr/local/lib/modprobe.d usr/lib/modprobe.d lib/modprobe.d)

empty=$(mktemp)
trap 'rm -f "$empty"' EXIT

run_one() { # tool casedir outprefix
    local tool=$1 case=$2 out=$3
    local args=() cmdline=$empty p
    if [ -f "$case/paths" ]; then
        while IFS= read -r p; do
            args+=(-C "$case/$p")
        done <"$case/paths"
    else
        for p in "${DEFAULT_DIRS[@]}"; do
            args+=(-C "$case/$p")
        done
    fi
    [ -f "$case/cmdline" ] && cmdline=$case/cmdline
    if [ "$(cat "$case/mode" 2>/dev/null)" = default-dirs ]; then
        # kmod's compiled-in directory list: mount the case's directories over the real ones.
        # /lib is /usr/lib on this (merged-/usr) system, so lib/modprobe.d cannot differ.
        unshare -m -- sh -c '
            set -e
            case=$1; cmdline=$2; shift 2
            mount --bind "$cmdline" /proc/cmdline
            # Fresh tmpfs over /run and /usr/local/lib, so that the mkdir below creates
            # nothing on the real system.
            mount -t tmpfs none /run
            mount -t tmpfs none /usr/local/lib
            for d in etc/modprobe.d run/modprobe.d usr/local/lib/modprobe.d usr/lib/modprobe.d; do
                mkdir -p "/$d"
                if [ -d "$case/$d" ]; then mount --bind "$case/$d" "/$d"; else mount -t tmpfs none "/$d"; fi
            done
            exec "$@"' sh "$case" "$cmdline" "$tool" -c -d "$case" -S "$KVER" \
            >"$out.stdout.raw" 2>"$out.stderr.raw" || true
    else
        unshare -m -- sh -c 'mount --bind "$1" /proc/cmdline && shift && exec "$@"' sh \
            "$cmdline" "$tool" -c -d "$case" -S "$KVER" "${args[@]}" \
            >"$out.stdout.raw" 2>"$out.stderr.raw" || true
    fi
    sed "s|$case|@ROOT@|g" "$out.stdout.raw" >"$out.stdout"
    sed "s|$case|@ROOT@|g" "$out.stderr.raw" >"$out.stderr"
    rm -f "$out.stdout.raw" "$out.stderr.raw"
}

# CASES_DIR points the script at another set of cases (such as generated ones).
for case in "${CASES_DIR:-$here/cases}"/*/; do
    case=${case%/}
    mkdir -p "$case/expected"
    run_one "$KMODHEAD" "$case" "$case/expected/head"
    [ -n "${SKIP_V30:-}" ] || run_one "$KMOD30" "$case" "$case/expected/v30"
    echo "captured $(basename "$case")"
done

#!/usr/bin/env bash
# Fetches the real Debian kernel module trees that the compatibility tests and benchmarks use,
# into an ignored cache, and prepares copies with indexes written by kmod's depmod.
#
#   scripts/real-trees.sh            fetch and unpack both trees, build the kmod index copies
#
# Cache: ${RKMOD_CACHE:-$HOME/.cache/rkmod}
#   tree-6.1.0/lib/modules/6.1.0-47-amd64              pristine 6.1 tree (4022 .ko)
#   tree-6.12.107/lib/modules/6.12.107+deb12-amd64     pristine 6.12 tree (4229 .ko.xz)
#   kmod30-6.1/, kmod30-6.12/                          hard-linked copies indexed by kmod 30's depmod
#   tree-6.1.0-signed/                                 Debian's signed linux-image-6.1.0-47-amd64
#
# Also installs linux-headers-6.1.0-47-amd64 (the kernel's sign-file) when root.
#
# Needs apt-get (Debian) for the packages and for kmod itself when it is missing. Exits non-zero,
# loudly, when it cannot get them.
set -euo pipefail

CACHE=${RKMOD_CACHE:-$HOME/.cache/rkmod}
mkdir -p "$CACHE"
cd "$CACHE"

declare -A PKG=(
  [6.1.0]=linux-image-6.1.0-47-amd64-unsigned
  [6.12.107]=linux-image-6.12.107+deb12-amd64-unsigned
)
declare -A KVER=(
  [6.1.0]=6.1.0-47-amd64
  [6.12.107]=6.12.107+deb12-amd64
)

apt_ready=0
need_apt() {
  if [ "$apt_ready" = 0 ]; then
    command -v apt-get >/dev/null || { echo "real-trees: apt-get is missing: cannot fetch Debian packages" >&2; exit 1; }
    apt-get update -qq >/dev/null 2>&1 || apt-get update -qq
    apt_ready=1
  fi
}

if ! command -v depmod >/dev/null || ! depmod --version 2>/dev/null | grep -q 'kmod version'; then
  need_apt
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kmod >/dev/null
fi

# The kernel's sign-file (tests/real/verify.rs signs modules with it) comes with the 6.1
# headers (Debian's linux-kbuild-6.1); the VM suite builds its test modules against them too.
if [ ! -d /usr/src/linux-headers-6.1.0-47-amd64 ]; then
  if [ "$(id -u)" = 0 ]; then
    need_apt
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-headers-6.1.0-47-amd64 >/dev/null
  else
    echo "real-trees: linux-headers-6.1.0-47-amd64 is missing and this is not root: the sign-file tests will skip (fail under CI)" >&2
  fi
fi

for short in "${!PKG[@]}"; do
  pkg=${PKG[$short]}
  kver=${KVER[$short]}
  tree="tree-$short"
  if [ ! -f "$tree/.complete" ]; then
    if ! ls "${pkg}"_*.deb >/dev/null 2>&1; then
      need_apt
      apt-get download "$pkg" >/dev/null 2>&1 || apt-get download "$pkg"
    fi
    rm -rf "$tree.tmp" && mkdir -p "$tree.tmp"
    dpkg -x "${pkg}"_*.deb "$tree.tmp"
    rm -rf "$tree" && mv "$tree.tmp" "$tree"
    touch "$tree/.complete"
  fi
  copy=kmod30-$( [ "$short" = 6.1.0 ] && echo 6.1 || echo 6.12 )
  if [ ! -f "$copy/.complete" ]; then
    rm -rf "$copy" && mkdir -p "$copy/lib/modules"
    cp -al "$tree/lib/modules/$kver" "$copy/lib/modules/"
    depmod -b "$copy" "$kver"
    touch "$copy/.complete"
  fi
done
# Debian's signed 6.1 package (built by linux-signed-amd64; its modules are signed with the
# build's own key), for tests/real/verify.rs. Unpacked whole: the test takes the module
# signing certificate out of its boot/vmlinuz.
signed=linux-image-6.1.0-47-amd64
if [ ! -f tree-6.1.0-signed/.complete ]; then
  if ! ls "${signed}"_*.deb >/dev/null 2>&1; then
    need_apt
    apt-get download "$signed" >/dev/null 2>&1 || apt-get download "$signed"
  fi
  rm -rf tree-6.1.0-signed.tmp && mkdir -p tree-6.1.0-signed.tmp
  dpkg -x "${signed}"_*.deb tree-6.1.0-signed.tmp
  rm -rf tree-6.1.0-signed && mv tree-6.1.0-signed.tmp tree-6.1.0-signed
  touch tree-6.1.0-signed/.complete
fi
echo "real-trees: ready in $CACHE"

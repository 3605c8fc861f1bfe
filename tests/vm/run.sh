#!/usr/bin/env bash
# The VM suite: boots Debian's real 6.1 and 6.12 kernels under QEMU with an initramfs whose
# module tools are the static rkmod, runs tests/vm/scenarios.sh inside, and checks that every
# scenario listed in tests/vm/scenarios.list for that kernel reported PASS.
#
#   tests/vm/run.sh [6.1] [6.12]        (default: both)
#   RKMOD_VM_ONLY=clients tests/vm/run.sh 6.1     (only the client boots)
#
# Steps: install what is missing (qemu-system-x86, busybox-static, cpio, xz-utils,
# linux-headers-6.1.0-47-amd64, kmod) with apt-get when root; fetch the kernels with
# scripts/real-trees.sh; build the static rkmod (scripts/build-static); build the test
# modules from testdata/modules; build one initramfs per kernel; boot each once, with every
# scenario in that one boot.
#
# Then the client boots: per kernel a second initramfs with Debian's systemd-udevd, udevadm
# and systemd-modules-load (unchanged, with their libraries), kernel_ops (a C program of ours
# on the library's calls that load, unload and query, crates/libkmod/tests/c/kernel_ops.c)
# and two libkmod.so.2, kmod's and rkmod's (scripts/build-libkmod), booted twice, with
# rkmod.libkmod=kmod and =rkmod
# (tests/vm/clients-init.sh, clients.sh, clients.list). Each scenario must pass in both boots
# and the RECORD lines (the modules udev loaded, systemd-modules-load's messages, ...) of the
# two boots must be identical. The hot-plug scenario's device is added through QEMU's monitor.
#
# Results: one line per scenario on stdout, the serial logs in $OUT/KERNEL.log. A FAIL or a
# missing line fails the run; PENDING lines are listed loudly and never count as passes.
# Outside CI a missing prerequisite skips the suite loudly (exit 0); under CI=true it fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
CACHE=${RKMOD_CACHE:-$HOME/.cache/rkmod}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${RKMOD_VM_OUT:-$TARGET/vm}
BOOT_TIMEOUT=${RKMOD_VM_TIMEOUT:-900}
APPEND="console=ttyS0 quiet loglevel=1 panic=-1"
ONLY=${RKMOD_VM_ONLY:-}
mkdir -p "$OUT"
start=$(date +%s)

say() { printf 'vm: %s\n' "$*"; }
elapsed() { echo "$(($(date +%s) - start))s"; }

missing() {
	if [ "${CI:-}" = true ]; then
		echo "vm: FAILED: CI=true and a prerequisite is missing: $*" >&2
		exit 1
	fi
	echo "*** SKIPPED: the VM suite needs $* ***" >&2
	exit 0
}

kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(6.1 6.12)
declare -A KVER=([6.1]=6.1.0-47-amd64 [6.12]=6.12.107+deb12-amd64)
declare -A TREE=([6.1]=tree-6.1.0 [6.12]=tree-6.12.107)
declare -A INDEXED=([6.1]=kmod30-6.1 [6.12]=kmod30-6.12)

# --- prerequisites ----------------------------------------------------------------------------
need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
{ [ -x /bin/busybox ] && file -L /bin/busybox | grep -q 'statically linked'; } || need_pkgs+=(busybox-static)
command -v cpio >/dev/null || need_pkgs+=(cpio)
command -v xz >/dev/null || need_pkgs+=(xz-utils)
command -v gzip >/dev/null || need_pkgs+=(gzip)
[ -x /usr/bin/kmod ] || need_pkgs+=(kmod)
[ -d /usr/src/linux-headers-${KVER[6.1]} ] || need_pkgs+=("linux-headers-${KVER[6.1]}")
command -v make >/dev/null && command -v gcc >/dev/null || need_pkgs+=(make gcc)
[ -e /lib/systemd/systemd-udevd ] && [ -e /bin/udevadm ] || need_pkgs+=(udev)
[ -e /lib/systemd/systemd-modules-load ] || need_pkgs+=(systemd)
[ -e /usr/lib/x86_64-linux-gnu/libkmod.so.2 ] || need_pkgs+=(libkmod2)
if [ ${#need_pkgs[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		say "installing ${need_pkgs[*]}"
		apt-get update -qq >/dev/null 2>&1 || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null ||
			missing "${need_pkgs[*]} (apt-get install failed)"
	else
		missing "${need_pkgs[*]} (not root, or no apt-get)"
	fi
fi
for k in "${kernels[@]}"; do
	if [ ! -f "$CACHE/${TREE[$k]}/.complete" ] || [ ! -f "$CACHE/${INDEXED[$k]}/.complete" ]; then
		scripts/real-trees.sh || missing "the Debian kernel packages (scripts/real-trees.sh failed)"
	fi
done

if [ "$ONLY" != clients ]; then
# --- the static rkmod -------------------------------------------------------------------------
say "building the static rkmod ($(elapsed))"
scripts/build-static --quiet
RKMOD=$TARGET/x86_64-unknown-linux-gnu/release/rkmod
file "$RKMOD" | grep -q 'static' || { echo "vm: $RKMOD is not statically linked" >&2; exit 1; }
size=$(stat -c %s "$RKMOD")
say "static rkmod: $size bytes"
# The initramfs budget (issue 5): at most 3 MiB, stripped (the release profile strips).
[ "$size" -le $((3 * 1024 * 1024)) ] || { echo "vm: the static rkmod is $size bytes, over the 3 MiB goal" >&2; exit 1; }

# --- test modules -----------------------------------------------------------------------------
say "building the test modules ($(elapsed))"
testdata/modules/build.sh "$OUT/modules" "${KVER[6.1]}"
fi

# --- initramfs --------------------------------------------------------------------------------
# Copies a file and, for a dynamically linked one, the libraries it needs, at the same paths.
copy_with_libs() {
	local file=$1 dest=$2
	mkdir -p "$(dirname "$dest")"
	cp -L "$file" "$dest"
	ldd "$file" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
		mkdir -p "$stage$(dirname "$lib")"
		cp -L "$lib" "$stage$lib"
	done
}

# The Debian modules the scenarios load, by name (snd-dummy's chain, dummy, e1000).
REAL_MODULES=(soundcore snd snd-timer snd-pcm snd-dummy dummy e1000)

# copy_with_deps K REL_LIST MODS: copies the modules listed in REL_LIST (paths relative to the
# K tree) and every module they depend on (modules.dep of the indexed copy) into MODS.
copy_with_deps() {
	local k=$1 list=$2 mods=$3
	local tree=$CACHE/${TREE[$k]}/lib/modules/${KVER[$k]}
	{
		cat "$list"
		while read -r rel; do
			grep "^$rel:" "$CACHE/${INDEXED[$k]}/lib/modules/${KVER[$k]}/modules.dep" | cut -d: -f2 | tr ' ' '\n'
		done <"$list"
	} | grep . | sort -u | while read -r rel; do
		mkdir -p "$mods/$(dirname "$rel")"
		cp "$tree/$rel" "$mods/$rel"
	done
}

build_initramfs() {
	local k=$1 kver=${KVER[$1]}
	local tree=$CACHE/${TREE[$1]}/lib/modules/$kver
	stage=$OUT/root-$k
	rm -rf "$stage"
	mkdir -p "$stage"/{bin,sbin,kmod,proc,sys,dev,tmp,run,etc,testmods}
	cp /bin/busybox "$stage/bin/busybox"
	ln -s busybox "$stage/bin/sh"
	cp "$RKMOD" "$stage/sbin/rkmod"
	"$stage/sbin/rkmod" --install-links "$stage/sbin" >/dev/null
	copy_with_libs /usr/bin/kmod "$stage/kmod/kmod"
	for t in insmod rmmod lsmod modprobe depmod modinfo; do
		ln -s kmod "$stage/kmod/$t"
	done

	local mods=$stage/lib/modules/$kver
	mkdir -p "$mods"
	for m in "${REAL_MODULES[@]}"; do
		local rel
		rel=$(cd "$tree" && find kernel -name "$m.ko*" | head -n 1)
		[ -n "$rel" ] || { echo "vm: $m not found in $tree" >&2; exit 1; }
		mkdir -p "$mods/$(dirname "$rel")"
		cp "$tree/$rel" "$mods/$rel"
	done
	cp "$tree"/modules.order "$tree"/modules.builtin "$tree"/modules.builtin.modinfo "$mods/"
	if [ "$k" = 6.1 ]; then
		# The storage and network driver set of the modprobe_parallel_set scenario, with
		# every module they depend on (modules.dep of the tree).
		(cd "$tree" && find kernel/drivers/ata kernel/drivers/scsi kernel/drivers/nvme \
			kernel/drivers/block kernel/drivers/net/ethernet -name '*.ko*' | sort) >"$OUT/set.rel"
		sed 's#.*/##; s#\.ko.*##; s#-#_#g' "$OUT/set.rel" >"$stage/testmods/set.list"
		copy_with_deps "$k" "$OUT/set.rel" "$mods"
		mkdir -p "$mods/extra"
		cp "$OUT"/modules/*.ko "$mods/extra/"
		# Made by the test: compressed copies for the userspace decompression path.
		xz -c --check=crc32 "$OUT/modules/rk_params.ko" >"$stage/testmods/rk_params.ko.xz"
		xz -c --check=crc32 "$OUT/modules/rk_vermagic.ko" >"$stage/testmods/rk_vermagic.ko.xz"
	else
		xz -dc "$mods/$(cd "$mods" && find kernel -name e1000.ko.xz)" | gzip -c >"$stage/testmods/e1000.ko.gz"
	fi
	# Indexes written by kmod's depmod (the oracle); the depmod scenario rewrites them with
	# rkmod's and compares. modules.devname comes from the whole tree, for static-nodes.
	depmod -b "$stage" "$kver"
	cp "$CACHE/${INDEXED[$k]}/lib/modules/$kver/modules.devname" "$mods/modules.devname"

	cp tests/vm/init.sh "$stage/init"
	cp tests/vm/scenarios.sh tests/vm/scenarios.list "$stage/"
	chmod 755 "$stage/init"
	(cd "$stage" && find . | LC_ALL=C sort | cpio --quiet -o -H newc) >"$OUT/initrd-$k.cpio"
}

# --- boot and check ---------------------------------------------------------------------------
failed=0
pending=0
for k in "${kernels[@]}"; do
	[ "$ONLY" != clients ] || continue
	say "building the $k initramfs ($(elapsed))"
	build_initramfs "$k"
	vmlinuz=$CACHE/${TREE[$k]}/boot/vmlinuz-${KVER[$k]}
	log=$OUT/$k.log
	say "booting ${KVER[$k]} ($(elapsed))"
	boot_start=$(date +%s)
	timeout "$BOOT_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -smp "${VM_SMP:-2}" -m 1024 -nographic -no-reboot \
		-kernel "$vmlinuz" -initrd "$OUT/initrd-$k.cpio" -append "$APPEND" </dev/null >"$log" 2>&1 || true
	tr -d '\r' <"$log" >"$log.txt"
	say "${KVER[$k]}: boot and scenarios took $(($(date +%s) - boot_start))s"
	grep -q '^VM-DONE' "$log.txt" || { echo "vm: $k: the VM did not finish (see $log)" >&2; failed=1; }
	while read -r kernel name _; do
		case $kernel in '' | '#'*) continue ;; esac
		[ "$kernel" = "$k" ] || continue
		line=$(grep -E "^(PASS|FAIL|PENDING) $name(:|\$)" "$log.txt" | head -n 1 || true)
		case $line in
		PASS*) echo "$k $line" ;;
		PENDING*) echo "$k *** $line"; pending=$((pending + 1)) ;;
		FAIL*)
			echo "$k $line"
			sed -n "/^FAIL $name:/,/^\(PASS\|FAIL\|PENDING\|VM-DONE\)/p" "$log.txt" | grep '^  | ' || true
			failed=1
			;;
		*) echo "$k FAIL $name: no result line (see $log)"; failed=1 ;;
		esac
	done <tests/vm/scenarios.list
done

# --- the client boots -------------------------------------------------------------------------
say "building rkmod's libkmod.so.2 ($(elapsed))"
LIBKMOD=${RKMOD_VM_LIBKMOD:-}   # a directory with a libkmod.so.2 already built, or empty
if [ -z "$LIBKMOD" ]; then
	LIBKMOD=$TARGET/vm-libkmod
	scripts/build-libkmod "$LIBKMOD" >/dev/null
fi

# The drivers the client boots' udev may load (QEMU's pc machine, virtio, input, the CPU's
# crypto), dummy and pcspkr for systemd-modules-load, garp (with stp and llc) for
# library_kernel_ops, and every module they depend on.
CLIENT_DIRS="kernel/arch/x86 kernel/crypto kernel/drivers/char kernel/drivers/virtio
kernel/drivers/net/ethernet/intel kernel/drivers/net/dummy.ko* kernel/drivers/input kernel/drivers/i2c
kernel/drivers/ata kernel/drivers/acpi kernel/drivers/platform/x86 kernel/drivers/parport
kernel/drivers/hid kernel/drivers/edac kernel/drivers/hwmon kernel/drivers/gpu/drm/tiny
kernel/net/802/garp.ko*"

# The library's calls on the running kernel (the library_kernel_ops scenario): a C program
# built against our header, linked to libkmod.so.2, run with either library.
say "building kernel_ops ($(elapsed))"
gcc -Wall -Werror -O2 -o "$OUT/kernel_ops" -I crates/libkmod/include crates/libkmod/tests/c/kernel_ops.c \
	-L "$LIBKMOD" -l:libkmod.so.2

build_clients_initramfs() {
	local k=$1 kver=${KVER[$1]}
	local tree=$CACHE/${TREE[$1]}/lib/modules/$kver
	stage=$OUT/clients-root-$k
	rm -rf "$stage"
	mkdir -p "$stage"/{bin,proc,sys,dev,tmp,run,etc/modprobe.d,lib/udev/rules.d,libkmod/kmod,libkmod/rkmod}
	cp /bin/busybox "$stage/bin/busybox"
	ln -s busybox "$stage/bin/sh"
	copy_with_libs /lib/systemd/systemd-udevd "$stage/lib/systemd/systemd-udevd"
	copy_with_libs /bin/udevadm "$stage/bin/udevadm"
	copy_with_libs /lib/systemd/systemd-modules-load "$stage/lib/systemd/systemd-modules-load"
	copy_with_libs "$OUT/kernel_ops" "$stage/bin/kernel_ops"
	# Only LD_LIBRARY_PATH finds a libkmod.so.2: without the chosen one nothing starts.
	find "$stage" -name 'libkmod.so*' ! -path '*/libkmod/*' -delete
	copy_with_libs /usr/lib/x86_64-linux-gnu/libkmod.so.2 "$stage/libkmod/kmod/libkmod.so.2"
	copy_with_libs "$LIBKMOD/libkmod.so.2" "$stage/libkmod/rkmod/libkmod.so.2"
	find "$stage" -name 'libkmod.so*' ! -path '*/libkmod/*' -delete
	cp /lib/udev/rules.d/80-drivers.rules "$stage/lib/udev/rules.d/"
	echo 'blacklist pcspkr' >"$stage/etc/modprobe.d/test.conf"

	local mods=$stage/lib/modules/$kver
	mkdir -p "$mods"
	# shellcheck disable=SC2086
	(cd "$tree" && { find $CLIENT_DIRS -name "*.ko*" 2>/dev/null || true; } | sort) >"$OUT/clients-$k.rel"
	copy_with_deps "$k" "$OUT/clients-$k.rel" "$mods"
	cp "$tree"/modules.order "$tree"/modules.builtin "$tree"/modules.builtin.modinfo "$mods/"
	depmod -b "$stage" "$kver"

	cp tests/vm/clients-init.sh "$stage/init"
	cp tests/vm/clients.sh tests/vm/clients.list "$stage/"
	chmod 755 "$stage/init"
	(cd "$stage" && find . | LC_ALL=C sort | cpio --quiet -o -H newc) >"$OUT/clients-initrd-$k.cpio"
}

# client_boot K LIB: boots the client initramfs of kernel K with rkmod.libkmod=LIB; the serial
# log in $OUT/clients-K-LIB.log.txt. Adds virtio-rng-pci through the monitor once the VM says
# HOTPLUG-READY.
client_boot() {
	local k=$1 lib=$2
	local log=$OUT/clients-$k-$lib.log mon=$OUT/clients-$k-$lib.monitor
	rm -f "$log" "$mon.in" "$mon.out"
	mkfifo "$mon.in" "$mon.out"
	: >"$log"
	timeout "$BOOT_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -smp "${VM_SMP:-2}" -m 1024 -nographic -no-reboot \
		-monitor "pipe:$mon" -kernel "$CACHE/${TREE[$k]}/boot/vmlinuz-${KVER[$k]}" -initrd "$OUT/clients-initrd-$k.cpio" \
		-append "$APPEND rkmod.libkmod=$lib" </dev/null >"$log" 2>&1 &
	local qemu=$!
	cat "$mon.out" >/dev/null &
	local drain=$!
	(
		until grep -q HOTPLUG-READY "$log"; do
			kill -0 "$qemu" 2>/dev/null || exit 0
			sleep 1
		done
		echo 'device_add virtio-rng-pci,id=hotrng' >"$mon.in"
	) &
	local watcher=$!
	wait "$qemu" || true
	kill "$watcher" "$drain" 2>/dev/null || true
	wait "$watcher" "$drain" 2>/dev/null || true
	rm -f "$mon.in" "$mon.out"
	tr -d '\r' <"$log" >"$log.txt"
}

for k in "${kernels[@]}"; do
	say "building the $k client initramfs ($(elapsed))"
	build_clients_initramfs "$k"
	for lib in kmod rkmod; do
		say "booting ${KVER[$k]} with udevd and systemd-modules-load on $lib's libkmod.so.2 ($(elapsed))"
		boot_start=$(date +%s)
		client_boot "$k" "$lib"
		log=$OUT/clients-$k-$lib.log.txt
		say "${KVER[$k]} ($lib's libkmod): boot and scenarios took $(($(date +%s) - boot_start))s"
		grep -q '^VM-DONE' "$log" || { echo "vm: $k clients/$lib: the VM did not finish in ${BOOT_TIMEOUT}s (see $log)" >&2; failed=1; }
		while read -r kernel name _; do
			case $kernel in '' | '#'*) continue ;; esac
			[ "$kernel" = "$k" ] || continue
			line=$(grep -E "^(PASS|FAIL|PENDING) $name(:|\$)" "$log" | head -n 1 || true)
			case $line in
			PASS*) echo "$k clients/$lib $line" ;;
			FAIL*)
				echo "$k clients/$lib $line"
				sed -n "/^FAIL $name:/,/^\(PASS\|FAIL\|PENDING\|RECORD\|VM-DONE\)/p" "$log" | grep '^  | ' || true
				failed=1
				;;
			*) echo "$k clients/$lib FAIL $name: no result line (see $log)"; failed=1 ;;
			esac
		done <tests/vm/clients.list
		grep '^RECORD ' "$log" >"$OUT/clients-$k-$lib.records" || true
	done
	if [ ! -s "$OUT/clients-$k-kmod.records" ]; then
		echo "$k clients FAIL: no RECORD lines from the boot with kmod's library"
		failed=1
	elif cmp -s "$OUT/clients-$k-kmod.records" "$OUT/clients-$k-rkmod.records"; then
		echo "$k clients PASS: the two boots recorded the same ($(wc -l <"$OUT/clients-$k-kmod.records") lines)"
	else
		echo "$k clients FAIL: the boots with kmod's and rkmod's libkmod.so.2 differ:"
		diff "$OUT/clients-$k-kmod.records" "$OUT/clients-$k-rkmod.records" | head -n 40 || true
		failed=1
	fi
done

say "total $(elapsed)"
[ "$pending" = 0 ] || echo "*** WARNING: $pending VM scenarios are PENDING (not run, not passed) ***" >&2
if [ "$failed" != 0 ]; then
	echo "vm: FAILED" >&2
	exit 1
fi
say "all listed scenarios passed (pending: $pending)"

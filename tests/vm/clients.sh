#!/bin/sh
# The client boots' scenarios (tests/vm/clients-init.sh runs them as `sh /clients.sh NAME`):
# Debian's systemd-udevd, udevadm and systemd-modules-load, unchanged, with the libkmod.so.2
# the kernel command line chose (rkmod.libkmod=kmod or =rkmod) through LD_LIBRARY_PATH.
#
# A scenario exits 0 (pass), 1 (failure) or 2 (pending), as in scenarios.sh. What the host
# compares between the two boots it prints as `RECORD TEXT` lines; clients-init.sh passes
# them on to the console after the result line.

KVER=$(uname -r)
ok() { exit 0; }
bad() { echo "$*"; exit 1; }
record() { sed 's/^/RECORD /'; }
modnames() { cut -d' ' -f1 /proc/modules | sort; }
# wait_for SECONDS CMD...: polls CMD every half second until it succeeds or time runs out.
wait_for() {
	t=$(($1 * 2))
	shift
	while [ "$t" -gt 0 ]; do
		"$@" && return 0
		sleep 0.5
		t=$((t - 1))
	done
	return 1
}
udevd_pid() { cat /run/udevd.pid 2>/dev/null; }

s_udev_coldplug() {
	/lib/systemd/systemd-udevd --daemon --resolve-names=never 2>/tmp/udevd.err || bad "udevd did not start: $(cat /tmp/udevd.err)"
	pidof systemd-udevd >/run/udevd.pid || bad "no udevd process"
	/bin/udevadm trigger --type=subsystems --action=add || bad "trigger subsystems failed"
	/bin/udevadm trigger --type=devices --action=add || bad "trigger devices failed"
	/bin/udevadm settle --timeout=300 || bad "udevadm settle timed out"
	modnames >/tmp/coldplug
	[ -s /tmp/coldplug ] || bad "udev loaded no module"
	echo "$(wc -l </tmp/coldplug) modules after coldplug"
	record </tmp/coldplug
	ok
}

s_udev_library() {
	pid=$(udevd_pid)
	[ -n "$pid" ] || bad "udevd is not running"
	want=$LD_LIBRARY_PATH/libkmod.so.2
	grep -q " $want\$" "/proc/$pid/maps" || bad "udevd ($pid) has not mapped $want: $(grep libkmod "/proc/$pid/maps")"
	other=$(grep libkmod "/proc/$pid/maps" | grep -v " $want\$" || true)
	[ -z "$other" ] || bad "udevd maps another libkmod: $other"
	echo "RECORD udevd maps libkmod.so.2 of the chosen directory"
	ok
}

s_udev_hotplug() {
	[ -n "$(udevd_pid)" ] || bad "udevd is not running"
	grep -q '^virtio_rng ' /proc/modules && bad "virtio_rng already loaded before the hot-plug"
	# The host sends device_add virtio-rng-pci to QEMU's monitor on this line.
	echo "HOTPLUG-READY" >/dev/console
	wait_for 300 grep -q '^virtio_rng ' /proc/modules || bad "virtio_rng was not loaded within 300 s of HOTPLUG-READY"
	echo "RECORD virtio_rng loaded after the hot-plug"
	ok
}

s_modules_load() {
	mkdir -p /etc/modules-load.d /etc/modprobe.d
	# A loadable module, a blacklisted one, a built-in one and one that does not exist.
	printf 'dummy\npcspkr\nunix\nno_such_module\n' >/etc/modules-load.d/test.conf
	echo 'blacklist pcspkr' >/etc/modprobe.d/test.conf
	before=$(modnames)
	SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_LEVEL=debug /lib/systemd/systemd-modules-load >/tmp/ml.out 2>/tmp/ml.err
	echo "exit $?" | record
	record </tmp/ml.out
	# Timestamps and pids out, as the two boots differ there.
	sed 's/^\[ *[0-9.]*\] //; s/\[[0-9]*\]//g' /tmp/ml.err | record
	modnames >/tmp/after
	echo "$before" | diff - /tmp/after | grep '^[+-][^+-]' | record
	grep -q '^dummy ' /proc/modules || bad "dummy was not loaded"
	grep -q '^pcspkr ' /proc/modules && bad "the blacklisted pcspkr was loaded"
	ok
}

"s_$1"

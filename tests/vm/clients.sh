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

# The library's calls on the running kernel, through /bin/kernel_ops
# (crates/libkmod/tests/c/kernel_ops.c): garp needs stp and llc, stp needs llc, none has a
# device (udevd, still running, has nothing to do with them); ipv6 is built in on both
# kernels. Its whole output is recorded; what it must say is checked here, less the library's
# log lines and the section names (recorded only).
s_library_kernel_ops() {
	for m in garp stp llc; do
		grep -q "^$m " /proc/modules && bad "$m is loaded before the scenario"
	done
	ext=$(cd "/lib/modules/$KVER/kernel/net/llc" && ls llc.ko* | sed 's/^llc//')
	dir=/lib/modules/$KVER/kernel/net
	/bin/kernel_ops >/tmp/ops.out 2>/tmp/ops.err <<-EOF
		initstate llc
		refcnt llc
		holders llc
		sections llc
		remove llc
		insert garp
		initstate garp
		insert llc
		initstate llc
		refcnt llc
		holders llc
		sections llc
		insert llc
		probe garp
		initstate stp
		initstate garp
		refcnt llc
		refcnt stp
		refcnt garp
		holders llc
		holders stp
		holders garp
		sections garp
		probe garp fail-on-loaded
		probe garp
		probe garp ignore-loaded
		probe garp ignore-loaded,fail-on-loaded
		loaded
		remove llc
		remove stp
		remove stp nolog
		remove garp
		initstate garp
		refcnt stp
		holders llc
		remove stp
		remove llc
		remove llc
		initstate llc
		initstate ipv6
		refcnt ipv6
		insert ipv6
		probe ipv6
		probe ipv6 fail-on-loaded
		remove ipv6
		insert no_such_module
		probe no_such_module
	EOF
	rc=$?
	echo "exit $rc" | record
	record </tmp/ops.out
	record </tmp/ops.err
	[ "$rc" = 0 ] || bad "kernel_ops exited with $rc: $(cat /tmp/ops.err)"
	# Holder names sorted (their order is the directory's, recorded above).
	grep -v -e '^  log ' -e '^sections ' -e '^section addresses ' /tmp/ops.out |
		awk '/^holders / { n = split($0, w, " "); line = w[1] " " w[2];
			for (i = 3; i <= n; i++) for (j = i + 1; j <= n; j++) if (w[j] < w[i]) { t = w[i]; w[i] = w[j]; w[j] = t }
			for (i = 3; i <= n; i++) line = line " " w[i]; print line; next } { print }' >/tmp/ops.got
	cat >/tmp/ops.want <<-EOF
		load 0
		initstate llc: -ENOENT (null)
		refcnt llc: -ENOENT
		holders llc: (null)
		remove llc: -ENOENT
		insert garp: -ENOENT
		initstate garp: -ENOENT (null)
		insert llc: 0
		initstate llc: 1 live
		refcnt llc: 0
		holders llc: (null)
		insert llc: -EEXIST
		probe garp none:
		  action insmod stp path=$dir/802/stp$ext options=[]
		  action insmod garp path=$dir/802/garp$ext options=[]
		  = 0
		initstate stp: 1 live
		initstate garp: 1 live
		refcnt llc: 2
		refcnt stp: 1
		refcnt garp: 0
		holders llc: garp stp
		holders stp: garp
		holders garp: (null)
		probe garp fail-on-loaded:
		  = -EEXIST
		probe garp none:
		  = 0
		probe garp ignore-loaded:
		  action insmod llc path=$dir/llc/llc$ext options=[]
		  action insmod stp path=$dir/802/stp$ext options=[]
		  action insmod garp path=$dir/802/garp$ext options=[]
		  = 0
		probe garp ignore-loaded,fail-on-loaded:
		  action insmod llc path=$dir/llc/llc$ext options=[]
		  action insmod stp path=$dir/802/stp$ext options=[]
		  action insmod garp path=$dir/802/garp$ext options=[]
		  = -EEXIST
		loaded: 0
		loaded list: equals /proc/modules
		remove llc: -EAGAIN
		remove stp: -EAGAIN
		remove stp nolog: -EAGAIN
		remove garp: 0
		initstate garp: -ENOENT (null)
		refcnt stp: 0
		holders llc: stp
		remove stp: 0
		remove llc: 0
		remove llc: -ENOENT
		initstate llc: -ENOENT (null)
		initstate ipv6: 0 builtin
		refcnt ipv6: -ENOENT
		insert ipv6: -ENOENT
		probe ipv6 none:
		  = 0
		probe ipv6 fail-on-loaded:
		  = -EEXIST
		remove ipv6: -ENOENT
		insert no_such_module: -ENOENT
		probe no_such_module none:
		  action insmod no_such_module path=(null) options=[]
		  = -ENOENT
	EOF
	diff -u /tmp/ops.want /tmp/ops.got >/tmp/ops.diff || bad "kernel_ops said otherwise than expected (- expected, + got): $(grep '^[-+][^-+]' /tmp/ops.diff | tr '\n' '|')"
	# The sections: before llc is loaded none, then a list with .text whose every address
	# is sysfs's, as many as sysfs has.
	[ "$(grep -c '^sections llc: (null)$' /tmp/ops.out)" = 1 ] || bad "sections of llc before its load: $(grep '^sections llc' /tmp/ops.out | head -n 1)"
	for m in llc garp; do
		grep "^sections $m: " /tmp/ops.out | grep -v '(null)' | grep -q ' \.text\( \|$\)' || bad "no .text in the sections of $m"
		line=$(grep "^section addresses $m: " /tmp/ops.out)
		# shellcheck disable=SC2086
		set -- $line
		[ "$#" = 11 ] && [ "$4" -gt 0 ] && [ "$4" = "$6" ] && [ "$4" = "${11}" ] || bad "$line"
	done
	# The log: what the library says of a module in use and of a failed load.
	grep -qxF "  log 3 kmod_module_remove_module: could not remove 'stp': Resource temporarily unavailable" /tmp/ops.out ||
		bad "no log line for the removal of stp in use"
	for m in garp stp llc; do
		grep -q "^$m " /proc/modules && bad "$m is still loaded"
	done
	ok
}

"s_$1"

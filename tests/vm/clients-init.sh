#!/bin/sh
# /init of the client initramfs (tests/vm/run.sh): Debian's systemd-udevd, udevadm and
# systemd-modules-load with the libkmod.so.2 that rkmod.libkmod= on the kernel command line
# names (kmod: Debian's, rkmod: ours), through LD_LIBRARY_PATH. Runs the scenarios of
# clients.list for this kernel in order, one result line each as init.sh does, each followed
# by the RECORD lines the host compares between the two boots; then powers off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /run/udev

lib=unset
for word in $(cat /proc/cmdline); do
	case $word in rkmod.libkmod=*) lib=${word#rkmod.libkmod=} ;; esac
done
[ -f "/libkmod/$lib/libkmod.so.2" ] || { echo "VM-START: no library for rkmod.libkmod=$lib"; poweroff -f; }
export LD_LIBRARY_PATH=/libkmod/$lib
KVER=$(uname -r)
case $KVER in
6.1.*) SHORT=6.1 ;;
6.12.*) SHORT=6.12 ;;
*) SHORT=unknown ;;
esac
echo "VM-START $KVER libkmod=$lib"

# Generous: TCG on a loaded machine is slow. A timeout is a failure line, not a hang.
LIMIT=600
while read -r kernel name description; do
	case $kernel in '' | '#'*) continue ;; esac
	[ "$kernel" = "$SHORT" ] || continue
	out=$(timeout $LIMIT sh /clients.sh "$name" 2>&1 </dev/null)
	rc=$?
	reason=$(printf '%s\n' "$out" | grep -v '^$' | grep -v '^RECORD ' | tail -n 1)
	case $rc in
	0) echo "PASS $name" ;;
	2) echo "PENDING $name: $reason" ;;
	*)
		[ $rc -ge 124 ] && reason="timed out or killed after ${LIMIT}s (exit $rc); $reason"
		echo "FAIL $name: $reason"
		printf '%s\n' "$out" | grep -v '^RECORD ' | sed 's/^/  | /'
		;;
	esac
	printf '%s\n' "$out" | grep '^RECORD ' | sed "s/^RECORD /RECORD $name /"
done </clients.list

echo "VM-DONE $KVER"
sync
poweroff -f

#!/bin/sh
# /init of the VM test initramfs: runs the scenarios listed for this kernel in
# /scenarios.list, prints one result line each, and powers off.
#
#   PASS NAME
#   FAIL NAME: REASON            (followed by the scenario's output, indented with "  | ")
#   PENDING NAME: REASON
#
# The host (tests/vm/run.sh) reads these lines from the serial console.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# As udev sets them up: kmod 30's static-nodes writes to /dev/stdout by name.
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /etc

KVER=$(uname -r)
case $KVER in
6.1.*) SHORT=6.1 ;;
6.12.*) SHORT=6.12 ;;
*) SHORT=unknown ;;
esac
echo "VM-START $KVER"

# Each scenario gets this long; a hang is a failure, not a stuck suite. The longest,
# modprobe_parallel_set (about 280 drivers loaded, unloaded, loaded again in parallel and
# unloaded, under TCG), takes close to two minutes on this machine: 120 s timed it out once.
LIMIT=300

while read -r kernel name description; do
	case $kernel in '' | '#'*) continue ;; esac
	[ "$kernel" = "$SHORT" ] || continue
	if ! grep -q "^s_$name()" /scenarios.sh; then
		echo "PENDING $name: no scenario written yet ($description)"
		continue
	fi
	out=$(timeout $LIMIT sh /scenarios.sh "$name" 2>&1 </dev/null)
	rc=$?
	reason=$(printf '%s\n' "$out" | grep -v '^$' | tail -n 1)
	case $rc in
	0) echo "PASS $name" ;;
	2) echo "PENDING $name: $reason" ;;
	*)
		[ $rc -ge 124 ] && reason="timed out or killed after ${LIMIT}s (exit $rc); $reason"
		echo "FAIL $name: $reason"
		printf '%s\n' "$out" | sed 's/^/  | /'
		;;
	esac
done </scenarios.list

echo "VM-DONE $KVER"
sync
poweroff -f
# If power-off did not work, the kernel panics when init exits and panic=-1 reboots, which
# -no-reboot turns into QEMU exiting.

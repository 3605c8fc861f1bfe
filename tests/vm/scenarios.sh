#!/bin/sh
# The VM scenarios, run inside the initramfs by init.sh as `sh /scenarios.sh NAME`.
#
# Each scenario is a function s_NAME. It returns 0 for a pass, 1 for a failure and 2 for
# "pending" (a check that cannot run yet; never counted as a pass), and says why on stdout.
# init.sh turns that into one line: `PASS NAME`, `FAIL NAME: REASON` or `PENDING NAME: REASON`.
# Which scenarios run on which kernel, in which order, is tests/vm/scenarios.list; a listed
# scenario without a function here is reported as PENDING.
#
# Expected values come from kmod: Debian's kmod 30 is in /kmod (kmod, lsmod, rmmod, insmod,
# modprobe, depmod, modinfo) and runs on the same kernel, the same files, the same moment.
# rkmod's tools are /sbin/NAME. Busybox's shell prefers its own applets, so every tool is
# called by its full path.
#
# Writing a scenario: add `s_NAME() { ...; }` below and a line to scenarios.list. Use the
# helpers: `ok` / `bad REASON` / `pending REASON` to finish, `run OUTPREFIX CMD...` to capture
# stdout, stderr and the exit code of a command, `same A B` to compare two files.

KVER=$(uname -r)
MODDIR=/lib/modules/$KVER
EXTRA=$MODDIR/extra
TESTMODS=/testmods
R=/sbin
K=/kmod
W=/tmp/work
mkdir -p "$W"

ok() { exit 0; }
bad() { echo "$*"; exit 1; }
pending() { echo "$*"; exit 2; }

# run PREFIX CMD...: runs CMD, leaves PREFIX.out, PREFIX.err and PREFIX.rc.
run() {
	p=$1
	shift
	"$@" >"$p.out" 2>"$p.err"
	echo $? >"$p.rc"
}
rc() { cat "$1.rc"; }
# same A B: the two files are identical, or a failure showing both.
same() {
	if ! cmp -s "$1" "$2"; then
		echo "differ: $1 vs $2"
		echo "--- $1"; head -c 2000 "$1"
		echo "--- $2"; head -c 2000 "$2"
		exit 1
	fi
}
live() { [ "$(cat "/sys/module/$1/initstate" 2>/dev/null)" = live ]; }
loaded() { [ -d "/sys/module/$1" ]; }
param() { cat "/sys/module/$1/parameters/$2" 2>/dev/null; }
# first_line_is FILE TEXT: the file's first line is exactly TEXT.
first_line_is() { [ "$(head -n 1 "$1")" = "$2" ] || bad "first line of $1 is '$(head -n 1 "$1")', expected '$2'"; }
# starts_with FILE PREFIXFILE: every line of PREFIXFILE begins the same line of FILE (rkmod may
# add a parenthesised explanation after kmod's words).
starts_with() {
	n=$(wc -l <"$2")
	[ "$(wc -l <"$1")" = "$n" ] || { echo "line counts differ"; echo "--- rkmod"; cat "$1"; echo "--- kmod"; cat "$2"; exit 1; }
	i=1
	while [ "$i" -le "$n" ]; do
		a=$(sed -n "${i}p" "$1")
		b=$(sed -n "${i}p" "$2")
		case "$a" in
		"$b"*) ;;
		*) bad "line $i: rkmod '$a' does not start with kmod's '$b'" ;;
		esac
		i=$((i + 1))
	done
}
# kmod 30 prints libkmod's messages with their source position ("rmmod: ERROR:
# ../libkmod/libkmod-module.c:856 kmod_module_remove_module() could not remove ...", or
# "libkmod: ERROR ../libkmod/..."); the newest kmod prints "rmmod: ERROR: could not remove
# ...". tool_lines rewrites the first form into the second and drops the bare libkmod lines.
tool_lines() {
	grep -v '^libkmod: ' "$1" | sed 's#: \.\./libkmod/[^ ]* [a-z_]*() #: #' >"$2" || true
}

# Loads the real Debian modules snd-dummy needs, in modules.dep's load order, by path.
real_chain() {
	for m in soundcore snd snd-timer snd-pcm snd-dummy; do
		f=$(find "$MODDIR/kernel" -name "$m.ko*" | head -n 1)
		[ -n "$f" ] || bad "no $m in $MODDIR"
		n=$(echo "$m" | tr - _)
		loaded "$n" && continue
		run "$W/chain" "$R/insmod" "$f" || true
		[ "$(rc "$W/chain")" = 0 ] || bad "insmod $f: $(cat "$W/chain.err")"
	done
}

# --- insmod ---------------------------------------------------------------------------------

s_insmod_path() {
	run "$W/a" "$R/insmod" "$EXTRA/rk_exporter.ko"
	[ "$(rc "$W/a")" = 0 ] || bad "exit $(rc "$W/a"): $(cat "$W/a.err")"
	[ -s "$W/a.err" ] && bad "unexpected stderr: $(cat "$W/a.err")"
	live rk_exporter || bad "rk_exporter is not live"
	run "$W/b" "$R/insmod" "$EXTRA/rk_user.ko"
	[ "$(rc "$W/b")" = 0 ] || bad "rk_user: exit $(rc "$W/b"): $(cat "$W/b.err")"
	live rk_user || bad "rk_user is not live"
	[ -e /sys/module/rk_exporter/holders/rk_user ] || bad "rk_user does not hold rk_exporter"
	ok
}

s_insmod_real() {
	real_chain
	live snd_dummy || bad "snd_dummy is not live"
	[ -e /sys/module/snd_pcm/holders/snd_dummy ] || bad "snd_dummy does not hold snd_pcm"
	ok
}

s_params() {
	run "$W/p" "$R/insmod" "$EXTRA/rk_params.ko" count=5 "name=hello world" flag=1
	[ "$(rc "$W/p")" = 0 ] || bad "exit $(rc "$W/p"): $(cat "$W/p.err")"
	[ "$(param rk_params count)" = 5 ] || bad "count is '$(param rk_params count)'"
	[ "$(param rk_params name)" = "hello world" ] || bad "name is '$(param rk_params name)'"
	[ "$(param rk_params flag)" = Y ] || bad "flag is '$(param rk_params flag)'"
	ok
}

s_insmod_exists() {
	live rk_params || bad "rk_params should be loaded by the params scenario"
	run "$W/o" "$R/insmod" "$EXTRA/rk_params.ko"
	run "$W/k" "$K/insmod" "$EXTRA/rk_params.ko"
	[ "$(rc "$W/o")" = 1 ] && [ "$(rc "$W/k")" = 1 ] || bad "exit codes: rkmod $(rc "$W/o"), kmod $(rc "$W/k")"
	tool_lines "$W/k.err" "$W/k.lines"
	starts_with "$W/o.err" "$W/k.lines"
	grep -q "already loaded" "$W/o.err" || bad "no explanation: $(cat "$W/o.err")"
	ok
}

s_insmod_initfail() {
	run "$W/o" "$R/insmod" "$EXTRA/rk_initfail.ko"
	run "$W/k" "$K/insmod" "$EXTRA/rk_initfail.ko"
	[ "$(rc "$W/o")" = 1 ] || bad "rkmod exit $(rc "$W/o")"
	[ "$(rc "$W/k")" = 1 ] || bad "kmod exit $(rc "$W/k")"
	tool_lines "$W/k.err" "$W/k.lines"
	same "$W/o.err" "$W/k.lines"
	first_line_is "$W/o.err" "insmod: ERROR: could not insert module $EXTRA/rk_initfail.ko: No such device"
	loaded rk_initfail && bad "rk_initfail is loaded"
	ok
}

s_insmod_unknown_symbol() {
	loaded rk_exporter && bad "rk_exporter should have been removed by rmmod_several"
	run "$W/o" "$R/insmod" "$EXTRA/rk_user.ko"
	run "$W/k" "$K/insmod" "$EXTRA/rk_user.ko"
	[ "$(rc "$W/o")" = 1 ] && [ "$(rc "$W/k")" = 1 ] || bad "exit codes: rkmod $(rc "$W/o"), kmod $(rc "$W/k")"
	tool_lines "$W/k.err" "$W/k.lines"
	starts_with "$W/o.err" "$W/k.lines"
	grep -q "Unknown symbol in module (a symbol the module needs" "$W/o.err" || bad "no explanation: $(cat "$W/o.err")"
	loaded rk_user && bad "rk_user is loaded"
	ok
}

s_insmod_bad_param() {
	loaded rk_params && { "$R/rmmod" rk_params || bad "rmmod rk_params failed"; }
	run "$W/o" "$R/insmod" "$EXTRA/rk_params.ko" count=abc
	run "$W/k" "$K/insmod" "$EXTRA/rk_params.ko" count=abc
	[ "$(rc "$W/o")" = 1 ] && [ "$(rc "$W/k")" = 1 ] || bad "exit codes: rkmod $(rc "$W/o"), kmod $(rc "$W/k")"
	tool_lines "$W/k.err" "$W/k.lines"
	starts_with "$W/o.err" "$W/k.lines"
	loaded rk_params && bad "rk_params is loaded"
	ok
}

s_xz_userspace() {
	[ -e /sys/module/compression ] && bad "this kernel decompresses modules itself: the scenario needs one that does not"
	loaded rk_params && { "$R/rmmod" rk_params || bad "rmmod rk_params failed"; }
	run "$W/x" "$R/insmod" -vvvv "$TESTMODS/rk_params.ko.xz" count=7
	[ "$(rc "$W/x")" = 0 ] || bad "exit $(rc "$W/x"): $(cat "$W/x.err")"
	[ "$(param rk_params count)" = 7 ] || bad "count is '$(param rk_params count)'"
	grep -q "init_module" "$W/x.err" || bad "no sign of the userspace path: $(cat "$W/x.err")"
	"$R/rmmod" rk_params || bad "rmmod rk_params failed"
	ok
}

s_xz_in_kernel() {
	[ "$(cat /sys/module/compression 2>/dev/null)" = xz ] || bad "/sys/module/compression is '$(cat /sys/module/compression 2>/dev/null)', expected xz"
	f=$(find "$MODDIR/kernel" -name dummy.ko.xz | head -n 1)
	[ -n "$f" ] || bad "no dummy.ko.xz"
	run "$W/x" "$R/insmod" -vvvv "$f" numdummies=3
	[ "$(rc "$W/x")" = 0 ] || bad "exit $(rc "$W/x"): $(cat "$W/x.err")"
	live dummy || bad "dummy is not live"
	grep -q "MODULE_INIT_COMPRESSED_FILE" "$W/x.err" || bad "not loaded through the compressed-file path: $(cat "$W/x.err")"
	# numdummies is not in sysfs; the devices it makes are.
	[ -e /sys/class/net/dummy2 ] || bad "numdummies=3 made no dummy2"
	"$R/rmmod" dummy || bad "rmmod dummy failed"
	ok
}

s_gz_on_xz_kernel() {
	# The kernel decompresses xz only: a gzip module must be decompressed here.
	run "$W/g" "$R/insmod" -vvvv "$TESTMODS/e1000.ko.gz"
	[ "$(rc "$W/g")" = 0 ] || bad "exit $(rc "$W/g"): $(cat "$W/g.err")"
	live e1000 || bad "e1000 is not live"
	grep -q "init_module" "$W/g.err" || bad "no sign of the userspace path: $(cat "$W/g.err")"
	"$R/rmmod" e1000 || bad "rmmod e1000 failed"
	ok
}

s_force_vermagic() {
	run "$W/o" "$R/insmod" "$EXTRA/rk_vermagic.ko"
	run "$W/k" "$K/insmod" "$EXTRA/rk_vermagic.ko"
	[ "$(rc "$W/o")" = 1 ] && [ "$(rc "$W/k")" = 1 ] || bad "unforced load: exit codes rkmod $(rc "$W/o"), kmod $(rc "$W/k")"
	tool_lines "$W/k.err" "$W/k.lines"
	starts_with "$W/o.err" "$W/k.lines"
	loaded rk_vermagic && bad "loaded without forcing"
	for how in "-f $EXTRA/rk_vermagic.ko" "--force-vermagic $EXTRA/rk_vermagic.ko" "-f $TESTMODS/rk_vermagic.ko.xz" "--force-vermagic $TESTMODS/rk_vermagic.ko.xz"; do
		# shellcheck disable=SC2086
		run "$W/f" "$R/insmod" $how
		[ "$(rc "$W/f")" = 0 ] || bad "insmod $how: exit $(rc "$W/f"): $(cat "$W/f.err")"
		live rk_vermagic || bad "insmod $how: not live"
		"$R/rmmod" rk_vermagic || bad "rmmod after insmod $how failed"
	done
	ok
}

# --- lsmod and kmod list ----------------------------------------------------------------------

s_lsmod_same() {
	loaded snd_dummy || bad "snd_dummy should be loaded by insmod_real"
	run "$W/o" "$R/lsmod"
	run "$W/k" "$K/lsmod"
	[ "$(rc "$W/o")" = 0 ] || bad "exit $(rc "$W/o"): $(cat "$W/o.err")"
	same "$W/o.out" "$W/k.out"
	same "$W/o.err" "$W/k.err"
	run "$W/o2" "$R/kmod" list
	run "$W/k2" "$K/kmod" list
	same "$W/o2.out" "$W/k2.out"
	[ "$(wc -l <"$W/o.out")" -ge 5 ] || bad "too few modules listed"
	# lsmod --json (rkmod only): the same modules, sizes, counts and holders as kmod's table.
	run "$W/j" "$R/lsmod" --json
	[ "$(rc "$W/j")" = 0 ] || bad "lsmod --json: exit $(rc "$W/j"): $(cat "$W/j.err")"
	same "$W/j.err" "$W/k.err"
	tr '{' '\n' <"$W/j.out" |
		sed -n 's/^"name":"\([^"]*\)","size":\([0-9]*\),"refcnt":\([0-9]*\),"holders":\[\([^]]*\)\].*/\1 \2 \3 \4/p' |
		tr -d '"' | sed 's/ $//' >"$W/j.rows"
	tail -n +2 "$W/k.out" | awk '{ s = $1 " " $2 " " $3; if ($4 != "") s = s " " $4; print s }' >"$W/k.rows"
	same "$W/j.rows" "$W/k.rows"
	run "$W/j2" "$R/kmod" list --json
	same "$W/j2.out" "$W/j.out"
	ok
}

# --- rmmod ------------------------------------------------------------------------------------

s_rmmod_in_use() {
	run "$W/o" "$R/rmmod" rk_exporter
	run "$W/k" "$K/rmmod" rk_exporter
	[ "$(rc "$W/o")" = 1 ] && [ "$(rc "$W/k")" = 1 ] || bad "exit codes: rkmod $(rc "$W/o"), kmod $(rc "$W/k")"
	same "$W/o.err" "$W/k.err"
	first_line_is "$W/o.err" "rmmod: ERROR: Module rk_exporter is in use by: rk_user"
	live rk_exporter || bad "rk_exporter was removed"
	ok
}

s_rmmod_in_use_real() {
	loaded snd_dummy || bad "snd_dummy should be loaded by insmod_real"
	run "$W/o" "$R/rmmod" snd_pcm
	run "$W/k" "$K/rmmod" snd_pcm
	[ "$(rc "$W/o")" = 1 ] && [ "$(rc "$W/k")" = 1 ] || bad "exit codes: rkmod $(rc "$W/o"), kmod $(rc "$W/k")"
	same "$W/o.err" "$W/k.err"
	live snd_pcm || bad "snd_pcm was removed"
	ok
}

s_rmmod_not_loaded() {
	run "$W/o" "$R/rmmod" rk_nothere
	run "$W/k" "$K/rmmod" rk_nothere
	[ "$(rc "$W/o")" = 1 ] && [ "$(rc "$W/k")" = 1 ] || bad "exit codes: rkmod $(rc "$W/o"), kmod $(rc "$W/k")"
	same "$W/o.err" "$W/k.err"
	ok
}

s_rmmod_builtin() {
	[ -d /sys/module/8250 ] || pending "no /sys/module/8250 on this kernel"
	run "$W/o" "$R/rmmod" 8250
	run "$W/k" "$K/rmmod" 8250
	[ "$(rc "$W/o")" = 1 ] && [ "$(rc "$W/k")" = 1 ] || bad "exit codes: rkmod $(rc "$W/o"), kmod $(rc "$W/k")"
	same "$W/o.err" "$W/k.err"
	first_line_is "$W/o.err" "rmmod: ERROR: Module 8250 is builtin."
	ok
}

s_rmmod_syslog() {
	run "$W/o" "$R/rmmod" -s rk_nothere
	[ "$(rc "$W/o")" = 1 ] || bad "exit $(rc "$W/o")"
	[ -s "$W/o.err" ] && bad "stderr is not empty with -s: $(cat "$W/o.err")"
	ok
}

s_rmmod_force() {
	run "$W/i" "$R/insmod" "$EXTRA/rk_noexit.ko"
	[ "$(rc "$W/i")" = 0 ] || bad "insmod rk_noexit: $(cat "$W/i.err")"
	run "$W/o" "$R/rmmod" rk_noexit
	run "$W/k" "$K/rmmod" rk_noexit
	[ "$(rc "$W/o")" = 1 ] && [ "$(rc "$W/k")" = 1 ] || bad "unforced: exit codes rkmod $(rc "$W/o"), kmod $(rc "$W/k")"
	tool_lines "$W/k.err" "$W/k.lines"
	starts_with "$W/o.err" "$W/k.lines"
	live rk_noexit || bad "removed without force"
	run "$W/f" "$R/rmmod" -f rk_noexit
	[ "$(rc "$W/f")" = 0 ] || bad "rmmod -f: exit $(rc "$W/f"): $(cat "$W/f.err")"
	loaded rk_noexit && bad "still loaded after rmmod -f"
	ok
}

s_rmmod_several() {
	run "$W/o" "$R/rmmod" rk_user rk_exporter
	[ "$(rc "$W/o")" = 0 ] || bad "exit $(rc "$W/o"): $(cat "$W/o.err")"
	loaded rk_user && bad "rk_user still loaded"
	loaded rk_exporter && bad "rk_exporter still loaded"
	ok
}

s_rmmod_real() {
	loaded snd_dummy || bad "snd_dummy should be loaded by insmod_real"
	run "$W/r" "$R/rmmod" snd_dummy snd-pcm snd_timer "$(find "$MODDIR/kernel" -name 'snd.ko*' | head -n 1)" soundcore
	[ "$(rc "$W/r")" = 0 ] || bad "exit $(rc "$W/r"): $(cat "$W/r.err")"
	for m in snd_dummy snd_pcm snd_timer snd soundcore; do
		loaded $m && bad "$m still loaded"
	done
	ok
}

# --- kmod static-nodes ------------------------------------------------------------------------

s_static_nodes() {
	[ -s "$MODDIR/modules.devname" ] || bad "no modules.devname"
	for f in "" --format=human --format=tmpfiles --format=devname; do
		# shellcheck disable=SC2086
		run "$W/o" "$R/kmod" static-nodes $f
		# shellcheck disable=SC2086
		run "$W/k" "$K/kmod" static-nodes $f
		same "$W/o.out" "$W/k.out"
		same "$W/o.err" "$W/k.err"
		[ "$(rc "$W/o")" = "$(rc "$W/k")" ] || bad "$f: exit codes differ"
	done
	"$R/kmod" static-nodes --format=tmpfiles --output=/run/ours/tmpfiles.d/static-nodes.conf || bad "--output failed"
	"$K/kmod" static-nodes --format=tmpfiles --output=/run/kmod/tmpfiles.d/static-nodes.conf
	same /run/ours/tmpfiles.d/static-nodes.conf /run/kmod/tmpfiles.d/static-nodes.conf
	ok
}

# --- depmod -----------------------------------------------------------------------------------

s_depmod() {
	"$R/depmod" --help >/dev/null 2>&1 || pending "rkmod depmod is not available"
	rm -rf /tmp/ref && mkdir -p /tmp/ref/lib/modules
	cp -a "$MODDIR" /tmp/ref/lib/modules/
	"$K/depmod" -b /tmp/ref -a "$KVER" 2>"$W/k.err" || bad "kmod depmod failed: $(cat "$W/k.err")"
	run "$W/o" "$R/depmod" -a
	[ "$(rc "$W/o")" = 0 ] || bad "depmod -a: exit $(rc "$W/o"): $(cat "$W/o.err")"
	for f in modules.dep modules.alias modules.symbols modules.softdep modules.devname; do
		same "$MODDIR/$f" "/tmp/ref/lib/modules/$KVER/$f"
	done
	# The binary indexes: kmod's own modprobe must resolve the same through rkmod's as through
	# kmod's.
	for m in rk_user rk_softdep snd-dummy rk-params-alias; do
		run "$W/a" "$K/modprobe" --show-depends "$m"
		run "$W/b" "$K/modprobe" -d /tmp/ref --show-depends "$m"
		sed "s#/tmp/ref##" "$W/b.out" >"$W/b.norm"
		same "$W/a.out" "$W/b.norm"
	done
	ok
}

# --- modprobe (hooks for the modprobe suite) --------------------------------------------------
# These run for real once rkmod's modprobe inserts modules. modprobe_works decides once per
# boot, by loading rk_slow with `modprobe -q`: until that works, each of them reports PENDING
# with the probe's error (never PASS). Once it works, a broken scenario is a FAIL.

modprobe_works() {
	[ -f "$W/modprobe-probe" ] || {
		if "$R/modprobe" -q rk_slow 2>"$W/probe.err" && live rk_slow; then
			echo yes >"$W/modprobe-probe"
			"$R/rmmod" rk_slow
		else
			echo "no: $(head -c 300 "$W/probe.err")" >"$W/modprobe-probe"
		fi
	}
	[ "$(cat "$W/modprobe-probe")" = yes ]
}
need_modprobe() {
	modprobe_works || pending "rkmod modprobe does not insert modules yet ($(cat "$W/modprobe-probe"))"
}

s_modprobe_deps() {
	need_modprobe
	run "$W/o" "$R/modprobe" rk_user
	[ "$(rc "$W/o")" = 0 ] || bad "exit $(rc "$W/o"): $(cat "$W/o.err")"
	live rk_exporter && live rk_user || bad "rk_user and rk_exporter are not both live"
	ok
}

s_modprobe_remove_deps() {
	need_modprobe
	run "$W/o" "$R/modprobe" -r rk_user
	[ "$(rc "$W/o")" = 0 ] || bad "exit $(rc "$W/o"): $(cat "$W/o.err")"
	loaded rk_user && bad "rk_user still loaded"
	loaded rk_exporter && bad "its unused dependency rk_exporter is still loaded"
	ok
}

s_modprobe_first_time() {
	need_modprobe
	"$R/modprobe" rk_params || bad "first load failed"
	run "$W/o" "$R/modprobe" --first-time rk_params
	run "$W/k" "$K/modprobe" --first-time rk_params
	[ "$(rc "$W/o")" = 1 ] && [ "$(rc "$W/k")" = 1 ] || bad "exit codes: rkmod $(rc "$W/o"), kmod $(rc "$W/k")"
	run "$W/o2" "$R/modprobe" rk_params
	[ "$(rc "$W/o2")" = 0 ] || bad "a second load without --first-time failed"
	"$R/modprobe" -r rk_params || bad "modprobe -r rk_params failed"
	ok
}

s_modprobe_params_conf() {
	need_modprobe
	mkdir -p /etc/modprobe.d
	echo "options rk_params count=11 name=fromconf" >/etc/modprobe.d/rk-params.conf
	run "$W/o" "$R/modprobe" rk_params name=fromcmdline
	rm -f /etc/modprobe.d/rk-params.conf
	[ "$(rc "$W/o")" = 0 ] || bad "exit $(rc "$W/o"): $(cat "$W/o.err")"
	[ "$(param rk_params count)" = 11 ] || bad "count is '$(param rk_params count)'"
	[ "$(param rk_params name)" = fromcmdline ] || bad "name is '$(param rk_params name)'"
	"$R/modprobe" -r rk_params
	ok
}

s_modprobe_blacklist() {
	need_modprobe
	mkdir -p /etc/modprobe.d
	echo "blacklist rk_params" >/etc/modprobe.d/rk-blacklist.conf
	run "$W/a" "$R/modprobe" -b rk-params-alias
	a_loaded=no; loaded rk_params && a_loaded=yes
	run "$W/n" "$R/modprobe" rk_params
	n_loaded=no; loaded rk_params && n_loaded=yes
	rm -f /etc/modprobe.d/rk-blacklist.conf
	"$R/modprobe" -r rk_params 2>/dev/null
	[ "$(rc "$W/a")" = 0 ] || bad "alias with -b: exit $(rc "$W/a")"
	[ "$a_loaded" = no ] || bad "the blacklisted module was loaded through its alias"
	[ "$(rc "$W/n")" = 0 ] && [ "$n_loaded" = yes ] || bad "loading by name did not work"
	ok
}

s_modprobe_install() {
	need_modprobe
	mkdir -p /etc/modprobe.d
	# shellcheck disable=SC2016
	echo 'install rk_noexit echo "$CMDLINE_OPTS" >/tmp/install-ran' >/etc/modprobe.d/rk-install.conf
	# kmod first, with a harmless option: the oracle for "the install command runs".
	run "$W/k" "$K/modprobe" rk_noexit x=1
	k_ran=$(cat /tmp/install-ran 2>/dev/null)
	rm -f /tmp/install-ran
	# shellcheck disable=SC2016
	run "$W/o" "$R/modprobe" rk_noexit 'x=$(touch /tmp/pwned)'
	rm -f /etc/modprobe.d/rk-install.conf
	[ "$(rc "$W/k")" = 0 ] && [ "$k_ran" = "x=1" ] || bad "kmod's modprobe did not run the install command (exit $(rc "$W/k"), wrote '$k_ran')"
	[ "$(rc "$W/o")" = 0 ] || bad "exit $(rc "$W/o"): $(cat "$W/o.err")"
	[ -f /tmp/install-ran ] || bad "the install command did not run: $(cat "$W/o.err")"
	[ -e /tmp/pwned ] && bad "option text was run as shell code"
	loaded rk_noexit && bad "the module was loaded instead of the install command"
	ok
}

s_modprobe_softdep_order() {
	need_modprobe
	run "$W/o" "$R/modprobe" -v rk_softdep
	[ "$(rc "$W/o")" = 0 ] || bad "exit $(rc "$W/o"): $(cat "$W/o.err")"
	live rk_params && live rk_softdep && live rk_slow || bad "not all of rk_params, rk_softdep, rk_slow are live"
	grep insmod "$W/o.out" | sed 's#.*/##; s#\.ko.*##' | tr '\n' ' ' >"$W/order"
	[ "$(cat "$W/order")" = "rk_params rk_softdep rk_slow " ] || bad "order: $(cat "$W/order")"
	"$R/modprobe" -r rk_softdep rk_params rk_slow
	ok
}

s_coldplug_e1000() {
	need_modprobe
	# As udev does: every modalias through modprobe -b -q.
	find /sys/bus/*/devices/*/ -maxdepth 1 -name modalias 2>/dev/null | while read -r f; do
		a=$(cat "$f")
		[ -n "$a" ] && "$R/modprobe" -b -q "$a"
	done
	live e1000 || bad "e1000 was not loaded by coldplug"
	ok
}

s_modprobe_parallel_slow() {
	need_modprobe
	i=0
	while [ $i -lt 20 ]; do
		("$R/modprobe" rk_slow; echo $? >"$W/par.$i") &
		i=$((i + 1))
	done
	wait
	i=0
	while [ $i -lt 20 ]; do
		[ "$(cat "$W/par.$i")" = 0 ] || bad "modprobe number $i exited $(cat "$W/par.$i")"
		i=$((i + 1))
	done
	live rk_slow || bad "rk_slow is not live"
	[ "$(grep -c '^rk_slow ' /proc/modules)" = 1 ] || bad "rk_slow listed more than once"
	ok
}

# --- modprobe: more, against kmod in the same VM ---------------------------------------------

# The loaded modules' names, sorted.
modnames() { cut -d' ' -f1 /proc/modules | sort; }

# Removes the modules named (in order) that are still loaded, with kmod's rmmod.
cleanup() { for m in "$@"; do loaded "$m" && "$K/rmmod" "$m"; done; return 0; }

SND_CHAIN="snd_dummy snd_pcm snd_timer snd soundcore"

# A real Debian chain: the plan is kmod's, every module loads, and modprobe -r leaves exactly
# what kmod's modprobe -r leaves (only dependencies unused at that moment go).
modprobe_chain() {
	for m in $SND_CHAIN; do loaded "$m" && bad "$m is loaded before the scenario"; done
	run "$W/kn" "$K/modprobe" -n -v snd-dummy
	run "$W/on" "$R/modprobe" -n -v snd-dummy
	same "$W/on.out" "$W/kn.out"
	[ "$(rc "$W/on")" = "$(rc "$W/kn")" ] || bad "dry run: exit codes differ"
	run "$W/o" "$R/modprobe" snd-dummy
	[ "$(rc "$W/o")" = 0 ] || bad "exit $(rc "$W/o"): $(cat "$W/o.err")"
	[ -s "$W/o.err" ] && bad "unexpected stderr: $(cat "$W/o.err")"
	for m in $SND_CHAIN; do live "$m" || bad "$m is not live"; done
	run "$W/kr" "$K/modprobe" -r snd-dummy
	modnames >"$W/after-kmod"
	cleanup $SND_CHAIN
	"$R/modprobe" snd-dummy || bad "second load failed"
	run "$W/or" "$R/modprobe" -r snd-dummy
	modnames >"$W/after-rkmod"
	cleanup $SND_CHAIN
	[ "$(rc "$W/or")" = "$(rc "$W/kr")" ] || bad "modprobe -r: exit codes rkmod $(rc "$W/or"), kmod $(rc "$W/kr")"
	same "$W/or.err" "$W/kr.err"
	same "$W/after-rkmod" "$W/after-kmod"
	loaded snd_dummy && bad "snd_dummy is still loaded"
	ok
}

s_modprobe_real_chain() {
	need_modprobe
	modprobe_chain
}

s_modprobe_xz_chain() {
	[ "$(cat /sys/module/compression 2>/dev/null)" = xz ] || bad "this kernel does not decompress xz itself"
	modprobe_chain
}

s_modprobe_in_use() {
	need_modprobe
	"$R/modprobe" rk_user || bad "modprobe rk_user failed"
	run "$W/o" "$R/modprobe" -r rk_exporter
	run "$W/k" "$K/modprobe" -r rk_exporter
	[ "$(rc "$W/o")" = 1 ] && [ "$(rc "$W/k")" = 1 ] || bad "exit codes: rkmod $(rc "$W/o"), kmod $(rc "$W/k")"
	same "$W/o.err" "$W/k.err"
	first_line_is "$W/o.err" "modprobe: FATAL: Module rk_exporter is in use."
	live rk_exporter || bad "rk_exporter was removed"
	# --wait: retries until the deadline, then fails. kmod's two bugs: when its last sleep ends
	# exactly on the deadline (to the millisecond), the sleep's result (0) becomes the answer
	# and it exits 0 silently with the module still loaded; when the sleep overshoots the
	# deadline, its backoff (`while (t + delta > tend) delta >>= 1`) never ends and it spins
	# forever. So kmod runs under a timeout here, and either outcome is accepted from it.
	# rkmod reports the failure (see DIFFERENCES in modprobe(8)).
	run "$W/ow" "$R/modprobe" -r -w 300 rk_exporter
	run "$W/kw" timeout 15 "$K/modprobe" -r -w 300 rk_exporter
	[ "$(rc "$W/ow")" = 1 ] || bad "--wait: rkmod exit $(rc "$W/ow"), expected 1"
	case $(rc "$W/kw") in
	0) [ -s "$W/kw.err" ] && bad "--wait: kmod printed: $(cat "$W/kw.err")" ;;
	124 | 143) echo "note: kmod's modprobe -r -w spun past its deadline and was stopped" >&2 ;;
	*) bad "--wait: kmod exit $(rc "$W/kw"): the reference's behaviour changed, revisit" ;;
	esac
	first_line_is "$W/ow.err" "modprobe: ERROR: could not remove 'rk_exporter': Resource temporarily unavailable"
	live rk_exporter || bad "rk_exporter was removed while in use"
	ok
}

s_modprobe_remove_holders() {
	need_modprobe
	live rk_user || "$R/modprobe" rk_user || bad "modprobe rk_user failed"
	run "$W/k" "$K/modprobe" -r --remove-holders rk_exporter
	modnames >"$W/after-kmod"
	cleanup rk_user rk_exporter
	"$R/modprobe" rk_user || bad "modprobe rk_user failed"
	run "$W/o" "$R/modprobe" -r --remove-holders rk_exporter
	modnames >"$W/after-rkmod"
	cleanup rk_user rk_exporter
	# Removing the holder rk_user takes rk_exporter out as an unused dependency. kmod's bug:
	# it then removes rk_exporter again and fails with ENOENT (exit 1) although it is gone.
	# rkmod succeeds quietly; both leave the same modules loaded.
	[ "$(rc "$W/o")" = 0 ] || bad "exit $(rc "$W/o"): $(cat "$W/o.err")"
	[ -s "$W/o.err" ] && bad "unexpected stderr: $(cat "$W/o.err")"
	[ "$(rc "$W/k")" = 1 ] || bad "kmod: exit $(rc "$W/k"): the reference's bug changed, revisit"
	grep -q "could not remove 'rk_exporter': No such file or directory" "$W/k.err" || bad "kmod said: $(cat "$W/k.err")"
	same "$W/after-rkmod" "$W/after-kmod"
	grep -q '^rk_user$' "$W/after-rkmod" && bad "the holder rk_user is still loaded"
	grep -q '^rk_exporter$' "$W/after-rkmod" && bad "rk_exporter is still loaded"
	ok
}

# The kernel's own request: `modprobe -q -- NAME` in a fixed environment. NAME is a name, never
# a path (kmod 31 and later would open the file).
s_modprobe_kernel_form() {
	need_modprobe
	cleanup rk_params
	run "$W/p" env -i HOME=/ TERM=linux PATH=/sbin:/usr/sbin:/bin:/usr/bin "$R/modprobe" -q -- "$EXTRA/rk_params.ko"
	[ "$(rc "$W/p")" = 1 ] || bad "a path was accepted: exit $(rc "$W/p")"
	[ -s "$W/p.err" ] && bad "-q printed: $(cat "$W/p.err")"
	loaded rk_params && bad "rk_params was loaded from a path"
	run "$W/n" env -i HOME=/ TERM=linux PATH=/sbin:/usr/sbin:/bin:/usr/bin "$R/modprobe" -q -- rk-params-alias
	[ "$(rc "$W/n")" = 0 ] || bad "by alias: exit $(rc "$W/n"): $(cat "$W/n.err")"
	live rk_params || bad "rk_params is not live"
	"$R/modprobe" -r rk_params || bad "modprobe -r rk_params failed"
	ok
}

# An install command that runs modprobe for its own module: kmod recurses without end; rkmod
# stops at its bound with a clear error.
s_modprobe_install_loop() {
	need_modprobe
	cleanup rk_params
	mkdir -p /etc/modprobe.d
	echo "install rk_params $R/modprobe rk_params" >/etc/modprobe.d/rk-loop.conf
	run "$W/o" "$R/modprobe" rk_params
	rm -f /etc/modprobe.d/rk-loop.conf
	[ "$(rc "$W/o")" = 1 ] || bad "exit $(rc "$W/o")"
	grep -q "nest deeper than 32 levels" "$W/o.err" || bad "no clear error: $(head -c 500 "$W/o.err")"
	loaded rk_params && bad "rk_params was loaded"
	ok
}

# --- modprobe --parallel: the 6.1 tree's storage and network drivers ---------------------------

# The loaded modules that were not loaded at the start ($W/set.before), until none is left:
# rmmod of each, over and over, so that users go before what they use.
unload_new() {
	i=0
	while [ $i -lt 20 ]; do
		modnames | grep -vxF -f "$W/set.before" >"$W/set.left"
		[ -s "$W/set.left" ] || return 0
		while read -r m; do "$K/rmmod" "$m" 2>/dev/null; done <"$W/set.left"
		i=$((i + 1))
	done
	# Modules the kernel keeps (libphy and phylink on 6.1 stay in use); they stay loaded for
	# the next run and are in both lists.
	echo "TIMING left loaded: $(tr '\n' ' ' <"$W/set.left")" | tee /dev/console
}

# now_ms: milliseconds since boot.
now_ms() { cut -d' ' -f1 /proc/uptime | tr -d . | sed 's/$/0/'; }

s_modprobe_parallel_set() {
	need_modprobe
	[ -s "$TESTMODS/set.list" ] || pending "no driver set in the initramfs"
	modnames >"$W/set.before"
	n=$(wc -l <"$TESTMODS/set.list")
	t0=$(now_ms)
	"$R/modprobe" -q -a $(cat "$TESTMODS/set.list")
	echo $? >"$W/set.seq.rc"
	t1=$(now_ms)
	modnames >"$W/set.seq"
	unload_new
	t2=$(now_ms)
	"$R/modprobe" -q -a --parallel $(cat "$TESTMODS/set.list")
	echo $? >"$W/set.par.rc"
	t3=$(now_ms)
	modnames >"$W/set.par"
	unload_new
	loadedn=$(grep -vxF -f "$W/set.before" "$W/set.seq" | wc -l)
	echo "TIMING modprobe -a of $n drivers ($loadedn modules loaded): sequential $((t1 - t0)) ms (exit $(cat "$W/set.seq.rc")), --parallel on $(grep -c ^processor /proc/cpuinfo) CPUs $((t3 - t2)) ms (exit $(cat "$W/set.par.rc"))" | tee /dev/console
	same "$W/set.par" "$W/set.seq"
	[ "$(cat "$W/set.par.rc")" = "$(cat "$W/set.seq.rc")" ] || bad "exit codes differ"
	ok
}

if [ $# -eq 1 ]; then
	"s_$1"
	exit $?
fi

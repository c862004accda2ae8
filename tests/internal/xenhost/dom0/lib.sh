# Scenario library, sourced before each scenario script in dom0 (see init).
# A scenario runs in its request directory with XH_OUT (files it leaves for
# the test), XH_SHARE (/xenhost) and what the test put in env (XFEAT, the
# xfeat binary; GUEST_KERNEL, GUEST_INITRD). Everything here bounds its waits.

XH_SHARE=/xenhost

# xh_guest_cfg NAME [xl.cfg lines...]: write $XH_OUT/NAME.cfg for a PV guest
# running the test guest initramfs, with the lines given appended. A guest
# reports on its console what its frontends negotiated (guest/init.sh).
# It has 128 MB unless a line given sets memory.
xh_guest_cfg() {
	local name=$1 mem='memory = 128' l; shift
	for l; do
		case $l in memory*=*) mem= ;; esac
	done
	{
		echo "name = \"$name\""
		echo 'type = "pv"'
		echo "kernel = \"$GUEST_KERNEL\""
		echo "ramdisk = \"$GUEST_INITRD\""
		if [ -n "$mem" ]; then echo "$mem"; fi
		echo 'on_crash = "preserve"'
		printf '%s\n' "$@"
	} > "$XH_OUT/$name.cfg"
	echo "$XH_OUT/$name.cfg"
}

# xh_disk [SIZE]: a fresh sparse image in dom0's /tmp (tmpfs); prints its path.
xh_disk() {
	local f
	f=$(mktemp /tmp/disk.XXXXXX.img) && truncate -s "${1:-64M}" "$f" && echo "$f"
}

# xh_block_script: the disk hotplug script to give as script= (Debian's
# block script is too slow under emulation: libxl kills it after 10 s).
xh_block_script() { echo "$(dirname "$XH_LIB")/block"; }

# xh_vif_script: the vif hotplug script to give as script= (Debian's
# vif-bridge is too slow under emulation for more than one vif).
xh_vif_script() { echo "$(dirname "$XH_LIB")/vif"; }

# xh_guest_wait NAME [SECONDS [FILE]]: wait until guest NAME's console shows
# its report is complete ("XG done"); copy the console log to $XH_OUT/FILE
# (guest-NAME.log).
xh_guest_wait() {
	local name=$1 limit=${2:-120} out=$XH_OUT/${3:-guest-$1.log} log i
	log=$(xh_console_log "$name")
	for ((i = 0; i < limit * 5; i++)); do
		if grep -q '^XG done' "$log" 2>/dev/null; then
			tr -d '\r' < "$log" > "$out"
			return 0
		fi
		sleep 0.2
	done
	tr -d '\r' < "$log" > "$out" 2>/dev/null
	echo "guest $name: no complete report after ${limit}s" >&2
	return 1
}

# xh_console_log NAME: the file xenconsoled logs guest NAME's console to. A
# domain rebuilt under the same name (xl reboot) logs to the same file: move
# it aside first to wait for the new boot's report.
xh_console_log() { echo "/var/log/xen/console/guest-$1.log"; }

# xh_gotest NAME [FLAGS...]: run the Go test binary InstallTest put in the
# share as bin/NAME.test, verbose, in a fresh directory of dom0's /tmp, with
# the flags given (-test.run, -test.bench...). Its output goes to stdout and
# $XH_OUT/NAME.out; the exit status is the test binary's.
xh_gotest() {
	local name=$1 dir
	shift
	dir=$(mktemp -d /tmp/gotest.XXXXXX) || return 1
	(cd "$dir" && exec "$XH_SHARE/bin/$name.test" -test.v -test.count=1 "$@") 2>&1 | tee "$XH_OUT/$name.out"
	return "${PIPESTATUS[0]}"
}

# xh_xenstore FILE: the whole XenStore tree with permissions, into $XH_OUT/FILE.
xh_xenstore() { xenstore-ls -fp > "$XH_OUT/$1" 2>&1; }

# xh_destroy_all: destroy every guest (domain id > 0) and wait until xl
# lists none, at most 60 s.
xh_destroy_all() {
	local d i
	for d in $(xl list | awk 'NR > 2 {print $2}'); do xl destroy "$d"; done
	for ((i = 0; i < 300; i++)); do
		[ "$(xl list | awk 'NR > 2' | wc -l)" = 0 ] && return 0
		sleep 0.2
	done
	echo "guests left after 60 s:" >&2; xl list >&2; return 1
}

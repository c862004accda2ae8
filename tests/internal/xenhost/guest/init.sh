#!/bin/sh
# The test guests' init (a Linux PV domU with busybox). It loads netfront and
# blkfront, waits for every device the toolstack gave it, and reports on its
# console (hvc0, logged by dom0's xenconsoled) one line per fact:
#
#   XG <dev> <key> <value>     dev is vif/<id> or vbd/<id> (the xenbus device),
#                              or guest (vcpus, mem_available_kb,
#                              irq.<name>: an event channel's interrupts)
#   XO <line>                  output of the command given as xg.run=
#
# then runs xg.run (base64 of a shell snippet, from the kernel command line
# set by the guest config's extra=), reports again with the prefix XG2, and
# prints "XG done". It then idles until dom0 destroys it.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
# A module's parameters on the kernel command line (xen_blkfront.max_queues=1),
# given to insmod as modprobe gives them ('-' and '_' alike in the name).
params() {
	for a in $(cat /proc/cmdline); do
		case $a in *.*=*) ;; *) continue ;; esac
		[ "$(echo "${a%%.*}" | tr - _)" = "$1" ] && echo "${a#*.}"
	done
}
while read -r ko; do
	m=$(basename "$ko" .ko | tr - _)
	insmod "$ko" $(params "$m")
done < /lib/modules/load
ip link set lo up

# Every xenbus device must have its interface or disk, at most 60 s.
ready() {
	for d in /sys/bus/xen/devices/vif-* /sys/bus/xen/devices/vbd-*; do
		[ -e "$d" ] || continue
		case $d in
		*/vif-*) ls "$d"/net/ 2>/dev/null | grep -q . || return 1 ;;
		*/vbd-*) ls "$d"/block/ 2>/dev/null | grep -q . || return 1 ;;
		esac
	done
	return 0
}
i=0
while ! ready && [ $i -lt 300 ]; do sleep 0.2; i=$((i + 1)); done

report() {
	p=$1
	echo "$p guest vcpus $(grep -c ^processor /proc/cpuinfo)"
	# What the frontends' buffers left (blkfront allocates its persistent
	# grants' pages when it connects).
	echo "$p guest mem_available_kb $(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)"
	# Event channel interrupts, one line per channel (netfront's vif0-q0-tx,
	# vif0-q0-rx..., blkfront's blkif, blkif#1... one per ring), summed over
	# CPUs.
	awk -v p="$p" '/xen-dyn/ { n = 0; for (i = 2; i < NF; i++) if ($i ~ /^[0-9]+$/) n += $i
		k = $NF; if (seen[$NF]++) k = k "#" (seen[$NF] - 1); print p " guest irq." k " " n }' /proc/interrupts
	for d in /sys/bus/xen/devices/vif-*; do
		[ -e "$d" ] || continue
		dev=vif/${d##*/vif-}
		n=$(ls "$d"/net/ | head -1)
		echo "$p $dev if $n"
		echo "$p $dev queues $(ls /sys/class/net/$n/queues | grep -c '^tx-')"
		echo "$p $dev mtu $(cat /sys/class/net/$n/mtu)"
		# Features and their parts (tcp-segmentation-offload is on while
		# either tx-tcp-segmentation, IPv4, or tx-tcp6-segmentation is).
		ethtool -k "$n" 2>/dev/null | sed -n 's/^[[:space:]]*\([a-z0-9-]*\): \([a-z]*\).*/\1 \2/p' |
			while read -r k v; do echo "$p $dev offload.$k $v"; done
	done
	for d in /sys/bus/xen/devices/vbd-*; do
		[ -e "$d" ] || continue
		dev=vbd/${d##*/vbd-}
		b=$(ls "$d"/block/ | head -1)
		q=/sys/block/$b/queue
		echo "$p $dev disk $b"
		echo "$p $dev queues $(ls /sys/block/$b/mq | wc -l)"
		# The requests a hardware queue takes: blkfront's ring size.
		echo "$p $dev ring $(cat /sys/block/$b/mq/0/nr_tags)"
		echo "$p $dev sectors $(cat /sys/block/$b/size)"
		echo "$p $dev ro $(cat /sys/block/$b/ro)"
		for k in discard_max_bytes max_segments max_hw_sectors_kb write_cache nr_requests; do
			echo "$p $dev $k $(cat $q/$k 2>/dev/null | tr ' ' _)"
		done
	done
}
report XG

run=$(sed -n 's/.*xg\.run=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -n "$run" ]; then
	echo "$run" | base64 -d > /tmp/run.sh
	sh /tmp/run.sh > /tmp/run.out 2>&1
	rc=$?
	sed 's/^/XO /' /tmp/run.out
	echo "XG guest run-exit $rc"
	report XG2
fi
echo "XG done"
while :; do sleep 3600; done

#!/bin/sh
# bench_guests.sh XFEAT [N]: start a sandbox host in a temporary rundir,
# create N guests one after another with `xfeat create` (as a provisioning
# script would), list them, destroy them all, and print the timings. Each
# guest has one vif and one disk (one queue, one ring page, no indirect
# descriptors: a small guest, so that N=1000 fits any CI machine).
set -eu
XFEAT=${1:?usage: bench_guests.sh XFEAT [N]}
N=${2:-1000}
case $XFEAT in /*) ;; *) XFEAT=$(pwd)/$XFEAT ;; esac
dir=$(mktemp -d /tmp/xfbench.XXXXXX)
cleanup() { "$XFEAT" host stop --rundir "$dir/run" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT INT TERM
"$XFEAT" host start --rundir "$dir/run" >/dev/null
sock=$dir/run/socket
truncate -s 16M "$dir/disk.img"
i=0
while [ "$i" -lt "$N" ]; do
	cat >"$dir/g$i.cfg" <<CFG
name = "bench$i"
max_grant_frames = 4
vif  = [ "bridge=xenbr0,queues=1,features=feature-split-event-channels:0" ]
disk = [ "$dir/disk.img,raw,xvda,ro,queues=1,max-ring-page-order=0,max-indirect-segments=0" ]
CFG
	i=$((i + 1))
done
now() { date +%s%N; }
start=$(now)
i=0
while [ "$i" -lt "$N" ]; do
	"$XFEAT" create --xenstore "$sock" "$dir/g$i.cfg" >/dev/null
	i=$((i + 1))
done
created=$(now)
count=$("$XFEAT" list --xenstore "$sock" | grep -c Connected)
listed=$(now)
i=0
while [ "$i" -lt "$N" ]; do
	"$XFEAT" destroy --xenstore "$sock" "bench$i"
	i=$((i + 1))
done
destroyed=$(now)
left=$("$XFEAT" list --xenstore "$sock" | wc -l)
ms() { echo "$1" | awk '{printf "%.1f", $1 / 1e6}'; }
echo "guests created:       $N in $(ms $((created - start))) ms ($(ms $(((created - start) / N))) ms per create, every device Connected)"
echo "devices Connected:    $count (of $((2 * N)))"
echo "xfeat list of $N:     $(ms $((listed - created))) ms"
echo "guests destroyed:     $N in $(ms $((destroyed - listed))) ms ($(ms $(((destroyed - listed) / N))) ms per destroy)"
echo "domains left:         $left (Domain-0 only)"
[ "$count" -eq $((2 * N)) ] && [ "$left" -eq 1 ]

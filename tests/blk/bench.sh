#!/bin/sh
# bench-blkdata: the block data path against fio, in one go.
#
#  1. xfeat io, 4 KiB random reads at iodepth 32 on a sandbox guest's disk
#     whose image is in tmpfs, and fio (libaio, same file, same pattern)
#     directly on the image: the ratio is what the whole PV path (grants,
#     ring, event channel, blkback) costs compared with the host reading
#     the file itself.
#  2. The same for 1 MiB sequential reads.
#  3. A table of what each blkif feature buys: 4 KiB random read IOPS and
#     1 MiB sequential read MB/s for queues 1/2 x ring-page-order 0/2 x
#     persistent grants on/off x indirect descriptors on/off.
#
# The headline runs twice: the default disk (4 queues) and a one-queue disk
# on the same image (fio runs one job).
# XFEAT is the binary (default: xfeat on PATH); BENCH_RUNTIME the length of
# each run (default 5s for 1 and 2, a third of it, at least 1s, for 3).
set -eu

XFEAT=${XFEAT:-xfeat}
RUNTIME=${BENCH_RUNTIME:-5}
SHORT=$(( RUNTIME / 3 )); [ "$SHORT" -ge 1 ] || SHORT=1
command -v fio >/dev/null || { echo "bench-blkdata: fio is not installed (apt-get install fio)" >&2; exit 1; }

SHM=/dev/shm
[ -d "$SHM" ] || SHM=/tmp
RUN=$(mktemp -d /tmp/xfbench.XXXXXX)
IMG=$(mktemp "$SHM/xfbench.XXXXXX.img")
cleanup() {
	"$XFEAT" host stop --rundir "$RUN" >/dev/null 2>&1 || true
	rm -rf "$RUN" "$IMG"
}
trap cleanup EXIT
trap "exit 1" INT TERM HUP PIPE

# A 256 MiB image with real data in it (holes would read too cheaply).
dd if=/dev/urandom of="$IMG" bs=1M count=256 status=none
"$XFEAT" host start --rundir "$RUN" >/dev/null

json() { python3 -c 'import json,sys; print(json.load(sys.stdin)'"$1"')'; }

xio() { # DOM/VDEV RW BS IODEPTH RUNTIME -> JSON
	"$XFEAT" io --rundir "$RUN" "$1" --rw "$2" --bs "$3" --iodepth "$4" --runtime "${5}s" -o json
}

fio_run() { # RW BS IODEPTH RUNTIME -> iops bw_bytes
	fio --name=bench --filename="$IMG" --rw="$1" --bs="$2" --iodepth="$3" --ioengine=libaio \
		--runtime="$4" --time_based --numjobs=1 --group_reporting --output-format=json 2>/dev/null |
		python3 -c 'import json,sys; r=json.load(sys.stdin)["jobs"][0]["read"]; print("%.0f %.1f" % (r["iops"], r["bw_bytes"]/1e6))'
}

cat >"$RUN/bench.cfg" <<EOF
name = "bench"
type = "pv"
memory = 512
max_grant_frames = 4096
disk = [ "$IMG,raw,xvda,rw", "format=raw,vdev=xvdb,access=ro,queues=1,target=$IMG" ]
EOF
"$XFEAT" create --xenstore "$RUN/socket" "$RUN/bench.cfg" >/dev/null

echo "== 4 KiB random read, iodepth 32, ${RUNTIME}s, image in $SHM"
set -- $(fio_run randread 4k 32 "$RUNTIME"); FI=$1
printf "  fio            %10.0f IOPS  (libaio, one job, the same file)\n" "$FI"
for d in "xvda default features (4 queues, order 4, persistent, indirect)" "xvdb one queue (as fio's one job)"; do
	X=$(xio "bench/${d%% *}" randread 4k 32 "$RUNTIME")
	XI=$(echo "$X" | json '["iops"]'); P50=$(echo "$X" | json '["lat_p50_us"]'); P99=$(echo "$X" | json '["lat_p99_us"]')
	printf "  xfeat io %-5s %10.0f IOPS  ratio %.2f (target >= 0.9)  p50 %s us, p99 %s us  [%s]\n" \
		"${d%% *}" "$XI" "$(python3 -c "print($XI/$FI)")" "$P50" "$P99" "${d#* }"
done

echo "== 1 MiB sequential read, iodepth 4, ${RUNTIME}s"
X=$(xio bench/xvda read 1M 4 "$RUNTIME")
XM=$(echo "$X" | json '["mbps"]')
set -- $(fio_run read 1M 4 "$RUNTIME"); FM=$2
printf "  xfeat io  %10.1f MB/s\n  fio       %10.1f MB/s\n  ratio     %10.2f\n" "$XM" "$FM" "$(python3 -c "print($XM/$FM)")"
"$XFEAT" destroy --xenstore "$RUN/socket" bench >/dev/null

echo "== what each feature buys (${SHORT}s per run): 4 KiB randread iodepth 32, 1 MiB read iodepth 4"
printf "  %-7s %-6s %-11s %-9s %12s %12s\n" QUEUES ORDER PERSISTENT INDIRECT "4K IOPS" "1M MB/s"
for q in 1 2; do for o in 0 2; do for p in on off; do for i in 256 0; do
	cat >"$RUN/t.cfg" <<EOF
name = "t"
type = "pv"
memory = 512
max_grant_frames = 4096
disk = [ "$IMG,raw,xvda,rw,queues=$q,max-ring-page-order=$o,persistent=$p,max-indirect-segments=$i" ]
EOF
	"$XFEAT" create --xenstore "$RUN/socket" "$RUN/t.cfg" >/dev/null
	A=$(xio t/xvda randread 4k 32 "$SHORT" | json '["iops"]')
	B=$(xio t/xvda read 1M 4 "$SHORT" | json '["mbps"]')
	"$XFEAT" destroy --xenstore "$RUN/socket" t >/dev/null
	ind=off; [ "$i" = 0 ] || ind="on($i)"
	printf "  %-7s %-6s %-11s %-9s %12.0f %12.1f\n" "$q" "$o" "$p" "$ind" "$A" "$B"
done; done; done; done

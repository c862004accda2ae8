//go:build xenhost

package xenhost_test

import (
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/pv"
)

// g1Run is what guest g1 runs once its devices are up (xg.run, at most
// about 700 bytes: a PV guest's command line holds 1024): it pings dom0 on
// the bridge, writes a known 4 MiB pattern to its disk, drops its caches
// and reads the pattern back through blkfront, timing both (uptime). After
// xl reboot, the same command line: it finds the pattern already on the
// disk, and reads it all back instead of writing.
const g1Run = `ip addr add 198.18.0.2/24 dev eth0 && ip link set eth0 up
ping -c 3 -W 30 198.18.0.1 >/tmp/o 2>&1; echo "ping rc $?"; tail -2 /tmp/o
yes xfeat-pattern-0123456789abcdef | head -c 4194304 >/tmp/p
u() { cut -d' ' -f1 /proc/uptime; }
rd() { echo 3 >/proc/sys/vm/drop_caches; t=$(u); dd if=/dev/xvda of=/tmp/r bs=64k count=64 2>/dev/null && echo "read $t $(u)"; cmp /tmp/p /tmp/r && echo "pattern $1"; }
if cmp -s -n 65536 /tmp/p /dev/xvda; then rd found; else
t=$(u); dd if=/tmp/p of=/dev/xvda bs=64k conv=fsync 2>/dev/null && echo "write $t $(u)"
rd "read back"; fi
`

// g2Run: guest g2 takes its address on the bridge and uses its disk.
const g2Run = `ip addr add 198.18.0.3/24 dev eth0 && ip link set eth0 up
ping -c 2 -W 30 198.18.0.1 > /dev/null 2>&1; echo "ping rc $?"
yes g2 | head -c 1048576 | dd of=/dev/xvda bs=64k conv=fsync 2>&1 | tail -1
`

// TestBackendRun: xfeat's own backends on a real Xen host (xfeat backend
// run in dom0, Linux's netback and blkback unloaded), guests made by
// xfeat create, which writes each device's config-* while xl holds the
// domain paused. In one boot:
//   - backend run refuses to start beside the kernel's backends, and beside
//     another backend run serving the same type;
//   - g2: a disk with persistent=on and max-indirect-segments above the
//     backend's maximum (--vbd-max-indirect-segments 64): clamped;
//   - g1: a disk with queues=2, max-ring-page-order=1, persistent=off,
//     max-indirect-segments=16 and a vif with queues=1, tso4=off: what its
//     blkfront and netfront negotiate is exactly that, it pings dom0 over
//     the Go netback, writes a pattern with dd and reads it back, and dom0
//     finds the pattern in the image; xfeat show judges every request;
//   - xl reboot g1 (256 MB: blkfront's persistent grants on order-4 rings
//     of 2 queues take about 130 MB): xl rebuilds it from its own config,
//     without xfeat's requests; the new domain's devices connect to the Go
//     backends with their defaults, the guest boots and reads back the
//     pattern written before, the old domain's devices go with every event
//     channel of them, and dom0 pings g2 every second throughout;
//   - xl destroy g1: its devices go, with every grant mapping and bound
//     event channel of them, while g2 is still served (dom0 pings it);
//   - SIGTERM: g2's devices are Closed, nothing mapped or bound, the TAP and
//     the schemas removed, exit status 0.
func TestBackendRun(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString
	r := scenario(t, "backend-run", `
B=/local/domain/0/backend
bpid=
ploop=
cleanup() {
	[ -n "$ploop" ] && kill "$ploop" 2>/dev/null
	[ -n "$bpid" ] && kill -TERM "$bpid" 2>/dev/null && wait "$bpid"
	xh_destroy_all
	modprobe xen-netback; modprobe xen-blkback
}
trap cleanup EXIT
# phase NAME: a timestamp, in seconds.
phase() { echo "$1 $(date +%s.%N)" >> "$XH_OUT/phases"; }
# res NAME: the backend's gntdev mappings and its bound event channels.
res() { echo "$1 $(grep -c /dev/xen/gntdev /proc/$bpid/maps) $(grep -c 'evtchn:xfeat' /proc/interrupts)" >> "$XH_OUT/resources"; }
# gone DIR...: wait until no DIR exists, at most 60 s.
gone() {
	local end=$((SECONDS + 60)) d left
	while [ $SECONDS -lt $end ]; do
		left=
		for d; do xenstore-exists "$d" 2>/dev/null && left=1; done
		[ -z "$left" ] && return 0
		sleep 0.2
	done
	echo "still there after 60 s: $*" >&2; return 1
}

timeout 30 $XFEAT backend run > "$XH_OUT/refuse.out" 2>&1; echo $? > "$XH_OUT/refuse.rc"
rmmod xen-netback xen-blkback || exit 1
phase start
$XFEAT backend run --vbd-max-indirect-segments 64 --log-file "$XH_OUT/backend.log" &
bpid=$!
for ((i = 0; i < 300; i++)); do
	xenstore-exists $B/vbd/features 2>/dev/null && xenstore-exists $B/vif/features 2>/dev/null && break
	sleep 0.2
done
phase advertised
timeout 30 $XFEAT backend run --types vbd > "$XH_OUT/refuse2.out" 2>&1; echo $? > "$XH_OUT/refuse2.rc"
res idle

img2=$(xh_disk 16M)
xh_guest_cfg g2 'vcpus = 1' "vif = [ \"bridge=xenbr0,mac=00:16:3e:5a:00:02,script=$(xh_vif_script)\" ]" \
	"disk = [ \"format=raw,vdev=xvda,access=rw,persistent=on,max-indirect-segments=128,script=$(xh_block_script),target=$img2\" ]" \
	"extra = \"console=hvc0 xen_blkfront.max_indirect_segments=128 xg.run=$RUN2\"" > /dev/null
$XFEAT create --wait 180s "$XH_OUT/g2.cfg" > "$XH_OUT/create-g2.out" 2>&1; echo $? > "$XH_OUT/create-g2.rc"
xh_guest_wait g2 300 || exit 1
d2=$(xl domid g2)
res g2

img1=$(xh_disk 64M)
xh_guest_cfg g1 'vcpus = 2' "vif = [ \"bridge=xenbr0,mac=00:16:3e:5a:00:01,queues=1,tso4=off,script=$(xh_vif_script)\" ]" \
	"disk = [ \"format=raw,vdev=xvda,access=rw,queues=2,max-ring-page-order=1,persistent=off,max-indirect-segments=16,script=$(xh_block_script),target=$img1\" ]" \
	"extra = \"console=hvc0 xen_blkfront.max_ring_page_order=4 xg.run=$RUN1\"" 'memory = 256' > /dev/null
phase create-g1
$XFEAT create --wait 180s "$XH_OUT/g1.cfg" > "$XH_OUT/create-g1.out" 2>&1; echo $? > "$XH_OUT/create-g1.rc"
phase created-g1
xh_guest_wait g1 300 || exit 1
phase reported-g1
d1=$(xl domid g1)
res g1
xh_xenstore xs1.txt
for g in g1 g2; do
	$XFEAT show vif $g/0 -o json > "$XH_OUT/show-vif-$g.json"
	$XFEAT show disk $g/xvda -o json > "$XH_OUT/show-vbd-$g.json"
	{ $XFEAT show vif $g/0; $XFEAT show disk $g/xvda; } > "$XH_OUT/show-$g.txt"
done
yes xfeat-pattern-0123456789abcdef | head -c 4194304 | cmp -n 4194304 - "$img1" > "$XH_OUT/image.cmp" 2>&1; echo $? > "$XH_OUT/image.rc"
cat /sys/class/net/vif$d1.0/statistics/rx_packets /sys/class/net/vif$d1.0/statistics/tx_packets > "$XH_OUT/tap-g1" 2>&1

# xl reboot g1: xl rebuilds it from its own config (none of xfeat's
# requests) as a new domain. Its console log is moved aside for the new
# boot's report; dom0 pings g2 every second meanwhile.
log=$(xh_console_log g1)
mv "$log" "$log.1"
(for ((i = 0; i < 300; i++)); do
	[ -e /tmp/ping-g2.stop ] && break
	ping -c 1 -W 5 198.18.0.3 > /dev/null 2>&1; echo $? >> "$XH_OUT/ping-g2-reboot"
	sleep 1
done) &
ploop=$!
phase reboot
xl reboot g1
# The old domain's devices gone, the new domain's id (a vbd directory of
# neither g1 nor g2), then both its devices Connected at both ends, at
# most 120 s.
n= og=
for ((i = 0; i < 600; i++)); do
	if [ -z "$og" ] && ! xenstore-exists $B/vbd/$d1 2>/dev/null && ! xenstore-exists $B/vif/$d1 2>/dev/null; then
		og=1; phase old-gone
	fi
	if [ -z "$n" ]; then
		for d in $(xenstore-list $B/vbd 2>/dev/null); do
			case $d in *[!0-9]* | "$d1" | "$d2") ;; *) n=$d ;; esac
		done
		[ -n "$n" ] && phase new-devices
	fi
	[ -n "$n" ] && [ "$(xenstore-read $B/vbd/$n/51712/state $B/vif/$n/0/state \
		/local/domain/$n/device/vbd/51712/state /local/domain/$n/device/vif/0/state 2>/dev/null | tr -d '\n')" = 4444 ] && break
	sleep 0.2
	[ $i = 599 ] && { echo "g1's devices not Connected 120 s after xl reboot (domain ${n:-none})" >&2; exit 1; }
done
phase reconnected
gone $B/vbd/$d1 $B/vif/$d1 && echo ok > "$XH_OUT/rebooted-gone"
ip link show vif$d1.0 > "$XH_OUT/rebooted-tap" 2>&1
xh_guest_wait g1 300 guest-g1-reboot.log || exit 1
phase reported-reboot
touch /tmp/ping-g2.stop; wait $ploop; ploop=
res rebooted
echo "$d1 $n" > "$XH_OUT/domids"
xh_xenstore xs2.txt

phase destroy
xl destroy g1
gone $B/vbd/$n $B/vif/$n && echo ok > "$XH_OUT/destroyed-gone"
phase destroyed
ip link show vif$n.0 > "$XH_OUT/destroyed-tap" 2>&1
res destroyed
ping -c 3 -W 10 198.18.0.3 > "$XH_OUT/ping-g2" 2>&1; echo $? > "$XH_OUT/ping-g2.rc"

phase sigterm
kill -TERM $bpid
end=$((SECONDS + 60))
while [ $SECONDS -lt $end ]; do kill -0 $bpid 2>/dev/null || break; sleep 0.2; done
wait $bpid; echo $? > "$XH_OUT/term.rc"
phase stopped
bpid=
echo "$(xenstore-read $B/vbd/$d2/51712/state) $(xenstore-read $B/vif/$d2/0/state)" > "$XH_OUT/term-states"
grep -c 'evtchn:xfeat' /proc/interrupts > "$XH_OUT/term-evtchn"
{ xenstore-exists $B/vbd/features || xenstore-exists $B/vif/features; } 2>/dev/null; echo $? > "$XH_OUT/term-schema"
ip link show vif$d2.0 > "$XH_OUT/term-tap" 2>&1
true
`, map[string]string{"RUN1": b64([]byte(g1Run)), "RUN2": b64([]byte(g2Run))}, 14*time.Minute)
	report := r.Report()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf(format, args...)
	}
	trim := func(name string) string { return strings.TrimSpace(file(t, r, name)) }

	// Refusals.
	if rc, out := trim("refuse.rc"), file(t, r, "refuse.out"); rc != "1" || !strings.Contains(out, "rmmod xen-netback") || !strings.Contains(out, "rmmod xen-blkback") {
		fail("backend run beside the kernel's backends: exit %s, want 1 and how to unload them:\n%s", rc, out)
	}
	if rc, out := trim("refuse2.rc"), file(t, r, "refuse2.out"); rc != "1" || !strings.Contains(out, "backend-vbd.lock") {
		fail("a second backend run for vbd: exit %s, want 1 naming the lock:\n%s", rc, out)
	}
	for _, g := range []string{"g1", "g2"} {
		if rc := trim("create-" + g + ".rc"); rc != "0" {
			t.Fatalf("xfeat create %s: exit %s\n%s\n%s", g, rc, file(t, r, "create-"+g+".out"), report)
		}
	}
	if out := file(t, r, "create-g2.out"); !strings.Contains(out, "max-indirect-segments") {
		fail("xfeat create g2: no warning that max-indirect-segments=128 is above the backend's 64:\n%s", out)
	}

	// What g1's frontends negotiated, as the guest and XenStore show it.
	logs := []string{file(t, r, "guest-g1.log")}
	g1, g1after := guestReport(logs[0], "XG"), guestReport(logs[0], "XG2")
	xs := xenstoreTree(file(t, r, "xs1.txt"))
	ids := strings.Fields(trim("domids"))
	if len(ids) != 2 || ids[0] == ids[1] {
		t.Fatalf("domids (g1, g1 after xl reboot): %q", ids)
	}
	fe := "/local/domain/" + ids[0] + "/device/vbd/51712"
	for k, want := range map[string]string{"multi-queue-num-queues": "2", "ring-page-order": "1"} {
		if got := xs[fe+"/"+k]; got != want {
			fail("g1's blkfront wrote %s = %q, want %q", k, got, want)
		}
	}
	for q := 0; q < 2; q++ {
		for ref := 0; ref < 2; ref++ {
			if _, ok := xs[fe+"/queue-"+strconv.Itoa(q)+"/ring-ref"+strconv.Itoa(ref)]; !ok {
				fail("g1's blkfront: no queue-%d/ring-ref%d (2 queues of 2 ring pages)", q, ref)
			}
		}
	}
	// What blkfront says it uses (its own feature-persistent key is its
	// setting, not the outcome).
	for g, want := range map[string]string{
		logs[0]:                    "persistent grants: disabled; indirect descriptors: enabled",
		file(t, r, "guest-g2.log"): "persistent grants: enabled; indirect descriptors: enabled",
	} {
		if !strings.Contains(g, want) {
			fail("a guest's blkfront does not say %q:\n%s", want, strings.Join(grepLines(g, "["), "\n"))
		}
	}
	for k, want := range map[string]string{"queues": "2", "max_segments": "16"} {
		if got := g1["vbd/51712"][k]; got != want {
			fail("g1's disk: %s %q, want %q", k, got, want)
		}
	}
	for k, want := range map[string]string{"queues": "1", "offload.tx-tcp-segmentation": "off", "offload.tx-tcp6-segmentation": "on"} {
		if got := g1["vif/0"][k]; got != want {
			fail("g1's vif: %s %q, want %q", k, got, want)
		}
	}
	out := strings.Join(grepLines(logs[0], "XO "), "\n")
	t.Logf("g1's run:\n%s", out)
	if !strings.Contains(out, "XO ping rc 0") || !strings.Contains(out, "XO pattern read back") || !strings.Contains(out, "XO write ") {
		fail("g1: ping dom0, write 4 MiB and read it back:\n%s", out)
	}
	for _, op := range []string{"write", "read"} {
		if m := regexp.MustCompile(`XO ` + op + ` ([0-9.]+) ([0-9.]+)`).FindStringSubmatch(out); m != nil {
			a, _ := strconv.ParseFloat(m[1], 64)
			b, _ := strconv.ParseFloat(m[2], 64)
			t.Logf("g1: dd %s of 4 MiB in %.2f s (%.1f MB/s, emulated)", op, b-a, 4.194304/max(b-a, 0.01))
		}
	}
	if rc := trim("image.rc"); rc != "0" {
		fail("dom0: the image does not hold the pattern g1 wrote: %s", file(t, r, "image.cmp"))
	}
	// Per-queue counters: every event channel of g1's vif and disk fired
	// during its run; the Go netback counted the queue's packets.
	moved := 0
	for k, v := range g1after["guest"] {
		if !strings.HasPrefix(k, "irq.vif0-q0") && !strings.HasPrefix(k, "irq.blkif") {
			continue
		}
		before, _ := strconv.Atoi(g1["guest"][k])
		after, _ := strconv.Atoi(v)
		t.Logf("g1 %s: %d -> %d interrupts", k, before, after)
		if after > before {
			moved++
		}
	}
	if moved < 3 {
		fail("g1: %d event channels of vif0 queue 0 and the disk fired during its run, want its tx, rx and a blkif ring", moved)
	}
	queueLog := regexp.MustCompile(`vif ` + ids[0] + `/0: queue 0: from the guest (\d+) packets \d+ bytes.*to the guest (\d+) packets`)
	if m := queueLog.FindStringSubmatch(file(t, r, "backend.log")); m == nil || m[1] == "0" || m[2] == "0" {
		fail("the backend logged no packets both ways on g1's vif queue 0 when it went: %v", m)
	} else {
		t.Logf("netback, g1's vif queue 0: %s packets from the guest, %s to it", m[1], m[2])
	}

	// xl reboot g1: a new domain, rebuilt by xl from its own config: its
	// devices connect to the Go backends with their defaults (no config-*
	// under its backend directories; blkfront takes order-4 rings and
	// persistent grants, which is why g1 has 256 MB), it boots, finds on its
	// disk the pattern its previous life wrote, and nothing of the old
	// domain is left in the backend.
	rlog, requested := file(t, r, "guest-g1-reboot.log"), 0
	g1r := guestReport(rlog, "XG")
	xs2 := xenstoreTree(file(t, r, "xs2.txt"))
	for k := range xs {
		if strings.HasPrefix(k, "/local/domain/0/backend/vbd/"+ids[0]+"/51712/"+pv.ConfigPrefix) {
			requested++
		}
	}
	if requested == 0 {
		fail("before xl reboot: no %s* key under g1's vbd backend directory (xfeat create's requests)", pv.ConfigPrefix)
	}
	for k := range xs2 {
		if strings.Contains(k, "/backend/") && strings.Contains(k, "/"+ids[1]+"/") && strings.Contains(k, "/"+pv.ConfigPrefix) {
			fail("after xl reboot: %s, a request, is under the new domain's backend directories", k)
		}
	}
	feR, beR := "/local/domain/"+ids[1]+"/device/vbd/51712", "/local/domain/0/backend/vbd/"+ids[1]+"/51712"
	vfR, vbR := "/local/domain/"+ids[1]+"/device/vif/0", "/local/domain/0/backend/vif/"+ids[1]+"/0"
	for k, want := range map[string]string{
		// What the backend offers: its defaults (and the 64 it was started with).
		beR + "/multi-queue-max-queues": "4", beR + "/max-ring-page-order": "4",
		beR + "/feature-persistent": "1", beR + "/feature-max-indirect-segments": "64",
		vbR + "/multi-queue-max-queues": "4", vbR + "/feature-gso-tcpv4": "1",
		// What the frontends took.
		feR + "/multi-queue-num-queues": "2", feR + "/ring-page-order": "4", feR + "/feature-persistent": "1",
		vfR + "/multi-queue-num-queues": "2",
	} {
		if got := xs2[k]; got != want {
			fail("after xl reboot: %s = %q, want %q", k, got, want)
		}
	}
	for q := 0; q < 2; q++ {
		if _, ok := xs2[feR+"/queue-"+strconv.Itoa(q)+"/ring-ref15"]; !ok {
			fail("after xl reboot: no queue-%d/ring-ref15 (2 queues of 16 ring pages)", q)
		}
	}
	if !strings.Contains(rlog, "persistent grants: enabled; indirect descriptors: enabled") {
		fail("after xl reboot: blkfront does not say it uses persistent grants:\n%s", strings.Join(grepLines(rlog, "["), "\n"))
	}
	for k, want := range map[string]string{"queues": "2", "ring": "512", "max_segments": "32"} {
		if got := g1r["vbd/51712"][k]; got != want {
			fail("g1's disk after xl reboot: %s %q, want %q", k, got, want)
		}
	}
	for k, want := range map[string]string{"queues": "2", "offload.tx-tcp-segmentation": "on"} {
		if got := g1r["vif/0"][k]; got != want {
			fail("g1's vif after xl reboot: %s %q, want %q", k, got, want)
		}
	}
	rout := strings.Join(grepLines(rlog, "XO "), "\n")
	t.Logf("g1's run after xl reboot:\n%s", rout)
	if !strings.Contains(rout, "XO ping rc 0") || !strings.Contains(rout, "XO pattern found") || strings.Contains(rout, "XO write ") {
		fail("g1 after xl reboot: ping dom0, find the 4 MiB written before and read it back, without writing:\n%s", rout)
	}
	t.Logf("g1: MemAvailable %s kB (requests), %s kB after xl reboot (the backend's defaults)",
		g1["guest"]["mem_available_kb"], g1r["guest"]["mem_available_kb"])
	if trim("rebooted-gone") != "ok" || !strings.Contains(file(t, r, "rebooted-tap"), "does not exist") {
		fail("after xl reboot: the old domain's devices or TAP remain: %s", file(t, r, "rebooted-tap"))
	}
	pings := strings.Fields(trim("ping-g2-reboot"))
	lost := 0
	for _, rc := range pings {
		if rc != "0" {
			lost++
		}
	}
	t.Logf("dom0 pinged g2 %d times during g1's reboot, %d unanswered", len(pings), lost)
	if len(pings) < 2 || lost > 0 {
		fail("g2 not served throughout g1's reboot: ping exit statuses %v", pings)
	}

	// xfeat show: request, advertised, effective, negotiated, verdict.
	type row struct{ requested, effective, negotiated, verdict string }
	check := func(name string, want map[string]row) {
		t.Helper()
		s := decode[showJSON](t, name, file(t, r, name))
		if s.Schema != "advertised" {
			fail("%s: schema %q, want advertised", name, s.Schema)
		}
		for _, f := range s.Features {
			w, ok := want[f.Name]
			if !ok {
				continue
			}
			delete(want, f.Name)
			got := row{deref(f.Requested), deref(f.Effective), deref(f.Negotiated), f.Verdict}
			if w.negotiated == "" {
				w.negotiated = got.negotiated // the frontend writes no key for it
			}
			if got != w || f.Advertised == nil {
				fail("%s: %s = %+v (advertised %s), want %+v", name, f.Name, got, deref(f.Advertised), w)
			}
		}
		for n := range want {
			fail("%s: no row for %s", name, n)
		}
	}
	check("show-vbd-g1.json", map[string]row{
		"multi-queue-max-queues":        {"2", "2", "2", "applied"},
		"max-ring-page-order":           {"1", "1", "1", "applied"},
		"feature-persistent":            {"0", "0", "0", "applied"},
		"feature-max-indirect-segments": {"16", "16", "", "applied"},
	})
	check("show-vif-g1.json", map[string]row{
		"multi-queue-max-queues": {"1", "1", "", "applied"},
		"feature-gso-tcpv4":      {"0", "0", "", "applied"},
	})
	check("show-vbd-g2.json", map[string]row{
		"feature-persistent":            {"1", "1", "1", "applied"},
		"feature-max-indirect-segments": {"128", "64", "", "clamped"},
	})
	g2 := guestReport(file(t, r, "guest-g2.log"), "XG")
	if got := g2["vbd/51712"]["max_segments"]; got != "64" {
		fail("g2's disk: max_segments %q, want 64 (the backend's maximum)", got)
	}
	t.Logf("xfeat show, g1 and g2:\n%s", file(t, r, "show-g1.txt")+file(t, r, "show-g2.txt"))

	ph := phases(t, file(t, r, "phases"))
	t.Logf("backend run: schemas advertised %.1fs after start; g1: xfeat create %.1fs, report %.1fs later; "+
		"xl reboot to the old domain's devices gone %.1fs, the new domain's written %.1fs, all Connected %.1fs, the guest's report %.1fs; "+
		"xl destroy to devices gone %.1fs; SIGTERM to exit %.1fs",
		ph["advertised"]-ph["start"], ph["created-g1"]-ph["create-g1"], ph["reported-g1"]-ph["created-g1"],
		ph["old-gone"]-ph["reboot"], ph["new-devices"]-ph["reboot"], ph["reconnected"]-ph["reboot"], ph["reported-reboot"]-ph["reboot"],
		ph["destroyed"]-ph["destroy"], ph["stopped"]-ph["sigterm"])
	// The backend's bound event channels are exactly those of the live
	// guests' devices (each one's other end, as the guest reports them):
	// after xl reboot none of the old domain's is left. Its gntdev mappings
	// (rings, and the persistent grants the guest used) grow with each
	// guest and, once g1 is destroyed, are g2's again.
	res := resources(t, file(t, r, "resources"))
	t.Logf("backend's gntdev mappings / bound event channels: %v", res)
	chans := func(rep map[string]map[string]string) int {
		n := 0
		for k := range rep["guest"] {
			if strings.HasPrefix(k, "irq.vif") || strings.HasPrefix(k, "irq.blkif") {
				n++
			}
		}
		return n
	}
	c2, c1, c1r := chans(g2), chans(g1), chans(g1r)
	t.Logf("event channels of the guests' devices: g2 %d, g1 %d, g1 after xl reboot %d", c2, c1, c1r)
	if res["idle"] != [2]int{0, 0} {
		fail("idle backend holds %v mappings/ports", res["idle"])
	}
	for _, w := range []struct {
		state string
		ports int
	}{{"g2", c2}, {"g1", c2 + c1}, {"rebooted", c2 + c1r}, {"destroyed", c2}} {
		if got := res[w.state][1]; got != w.ports || c2 == 0 || c1 == 0 || c1r == 0 {
			fail("%s: the backend has %d event channels bound, the live guests' devices %d", w.state, got, w.ports)
		}
	}
	if res["g1"][0] <= res["g2"][0] || res["rebooted"][0] <= res["g2"][0] {
		fail("gntdev mappings do not grow with g1: g2 alone %v, with g1 %v, after its reboot %v", res["g2"], res["g1"], res["rebooted"])
	}
	// Destroy: nothing of g1 left, g2 still served.
	if res["destroyed"] != res["g2"] {
		fail("after xl destroy g1 the backend holds %v, g2 alone held %v", res["destroyed"], res["g2"])
	}
	if trim("destroyed-gone") != "ok" || !strings.Contains(file(t, r, "destroyed-tap"), "does not exist") {
		fail("after xl destroy g1: its devices or TAP remain: %s", file(t, r, "destroyed-tap"))
	}
	if rc := trim("ping-g2.rc"); rc != "0" {
		fail("dom0 cannot ping g2 after g1 was destroyed:\n%s", file(t, r, "ping-g2"))
	}

	// SIGTERM.
	if rc := trim("term.rc"); rc != "0" {
		fail("backend run exited %s on SIGTERM, want 0", rc)
	}
	if st := trim("term-states"); st != "6 6" {
		fail("g2's devices after SIGTERM: states %q, want Closed (6 6)", st)
	}
	if n := trim("term-evtchn"); n != "0" {
		fail("%s event channels still bound after SIGTERM", n)
	}
	if rc := trim("term-schema"); rc == "0" {
		fail("a schema is still advertised after SIGTERM")
	}
	if !strings.Contains(file(t, r, "term-tap"), "does not exist") {
		fail("g2's TAP remains after SIGTERM: %s", file(t, r, "term-tap"))
	}
	if t.Failed() {
		t.Logf("backend log:\n%s\n%s", file(t, r, "backend.log"), report)
	}
}

func grepLines(s, prefix string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// phases parses "NAME SECONDS" lines.
func phases(t *testing.T, s string) map[string]float64 {
	out := map[string]float64{}
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			t.Fatalf("phases: %q", l)
		}
		out[f[0]], _ = strconv.ParseFloat(f[1], 64)
	}
	return out
}

// resources parses "NAME MAPPINGS PORTS" lines.
func resources(t *testing.T, s string) map[string][2]int {
	out := map[string][2]int{}
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			t.Fatalf("resources: %q", l)
		}
		m, _ := strconv.Atoi(f[1])
		p, _ := strconv.Atoi(f[2])
		out[f[0]] = [2]int{m, p}
	}
	return out
}

// Package net runs the network data path end to end, as root: a sandbox host
// with netback's TAP path and the guests' TAP-in-a-namespace path, guests
// created by the toolstack on a bridge the test names, and real tools (ping,
// iperf3, ethtool, ip) run inside the guests' namespaces. Addresses come
// from 198.18.0.0/15 only, and every bridge, namespace and interface is the
// test's own and removed when it ends.
package net

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	gonet "net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/xfeat/xfeat/backends/frontends/netfront"
	"github.com/xfeat/xfeat/backends/netback"
	"github.com/xfeat/xfeat/backends/tap"
	"github.com/xfeat/xfeat/internal/testutil"
	"github.com/xfeat/xfeat/sandbox"
	"github.com/xfeat/xfeat/tests/internal/testenv"
	"github.com/xfeat/xfeat/toolstack"
	"github.com/xfeat/xfeat/xsclient"
)

// xfeatBin is the binary under test, built once by TestMain.
var xfeatBin string

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		// Every test that runs the binary needs root and stops without
		// it (needRoot: a skip, or a failure under CI).
		os.Exit(m.Run())
	}
	testenv.MainWithXfeat(m, "xfeat-net-bin", &xfeatBin)
}

// needRoot stops a test that needs TAP devices, bridges and namespaces,
// and the given tools, on a machine without them (testutil.Need: a skip,
// or a failure under CI).
func needRoot(t testing.TB, tools ...string) {
	t.Helper()
	testutil.NeedRoot(t, "CAP_NET_ADMIN for TAP devices, bridges and network namespaces")
	testutil.NeedFile(t, tap.TunPath, "TAP devices")
	for _, tool := range append([]string{"ip"}, tools...) {
		testutil.NeedTool(t, tool, toolPackage[tool])
	}
}

// toolPackage is the Debian package of each tool the tests run (mk/netdata.mk
// lists them for make deps).
var toolPackage = map[string]string{
	"ip": "iproute2", "iperf3": "iperf3", "ethtool": "ethtool", "ping": "iputils-ping", "setpriv": "util-linux",
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// logBuf collects the host's log.
type logBuf struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuf) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// host is a sandbox host with the network data path, in this process.
type host struct {
	*sandbox.Host
	xs     *xsclient.Client
	log    *logBuf
	bridge string
	tag    string // unique per test: names of guests, vifs, the bridge
	stop   func() // stops the host (once; the cleanup calls it too)
}

func startHost(t testing.TB, limits netback.Limits, mods ...func(*sandbox.Config)) *host {
	t.Helper()
	tag := randHex(3)
	lb := &logBuf{}
	if limits.MaxQueues == 0 {
		limits = netback.DefaultLimits()
	}
	cfg := sandbox.Config{Netback: limits, NetData: true, Logf: lb.logf}
	for _, m := range mods {
		m(&cfg)
	}
	br := "xfbr" + tag
	t.Cleanup(func() { tap.DeleteLink(br) })
	// Registered before the host starts, so it runs after the host has
	// stopped and the log is complete.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("host log:\n%s", lb)
		}
	})
	h := testenv.StartHost(t, "xfnet", cfg)
	return &host{Host: h.Host, xs: h.XS, log: lb, bridge: br, tag: tag, stop: h.Stop}
}

// guest is a created domain with one vif.
type guest struct {
	name, netns, ifname, addr string
	domid                     uint32
	vifname                   string
}

// createGuest creates guest <tag><suffix> with one vif on the host's bridge
// at address 198.18.<n>.<n>/24... vifOpts are extra vif spec items.
func (h *host) createGuest(t testing.TB, suffix string, hostByte int, vifOpts string) *guest {
	t.Helper()
	g := &guest{name: "xfn" + h.tag + suffix, addr: fmt.Sprintf("198.18.7.%d", hostByte), vifname: "xfv" + h.tag + suffix, ifname: "eth0"}
	g.netns = netfront.NetnsName(g.name)
	spec := fmt.Sprintf("bridge=%s,mac=00:16:3e:7a:00:%02x,ip=%s/24,vifname=%s", h.bridge, hostByte, g.addr, g.vifname)
	if vifOpts != "" {
		spec += "," + vifOpts
	}
	src := fmt.Sprintf("name = %q\nmemory = 128\nvif = [ %q ]\n", g.name, spec)
	plan := testenv.Plan(t, h.xs, g.name+".cfg", src)
	got, err := toolstack.Create(context.Background(), h.xs, plan, toolstack.CreateOptions{Wait: 15 * time.Second})
	if err != nil {
		t.Fatalf("creating %s: %v\nhost log:\n%s", g.name, err, h.log)
	}
	g.domid = got.Domid
	t.Cleanup(func() {
		toolstack.Destroy(context.Background(), h.xs, g.domid, 10*time.Second)
		tap.DeleteNetns(g.netns)
	})
	// The guest end appears once the backend is connected; its data path
	// runs once NetTap knows the device.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if gst := h.Guest(g.domid); gst != nil {
			if d := gst.Netfront().Device(0); d != nil {
				if ns, _ := h.NetTap().Interface(d); ns != "" {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the data path of %s never started\nhost log:\n%s", g.name, h.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		out, err := exec.Command("ip", "netns", "exec", g.netns, "ip", "-o", "addr", "show", "dev", g.ifname).CombinedOutput()
		if err == nil && strings.Contains(string(out), g.addr) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared in %s: %v %s\nhost log:\n%s", g.ifname, g.netns, err, out, h.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return g
}

// run runs a command in the guest's namespace, with a time limit.
func (g *guest) run(t testing.TB, limit time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", g.netns}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// vif returns the backend's connected vif of guest g.
func (h *host) vif(t testing.TB, g *guest) *netback.Vif {
	t.Helper()
	for _, v := range h.Netback().Connected() {
		if v.Device.FrontendID == g.domid {
			return v
		}
	}
	t.Fatalf("no connected vif for %s (domain %d)", g.name, g.domid)
	return nil
}

// inNetns runs f on a thread inside the named network namespace.
func inNetns(t testing.TB, name string, f func() error) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		// The thread is never returned to the pool: it exits with the
		// goroutine (LockOSThread without Unlock), so no other
		// goroutine ever runs in the guest's namespace.
		runtime.LockOSThread()
		ns, err := netns.GetFromName(name)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	return <-errc
}

// udpFlows sends count datagrams from count different source ports of the
// guest to dst: as many flows, which the kernels spread over every queue.
func udpFlows(t testing.TB, from *guest, dst string, count int) {
	t.Helper()
	err := inNetns(t, from.netns, func() error {
		raddr, err := gonet.ResolveUDPAddr("udp4", dst+":9")
		if err != nil {
			return err
		}
		for i := 0; i < count; i++ {
			c, err := gonet.DialUDP("udp4", nil, raddr)
			if err != nil {
				return err
			}
			c.Write([]byte("xfeat queue probe"))
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("udp flows from %s: %v", from.name, err)
	}
}

// iperfResult is the part of iperf3 -J's output the tests read.
type iperfResult struct {
	End struct {
		SumReceived struct {
			Bytes         float64 `json:"bytes"`
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
	} `json:"end"`
	Error string `json:"error"`
}

// iperf runs an iperf3 TCP test from client to server for secs seconds
// with streams parallel streams and returns the receiver's bits per second.
func iperf(t testing.TB, client, server *guest, secs, streams int) float64 {
	t.Helper()
	port := fmt.Sprint(5201 + int(server.domid))
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+20)*time.Second)
	defer cancel()
	srv := exec.CommandContext(ctx, "ip", "netns", "exec", server.netns, "iperf3", "-s", "-1", "-B", server.addr, "-p", port)
	var srvOut strings.Builder
	srv.Stdout, srv.Stderr = &srvOut, &srvOut
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Process.Kill()
		srv.Wait()
	}()
	var out []byte
	var err error
	for try := 0; try < 50; try++ { // the server needs a moment to listen
		out, err = exec.CommandContext(ctx, "ip", "netns", "exec", client.netns, "iperf3", "-c", server.addr, "-p", port,
			"-t", fmt.Sprint(secs), "-P", fmt.Sprint(streams), "-J").Output()
		if !strings.Contains(string(out), "Connection refused") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var r iperfResult
	if jerr := json.Unmarshal(out, &r); jerr != nil || err != nil || r.Error != "" {
		t.Fatalf("iperf3 %s -> %s: %v %v %s\n%s\nserver: %s", client.name, server.name, err, jerr, r.Error, out, srvOut.String())
	}
	return r.End.SumReceived.BitsPerSecond
}

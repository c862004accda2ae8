// Command xsdiff is the differential XenStore driver of the real-host test
// (tests/xenhost/xsdiff_test.go). Run once in dom0, it sends the same
// requests to C xenstored (the real host's daemon) and to `xfeat
// xenstored` (started here, with C's tree copied into it) and compares
// every reply byte for byte, and the watch events each daemon sends:
//
//   - generated: seeded random requests on two dom0 connections and on
//     each paused guest's connection (its xenbus ring on C's side, its
//     domain socket on ours), then each guest's quotas, the protocol's
//     limits, hand-written transaction conflicts, and clean-up;
//   - proxy: a socket that libxenstore clients use through XENSTORED_PATH
//     (Xen's test-xenstore, Debian's xenstore-* tools, xl): each request
//     goes to both daemons and C's reply goes back to the client.
//
// It writes a JSON report (counts per mode, every difference with the
// request and both replies) and exits 0 once the report is written: what
// differences are acceptable is the test's to decide. Exit 1: the run
// could not be made; 2: usage.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

type toolRun struct {
	Label   string  `json:"label"`
	Command string  `json:"command"`
	Exit    int     `json:"exit"`
	Output  string  `json:"output"` // its last 4 KiB
	Seconds float64 `json:"seconds"`
}

type treeJSON struct {
	Nodes int      `json:"nodes"`
	Diffs []string `json:"diffs"`
}

type report struct {
	Seed        uint64              `json:"seed"`
	Guests      []uint32            `json:"guests"`
	CopiedNodes int                 `json:"copied_nodes"`
	Special     map[string][]string `json:"special"`
	NotCopied   []string            `json:"not_copied"`
	TreeBefore  treeJSON            `json:"tree_before"`
	TreeAfter   treeJSON            `json:"tree_after"`
	Modes       map[string]*stats   `json:"modes"`
	Tools       []toolRun           `json:"tools"`
	Differences []diffJSON          `json:"differences"`
	Dropped     int                 `json:"differences_not_kept"`
	Phases      map[string]float64  `json:"phase_seconds"`
}

// notCopied is what the copy of C's tree into ours cannot carry.
var notCopied = []string{
	"node generation counts: each daemon counts its own writes (DIRECTORY_PART's count is compared through a per-node map)",
	"C's clients' watches and transactions (xenconsoled's, the kernel's): connection state, not tree state",
	"the domains' event channels and rings: ours is told each guest's ring frame and port by INTRODUCE, as libxl tells C, and serves it on a socket",
	"C's memory accounting per domain (ours bounds output per connection instead; see package xenstored)",
}

var traceOut io.Writer

// probeIn is the -probe file: run it instead of the modes.
var probeIn string

// interrupted is set by SIGTERM (the scenario's time limit): the run stops
// and the report of what was compared is still written.
var interrupted atomic.Bool

func main() {
	cSock := flag.String("c", "/run/xenstored/socket", "C xenstored's socket")
	xfeat := flag.String("xfeat", "/xenhost/bin/xfeat", "xfeat binary (runs `xfeat xenstored`)")
	rundir := flag.String("rundir", "/run/xsdiff", "rundir for our daemon")
	out := flag.String("out", "xsdiff.json", "report file")
	seed := flag.Uint64("seed", 1, "seed of the generated sequences")
	n := flag.Int("n", 3000, "random requests in the generated mode")
	guests := flag.String("guests", "", "comma-separated ids of paused guests to act as")
	testXS := flag.String("test-xenstore", "/usr/lib/xen-4.17/bin/test-xenstore", "Xen's test-xenstore")
	randomSecs := flag.Int("random-secs", 10, "seconds of test-xenstore --random")
	xlCfg := flag.String("xl-cfg", "", "guest config to create and destroy with xl through the proxy (empty: skip)")
	logDir := flag.String("logdir", ".", "directory for our daemon's log")
	traceFile := flag.String("trace", "", "file to log each generated request to before it is sent")
	probeFile := flag.String("probe", "", "run the requests in this file (see probe.go) instead of the modes, printing both daemons' answers")
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	var gids []uint32
	for _, s := range strings.Split(*guests, ",") {
		if s == "" {
			continue
		}
		v, err := strconv.ParseUint(s, 10, 16)
		if err != nil {
			fmt.Fprintf(os.Stderr, "xsdiff: -guests: %q is not a domain id\n", s)
			os.Exit(2)
		}
		gids = append(gids, uint32(v))
	}
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "xsdiff:", err)
			os.Exit(1)
		}
		traceOut = f
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		interrupted.Store(true)
	}()
	r := &report{Seed: *seed, Guests: gids, NotCopied: notCopied, Phases: map[string]float64{}}
	probeIn = *probeFile
	if err := run(r, *cSock, *xfeat, *rundir, *logDir, *n, *testXS, *randomSecs, *xlCfg); err != nil {
		fmt.Fprintln(os.Stderr, "xsdiff:", err)
		writeReport(*out, r)
		os.Exit(1)
	}
	if err := writeReport(*out, r); err != nil {
		fmt.Fprintln(os.Stderr, "xsdiff:", err)
		os.Exit(1)
	}
}

func writeReport(path string, r *report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// startOurs runs `xfeat xenstored` and waits for its socket.
func startOurs(xfeat, rundir, logDir string) (*exec.Cmd, string, error) {
	os.RemoveAll(rundir)
	log, err := os.Create(filepath.Join(logDir, "xfeat-xenstored.log"))
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(xfeat, "xenstored", "--rundir", rundir, "-v")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	sock := filepath.Join(rundir, "socket")
	for i := 0; i < 600; i++ {
		if e, err := dialSock(sock); err == nil {
			e.close()
			return cmd, sock, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Kill()
	return nil, "", fmt.Errorf("xfeat xenstored: no socket %s after 60 s (log %s)", sock, log.Name())
}

func run(r *report, cSock, xfeat, rundir, logDir string, n int, testXS string, randomSecs int, xlCfg string) error {
	t0 := time.Now()
	phase := func(name string) {
		r.Phases[name] = time.Since(t0).Seconds()
		t0 = time.Now()
	}
	cmd, oSock, err := startOurs(xfeat, rundir, logDir)
	if err != nil {
		return err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	}()
	phase("start")

	c0, err := dialSock(cSock)
	if err != nil {
		return fmt.Errorf("C xenstored: %w", err)
	}
	o0, err := dialSock(oSock)
	if err != nil {
		return err
	}
	nodes, special, err := copyTree(c0, o0)
	if err != nil {
		return err
	}
	r.CopiedNodes, r.Special = nodes, special
	// The guests: introduced to ours with the ring frame and port libxl
	// gave C.
	for _, g := range r.Guests {
		home := guestHome(g)
		mfn, err1 := call(c0, tRead, 0, strs(home+"/store/ring-ref"))
		port, err2 := call(c0, tRead, 0, strs(home+"/store/port"))
		if err1 != nil || err2 != nil || mfn.Type != tRead || port.Type != tRead {
			return fmt.Errorf("guest %d: no store/ring-ref or store/port in C's tree", g)
		}
		f, err := call(o0, tIntroduce, 0, strs(strconv.FormatUint(uint64(g), 10), string(mfn.Payload), string(port.Payload)))
		if err != nil || f.Type != tIntroduce {
			return fmt.Errorf("ours: introduce %d: %v %v", g, f, err)
		}
	}
	tn, tdiffs, err := treeDiff(c0, o0)
	if err != nil {
		return err
	}
	r.TreeBefore = treeJSON{Nodes: tn, Diffs: tdiffs}
	phase("copy")

	d := &driver{stats: map[string]*stats{}, kept: map[string]int{}, maxDif: 20, trace: traceOut}
	gm := newGenMap()
	dialer := func(path string) func() (endpoint, error) {
		return func() (endpoint, error) { return dialSock(path) }
	}
	for _, name := range []string{"dom0a", "dom0b"} {
		p := &pair{name: name, dial: [2]func() (endpoint, error){dialer(cSock), dialer(oSock)}, norm: newNorm(gm)}
		if err := p.reset(); err != nil {
			return err
		}
		d.pairs = append(d.pairs, p)
	}
	poker, err := dialSock(cSock)
	if err != nil {
		return err
	}
	poke := func() error {
		_, err := call(poker, tGetDomPath, 0, strs("0"))
		return err
	}
	var guestPairs []*pair
	for _, g := range r.Guests {
		ring, err := mapRing(g, poke)
		if err != nil {
			return err
		}
		oPath := filepath.Join(rundir, "domains", strconv.FormatUint(uint64(g), 10), "socket")
		oe, err := dialSock(oPath)
		if err != nil {
			return fmt.Errorf("ours: guest %d's socket: %w", g, err)
		}
		// The ring outlives the driver's runs: start it clean (what an
		// earlier client left unread goes; RESET_WATCHES drops its
		// watches and transactions on C, as on ours).
		ring.discard()
		if f, err := call(ring, tResetWatch, 0, nil); err != nil || f.Type != tResetWatch {
			return fmt.Errorf("C: reset guest %d's ring: %v %v", g, f, err)
		}
		p := &pair{name: "g" + strconv.FormatUint(uint64(g), 10), domid: g, ends: [2]endpoint{ring, oe},
			dial: [2]func() (endpoint, error){nil, dialer(oPath)}, norm: newNorm(gm)}
		d.pairs = append(d.pairs, p)
		guestPairs = append(guestPairs, p)
	}
	real := make([]string, 0, nodes)
	cnodes, _ := dump(c0, "/")
	for _, x := range cnodes {
		real = append(real, x.Path)
	}
	g := &gen{d: d, rnd: rand.New(rand.NewPCG(r.Seed, 0x5eed)), guests: r.Guests, real: real, alive: func() error {
		e, err := dialSock(cSock)
		if err != nil {
			return err
		}
		defer e.close()
		_, err = call(e, tGetDomPath, 0, strs("0"))
		return err
	}}
	defer func() {
		r.Modes, r.Differences = d.stats, d.diffs
	}()
	if probeIn != "" {
		f, err := os.Open(probeIn)
		if err != nil {
			return err
		}
		defer f.Close()
		return g.probe(f, os.Stdout)
	}
	g.run(n)
	phase("generated")
	if len(guestPairs) > 0 {
		g.quotas(guestPairs[0])
	}
	phase("quota")
	g.limits(d.pairs[0])
	if err := g.transactions(d.pairs[0], d.pairs[1]); err != nil {
		return err
	}
	g.cleanup(d.pairs[0])
	phase("limits+transactions+cleanup")
	if g.fatal != nil {
		return g.fatal
	}
	tn, tdiffs, err = treeDiff(c0, o0)
	if err != nil {
		return err
	}
	r.TreeAfter = treeJSON{Nodes: tn, Diffs: tdiffs}

	// The tee proxy and the clients run through it.
	psock := filepath.Join(rundir, "proxy.sock")
	px, err := startProxy(d, psock, cSock, oSock)
	if err != nil {
		return err
	}
	env := append(os.Environ(), "XENSTORED_PATH="+psock)
	tool := func(label, command string) {
		px.setLabel("proxy:" + label)
		r.Tools = append(r.Tools, runTool(label, command, env))
	}
	tool("test-xenstore", testXS)
	tool("test-xenstore-random", fmt.Sprintf("%s --random %d", testXS, randomSecs))
	tool("xenstore-utils", utilsScript)
	if xlCfg != "" {
		tool("xl", "xl create -p "+xlCfg+" && xl list && xl destroy xsdiff-xl")
	}
	px.close()
	phase("proxy")

	r.Modes = d.stats
	r.Differences = d.diffs
	for k, v := range d.kept {
		if v > d.maxDif {
			r.Dropped += v - d.maxDif
			_ = k
		}
	}
	return nil
}

// utilsScript runs Debian's xenstore-* tools as an administrator would,
// each a libxenstore client of its own.
const utilsScript = `
t=/xsdiff-tools
xenstore-write $t/a 1 $t/b/c 2 $t/b/d "with space"
xenstore-read $t/a $t/b/c $t/b/d
xenstore-read -p $t/a
xenstore-ls -fp $t
xenstore-list $t $t/b
xenstore-exists $t/nope; echo "exists: $?"
xenstore-read $t/nope; echo "read: $?"
xenstore-chmod $t/a n0 r1 w2
xenstore-chmod -r $t/b b0 r5
xenstore-ls -fp $t
xenstore-watch -n 4 $t/b & w=$!
for i in $(seq 100); do kill -0 $w 2>/dev/null || break; xenstore-write $t/b/c $i; sleep 0.2; done
wait $w; echo "watch: $?"
xenstore-rm -t $t/b/d
xenstore-rm $t
xenstore-ls -fp / | wc -l
xenstore-ls -fp /local/domain/0
`

func runTool(label, command string, env []string) toolRun {
	t := time.Now()
	cmd := exec.Command("bash", "-c", command)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	tr := toolRun{Label: label, Command: command, Seconds: time.Since(t).Seconds()}
	if ee, ok := err.(*exec.ExitError); ok {
		tr.Exit = ee.ExitCode()
	} else if err != nil {
		tr.Exit, out = -1, append(out, err.Error()...)
	}
	if len(out) > 4096 {
		out = out[len(out)-4096:]
	}
	tr.Output = string(out)
	return tr
}

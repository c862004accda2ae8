// Package hostlog bounds what the sandbox host (and `xfeat xenstored`)
// writes to its log, whatever its guests do. It has no home in the other
// packages because the daemon, the backends and the host command all need
// it.
//
// Two parts:
//   - Limiter: every line a guest can cause at will (a connection refused,
//     a message too long, a device failing or reconnecting) names that
//     guest's domain and goes through the Limiter, which passes at most
//     Burst lines per domain at once and then one per Interval. What it
//     holds back is counted per kind of line (its format) and reported as
//     one summary line per kind: the last such line followed by
//     "(repeated N times)", N counting every line of that kind held back.
//     Domain 0 (the toolstack, privileged) is never limited.
//   - File: the log file of a detached host, bounded. Past MaxSize bytes it
//     is renamed to NAME.1 (replacing the previous one) and a new file is
//     begun, so the log never takes more than twice MaxSize (plus one
//     line).
//
// Data enters as format and arguments (Limiter.Logf) and leaves as whole
// lines through the function the Limiter was given, then (for a detached
// host) through File.WriteLine.
package hostlog

import (
	"fmt"
	"sync"
	"time"
	"unicode/utf8"
)

// Defaults of a Limiter: a guest may log DefaultBurst lines at once (a
// domain being created with dozens of devices logs a few per device), then
// one per DefaultInterval. A guest flooding the log for an hour leaves
// about 3600 lines and a summary per kind every DefaultSummaryEvery.
const (
	DefaultBurst        = 100
	DefaultInterval     = time.Second
	DefaultSummaryEvery = 10 * time.Second
	// MaxLine bounds one line a guest causes (it may quote what the guest
	// wrote); longer ones are cut.
	MaxLine = 1024
)

// Limiter rate-limits log lines per domain. Safe for concurrent use; its
// output function is never called with the Limiter's lock held.
type Limiter struct {
	out func(format string, args ...any)

	// Burst, Interval and SummaryEvery are the limits (see the package
	// doc); set them before the first Logf. Zero means the default.
	Burst        int
	Interval     time.Duration
	SummaryEvery time.Duration

	mu        sync.Mutex
	doms      map[uint32]*domState
	lastSweep time.Time
	closed    bool
	now       func() time.Time // tests
}

type domState struct {
	tokens float64 // lines the domain may log now
	last   time.Time
	held   map[string]*heldLines // by format
	order  []string              // formats in the order first held
	timer  *time.Timer           // pending summary
}

type heldLines struct {
	n    int
	args []any // of the last one
}

// NewLimiter returns a Limiter passing lines on to out (nil: discarded).
func NewLimiter(out func(format string, args ...any)) *Limiter {
	return &Limiter{out: out, doms: map[uint32]*domState{}, now: time.Now}
}

func (l *Limiter) limits() (burst float64, interval, every time.Duration) {
	burst, interval, every = float64(l.Burst), l.Interval, l.SummaryEvery
	if burst <= 0 {
		burst = DefaultBurst
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	if every <= 0 {
		every = DefaultSummaryEvery
	}
	return
}

// Logf logs one line caused by domain domid, unless that domain has used
// its budget: then the line is counted for the next summary.
func (l *Limiter) Logf(domid uint32, format string, args ...any) {
	if l.out == nil {
		return
	}
	if domid == 0 {
		l.out(format, args...)
		return
	}
	burst, interval, every := l.limits()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	now := l.now()
	l.sweepLocked(now, burst, interval)
	d := l.doms[domid]
	if d == nil {
		d = &domState{tokens: burst, last: now}
		l.doms[domid] = d
	}
	d.tokens = min(burst, d.tokens+float64(now.Sub(d.last))/float64(interval))
	d.last = now
	if d.tokens >= 1 {
		d.tokens--
		l.mu.Unlock()
		l.out("%s", cut(fmt.Sprintf(format, args...)))
		return
	}
	h := d.held[format]
	if h == nil {
		if d.held == nil {
			d.held = map[string]*heldLines{}
		}
		h = &heldLines{}
		d.held[format] = h
		d.order = append(d.order, format)
	}
	h.n++
	h.args = args
	if d.timer == nil {
		d.timer = time.AfterFunc(every, func() { l.summarize(domid) })
	}
	l.mu.Unlock()
}

// cut bounds a line a guest caused to MaxLine bytes.
func cut(s string) string { return cutTo(s, MaxLine) }

// cutTo bounds s to about n bytes, cutting on a rune boundary and saying
// so.
func cutTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "... (cut)"
}

// summary is one pending summary line.
type summary struct {
	format string
	args   []any
	n      int
}

// takeLocked removes d's held lines. Must hold l.mu.
func (d *domState) takeLocked() []summary {
	var out []summary
	for _, f := range d.order {
		h := d.held[f]
		out = append(out, summary{f, h.args, h.n})
	}
	d.held, d.order = nil, nil
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	return out
}

func (l *Limiter) emit(ss []summary) {
	for _, s := range ss {
		l.out("%s (repeated %d times)", cut(fmt.Sprintf(s.format, s.args...)), s.n)
	}
}

func (l *Limiter) summarize(domid uint32) {
	l.mu.Lock()
	var ss []summary
	if d := l.doms[domid]; d != nil {
		ss = d.takeLocked()
	}
	l.mu.Unlock()
	l.emit(ss)
}

// sweepLocked forgets, at most once per interval*burst, the domains that
// could log a whole burst again and hold nothing back: their state says
// nothing a fresh one would not. Must hold l.mu.
func (l *Limiter) sweepLocked(now time.Time, burst float64, interval time.Duration) {
	full := time.Duration(burst * float64(interval))
	if now.Sub(l.lastSweep) < full {
		return
	}
	l.lastSweep = now
	for id, d := range l.doms {
		if d.timer == nil && d.tokens+float64(now.Sub(d.last))/float64(interval) >= burst {
			delete(l.doms, id)
		}
	}
}

// Flush writes the summaries of every line held back so far.
func (l *Limiter) Flush() {
	l.mu.Lock()
	var ss []summary
	for _, d := range l.doms {
		ss = append(ss, d.takeLocked()...)
	}
	l.mu.Unlock()
	l.emit(ss)
}

// Close flushes and stops the Limiter: later lines are dropped.
func (l *Limiter) Close() {
	l.Flush()
	l.mu.Lock()
	l.closed = true
	l.doms = map[uint32]*domState{}
	l.mu.Unlock()
}

// Domains is how many domains the Limiter keeps state for (tests).
func (l *Limiter) Domains() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.doms)
}

package hostlog

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

type lines struct {
	mu sync.Mutex
	l  []string
}

func (ls *lines) logf(format string, args ...any) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.l = append(ls.l, fmt.Sprintf(format, args...))
}

func (ls *lines) get() []string {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return append([]string(nil), ls.l...)
}

func (ls *lines) count(sub string) int {
	n := 0
	for _, l := range ls.get() {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }

func newTestLimiter(out *lines) (*Limiter, *clock) {
	c := &clock{t: time.Unix(1000, 0)}
	l := NewLimiter(out.logf)
	l.now = c.now
	l.Burst, l.Interval, l.SummaryEvery = 5, time.Second, time.Hour
	return l, c
}

// A flooding domain gets Burst lines, then one per Interval; what is held
// back is summarised with its count; other domains and domain 0 are not
// affected.
func TestLimiterPerDomain(t *testing.T) {
	var out lines
	l, c := newTestLimiter(&out)
	for i := range 1000 {
		l.Logf(7, "xenstored: domain %d already has %d connections: connection refused", 7, 32+i%2)
		l.Logf(7, "xenstored: domain %d sent a message longer than %d bytes", 7, 4096)
	}
	if n := len(out.get()); n != 5 {
		t.Fatalf("domain 7 logged %d lines at once, want the burst of 5: %q", n, out.get())
	}
	for range 5 {
		l.Logf(8, "guest %d: hello", 8)
	}
	l.Logf(0, "host line %d", 1)
	if n := out.count("guest 8: hello"); n != 5 {
		t.Errorf("domain 8 got %d of its 5 lines through", n)
	}
	if out.count("host line 1") != 1 {
		t.Error("domain 0's line was limited")
	}
	c.add(3 * time.Second) // three more lines' worth
	for range 10 {
		l.Logf(7, "xenstored: domain %d sent a message longer than %d bytes", 7, 4096)
	}
	if n := out.count("domain 7 sent a message longer than 4096 bytes"); n != 2+3 {
		t.Errorf("after 3 s, %d long-message lines, want 2 of the burst + 3", n)
	}
	l.Flush()
	got := out.get()
	// In the order first held back (the burst ended on a refusal).
	want := []string{
		"xenstored: domain 7 sent a message longer than 4096 bytes (repeated 1005 times)",
		"xenstored: domain 7 already has 33 connections: connection refused (repeated 997 times)",
	}
	if len(got) < 2 || got[len(got)-2] != want[0] || got[len(got)-1] != want[1] {
		t.Errorf("summaries:\n%s\nwant:\n%s", strings.Join(got[max(0, len(got)-2):], "\n"), strings.Join(want, "\n"))
	}
	l.Flush() // nothing held any more
	if n := len(out.get()); n != len(got) {
		t.Errorf("a second flush wrote %d lines", n-len(got))
	}
}

// Without a flush, held-back lines are summarised after SummaryEvery.
func TestLimiterSummaryTimer(t *testing.T) {
	var out lines
	l, _ := newTestLimiter(&out)
	l.SummaryEvery = 20 * time.Millisecond
	for range 50 {
		l.Logf(3, "vbd %d/51712: connected", 3)
	}
	for deadline := time.Now().Add(5 * time.Second); out.count("(repeated 45 times)") == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no summary: %q", out.get())
		}
		time.Sleep(5 * time.Millisecond)
	}
	l.Close()
	l.Logf(3, "after close")
	if out.count("after close") != 0 {
		t.Error("a line passed a closed Limiter")
	}
}

// A guest's line is cut; the Limiter forgets domains that went quiet, so
// its memory does not grow with every domain id ever seen.
func TestLimiterBounds(t *testing.T) {
	var out lines
	l, c := newTestLimiter(&out)
	l.Logf(4, "%s", strings.Repeat("é", 3000))
	if got := out.get()[0]; len(got) > MaxLine+len("... (cut)") || !strings.HasSuffix(got, "é... (cut)") {
		t.Errorf("long line: %d bytes, ends %q", len(got), got[len(got)-20:])
	}
	for id := uint32(1); id <= 500; id++ {
		l.Logf(id, "guest %d started", id)
	}
	if l.Domains() != 500 {
		t.Fatalf("%d domains tracked", l.Domains())
	}
	c.add(time.Minute)
	l.Logf(9999, "one more")
	if n := l.Domains(); n != 1 {
		t.Errorf("%d domains still tracked a minute later, want 1", n)
	}
}

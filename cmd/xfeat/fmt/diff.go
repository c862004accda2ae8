package fmtcmd

import (
	"fmt"
	"strings"
)

// unifiedDiff returns a unified diff (3 lines of context) turning a into b,
// or "" when they are equal. Lines are compared with Myers' O(ND) algorithm.
func unifiedDiff(nameA, nameB string, a, b []byte) string {
	if string(a) == string(b) {
		return ""
	}
	x, y := splitLines(string(a)), splitLines(string(b))
	ops := diffLines(x, y)
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
	const ctx = 3
	// ops: list of (kind, line) with kind ' ', '-', '+'.
	i := 0
	for i < len(ops) {
		// Find the next change.
		for i < len(ops) && ops[i].kind == ' ' {
			i++
		}
		if i == len(ops) {
			break
		}
		start := i - ctx
		if start < 0 {
			start = 0
		}
		// Extend the hunk while changes are within 2*ctx of each other.
		end := i
		for {
			for end < len(ops) && ops[end].kind != ' ' {
				end++
			}
			j := end
			for j < len(ops) && ops[j].kind == ' ' && j-end < 2*ctx {
				j++
			}
			if j < len(ops) && ops[j].kind != ' ' {
				end = j
				continue
			}
			break
		}
		stop := end + ctx
		if stop > len(ops) {
			stop = len(ops)
		}
		aStart, bStart := ops[start].a, ops[start].b
		aLen, bLen := 0, 0
		for _, o := range ops[start:stop] {
			if o.kind != '+' {
				aLen++
			}
			if o.kind != '-' {
				bLen++
			}
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(aStart, aLen), hunkRange(bStart, bLen))
		for _, o := range ops[start:stop] {
			out.WriteByte(o.kind)
			out.WriteString(o.text)
			if !strings.HasSuffix(o.text, "\n") {
				out.WriteString("\n\\ No newline at end of file\n")
			}
		}
		i = stop
	}
	return out.String()
}

func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if n == 1 {
		return fmt.Sprint(start + 1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

type diffOp struct {
	kind byte
	text string
	a, b int // 0-based line numbers in a and b where this op sits
}

// diffLines returns the edit script from x to y: common prefix and suffix,
// and Myers' algorithm on the middle (or, when the middle is huge, all of it
// removed then added, to bound time and memory).
func diffLines(x, y []string) []diffOp {
	p := 0
	for p < len(x) && p < len(y) && x[p] == y[p] {
		p++
	}
	s := 0
	for s < len(x)-p && s < len(y)-p && x[len(x)-1-s] == y[len(y)-1-s] {
		s++
	}
	var ops []diffOp
	for i := 0; i < p; i++ {
		ops = append(ops, diffOp{' ', x[i], i, i})
	}
	mx, my := x[p:len(x)-s], y[p:len(y)-s]
	var mid []diffOp
	if len(mx)+len(my) > 20000 {
		for i, l := range mx {
			mid = append(mid, diffOp{'-', l, i, 0})
		}
		for i, l := range my {
			mid = append(mid, diffOp{'+', l, len(mx), i})
		}
	} else {
		mid = myers(mx, my)
	}
	for _, o := range mid {
		o.a += p
		o.b += p
		ops = append(ops, o)
	}
	for i := 0; i < s; i++ {
		ops = append(ops, diffOp{' ', x[len(x)-s+i], len(x) - s + i, len(y) - s + i})
	}
	return ops
}

// myers computes a shortest edit script from x to y.
func myers(x, y []string) []diffOp {
	n, m := len(x), len(y)
	max := n + m
	v := make([]int, 2*max+2)
	var trace [][]int
	for d := 0; d <= max; d++ {
		vc := make([]int, len(v))
		copy(vc, v)
		trace = append(trace, vc)
		for k := -d; k <= d; k += 2 {
			var xi int
			if k == -d || k != d && v[max+k-1] < v[max+k+1] {
				xi = v[max+k+1]
			} else {
				xi = v[max+k-1] + 1
			}
			yi := xi - k
			for xi < n && yi < m && x[xi] == y[yi] {
				xi++
				yi++
			}
			v[max+k] = xi
			if xi >= n && yi >= m {
				return backtrack(trace, x, y, d, max, v)
			}
		}
	}
	return nil
}

func backtrack(trace [][]int, x, y []string, dEnd, max int, vLast []int) []diffOp {
	var ops []diffOp
	xi, yi := len(x), len(y)
	for d := dEnd; d > 0; d-- {
		v := trace[d]
		k := xi - yi
		var prevK int
		if k == -d || k != d && v[max+k-1] < v[max+k+1] {
			prevK = k + 1
		} else {
			prevK = k - 1
		}
		prevX := v[max+prevK]
		prevY := prevX - prevK
		for xi > prevX && yi > prevY {
			xi--
			yi--
			ops = append(ops, diffOp{' ', x[xi], xi, yi})
		}
		if xi == prevX {
			yi--
			ops = append(ops, diffOp{'+', y[yi], xi, yi})
		} else {
			xi--
			ops = append(ops, diffOp{'-', x[xi], xi, yi})
		}
	}
	for xi > 0 && yi > 0 {
		xi--
		yi--
		ops = append(ops, diffOp{' ', x[xi], xi, yi})
	}
	for l, r := 0, len(ops)-1; l < r; l, r = l+1, r-1 {
		ops[l], ops[r] = ops[r], ops[l]
	}
	return ops
}

package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// probe runs requests given one a line, "CONN TYPE TX PAYLOAD" (CONN a
// pair's name, TYPE a message type's name or number, TX "-", "bad" or the
// index of an open transaction, PAYLOAD Go-quoted), and prints what each
// daemon did: for investigating a difference by hand (-probe FILE).
func (g *gen) probe(in io.Reader, out io.Writer) error { return g.script("probe", in, out) }

// script runs requests in the probe format as mode.
func (g *gen) script(mode string, in io.Reader, out io.Writer) error {
	names := map[string]uint32{}
	for t := uint32(0); t < 23; t++ {
		names[typeName(t)] = t
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.SplitN(line, " ", 4)
		if len(f) != 4 {
			return fmt.Errorf("probe: %q: want CONN TYPE TX PAYLOAD", line)
		}
		var p *pair
		for _, q := range g.d.pairs {
			if q.name == f[0] {
				p = q
			}
		}
		if p == nil {
			return fmt.Errorf("probe: no connection %s", f[0])
		}
		typ, ok := names[f[1]]
		if !ok {
			v, err := strconv.ParseUint(f[1], 0, 32)
			if err != nil {
				return fmt.Errorf("probe: type %q", f[1])
			}
			typ = uint32(v)
		}
		r := request{typ: typ, tx: -1}
		switch f[2] {
		case "-":
		case "bad":
			r.tx = -2
		default:
			i, err := strconv.Atoi(f[2])
			if err != nil || i >= len(p.tx) {
				return fmt.Errorf("probe: tx %q", f[2])
			}
			r.tx = i
		}
		pl, err := strconv.Unquote(f[3])
		if err != nil {
			return fmt.Errorf("probe: payload %s: %v", f[3], err)
		}
		r.payload = []byte(pl)
		c, o := g.one(mode, p, r)
		fmt.Fprintf(out, "> %s\n", line)
		for s, x := range [2]outcome{c, o} {
			fmt.Fprintf(out, "  %-4s %s", sideNames[s], x.fate)
			if x.fate == "" {
				fmt.Fprintf(out, "%v", x.reply)
			}
			fmt.Fprintln(out)
			for _, e := range x.before {
				fmt.Fprintf(out, "       event before: %s\n", quote(e.Payload))
			}
			for k, es := range x.after {
				for _, e := range es {
					fmt.Fprintf(out, "       event after on %s: %s\n", k, quote(e.Payload))
				}
			}
		}
	}
	return sc.Err()
}

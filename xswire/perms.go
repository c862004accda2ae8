package xswire

import (
	"fmt"
	"strconv"
)

// Access letters of the wire permission form.
const (
	AccessNone  byte = 'n'
	AccessRead  byte = 'r'
	AccessWrite byte = 'w'
	AccessBoth  byte = 'b'
)

// Perm is one entry of a node's permission list, wire form "<access><domid>"
// ("r5", "n0"). In a list, the first entry names the owner (who always has
// full access) and its access letter applies to every domain not listed.
type Perm struct {
	Domid  uint32
	Access byte // 'n', 'r', 'w' or 'b'
}

// String returns the wire form.
func (p Perm) String() string {
	return string(p.Access) + strconv.FormatUint(uint64(p.Domid), 10)
}

// AppendWire appends the wire form of p to b.
func (p Perm) AppendWire(b []byte) []byte {
	b = append(b, p.Access)
	return strconv.AppendUint(b, uint64(p.Domid), 10)
}

// CanRead reports whether the access letter grants reading.
func (p Perm) CanRead() bool { return p.Access == AccessRead || p.Access == AccessBoth }

// CanWrite reports whether the access letter grants writing.
func (p Perm) CanWrite() bool { return p.Access == AccessWrite || p.Access == AccessBoth }

// MaxDomid is the largest domain id a permission may name (domid_t is 16 bits).
const MaxDomid = 0xFFFF

// ParsePerm parses the wire form of one permission. Like libxenstore it
// accepts the domid in decimal, 0x-hex or 0-octal (strtoul base 0).
func ParsePerm(s string) (Perm, error) {
	if len(s) < 2 {
		return Perm{}, fmt.Errorf("invalid permission %q: want <n|r|w|b><domid>", s)
	}
	switch s[0] {
	case AccessNone, AccessRead, AccessWrite, AccessBoth:
	default:
		return Perm{}, fmt.Errorf("invalid permission %q: access must be n, r, w or b", s)
	}
	id, ok := parseCUint(s[1:])
	if !ok || id > MaxDomid {
		return Perm{}, fmt.Errorf("invalid permission %q: bad domain id", s)
	}
	return Perm{Domid: uint32(id), Access: s[0]}, nil
}

// parseCUint parses s as C's strtoul(s, &end, 0) with *end == 0 required:
// 0x/0X hex, a leading 0 octal, otherwise decimal; no sign, no spaces.
func parseCUint(s string) (uint64, bool) {
	base := uint64(10)
	switch {
	case len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		base, s = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, s = 8, s[1:]
	}
	if s == "" {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		var d uint64
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		if d >= base {
			return 0, false
		}
		v = v*base + d
		if v > 1<<32 {
			return 0, false
		}
	}
	return v, true
}

// ParsePerms parses a list of wire-form permissions.
func ParsePerms(ss []string) ([]Perm, error) {
	ps := make([]Perm, 0, len(ss))
	for _, s := range ss {
		p, err := ParsePerm(s)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// FormatPerms returns the wire forms of ps.
func FormatPerms(ps []Perm) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

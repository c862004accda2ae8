package xenstored

import (
	"strconv"

	"github.com/xfeat/xfeat/xswire"
)

// Permission strings as C xenstored 4.17 reads and writes them (its
// xenstore_strings_to_perms and xenstore_perm_to_string), which is laxer
// than what xswire.ParsePerm accepts: the domain id is read
// by strtol(s, &end, 0) and stored in 32 bits. So white space and a sign
// may lead, 0x and 0 prefixes select hex and octal, a value out of range
// saturates and is then truncated ("b4294967297" is domain 1, "r-1" domain
// 4294967295), and the id must be followed by nothing. GET_PERMS writes
// the id back as a signed int ("r-1").

// parseWirePerm parses one entry of a SET_PERMS request.
func parseWirePerm(b []byte) (Perm, bool) {
	if len(b) < 2 {
		return Perm{}, false
	}
	switch b[0] {
	case xswire.AccessNone, xswire.AccessRead, xswire.AccessWrite, xswire.AccessBoth:
	default:
		return Perm{}, false
	}
	v, ok := cStrtol0(b[1:])
	if !ok {
		return Perm{}, false
	}
	return Perm{Domid: uint32(v), Access: b[0]}, true
}

// appendWirePerm appends p as GET_PERMS sends it.
func appendWirePerm(b []byte, p Perm) []byte {
	b = append(b, p.Access)
	return strconv.AppendInt(b, int64(int32(p.Domid)), 10)
}

// cStrtol0 is strtol(s, &end, 0) on the whole of s (end must reach its
// end, after at least one digit), saturating at the 64-bit long's range
// as glibc does.
func cStrtol0(s []byte) (int64, bool) {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] >= '\t' && s[i] <= '\r') {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	base := uint64(10)
	switch {
	case i+2 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && hexDigit(s[i+2]) >= 0:
		base, i = 16, i+2
	case i < len(s) && s[i] == '0':
		base = 8
	}
	start := i
	const lim = uint64(1) << 63 // magnitude of LONG_MIN
	var n uint64
	for ; i < len(s); i++ {
		d := hexDigit(s[i])
		if d < 0 || uint64(d) >= base {
			break
		}
		if n > (lim-uint64(d))/base {
			n = lim // saturated; keep reading the digits
			continue
		}
		n = n*base + uint64(d)
	}
	if i == start || i != len(s) {
		return 0, false
	}
	switch {
	case neg && n >= lim:
		return -1 << 63, true
	case neg:
		return -int64(n), true
	case n >= lim:
		return 1<<63 - 1, true
	}
	return int64(n), true
}

func hexDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// ownerMayExist: a node's owner must be a domain that exists, else C
// answers SET_PERMS with ENOENT. C asks the hypervisor; this daemon knows
// only the domains introduced to it, while a toolstack sets permissions
// for a domain before it introduces it (libxl does), so it refuses only
// ids no domain can have: DOMID_FIRST_RESERVED and above.
func ownerMayExist(domid uint32) bool { return domid < xswire.DomidFirstReserved }

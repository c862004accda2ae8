package devspec

// C library number conversions, reproduced exactly (glibc, LP64) because
// xl and libxlutil parse numbers with them and xfeat must accept and reject
// the same strings, with the same results, quirks included (octal for a
// leading 0, leading blanks and a sign allowed, wrap-around of negatives).

// isCSpace is C's isspace in the "C" locale.
func isCSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func digitVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

// cStrtoul is strtoul(3)/strtoull(3) on an LP64 system. It returns the value,
// the number of bytes consumed (0 when no conversion was performed, as C sets
// endptr = nptr), and whether the magnitude overflowed (ERANGE; the value is
// then 2^64-1).
func cStrtoul(s string, base int) (val uint64, n int, overflow bool) {
	i := 0
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	if (base == 0 || base == 16) && i+1 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') &&
		i+2 < len(s) && digitVal(s[i+2]) < 16 {
		i += 2
		base = 16
	} else if base == 0 {
		if i < len(s) && s[i] == '0' {
			base = 8
		} else {
			base = 10
		}
	}
	start := i
	var v uint64
	for i < len(s) {
		d := digitVal(s[i])
		if d >= base {
			break
		}
		if !overflow {
			hi := v * uint64(base)
			if v != 0 && hi/uint64(base) != v || hi+uint64(d) < hi {
				overflow = true
			} else {
				v = hi + uint64(d)
			}
		}
		i++
	}
	if i == start {
		// "0x" followed by a non-hex digit is handled above (the 0 is the
		// number); a lone sign or blanks convert nothing.
		return 0, 0, false
	}
	if overflow {
		return ^uint64(0), i, true
	}
	if neg {
		v = -v
	}
	return v, i, false
}

// cStrtol is strtol(3) on an LP64 system: like cStrtoul but the result is
// clamped to [LONG_MIN, LONG_MAX] with overflow reported (ERANGE).
func cStrtol(s string, base int) (val int64, n int, overflow bool) {
	u, n, of := cStrtoul(s, base)
	if n == 0 {
		return 0, 0, false
	}
	// Recover the sign and magnitude: cStrtoul negated in two's complement.
	i := 0
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	neg := i < len(s) && s[i] == '-'
	if of {
		if neg {
			return -1 << 63, n, true
		}
		return 1<<63 - 1, n, true
	}
	if neg {
		mag := -u
		if mag > 1<<63 {
			return -1 << 63, n, true
		}
		return -int64(mag), n, false
	}
	if u > 1<<63-1 {
		return 1<<63 - 1, n, true
	}
	return int64(u), n, false
}

// cAtoi is atoi(3) as glibc implements it: (int)strtol(s, NULL, 10).
func cAtoi(s string) int32 {
	v, _, _ := cStrtol(s, 10)
	return int32(v)
}

package devspec

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Names and values of a config end up in XenStore (the domain's name, a
// device's bridge, script, backend domain, ...), in interface names (a
// vif's TAP, its bridge) and in what tools print. They must be text: an
// escape in an xl.cfg string can put any byte there, and a newline or an
// invalid UTF-8 sequence would reach every tool that lists them.

// badText finds the first byte of s that is not text: an invalid UTF-8
// sequence or a control character (C0, DEL or C1). It returns its offset,
// its length and what it is ("" when s is all text).
func badText(s string) (off, n int, what string) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return i, 1, fmt.Sprintf("invalid UTF-8 (byte 0x%02x)", s[i])
		case unicode.IsControl(r):
			return i, size, fmt.Sprintf("a control character (U+%04X)", r)
		}
		i += size
	}
	return 0, 0, ""
}

// textDetail is the advice for a badText finding.
const textDetail = "names and values are text: valid UTF-8 without control characters (check the string's escapes)"

// ifnameKeys are the vif keys whose value is a Linux network interface
// name (the vif's own, its bridge, the gateway and forwarding devices).
var ifnameKeys = []string{"bridge", "vifname", "gatewaydev", "netdev", "forwarddev"}

// ifnameMax is the longest interface name Linux accepts (IFNAMSIZ - 1).
const ifnameMax = 15

// badIfname says what makes name unacceptable to Linux as an interface
// name, as the kernel's dev_valid_name judges it: 1 to 15 bytes, not "."
// or "..", no '/', ':' or white space. "" means it is fine.
func badIfname(name string) string {
	switch {
	case name == "":
		return "a Linux interface name has 1 to 15 bytes"
	case len(name) > ifnameMax:
		return fmt.Sprintf("it is %d bytes long; a Linux interface name has at most %d", len(name), ifnameMax)
	case name == "." || name == "..":
		return "Linux refuses \".\" and \"..\" as interface names"
	}
	if i := strings.IndexAny(name, "/: \t\n\v\f\r"); i >= 0 {
		return "it contains " + quote(name[i:i+1]) + " (Linux refuses '/', ':' and blanks in interface names)"
	}
	return ""
}

// badTextWhat is badText's finding in s, which has one.
func badTextWhat(s string) string {
	_, _, what := badText(s)
	return what
}

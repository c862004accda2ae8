package devspec

import "strings"

// This file is the libxlutil-compatible layer for disk specs: a scanner that
// applies the flex rules of Xen's tools/libs/util/libxlu_disk_l.l in the same
// order with the same longest-match and trailing-context semantics, and the
// actions of that file and of libxlu_disk.c. ParseDiskXL is pure xl; the
// feature extension (ParseDisk) runs the same scanner with one added rule.

// DiskFormat is libxl_disk_format (same numeric values).
type DiskFormat int

// DiskFormat values.
const (
	FormatUnknown DiskFormat = iota
	FormatQcow
	FormatQcow2
	FormatVHD
	FormatRaw
	FormatEmpty
	FormatQED
)

var formatNames = [...]string{"unknown", "qcow", "qcow2", "vhd", "raw", "empty", "qed"}

func (f DiskFormat) String() string {
	if f >= 0 && int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "unknown"
}

// DiskBackend is libxl_disk_backend (same numeric values).
type DiskBackend int

// DiskBackend values.
const (
	BackendUnknown DiskBackend = iota
	BackendPhy
	BackendTap
	BackendQdisk
	BackendStandalone
)

var backendNames = [...]string{"unknown", "phy", "tap", "qdisk", "standalone"}

func (b DiskBackend) String() string {
	if b >= 0 && int(b) < len(backendNames) {
		return backendNames[b]
	}
	return "unknown"
}

// DiskSpecification is libxl_disk_specification (same numeric values).
type DiskSpecification int

// DiskSpecification values.
const (
	SpecificationUnknown DiskSpecification = iota
	SpecificationXen
	SpecificationVirtio
)

var specificationNames = [...]string{"unknown", "xen", "virtio"}

func (s DiskSpecification) String() string {
	if s >= 0 && int(s) < len(specificationNames) {
		return specificationNames[s]
	}
	return "unknown"
}

// Defbool is libxl_defbool: unset (the default), false or true.
type Defbool int8

// Defbool values.
const (
	DefboolDefault Defbool = 0
	DefboolFalse   Defbool = -1
	DefboolTrue    Defbool = 1
)

func defboolOf(b bool) Defbool {
	if b {
		return DefboolTrue
	}
	return DefboolFalse
}

// Ptr returns nil for the default, else a pointer to the value.
func (d Defbool) Ptr() *bool {
	if d == DefboolDefault {
		return nil
	}
	v := d == DefboolTrue
	return &v
}

// DiskXL is libxl_device_disk exactly as xlu_disk_parse leaves it: nil
// strings are C NULL (never set), "" is an explicitly empty value.
type DiskXL struct {
	PdevPath       *string
	Vdev           *string
	Script         *string
	BackendDomname *string
	Format         DiskFormat
	Backend        DiskBackend
	Specification  DiskSpecification
	Readwrite      int
	IsCdrom        int
	Removable      int
	DirectIOSafe   bool
	DiscardEnable  Defbool
	ColoEnable     Defbool
	ColoHost       *string
	ColoPort       int32
	ColoExport     *string
	ActiveDisk     *string
	HiddenDisk     *string
	Trusted        Defbool
	GrantUsage     Defbool
}

// XLError is one message libxlutil prints for a disk spec, as data: Msg is
// the message, Near the quoted text (HasNear false when xl prints none), and
// Spec/Start/End locate the offending text in the spec strings (Spec -1 for
// the checks made after all specs were scanned).
type XLError struct {
	Spec       int
	Start, End int
	Msg        string
	Near       string
	HasNear    bool
}

// Text is the message as xl prints it after "<source>: config parsing error
// in disk specification: " (without the trailing " in `<spec>'").
func (e XLError) Text() string {
	if !e.HasNear {
		return e.Msg
	}
	return e.Msg + ": near `" + e.Near + "'"
}

// Dialect selects which libxlutil the scanner reproduces.
type Dialect int

const (
	// DialectHead is Xen's current tree (the default): trusted, untrusted
	// and grant_usage= are keywords.
	DialectHead Dialect = iota
	// Dialect417 is Debian bookworm's libxlutil 4.17, whose generated
	// scanner lacks the trusted/untrusted/grant_usage rules (they then scan
	// as positional parameters or as bad syntax). Used by the compat tests.
	Dialect417
)

// ParseDiskXL parses specs as one disk exactly as xlu_disk_parse does in
// dialect d. The error list is empty exactly when libxlutil accepts.
func ParseDiskXL(specs []string, d Dialect) (*DiskXL, []XLError) {
	s := diskScanner{dialect: d}
	s.run(specs)
	return &s.disk, s.errs
}

// diskExt receives what the xfeat extension rule scans: key=value tokens
// that xl would have reported as unknown parameters.
type diskExt func(spec, start, keyEnd, valStart, valEnd int, key, val string)

type diskScanner struct {
	dialect Dialect
	ext     diskExt // nil: pure xl
	disk    DiskXL

	// DiskParseContext
	err           bool
	accessSet     bool
	hadDeprPrefix bool
	errs          []XLError

	spec    int
	specStr string
	stop    bool // the current action returned 0

	vdevAt [3]int // spec, start, end of the vdev value
}

func (s *diskScanner) errorf(start, end int, near string, hasNear bool, msg string) {
	s.errs = append(s.errs, XLError{Spec: s.spec, Start: start, End: end, Msg: msg, Near: near, HasNear: hasNear})
	s.err = true
}

func (s *diskScanner) run(specs []string) {
	s.disk.Readwrite = 1
	for i, spec := range specs {
		s.spec, s.specStr = i, spec
		s.scan(spec)
		if s.err {
			return
		}
	}
	s.spec = -1
	d := &s.disk
	if d.Format == FormatUnknown {
		d.Format = FormatRaw
	}
	if d.IsCdrom != 0 {
		d.Removable = 1
		d.Readwrite = 0
		if d.PdevPath == nil || *d.PdevPath == "" {
			d.Format = FormatEmpty
		}
	}
	if d.Vdev == nil {
		s.errorf(0, 0, "", false, "no vdev specified")
		return
	}
	if d.PdevPath == nil && d.Removable == 0 {
		s.errorf(0, 0, "", false, "no target specified (and device not removable)")
	}
}

// Rule numbers, in the order of libxlu_disk_l.l (ties go to the lower).
const (
	rWS = iota
	rFormat
	rCdrom
	rDevtypeCdrom
	rDevtypeDisk
	rDevtypeOther
	rAccess
	rBackend
	rBackendtype
	rSpecification
	rVdev
	rScript
	rDirectIO
	rDiscard
	rNoDiscard
	rColo
	rNoColo
	rColoHost
	rColoPort
	rColoExport
	rActiveDisk
	rHiddenDisk
	rTrusted
	rUntrusted
	rGrantUsage1
	rGrantUsage0
	rTarget
	rExtKeyValue // xfeat only: key=value with a whole value
	rUnknownParam
	rFormatPrefix
	rScriptPrefix
	rTapdisk
	rTap
	rAio
	rIoemu
	rFile
	rPhy
	rUnknownPrefix
	rPositional
	rBad
	nRules
)

// keyword rules: literal prefix, then `[^,]*` when value is set, then `,?`.
var keywordRules = [...]struct {
	rule  int
	lit   string
	value bool
}{
	{rFormat, "format=", true},
	{rCdrom, "cdrom", false},
	{rDevtypeCdrom, "devtype=cdrom", false},
	{rDevtypeDisk, "devtype=disk", false},
	{rDevtypeOther, "devtype=", true},
	{rAccess, "access=", true},
	{rBackend, "backend=", true},
	{rBackendtype, "backendtype=", true},
	{rSpecification, "specification=", true},
	{rVdev, "vdev=", true},
	{rScript, "script=", true},
	{rDirectIO, "direct-io-safe", false},
	{rDiscard, "discard", false},
	{rNoDiscard, "no-discard", false},
	{rColo, "colo", false},
	{rNoColo, "no-colo", false},
	{rColoHost, "colo-host=", true},
	{rColoPort, "colo-port=", true},
	{rColoExport, "colo-export=", true},
	{rActiveDisk, "active-disk=", true},
	{rHiddenDisk, "hidden-disk=", true},
	{rTrusted, "trusted", false},
	{rUntrusted, "untrusted", false},
	{rGrantUsage1, "grant_usage=1", false},
	{rGrantUsage0, "grant_usage=0", false},
}

// prefix rules `lit:/.*` (the trailing context makes them match the rest of
// the line, so they beat the positional rule).
var prefixRules = [...]struct {
	rule int
	lits []string
}{
	{rFormatPrefix, []string{"raw:", "qcow:", "qcow2:", "vhd:"}},
	{rScriptPrefix, []string{"iscsi:", "nbd:", "enbd:", "drbd:"}},
	{rTapdisk, []string{"tapdisk:"}},
	{rTap, []string{"tap:", "tap2:"}},
	{rAio, []string{"aio:"}},
	{rIoemu, []string{"ioemu:"}},
	{rFile, []string{"file:"}},
	{rPhy, []string{"phy:"}},
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// dotStar is the length flex's `.*` matches at i: up to a newline.
func dotStar(x string, i int) int {
	j := strings.IndexByte(x[i:], '\n')
	if j < 0 {
		return len(x) - i
	}
	return j
}

// notComma is the length of `[^,]*` at i.
func notComma(x string, i int) int {
	j := strings.IndexByte(x[i:], ',')
	if j < 0 {
		return len(x) - i
	}
	return j
}

func optComma(x string, i int) int {
	if i < len(x) && x[i] == ',' {
		return 1
	}
	return 0
}

// keyAt matches `[a-z][-a-z0-9]*=` at i and returns the index of '='.
func keyAt(x string, i int) (eq int, ok bool) {
	if i >= len(x) || !isLower(x[i]) {
		return 0, false
	}
	j := i + 1
	for j < len(x) && (isLower(x[j]) || isDigit(x[j]) || x[j] == '-') {
		j++
	}
	if j < len(x) && x[j] == '=' {
		return j, true
	}
	return 0, false
}

// match returns, for rule r at offset i of x, the length flex uses to pick
// the rule (trailing context included) and the length of yytext; -1 if the
// rule does not match.
func (s *diskScanner) match(x string, i, r int) (total, head int) {
	rest := x[i:]
	switch r {
	case rWS:
		n := 0
		for n < len(rest) && (rest[n] == ' ' || rest[n] == '\t' || rest[n] == '\n') {
			n++
		}
		if n == 0 {
			return -1, -1
		}
		t := n
		if n < len(rest) { // trailing context [^ \t\n].*
			t += 1 + dotStar(x, i+n+1)
		}
		return t, n
	case rTarget:
		if !strings.HasPrefix(rest, "target=") {
			return -1, -1
		}
		n := 7 + dotStar(x, i+7)
		return n, n
	case rExtKeyValue:
		if s.ext == nil {
			return -1, -1
		}
		eq, ok := keyAt(x, i)
		if !ok {
			return -1, -1
		}
		n := eq + 1 - i
		n += notComma(x, i+n)
		n += optComma(x, i+n)
		return n, n
	case rUnknownParam:
		eq, ok := keyAt(x, i)
		if !ok || eq+1 >= len(x) || x[eq+1] == ',' {
			return -1, -1
		}
		n := eq + 2 - i
		n += optComma(x, i+n)
		return n, n
	case rUnknownPrefix:
		if len(rest) == 0 || !isLower(rest[0]) {
			return -1, -1
		}
		j := 1
		for j < len(rest) && (isLower(rest[j]) || isDigit(rest[j])) {
			j++
		}
		if j >= len(rest) || rest[j] != ':' {
			return -1, -1
		}
		head := j + 1
		t := head
		if head < len(rest) && !isLower(rest[head]) && !isDigit(rest[head]) {
			t += 1 + dotStar(x, i+head+1)
		}
		return t, head
	case rPositional:
		n := 0
		for n < len(rest) && rest[n] != '=' && rest[n] != ',' {
			n++
		}
		if n < len(rest) && rest[n] == ',' {
			return n + 1, n + 1
		}
		if n > 0 {
			return n, n
		}
		return -1, -1
	case rBad:
		if len(rest) > 0 && rest[0] != '\n' {
			return 1, 1
		}
		return -1, -1
	case rTrusted, rUntrusted, rGrantUsage1, rGrantUsage0:
		if s.dialect == Dialect417 {
			return -1, -1
		}
	}
	for _, k := range keywordRules {
		if k.rule != r {
			continue
		}
		if !strings.HasPrefix(rest, k.lit) {
			return -1, -1
		}
		n := len(k.lit)
		if k.value {
			n += notComma(x, i+n)
		}
		n += optComma(x, i+n)
		return n, n
	}
	for _, p := range prefixRules {
		if p.rule != r {
			continue
		}
		for _, lit := range p.lits {
			if strings.HasPrefix(rest, lit) {
				return len(lit) + dotStar(x, i+len(lit)), len(lit)
			}
		}
		return -1, -1
	}
	return -1, -1
}

func stripComma(t string) string {
	if strings.HasSuffix(t, ",") {
		return t[:len(t)-1]
	}
	return t
}

// scan runs the scanner over one spec string.
func (s *diskScanner) scan(x string) {
	i := 0
	for i < len(x) {
		best, bestTotal, bestHead := -1, -1, 0
		for r := 0; r < nRules; r++ {
			t, h := s.match(x, i, r)
			if t > bestTotal {
				best, bestTotal, bestHead = r, t, h
			}
		}
		if best < 0 {
			// Only `\n` directly after a bad character can get here (flex
			// would jam); report it as xl's bad syntax.
			s.errorf(i, i+1, x[i:], true, "bad disk syntax")
			return
		}
		tok := x[i : i+bestHead]
		start := i
		i += bestHead
		if !s.action(best, x, start, tok) {
			return
		}
	}
}

// action performs rule r's action on yytext tok found at start; it returns
// false where the flex action returns 0 (scanning of this spec stops).
func (s *diskScanner) action(r int, x string, start int, tok string) bool {
	d := &s.disk
	stripped := stripComma(tok)
	end := start + len(stripped)
	valStart := start + strings.IndexByte(tok, '=') + 1
	value := ""
	if valStart > start {
		value = x[valStart:end]
	}
	switch r {
	case rWS:
	case rFormat:
		s.setFormat(value, valStart, end)
	case rCdrom, rDevtypeCdrom:
		d.IsCdrom = 1
	case rDevtypeDisk:
		d.IsCdrom = 0
	case rDevtypeOther:
		s.errorf(start, end, tok, true, "unknown value for type")
	case rAccess:
		s.setAccess(value, valStart, end)
	case rBackend:
		s.saveString("backend", &d.BackendDomname, value, valStart, end)
	case rBackendtype:
		var b DiskBackend
		switch value {
		case "phy":
			b = BackendPhy
		case "tap":
			b = BackendTap
		case "qdisk":
			b = BackendQdisk
		case "standalone":
			b = BackendStandalone
		default:
			s.errorf(valStart, end, value, true, "unknown value for backendtype")
			return true
		}
		if d.Backend != BackendUnknown && d.Backend != b {
			s.errorf(valStart, end, value, true, "backend respecified")
		} else {
			d.Backend = b
		}
	case rSpecification:
		var sp DiskSpecification
		switch value {
		case "xen":
			sp = SpecificationXen
		case "virtio":
			sp = SpecificationVirtio
		default:
			s.errorf(valStart, end, value, true, "unknown value for specification")
			return true
		}
		if d.Specification != SpecificationUnknown && d.Specification != sp {
			s.errorf(valStart, end, value, true, "specification respecified")
		} else {
			d.Specification = sp
		}
	case rVdev:
		s.saveString("vdev", &d.Vdev, value, valStart, end)
	case rScript:
		s.saveString("script", &d.Script, value, valStart, end)
	case rDirectIO:
		d.DirectIOSafe = true
	case rDiscard:
		d.DiscardEnable = DefboolTrue
	case rNoDiscard:
		d.DiscardEnable = DefboolFalse
	case rColo:
		d.ColoEnable = DefboolTrue
	case rNoColo:
		d.ColoEnable = DefboolFalse
	case rColoHost:
		s.saveString("colo-host", &d.ColoHost, value, valStart, end)
	case rColoPort:
		if p := cAtoi(value); p != 0 {
			d.ColoPort = p
		} else {
			s.errorf(valStart, end, value, true, "unknown value for colo_port")
		}
	case rColoExport:
		s.saveString("colo-export", &d.ColoExport, value, valStart, end)
	case rActiveDisk:
		s.saveString("active-disk", &d.ActiveDisk, value, valStart, end)
	case rHiddenDisk:
		s.saveString("hidden-disk", &d.HiddenDisk, value, valStart, end)
	case rTrusted:
		d.Trusted = DefboolTrue
	case rUntrusted:
		d.Trusted = DefboolFalse
	case rGrantUsage1:
		d.GrantUsage = DefboolTrue
	case rGrantUsage0:
		d.GrantUsage = DefboolFalse
	case rTarget:
		s.saveString("target", &d.PdevPath, value, valStart, end)
	case rExtKeyValue:
		eq := start + strings.IndexByte(tok, '=')
		s.ext(s.spec, start, eq, eq+1, end, x[start:eq], value)
	case rUnknownParam:
		s.errorf(start, end, tok, true, "unknown parameter")
	case rFormatPrefix:
		s.hadDeprPrefix = true
		f := strings.TrimSuffix(tok, ":")
		s.setFormat(f, start, start+len(f))
	case rScriptPrefix:
		s.hadDeprPrefix = true
		name := strings.TrimSuffix(tok, ":")
		s.saveString("script", &d.Script, "block-"+name, start, start+len(name))
	case rTapdisk, rTap, rAio, rIoemu, rFile, rPhy:
		s.hadDeprPrefix = true
	case rUnknownPrefix:
		s.errorf(start, start+len(tok), tok, true, "unknown deprecated disk prefix")
		return false
	case rPositional:
		s.positional(stripped, start, end)
		if s.stop {
			s.stop = false
			return false
		}
	case rBad:
		// BEGIN(LEXERR); yymore(); then <LEXERR>.* takes the rest of the
		// line. When the bad byte is the last one, flex sees the end of the
		// buffer first and stops without any message: xl then judges the
		// disk on what it has so far. (A newline right after the bad byte
		// jams libxlutil's scanner, which exits; here it is bad syntax.)
		if start+1 == len(x) {
			return false
		}
		n := 1 + dotStar(x, start+1)
		s.errorf(start, start+n, x[start:start+n], true, "bad disk syntax")
		return false
	}
	return true
}

// setFormat is libxlu_disk_l.l's setformat with DSET's respecified check.
func (s *diskScanner) setFormat(v string, start, end int) {
	var f DiskFormat
	switch v {
	case "", "raw":
		f = FormatRaw
	case "qcow":
		f = FormatQcow
	case "qcow2":
		f = FormatQcow2
	case "vhd":
		f = FormatVHD
	case "empty":
		f = FormatEmpty
	case "qed":
		f = FormatQED
	default:
		s.errorf(start, end, v, true, "unknown value for format")
		return
	}
	if s.disk.Format != FormatUnknown && s.disk.Format != f {
		s.errorf(start, end, v, true, "format respecified")
		return
	}
	s.disk.Format = f
}

func (s *diskScanner) setAccess(v string, start, end int) {
	switch v {
	case "r", "ro":
		s.disk.Readwrite = 0
	case "rw", "w", "":
		s.disk.Readwrite = 1
	default:
		s.errorf(start, end, v, true, "unknown value for access")
	}
}

// saveString is savestring: a non-empty value may not be replaced, an empty
// one may.
func (s *diskScanner) saveString(what string, dst **string, v string, start, end int) {
	if *dst != nil && **dst != "" {
		s.errorf(start, end, v, true, what+" respecified")
		return
	}
	c := v
	*dst = &c
	if dst == &s.disk.Vdev {
		s.vdevAt = [3]int{s.spec, start, end}
	}
}

// vdevAndDevtype handles a positional `vdev:devtype`; it reports whether the
// token had a colon.
func (s *diskScanner) vdevAndDevtype(tok string, start int) bool {
	colon := strings.LastIndexByte(tok, ':')
	if colon < 0 {
		return false
	}
	s.saveString("vdev", &s.disk.Vdev, tok[:colon], start, start+colon)
	switch tok[colon+1:] {
	case "cdrom":
		s.disk.IsCdrom = 1
	case "disk":
		s.disk.IsCdrom = 0
	default:
		s.errorf(start+colon+1, start+len(tok), tok[colon+1:], true, "unknown deprecated type")
	}
	return true
}

// positional handles a positional parameter (target, format, vdev, access).
func (s *diskScanner) positional(tok string, start, end int) {
	d := &s.disk
	switch {
	case s.err:
		// previous errors may just lead to subsequent ones
	case d.PdevPath == nil:
		s.saveString("target", &d.PdevPath, tok, start, end)
	case !s.hadDeprPrefix && d.Format == FormatUnknown:
		if *d.PdevPath == "" && s.vdevAndDevtype(tok, start) {
			d.Format = FormatEmpty
		} else {
			s.setFormat(tok, start, end)
		}
	case d.Vdev == nil:
		if !s.vdevAndDevtype(tok, start) {
			s.saveString("vdev", &d.Vdev, tok, start, end)
		}
	case !s.accessSet:
		s.accessSet = true
		s.setAccess(tok, start, end)
	default:
		s.errorf(start, end, tok, true, "too many positional parameters")
		s.stop = true
	}
}

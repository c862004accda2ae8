package schema

import (
	"fmt"
	"strconv"
	"strings"
)

// ValueError says why a value is not allowed for a feature. Allowed describes
// what would be, in words an administrator can act on.
type ValueError struct {
	Feature string
	Value   string
	Allowed string
}

func (e *ValueError) Error() string {
	return fmt.Sprintf("%q is not allowed for %s: %s", e.Value, e.Feature, e.Allowed)
}

// Allowed describes the values f accepts ("an unsigned integer from 1 to 8").
func (f *Feature) Allowed() string {
	switch f.Type {
	case Bool:
		return "a boolean (0/1, true/false, on/off, yes/no)"
	case String:
		if len(f.Values) > 0 {
			return "one of " + strings.Join(f.Values, ", ")
		}
		return "a string"
	}
	kind := "an integer"
	if f.Type == Uint {
		kind = "an unsigned integer"
	}
	switch {
	case f.Min != nil && f.Max != nil:
		return fmt.Sprintf("%s from %d to %d", kind, *f.Min, *f.Max)
	case f.Min != nil:
		return fmt.Sprintf("%s of at least %d", kind, *f.Min)
	case f.Max != nil:
		return fmt.Sprintf("%s of at most %d", kind, *f.Max)
	}
	return kind
}

// Check validates v against f and returns its canonical form: decimal for
// integers (leading '+' and zeros dropped), "0" or "1" for booleans, the
// string itself otherwise.
func (f *Feature) Check(v string) (string, error) {
	bad := func() (string, error) { return "", &ValueError{Feature: f.Name, Value: v, Allowed: f.Allowed()} }
	switch f.Type {
	case Bool:
		b, ok := ParseBool(v)
		if !ok {
			return bad()
		}
		if b {
			return "1", nil
		}
		return "0", nil
	case String:
		if strings.ContainsRune(v, 0) {
			return bad()
		}
		if len(f.Values) == 0 {
			return v, nil
		}
		for _, x := range f.Values {
			if x == v {
				return v, nil
			}
		}
		return bad()
	case Uint, Int:
		n, err := parseInteger(f.Type, v)
		if err != nil {
			return bad()
		}
		if f.Min != nil && n < *f.Min || f.Max != nil && n > *f.Max {
			return bad()
		}
		return strconv.FormatInt(n, 10), nil
	}
	return bad()
}

// ParseBool reads a boolean feature value, wherever one is requested: a
// shorthand key or features= item of a device spec, a config-<name> node.
// It is the only place that does. Accepted, in any case and nothing else
// (no blanks around): 1 and 0, as xl.cfg(5) writes a BOOLEAN and XenStore
// stores one; true and false, libxl_defbool's own spelling (True/False);
// on/off and yes/no. Single letters (y, n) and other numbers are refused:
// they are more likely a slip than a request.
func ParseBool(v string) (value, ok bool) {
	switch strings.ToLower(v) {
	case "1", "true", "on", "yes":
		return true, true
	case "0", "false", "off", "no":
		return false, true
	}
	return false, false
}

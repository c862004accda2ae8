// Package schema is the contract between a backend and the toolstack about the
// per-device features the backend lets an administrator control.
//
// A backend advertises, once per backend domain and device type, under
//
//	/local/domain/<be>/backend/<type>/features/
//
// the keys <name>-type (uint, int, bool or string), <name>-defval (the default;
// for a max-* feature the backend's own maximum), <name>-desc (one line for
// humans) and, as xfeat extensions, <name>-min, <name>-max and <name>-values
// (a comma-separated list of allowed strings). Parse reads such a directory
// listing, Schema.Entries renders one, and Schema.Check validates a requested
// value.
//
// Invariants: a Schema only ever holds features whose -type is known and whose
// bounds parse under that type; values are compared in their canonical form
// (decimal integers, "0"/"1" for booleans), which is also what is written to
// config-<name> and what backends and frontends write in XenStore.
//
// The negotiation rules (Rules, Verdict) say, per device type and feature,
// which backend key carries the effective value and which frontend key shows
// what the guest chose, so that `xfeat show` can put requested, advertised,
// effective and negotiated values side by side.
package schema

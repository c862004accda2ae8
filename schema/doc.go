// Package schema is the contract between a backend and the toolstack about
// the per-device features the backend lets an administrator control: the
// schema a backend advertises, the checks a requested value passes, the
// protocol's rules for where each feature shows, the one decision about a
// request and the verdict on it.
//
// # The schema
//
// A backend advertises, once per backend domain and device kind, under
// pv.SchemaDir (/local/domain/<be>/backend/<kind>/features/) the keys
// <name>-type (uint, int, bool or string), <name>-defval (the default; for a
// max-* feature the backend's own maximum), <name>-desc (one line for
// humans) and, as xfeat extensions, <name>-min, <name>-max and <name>-values
// (a comma-separated list of allowed strings). Parse reads such a directory
// listing, Schema.Entries renders one, and Feature.Check validates a
// requested value.
//
// # A request's life (rules.go)
//
// A request enters as config-<name> = value (written by the toolstack in the
// device's backend directory, readable by the backend only). What the
// backend does with it is decided by Schema.Decide alone: apply it, clamp a
// maximum to the backend's own, refuse a value it does not honour, or
// ignore a feature it does not have. The toolstack asks Decide before it
// writes anything (a clamp is a warning, a refusal an error), the backend
// asks it again when it probes the device, and records the result, per
// request, in a decision node beside its xenbus error node:
//
//	/local/domain/<be>/error/backend/<kind>/<fe>/<devid>/error            for people: "config-<name>: reason; ..."
//	/local/domain/<be>/error/backend/<kind>/<fe>/<devid>/feature/<name>   Decision.Record: "apply 2", "clamp 4", "refuse", "ignore"
//
// (pv.ErrorNode, pv.DecisionNode). The directory is below the backend's own
// home: the toolstack (domain 0) reads it, the guest can neither read nor
// write it, as it can neither read nor write its requests. It goes with the
// device. The request leaves as the verdict Rule.Judge gives from the
// record, never from the error message, together with the values both ends
// wrote (the backend's key, the frontend's key: Rules); without a record (a
// stock Linux backend records none) the values alone judge.
//
// Invariants: a Schema only ever holds features whose -type is known and
// whose bounds parse under that type; values are compared in their
// canonical form (decimal integers, "0"/"1" for booleans), which is also
// what is written to config-<name> and what backends and frontends write in
// XenStore.
package schema

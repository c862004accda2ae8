package schema

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/xfeat/xfeat/pv"
)

// This file is the protocol's features as xfeat knows them (Rules: where
// each one's value shows at each stage) and what becomes of a request for
// one: what a backend decides about it (Decide) and the verdict `xfeat
// show` gives (Rule.Judge).

// Rule says where one feature's value shows at each stage of a device's life.
type Rule struct {
	Feature string
	// BackendKey is the key in the device's backend directory that carries
	// the value the backend put into effect.
	BackendKey string
	// BackendDefault is what an absent BackendKey means once the backend has
	// processed the device (feature-max-indirect-segments absent = 0).
	BackendDefault string
	// FrontendKey is the key in the frontend directory that shows what the
	// guest chose; "" when the guest writes nothing and the effective value is
	// what applies once the device is connected.
	FrontendKey string
	// FrontendDefault is what an absent FrontendKey means once the frontend is
	// connected (multi-queue-num-queues absent = 1 queue).
	FrontendDefault string
	// FrontendPresence means the guest shows its choice by writing
	// FrontendKey at all (split event channels: event-channel-tx): negotiated
	// is "1" when the key exists, else "0".
	FrontendPresence bool
	// Mutual means both ends write FrontendKey's name for what each is
	// willing to do, and the feature is in use only when both say 1
	// (blkif.h feature-persistent: Linux's blkfront writes its own
	// setting, whatever the backend offers): negotiated is "1" only then.
	Mutual bool
	// Cap means the requested value is an upper bound the backend may lower
	// (a maximum): a request above the backend's own maximum is clamped to
	// it (Decide).
	Cap bool
	// Type and Desc describe the backend key as the protocol defines it
	// (netif.h, blkif.h): what `xfeat features` shows for a backend that
	// advertises no schema of its own.
	Type Type
	Desc string
}

// rules are the features of netif.h and blkif.h a request may name, in
// display order. A feature's name is the key its backend writes for the
// frontend (docs/design.md, "The protocol").
var rules = map[pv.Kind][]Rule{
	pv.Vif: {
		{Feature: pv.KeyMultiQueueMaxQueues, FrontendKey: pv.KeyMultiQueueNumQueues, FrontendDefault: "1", BackendDefault: "1", Cap: true,
			Type: Uint, Desc: "most queues (tx/rx ring pairs) a frontend may use"},
		// The backend's sg, gso and IPv6 checksum keys say what it accepts
		// from the guest, so they decide the guest's transmit offloads (a
		// Linux netfront turns each off when its key is 0). The frontend's
		// keys of the same names are netif.h's other direction (what the
		// guest accepts), which no request touches: what the guest uses is
		// the backend's value, so they have no FrontendKey.
		{Feature: pv.KeyFeatureSG, BackendDefault: "0",
			Type: Bool, Desc: "scatter-gather: a packet from the guest may span several requests"},
		{Feature: pv.KeyFeatureGSOTCPv4, BackendDefault: "0",
			Type: Bool, Desc: "TCP segmentation offload for IPv4: the guest may send large TCP packets"},
		{Feature: pv.KeyFeatureGSOTCPv6, BackendDefault: "0",
			Type: Bool, Desc: "TCP segmentation offload for IPv6: the guest may send large TCP packets"},
		{Feature: pv.KeyFeatureIPv6CsumOffl, BackendDefault: "0",
			Type: Bool, Desc: "checksum offload for the guest's IPv6 packets"},
		{Feature: pv.KeyFeatureNoCsumOffload, FrontendKey: pv.KeyFeatureNoCsumOffload, FrontendDefault: "0", BackendDefault: "0",
			Type: Bool, Desc: "no IPv4 checksum offload: every packet carries a full checksum"},
		{Feature: pv.KeyFeatureSplitEvtchns, FrontendKey: pv.KeyEventChannelTx, FrontendPresence: true, BackendDefault: "0",
			Type: Bool, Desc: "separate tx and rx event channels per queue"},
		{Feature: pv.KeyFeatureMulticastCtl, FrontendKey: pv.KeyRequestMulticastCtl, FrontendDefault: "0", BackendDefault: "0",
			Type: Bool, Desc: "the frontend may filter multicast addresses"},
		{Feature: pv.KeyFeatureCtrlRing, FrontendKey: pv.KeyCtrlRingRef, FrontendPresence: true, BackendDefault: "0",
			Type: Bool, Desc: "a control ring (hashing, multicast) beside the data rings"},
	},
	pv.Vbd: {
		{Feature: pv.KeyMultiQueueMaxQueues, FrontendKey: pv.KeyMultiQueueNumQueues, FrontendDefault: "1", BackendDefault: "1", Cap: true,
			Type: Uint, Desc: "most request rings a frontend may use"},
		{Feature: pv.KeyMaxRingPageOrder, FrontendKey: pv.KeyRingPageOrder, FrontendDefault: "0", BackendDefault: "0", Cap: true,
			Type: Uint, Desc: "log2 of the most pages one ring may have"},
		{Feature: pv.KeyFeaturePersistent, FrontendKey: pv.KeyFeaturePersistent, FrontendDefault: "0", BackendDefault: "0", Mutual: true,
			Type: Bool, Desc: "persistent grants: pages stay mapped between requests"},
		{Feature: pv.KeyFeatureMaxIndirectSegs, BackendDefault: "0", Cap: true,
			Type: Uint, Desc: "most segments of one indirect request (0: no indirect requests)"},
		{Feature: pv.KeyFeatureFlushCache, BackendDefault: "0",
			Type: Bool, Desc: "the backend honours cache flush requests"},
		{Feature: pv.KeyFeatureBarrier, BackendDefault: "0",
			Type: Bool, Desc: "the backend honours write barriers"},
		{Feature: pv.KeyFeatureDiscard, BackendDefault: "0",
			Type: Bool, Desc: "the backend honours discard (trim) requests"},
	},
}

// Rules returns the negotiation rules xfeat knows for a device kind, in
// display order. The slice must not be modified.
func Rules(kind pv.Kind) []Rule { return rules[kind] }

// RuleFor returns the rule of one feature. A feature xfeat has no rule for is
// assumed to use its own name on both sides, with no default.
func RuleFor(kind pv.Kind, feature string) Rule {
	for _, r := range rules[kind] {
		if r.Feature == feature {
			if r.BackendKey == "" {
				r.BackendKey = feature
			}
			return r
		}
	}
	return Rule{Feature: feature, BackendKey: feature, FrontendKey: feature}
}

// What becomes of a request, decided here only:
//
//   - the toolstack, before writing config-<feature>, asks Decide what the
//     backend will do (a clamp is a warning, a refusal an error);
//   - the backend, on probing the device, asks Decide again with what it
//     knows of the device, applies the result, and records it in the
//     decision node beside its xenbus error node (Decision.Record);
//   - `xfeat show` reads the record back (ParseRecord) and Rule.Judge turns
//     it, with the values both ends wrote, into the verdict.

// Action is what a backend does with one request.
type Action string

// The actions a backend may take on a request.
const (
	// Apply: the requested value is in effect.
	Apply Action = "apply"
	// Clamp: a maximum above the backend's own; its own is in effect.
	Clamp Action = "clamp"
	// Refuse: a value the backend does not honour (outside its checks,
	// or a feature it cannot turn on for this device); its default
	// stays in effect.
	Refuse Action = "refuse"
	// Ignore: a feature the backend does not have; nothing is done.
	Ignore Action = "ignore"
	// Unenforceable: a feature the backend decides only when it connects
	// (Feature.AtConnect), asked for other than its default: nothing
	// anyone writes beforehand can make it so. The backend's own choice
	// stays in effect.
	Unenforceable Action = "unenforceable"
)

// Decision is what a backend did with the request for one feature of one
// device.
type Decision struct {
	Feature string
	Action  Action
	// Value is the value put into effect, canonical: the request (Apply)
	// or the backend's maximum (Clamp); "" when the backend's default
	// stays (Refuse, Ignore, Unenforceable).
	Value string
	// Reason says why, for people: the clause of the xenbus error node
	// (ErrorNote). "" for Apply.
	Reason string
}

// Decide decides what the backend advertising s does with the request
// config-<name> = requested on one device. cannot, unless "", is why the
// backend cannot turn this boolean feature on for this device (not
// supported at all, the disk is read-only, ...). In this order:
//
//   - a feature s does not list is ignored;
//   - a value s's checks do not allow (Feature.Check) is refused;
//   - a maximum (Rule.Cap) above the backend's own (the feature's
//     advertised default) is clamped to it;
//   - a boolean asked on that the backend cannot turn on is refused;
//   - a feature the backend decides when it connects (Feature.AtConnect)
//     asked for other than its default is unenforceable;
//   - anything else is applied, in its canonical form.
func (s *Schema) Decide(name, requested, cannot string) Decision {
	f := s.Lookup(name)
	if f == nil {
		return Decision{Feature: name, Action: Ignore, Reason: "not a feature of this backend"}
	}
	canon, err := f.Check(requested)
	if err != nil {
		return Decision{Feature: name, Action: Refuse, Reason: fmt.Sprintf("refused: %v", err)}
	}
	if RuleFor(s.Kind, name).Cap && less(f.Defval, canon) {
		return Decision{Feature: name, Action: Clamp, Value: f.Defval,
			Reason: "clamped to " + f.Defval + ", the backend's maximum"}
	}
	if f.Type == Bool && canon == "1" && cannot != "" {
		return Decision{Feature: name, Action: Refuse, Reason: "refused: " + cannot}
	}
	if f.AtConnect && canon != f.Defval {
		return Decision{Feature: name, Action: Unenforceable,
			Reason: "unenforceable: the backend decides it when it connects (its own choice: " + orUnknown(f.Defval) + ")"}
	}
	return Decision{Feature: name, Action: Apply, Value: canon}
}

// Record is the decision as its decision node (pv.DecisionNode) holds it:
// the action, then, for Apply and Clamp, a space and the value in effect
// ("apply 2", "clamp 4", "refuse", "ignore", "unenforceable"). The reason is not part of it:
// it is in the error node, for people.
func (d Decision) Record() string {
	if d.Action == Apply || d.Action == Clamp {
		return string(d.Action) + " " + d.Value
	}
	return string(d.Action)
}

// ParseRecord reads the decision node of feature. Anything but what Record
// writes is an error: the backend is not one that records decisions the
// way xfeat's do, and its record is not used.
func ParseRecord(feature, v string) (Decision, error) {
	act, val, hasVal := strings.Cut(v, " ")
	d := Decision{Feature: feature, Action: Action(act), Value: val}
	switch d.Action {
	case Apply, Clamp:
		if hasVal && val != "" && !strings.ContainsAny(val, " \x00") {
			return d, nil
		}
	case Refuse, Ignore, Unenforceable:
		if !hasVal {
			return d, nil
		}
	}
	return Decision{}, fmt.Errorf("decision for %s: %q is not one a backend records (apply VALUE, clamp VALUE, refuse, ignore, unenforceable)", feature, v)
}

// ErrorNote is how a backend names a feature in its xenbus error node
// (pv.ErrorNode): one "config-<name>: reason" clause per feature it did not
// apply as requested, clauses joined by "; ".
func ErrorNote(feature, reason string) string { return pv.ConfigKey(feature) + ": " + reason }

// ErrorNames reports whether a backend error message names feature. It is
// for people and tests reading the message; the verdict is given from the
// decision node, never from this text.
func ErrorNames(message, feature string) bool {
	for _, clause := range strings.Split(message, "; ") {
		if strings.HasPrefix(clause, pv.ConfigKey(feature)+": ") {
			return true
		}
	}
	return false
}

// Verdict is what became of a feature request on one device.
type Verdict string

// The verdicts `xfeat show` gives.
const (
	Applied Verdict = "applied" // in effect as requested (and negotiated, where the guest has a say)
	Clamped Verdict = "clamped" // the backend lowered a requested maximum to its own limit
	Refused Verdict = "refused" // the backend did not honour the request
	Default Verdict = "default" // nothing was requested: the backend's default applies
	Pending Verdict = "pending" // the backend or the guest has not got that far yet
	// Unenforced: the backend decides the feature when it connects, and
	// the request was not one it would make anyway (Action
	// Unenforceable): nothing could enforce it. Shown as "unenforceable".
	Unenforced Verdict = "unenforceable"
)

// Observation is what XenStore shows of one feature of one device. Nil means
// the node is absent.
type Observation struct {
	Requested     *string // config-<name>
	Effective     *string // backend key, as the backend wrote it
	Negotiated    *string // frontend key, as the guest wrote it
	BackendState  pv.State
	FrontendState pv.State
	// Decided is the action the backend recorded for the request (its
	// decision node); "" when there is no record: a backend that records
	// none (a stock Linux one) or one that has not probed the device yet.
	Decided Action
}

// Judge resolves the effective and negotiated values of o under rule r
// (applying the documented defaults for absent keys once a side has got that
// far) and returns them with the verdict: the backend's recorded decision
// first; without one, what the values show.
func (r Rule) Judge(o Observation) (effective, negotiated *string, v Verdict) {
	effective, negotiated = o.Effective, o.Negotiated
	if effective == nil && o.BackendState >= pv.InitWait && r.BackendDefault != "" {
		effective = ptr(r.BackendDefault)
	}
	if o.FrontendState == pv.Connected {
		switch {
		case r.FrontendPresence:
			negotiated = ptr(pv.Bool(o.Negotiated != nil))
		case r.FrontendKey == "":
			negotiated = effective
		case negotiated == nil && r.FrontendDefault != "":
			negotiated = ptr(r.FrontendDefault)
		}
		if r.Mutual && negotiated != nil && effective != nil {
			negotiated = ptr(pv.Bool(*negotiated == "1" && *effective == "1"))
		}
	}
	if o.Requested == nil {
		return effective, negotiated, Default
	}
	switch o.Decided {
	case Clamp:
		return effective, negotiated, Clamped
	case Refuse, Ignore:
		return effective, negotiated, Refused
	case Unenforceable:
		return effective, negotiated, Unenforced
	case "":
		// No record: a maximum the backend lowered is a clamp.
		if effective != nil && r.Cap && less(*effective, *o.Requested) {
			return effective, negotiated, Clamped
		}
	}
	if effective == nil {
		return effective, negotiated, Pending
	}
	if *effective != *o.Requested {
		return effective, negotiated, Refused
	}
	if o.FrontendState != pv.Connected || o.BackendState != pv.Connected {
		return effective, negotiated, Pending
	}
	return effective, negotiated, Applied
}

// less reports whether integer a is below integer b (false unless both are
// integers).
func less(a, b string) bool {
	x, err1 := strconv.ParseInt(a, 10, 64)
	y, err2 := strconv.ParseInt(b, 10, 64)
	return err1 == nil && err2 == nil && x < y
}

func orUnknown(v string) string {
	if v == "" {
		return "unknown"
	}
	return v
}

func ptr(s string) *string { return &s }

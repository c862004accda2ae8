package schema

import (
	"strconv"
	"strings"
)

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
	// Cap means the requested value is an upper bound the backend may lower
	// (a maximum): an effective value below the request is "clamped".
	Cap bool
	// Type and Desc describe the backend key as the protocol defines it
	// (netif.h, blkif.h): what `xfeat features` shows for a backend that
	// advertises no schema of its own.
	Type Type
	Desc string
}

var rules = map[string][]Rule{
	"vif": {
		{Feature: "multi-queue-max-queues", FrontendKey: "multi-queue-num-queues", FrontendDefault: "1", BackendDefault: "1", Cap: true,
			Type: Uint, Desc: "most queues (tx/rx ring pairs) a frontend may use"},
		{Feature: "feature-sg", FrontendKey: "feature-sg", FrontendDefault: "0", BackendDefault: "0",
			Type: Bool, Desc: "scatter-gather: a packet may span several requests"},
		{Feature: "feature-gso-tcpv4", FrontendKey: "feature-gso-tcpv4", FrontendDefault: "0", BackendDefault: "0",
			Type: Bool, Desc: "TCP segmentation offload for IPv4 (large packets to the frontend)"},
		{Feature: "feature-gso-tcpv6", FrontendKey: "feature-gso-tcpv6", FrontendDefault: "0", BackendDefault: "0",
			Type: Bool, Desc: "TCP segmentation offload for IPv6"},
		{Feature: "feature-ipv6-csum-offload", FrontendKey: "feature-ipv6-csum-offload", FrontendDefault: "0", BackendDefault: "0",
			Type: Bool, Desc: "checksum offload for IPv6 packets"},
		{Feature: "feature-no-csum-offload", FrontendKey: "feature-no-csum-offload", FrontendDefault: "0", BackendDefault: "0",
			Type: Bool, Desc: "no IPv4 checksum offload: every packet carries a full checksum"},
		{Feature: "feature-split-event-channels", FrontendKey: "event-channel-tx", FrontendPresence: true, BackendDefault: "0",
			Type: Bool, Desc: "separate tx and rx event channels per queue"},
		{Feature: "feature-multicast-control", FrontendKey: "request-multicast-control", FrontendDefault: "0", BackendDefault: "0",
			Type: Bool, Desc: "the frontend may filter multicast addresses"},
		{Feature: "feature-ctrl-ring", FrontendKey: "ctrl-ring-ref", FrontendPresence: true, BackendDefault: "0",
			Type: Bool, Desc: "a control ring (hashing, multicast) beside the data rings"},
	},
	"vbd": {
		{Feature: "multi-queue-max-queues", FrontendKey: "multi-queue-num-queues", FrontendDefault: "1", BackendDefault: "1", Cap: true,
			Type: Uint, Desc: "most request rings a frontend may use"},
		{Feature: "max-ring-page-order", FrontendKey: "ring-page-order", FrontendDefault: "0", BackendDefault: "0", Cap: true,
			Type: Uint, Desc: "log2 of the most pages one ring may have"},
		{Feature: "feature-persistent", FrontendKey: "feature-persistent", FrontendDefault: "0", BackendDefault: "0",
			Type: Bool, Desc: "persistent grants: pages stay mapped between requests"},
		{Feature: "feature-max-indirect-segments", BackendDefault: "0", Cap: true,
			Type: Uint, Desc: "most segments of one indirect request (0: no indirect requests)"},
		{Feature: "feature-flush-cache", BackendDefault: "0",
			Type: Bool, Desc: "the backend honours cache flush requests"},
		{Feature: "feature-barrier", BackendDefault: "0",
			Type: Bool, Desc: "the backend honours write barriers"},
		{Feature: "feature-discard", BackendDefault: "0",
			Type: Bool, Desc: "the backend honours discard (trim) requests"},
	},
}

// Rules returns the negotiation rules xfeat knows for a device type (vif or
// vbd), in display order. The slice must not be modified.
func Rules(devType string) []Rule { return rules[devType] }

// RuleFor returns the rule of one feature. A feature xfeat has no rule for is
// assumed to use its own name on both sides, with no default.
func RuleFor(devType, feature string) Rule {
	for _, r := range rules[devType] {
		if r.Feature == feature {
			if r.BackendKey == "" {
				r.BackendKey = feature
			}
			return r
		}
	}
	return Rule{Feature: feature, BackendKey: feature, FrontendKey: feature}
}

// Verdict is what became of a feature request on one device.
type Verdict string

const (
	Applied Verdict = "applied" // in effect as requested (and negotiated, where the guest has a say)
	Clamped Verdict = "clamped" // the backend lowered a requested maximum to its own limit
	Refused Verdict = "refused" // the backend did not honour the request
	Default Verdict = "default" // nothing was requested: the backend's default applies
	Pending Verdict = "pending" // the backend or the guest has not got that far yet
)

// XenbusState values (xenbus.h) used by the verdict.
const (
	StateInitWait  = 2
	StateConnected = 4
)

// Observation is what XenStore shows of one feature of one device. Nil means
// the node is absent.
type Observation struct {
	Requested     *string // config-<name>
	Effective     *string // backend key, as the backend wrote it
	Negotiated    *string // frontend key, as the guest wrote it
	BackendState  int
	FrontendState int
	// BackendError is true when the backend's xenbus error node names this
	// feature: the backend refused it.
	BackendError bool
}

// Judge resolves the effective and negotiated values of o under rule r
// (applying the documented defaults for absent keys once a side has got that
// far) and returns them with the verdict.
func (r Rule) Judge(o Observation) (effective, negotiated *string, v Verdict) {
	effective, negotiated = o.Effective, o.Negotiated
	if effective == nil && o.BackendState >= StateInitWait && r.BackendDefault != "" {
		effective = ptr(r.BackendDefault)
	}
	if o.FrontendState == StateConnected {
		switch {
		case r.FrontendPresence:
			negotiated = ptr(boolString(o.Negotiated != nil))
		case r.FrontendKey == "":
			negotiated = effective
		case negotiated == nil && r.FrontendDefault != "":
			negotiated = ptr(r.FrontendDefault)
		}
	}
	if o.Requested == nil {
		return effective, negotiated, Default
	}
	// A lowered maximum is a clamp even though the backend also reports it
	// in its error node; any other report from the backend is a refusal.
	if effective != nil && *effective != *o.Requested && r.Cap && less(*effective, *o.Requested) {
		return effective, negotiated, Clamped
	}
	if o.BackendError {
		return effective, negotiated, Refused
	}
	if effective == nil {
		return effective, negotiated, Pending
	}
	if *effective != *o.Requested {
		return effective, negotiated, Refused
	}
	if o.FrontendState != StateConnected || o.BackendState != StateConnected {
		return effective, negotiated, Pending
	}
	return effective, negotiated, Applied
}

func less(a, b string) bool {
	x, err1 := strconv.ParseInt(a, 10, 64)
	y, err2 := strconv.ParseInt(b, 10, 64)
	return err1 == nil && err2 == nil && x < y
}

func boolString(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func ptr(s string) *string { return &s }

// ErrorNote is how a backend names a feature in its xenbus error node
// (/local/domain/<be>/error/<backend path>/error): one "config-<name>: reason"
// clause per feature it could not honour, clauses joined by "; ".
func ErrorNote(feature, reason string) string { return ConfigPrefix + feature + ": " + reason }

// ErrorNames reports whether a backend error message names feature.
func ErrorNames(message, feature string) bool {
	for _, clause := range strings.Split(message, "; ") {
		if strings.HasPrefix(clause, ConfigPrefix+feature+": ") {
			return true
		}
	}
	return false
}

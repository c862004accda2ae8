package schema

import "github.com/xfeat/xfeat/pv"

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
		{Feature: pv.KeyFeatureSG, FrontendKey: pv.KeyFeatureSG, FrontendDefault: "0", BackendDefault: "0",
			Type: Bool, Desc: "scatter-gather: a packet may span several requests"},
		{Feature: pv.KeyFeatureGSOTCPv4, FrontendKey: pv.KeyFeatureGSOTCPv4, FrontendDefault: "0", BackendDefault: "0",
			Type: Bool, Desc: "TCP segmentation offload for IPv4 (large packets to the frontend)"},
		{Feature: pv.KeyFeatureGSOTCPv6, FrontendKey: pv.KeyFeatureGSOTCPv6, FrontendDefault: "0", BackendDefault: "0",
			Type: Bool, Desc: "TCP segmentation offload for IPv6"},
		{Feature: pv.KeyFeatureIPv6CsumOffl, FrontendKey: pv.KeyFeatureIPv6CsumOffl, FrontendDefault: "0", BackendDefault: "0",
			Type: Bool, Desc: "checksum offload for IPv6 packets"},
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
		{Feature: pv.KeyFeaturePersistent, FrontendKey: pv.KeyFeaturePersistent, FrontendDefault: "0", BackendDefault: "0",
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

package toolstack

// Stock Linux backends (xen-netback, xen-blkback) advertise no schema, but
// what they offer is known before any device exists: their module
// parameters (/sys/module/<module>/parameters/) and what the drivers fix.
// This file is that knowledge, in one table: per feature where the
// backend's default comes from and how the toolstack makes a request count
// on a real Xen host (CreateWithXl), between the backend's probe and the
// guest's first run:
//
//   - rewrite: the backend writes the key at probe, before InitWait, and
//     the frontend reads it only when it connects: the toolstack rewrites
//     it. Only ever lower: a maximum (above the backend's own it is
//     clamped) or a boolean turned off (one the backend has off cannot be
//     turned on: the driver does not do it).
//   - toolstack key: the backend decides at connect from a key the
//     toolstack writes in the backend directory (blkif.h's discard-enable:
//     0 and blkback offers no discard).
//   - at connect: the backend decides when it connects, from what it finds
//     (feature-persistent from its module parameter, flush and barrier
//     from the disk): schema.Feature.AtConnect, a request for anything
//     else than its own choice is unenforceable.
//
// Facts from Linux 6.1: drivers/net/xen-netback/xenbus.c (netback_probe
// writes every offer key), drivers/block/xen-blkback/xenbus.c
// (xen_blkbk_probe writes feature-max-indirect-segments, 256,
// multi-queue-max-queues and max-ring-page-order; connect writes
// feature-flush-cache, feature-discard, feature-barrier,
// feature-persistent); the parameters' values in sysfs are those the
// modules settled on at load (max_queues 0 becomes the dom0's vcpus).

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
)

// How a stock backend's feature is made to count.
type stockHow int

const (
	stockRewrite   stockHow = iota // the toolstack rewrites the backend's key
	stockViaKey                    // the toolstack writes stockFeature.key, which the backend reads at connect
	stockAtConnect                 // the backend decides at connect: unenforceable
)

// stockFeature is one feature of a stock backend.
type stockFeature struct {
	name string // the protocol key (schema.Rules)
	// param is the module parameter that sets the backend's choice; ""
	// when the driver fixes it to fixed ("" fixed: it depends on the
	// device, unknown before connect).
	param, fixed string
	// linuxDefault is param's default in Linux, for what is said without
	// asking the host (CheckXenHost); "" when it is the host's (vcpus).
	linuxDefault string
	how          stockHow
	key          string // stockViaKey: the toolstack key
	min, max     *int64
}

// stockBackend is a stock Linux backend driver.
type stockBackend struct {
	module   string // as /sys/module names it
	driver   string // for people
	protocol string // the header that defines its keys
	features []stockFeature
}

func bound(v int64) *int64 { return &v }

var stockBackends = map[pv.Kind]*stockBackend{
	pv.Vif: {module: "xen_netback", driver: "Linux xen-netback", protocol: "netif.h", features: []stockFeature{
		{name: pv.KeyMultiQueueMaxQueues, param: "max_queues", min: bound(1)},
		{name: pv.KeyFeatureSG, fixed: "1"},
		{name: pv.KeyFeatureGSOTCPv4, fixed: "1"},
		{name: pv.KeyFeatureGSOTCPv6, fixed: "1"},
		{name: pv.KeyFeatureIPv6CsumOffl, fixed: "1"},
		{name: pv.KeyFeatureSplitEvtchns, param: "separate_tx_rx_irq"},
		{name: pv.KeyFeatureMulticastCtl, fixed: "1"},
		{name: pv.KeyFeatureCtrlRing, fixed: "1"},
	}},
	pv.Vbd: {module: "xen_blkback", driver: "Linux xen-blkback", protocol: "blkif.h", features: []stockFeature{
		{name: pv.KeyMultiQueueMaxQueues, param: "max_queues", min: bound(1)},
		{name: pv.KeyMaxRingPageOrder, param: "max_ring_page_order", min: bound(0)},
		{name: pv.KeyFeatureMaxIndirectSegs, fixed: "256", min: bound(0)},
		{name: pv.KeyFeatureDiscard, fixed: "1", how: stockViaKey, key: pv.KeyDiscardEnable},
		{name: pv.KeyFeaturePersistent, param: "feature_persistent", linuxDefault: "1", how: stockAtConnect},
		{name: pv.KeyFeatureFlushCache, how: stockAtConnect},
		{name: pv.KeyFeatureBarrier, how: stockAtConnect},
	}},
}

// ErrNoStockBackend means the local domain has no stock backend driver
// loaded for a device kind.
var ErrNoStockBackend = errors.New("no stock backend loaded")

// paramsDir is where a module's parameters are.
func paramsDir(sysfs, module string) string {
	return filepath.Join(sysfs, "module", module, "parameters")
}

// StockSchema describes the stock Linux backend of kind in the local
// domain be by its module parameters under sysfs and the driver's fixed
// values, as a schema (From says so). The driver not loaded is an error
// wrapping ErrNoStockBackend; a parameter that cannot be read or parsed an
// error naming its file.
func StockSchema(sysfs string, be uint32, kind pv.Kind) (*schema.Schema, error) {
	sb := stockBackends[kind]
	if sb == nil {
		return nil, fmt.Errorf("%w for %s", ErrNoStockBackend, kind)
	}
	dir := paramsDir(sysfs, sb.module)
	if _, err := os.Stat(filepath.Join(sysfs, "module", sb.module)); err != nil {
		return nil, fmt.Errorf("%w for %s: %s is not loaded in domain %d (no %s)", ErrNoStockBackend, kind, sb.driver, be,
			filepath.Join(sysfs, "module", sb.module))
	}
	s := &schema.Schema{Backend: be, Kind: kind, Features: map[string]*schema.Feature{},
		From: fmt.Sprintf("%s's module parameters (%s) and the driver's fixed values", sb.driver, dir)}
	for _, sf := range sb.features {
		rule := schema.RuleFor(kind, sf.name)
		f := &schema.Feature{Name: sf.name, Type: rule.Type, Desc: rule.Desc, Min: sf.min, Max: sf.max,
			AtConnect: sf.how == stockAtConnect, Defval: sf.fixed}
		if sf.param != "" {
			v, err := readParam(dir, sf.param, rule.Type)
			if err != nil {
				return nil, err
			}
			f.Defval = v
		}
		s.Features[sf.name] = f
	}
	return s, nil
}

// readParam reads one module parameter as a canonical value of type t
// (sysfs shows a bool as Y or N).
func readParam(dir, name string, t schema.Type) (string, error) {
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("module parameter: %w", err)
	}
	v := strings.TrimSpace(string(b))
	switch t {
	case schema.Bool:
		switch v {
		case "Y", "1":
			return "1", nil
		case "N", "0":
			return "0", nil
		}
	default:
		if n, err := strconv.ParseUint(v, 10, 32); err == nil {
			return strconv.FormatUint(n, 10), nil
		}
	}
	return "", fmt.Errorf("module parameter %s: %q is not a %s", path, v, t)
}

// stockFeatureOf returns how the stock backend of kind treats feature
// (nil: not one of its features).
func stockFeatureOf(kind pv.Kind, feature string) *stockFeature {
	sb := stockBackends[kind]
	if sb == nil {
		return nil
	}
	for i := range sb.features {
		if sb.features[i].name == feature {
			return &sb.features[i]
		}
	}
	return nil
}

// stockCannot is why the stock backend of kind cannot turn feature on for
// a device: it has it off, and rewriting its key can only lower ("" when
// it can, or the feature is not one it rewrites).
func stockCannot(s *schema.Schema, feature string) string {
	sf := stockFeatureOf(s.Kind, feature)
	f := s.Lookup(feature)
	if sf == nil || f == nil || sf.how != stockRewrite || f.Type != schema.Bool || f.Defval != "0" {
		return ""
	}
	sb := stockBackends[s.Kind]
	if sf.param != "" {
		return fmt.Sprintf("%s has it off (module parameter %s is N), and the toolstack can only turn a feature off", sb.driver, sf.param)
	}
	return sb.driver + " does not offer it"
}

// stockNotOffered says, for a feature a stock backend does not have, why.
func stockNotOffered(kind pv.Kind) string {
	sb := stockBackends[kind]
	var names []string
	for _, sf := range sb.features {
		names = append(names, sf.name)
	}
	return fmt.Sprintf("%s, which writes no such key for its frontend; the features it has are %s", sb.driver, strings.Join(names, ", "))
}

// How xfeat makes a request count on a stock backend (StockControl).
const (
	// StockRewrite: the toolstack rewrites the key the backend wrote at
	// probe, before the guest runs (only lower).
	StockRewrite = "rewrite"
	// StockAtConnect: the backend decides when it connects: a request for
	// anything but its own choice is unenforceable.
	StockAtConnect = "at-connect"
)

// StockControl says how xfeat makes a request for feature count on the
// stock Linux backend of kind: StockRewrite, StockAtConnect, or the name
// of the toolstack key the backend reads at connect (discard-enable); ""
// when it is not one of its features.
func StockControl(kind pv.Kind, feature string) string {
	sf := stockFeatureOf(kind, feature)
	switch {
	case sf == nil:
		return ""
	case sf.how == stockViaKey:
		return sf.key
	case sf.how == stockAtConnect:
		return StockAtConnect
	}
	return StockRewrite
}

// StockParams is where the module parameters describing the stock Linux
// backend of kind are read (under sysfs).
func StockParams(sysfs string, kind pv.Kind) string {
	if sb := stockBackends[kind]; sb != nil {
		return paramsDir(sysfs, sb.module)
	}
	return ""
}

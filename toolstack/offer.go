package toolstack

import (
	"context"
	"errors"
	"fmt"

	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
	"github.com/xfeat/xfeat/xsclient"
)

// Where the description of a backend's features comes from (Report.Schema,
// Offer.Schema).
const (
	// SchemaAdvertised: the backend advertises a schema under
	// /local/domain/<be>/backend/<type>/features.
	SchemaAdvertised = "advertised"
	// SchemaNone: it does not, and xfeat cannot describe it (a backend in
	// another domain, or not Linux's); what it offers shows only in the
	// protocol keys it writes per device.
	SchemaNone = "none"
	// SchemaStock: a stock Linux backend (netback, blkback) of the local
	// domain on a real Xen host, described by its module parameters and
	// the driver's fixed values (StockSchema).
	SchemaStock = "stock"
)

// BackendSchema is the schema of backend domain be for kind, and where it
// comes from: advertised by the backend (SchemaAdvertised), else on a real
// Xen host, for the local domain's stock Linux backend, its description
// (SchemaStock). Neither is an error wrapping ErrNoSchema.
func BackendSchema(ctx context.Context, ops xsclient.Ops, host Host, be uint32, kind pv.Kind) (*schema.Schema, string, error) {
	s, err := ReadSchema(ctx, ops, be, kind)
	if err == nil {
		return s, SchemaAdvertised, nil
	}
	if !errors.Is(err, ErrNoSchema) || host.Kind != XenHost || be != host.Local {
		return nil, SchemaNone, err
	}
	s, serr := StockSchema(host.Sysfs, be, kind)
	if errors.Is(serr, ErrNoStockBackend) {
		return nil, SchemaNone, fmt.Errorf("%w (nor is it a stock Linux backend: %w)", err, serr)
	}
	if serr != nil {
		return nil, SchemaNone, serr
	}
	return s, SchemaStock, nil
}

// OfferFromProtocol is Offer.Source when no device of the type exists: the
// features are the protocol's, their values unknown.
const OfferFromProtocol = "protocol"

// Offer is what a backend domain that advertises no schema offers for one
// device type, read from the keys netif.h and blkif.h have a backend write
// in each device directory (multi-queue-max-queues, max-ring-page-order,
// feature-*).
type Offer struct {
	Backend uint32
	Kind    pv.Kind
	Schema  string // always SchemaNone
	// Source is "device <type> <fe>/<devid>", the device the values were
	// read from, or OfferFromProtocol when the backend serves none yet.
	Source   string
	Features []OfferedFeature // in the order of schema.Rules
}

// OfferedFeature is one protocol feature and the value the backend offers
// (nil: unknown, no device to read it from).
type OfferedFeature struct {
	Rule  schema.Rule
	Value *string
}

// ReadOffer describes what backend domain be offers for kind by the
// protocol's keys: read from the first of its devices (lowest frontend,
// then device id) that it has probed (state InitWait or later, when a Linux
// backend has written its keys), else from the protocol alone.
func ReadOffer(ctx context.Context, ops xsclient.Ops, be uint32, kind pv.Kind) (*Offer, error) {
	o := &Offer{Backend: be, Kind: kind, Schema: SchemaNone, Source: OfferFromProtocol}
	dev, ok, err := firstProbed(ctx, ops, be, kind)
	if err != nil {
		return nil, err
	}
	if ok {
		o.Source = "device " + dev.Name()
	}
	for _, rule := range schema.Rules(kind) {
		f := OfferedFeature{Rule: schema.RuleFor(kind, rule.Feature)}
		if ok {
			v, ok, err := readOpt(ctx, ops, dev.BackendPath+"/"+f.Rule.BackendKey)
			if err != nil {
				return nil, err
			}
			switch {
			case ok:
				f.Value = &v
			case rule.BackendDefault != "":
				d := rule.BackendDefault
				f.Value = &d
			}
		}
		o.Features = append(o.Features, f)
	}
	return o, nil
}

// firstProbed returns be's first device of kind whose backend is in state
// InitWait to Connected; false when there is none.
func firstProbed(ctx context.Context, ops xsclient.Ops, be uint32, kind pv.Kind) (DeviceRef, bool, error) {
	base := pv.BackendRoot(be, kind)
	fes, err := domids(ctx, ops, base)
	if err != nil {
		return DeviceRef{}, false, err
	}
	for _, fe := range fes {
		devs, err := numericChildren(ctx, ops, pv.BackendGuestDir(be, kind, fe), 1<<32-1)
		if err != nil {
			return DeviceRef{}, false, err
		}
		for _, devid := range devs {
			ref := DeviceRef{Kind: kind, Frontend: fe, Devid: devid, Backend: be,
				FrontendPath: pv.FrontendPath(fe, kind, devid), BackendPath: pv.BackendPath(be, kind, fe, devid)}
			st, err := readState(ctx, ops, ref.BackendPath)
			if err != nil {
				return DeviceRef{}, false, err
			}
			if st >= pv.InitWait && st <= pv.Connected {
				return ref, true, nil
			}
		}
	}
	return DeviceRef{}, false, nil
}

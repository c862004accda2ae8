package toolstack

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
	"github.com/xfeat/xfeat/xsclient"
)

// FeatureRow is one feature of one device as `xfeat show` prints it; nil
// fields are absent (null in JSON).
type FeatureRow struct {
	Name string `json:"name"`
	// Requested is the config-<name> node the toolstack wrote.
	Requested *string `json:"requested"`
	// Advertised is the schema's -defval (for a maximum, the backend's own).
	Advertised *string `json:"advertised"`
	// Effective is what the backend put into effect (its key in the
	// backend directory, or the rule's default once it got that far).
	Effective *string `json:"effective"`
	// Negotiated is what the guest chose (its key in the frontend directory).
	Negotiated *string        `json:"negotiated"`
	Verdict    schema.Verdict `json:"verdict"`
}

// EndStates are the xenbus states of a device's two ends (nil: absent).
type EndStates struct {
	Backend  *pv.State `json:"backend"`
	Frontend *pv.State `json:"frontend"`
}

// Report is what `xfeat show` prints for one device.
type Report struct {
	Device   string `json:"device"`
	Backend  string `json:"backend"`
	Frontend string `json:"frontend"`
	// Schema is SchemaAdvertised when the backend advertises a feature
	// schema, SchemaStock for a real host's local stock Linux backend
	// (described by its module parameters), SchemaNone otherwise: its
	// features are then described by the protocol's keys alone.
	Schema   string       `json:"schema"`
	State    EndStates    `json:"state"`
	Features []FeatureRow `json:"features"`
	// Error is the backend's xenbus error message for the device ("" none).
	Error string `json:"error,omitempty"`
}

// Show collects, for one device, every feature in the union of what the
// protocol defines for its kind (schema.Rules), what its backend advertises
// and what was requested (config-*), with the verdict schema.Rule.Judge
// gives from what the backend recorded it decided (its decision nodes) and
// the values both ends wrote. A backend without a schema (stock Linux
// netback and blkback) still shows what it offers in its own keys and what
// the guest negotiated. Features come in the order of schema.Rules, then
// by name.
func Show(ctx context.Context, ops xsclient.Ops, ref DeviceRef) (*Report, error) {
	return ShowFor(ctx, ops, Host{Kind: SandboxHost}, ref)
}

// ShowFor is Show on host (DetectHost): on a real Xen host the local
// domain's stock Linux backends are described by their module parameters
// (BackendSchema), which show as advertised.
func ShowFor(ctx context.Context, ops xsclient.Ops, host Host, ref DeviceRef) (*Report, error) {
	r := &Report{Device: ref.Name(), Backend: ref.BackendPath, Frontend: ref.FrontendPath}
	st, err := deviceState(ctx, ops, ref)
	if err != nil {
		return nil, err
	}
	r.State = st.States()
	r.Error = reasons(ctx, ops, ref).Backend

	advertised := map[string]string{}
	s, from, err := BackendSchema(ctx, ops, host, ref.Backend, ref.Kind)
	if err != nil && !errors.Is(err, ErrNoSchema) {
		return nil, err
	}
	r.Schema = from
	if s != nil {
		for name, f := range s.Features {
			if f.Defval != "" || from == SchemaAdvertised { // a stock backend's "" is unknown
				advertised[name] = f.Defval
			}
		}
	}
	requested, err := readPrefixed(ctx, ops, ref.BackendPath, pv.ConfigPrefix)
	if err != nil {
		return nil, err
	}
	decided, err := readPrefixed(ctx, ops, pv.DecisionDir(ref.Backend, ref.BackendPath), "")
	if err != nil {
		return nil, err
	}
	for _, name := range featureOrder(ref.Kind, advertised, requested) {
		rule := schema.RuleFor(ref.Kind, name)
		obs := schema.Observation{BackendState: st.BackendState, FrontendState: st.FrontendState}
		if v, ok := requested[name]; ok {
			obs.Requested = &v
		}
		if v, ok := decided[name]; ok {
			// A record this backend did not write the way xfeat's
			// do is no decision: the values alone judge.
			if d, err := schema.ParseRecord(name, v); err == nil {
				obs.Decided = d.Action
			}
		}
		if v, ok, err := readOpt(ctx, ops, ref.BackendPath+"/"+rule.BackendKey); err != nil {
			return nil, err
		} else if ok {
			obs.Effective = &v
		}
		if rule.FrontendKey != "" {
			// With several queues the guest writes per-queue keys (ring refs,
			// event channels) under queue-N/ (netif.h): queue-0 stands for all.
			for _, dir := range []string{ref.FrontendPath, pv.QueueDir(ref.FrontendPath, 0, 2)} {
				v, ok, err := readOpt(ctx, ops, dir+"/"+rule.FrontendKey)
				if err != nil {
					return nil, err
				}
				if ok {
					obs.Negotiated = &v
					break
				}
			}
		}
		eff, neg, verdict := rule.Judge(obs)
		row := FeatureRow{Name: name, Requested: obs.Requested, Effective: eff, Negotiated: neg, Verdict: verdict}
		if v, ok := advertised[name]; ok {
			row.Advertised = &v
		}
		r.Features = append(r.Features, row)
	}
	if r.Features == nil {
		r.Features = []FeatureRow{}
	}
	return r, nil
}

// readPrefixed returns the nodes of dir whose name starts with prefix, by
// name without it; a missing dir has none.
func readPrefixed(ctx context.Context, ops xsclient.Ops, dir, prefix string) (map[string]string, error) {
	keys, err := dirOpt(ctx, ops, dir)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, k := range keys {
		if name, ok := strings.CutPrefix(k, prefix); ok {
			v, present, err := readOpt(ctx, ops, dir+"/"+k)
			if err != nil {
				return nil, err
			}
			if present {
				out[name] = v
			}
		}
	}
	return out, nil
}

// featureOrder is the union of the protocol's features of kind, the
// advertised and the requested ones: the protocol's first, in the order of
// schema.Rules, then the others by name.
func featureOrder(kind pv.Kind, advertised, requested map[string]string) []string {
	order := map[string]int{}
	for i, rule := range schema.Rules(kind) {
		order[rule.Feature] = i
	}
	names := map[string]bool{}
	for n := range order {
		names[n] = true
	}
	for n := range advertised {
		names[n] = true
	}
	for n := range requested {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Slice(sorted, func(i, j int) bool {
		oi, ki := order[sorted[i]]
		oj, kj := order[sorted[j]]
		if ki != kj {
			return ki
		}
		if ki && oi != oj {
			return oi < oj
		}
		return sorted[i] < sorted[j]
	})
	return sorted
}

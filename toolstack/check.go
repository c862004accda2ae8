package toolstack

// Checking a plan's devices against what their backends advertise, before
// anything is written: the backend domain exists, it advertises a schema
// for the device's kind (on a real Xen host, a stock Linux backend of the
// local domain is described by its module parameters instead, stock.go),
// and every request is one the backend will take. What the backend will
// do with each request is schema.Decide's, the same function the backend
// runs when it probes the device: a request it would ignore or refuse is
// an error here, one it would clamp a warning, and one a stock backend
// decides only when it connects a warning that it cannot be enforced.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
	"github.com/xfeat/xfeat/xsclient"
)

// checker checks the devices of one plan, reading each backend's schema
// once.
type checker struct {
	ctx        context.Context
	ops        xsclient.Ops
	p          *Plan
	diags      parser.Diagnostics
	schemas    map[string]*schema.Schema // by "<be>/<kind>"
	schemaErrs map[string]error
	stock      map[string]bool   // "<be>/<kind>" described by stock.go
	seen       map[string]string // "<kind>/<devid>" to the label using it
}

func (c *checker) errAt(r parser.Range, summary, detail string) {
	c.diags = append(c.diags, &parser.Diagnostic{Severity: parser.DiagError, Summary: summary, Detail: detail, Subject: r.Ptr()})
}

// schemaOf reads what backend domain be advertises for kind, once.
func (c *checker) schemaOf(be uint32, kind pv.Kind) (*schema.Schema, error) {
	key := u(be) + "/" + string(kind)
	if s, ok := c.schemas[key]; ok {
		return s, nil
	}
	if err, ok := c.schemaErrs[key]; ok {
		return nil, err
	}
	s, from, err := BackendSchema(c.ctx, c.ops, c.p.Host, be, kind)
	c.stock[key] = from == SchemaStock
	if err != nil {
		c.schemaErrs[key] = err
		return nil, err
	}
	c.schemas[key] = s
	return s, nil
}

// backend resolves a device's backend= (domain 0 when not given).
func (c *checker) backend(label, name string, r parser.Range) (uint32, bool) {
	if name == "" {
		return 0, true
	}
	id, _, err := ResolveDomain(c.ctx, c.ops, name)
	if err != nil {
		c.errAt(r, label+": backend domain "+strconv.Quote(name)+" not found", err.Error())
		return 0, false
	}
	return id, true
}

// device checks d and its requests and, when all is well, adds it to the
// plan. Only a failure to read XenStore is returned; every problem of the
// file is a diagnostic.
func (c *checker) device(d *Device, backendName string, feats devspec.Features) error {
	key := string(d.Kind) + "/" + u(d.Devid)
	if other, dup := c.seen[key]; dup {
		c.errAt(d.rng, fmt.Sprintf("%s: %s %d is also used by %s", d.Label, d.Kind, d.Devid, other), "each device of a domain needs its own devid")
		return nil
	}
	c.seen[key] = d.Label
	be, ok := c.backend(d.Label, backendName, d.rng)
	if !ok {
		return nil
	}
	d.Backend = be
	d.guest = c.p.Guest
	s, err := c.schemaOf(be, d.Kind)
	if err != nil {
		if !errors.Is(err, ErrNoSchema) {
			return err
		}
		if c.p.Host.Kind == XenHost && len(feats) == 0 {
			// xl creates it as it is; what its backend offers is
			// unknown, so it counts as taking what the guest may.
			d.open = true
			c.p.Devices = append(c.p.Devices, d)
			return nil
		}
		c.errAt(d.rng, d.Label+": "+err.Error(), "")
		return nil
	}
	d.schema = s
	if c.stock[u(be)+"/"+string(d.Kind)] {
		d.stock = stockBackends[d.Kind]
	}
	bad := false
	for _, req := range feats {
		if !c.request(d, s, req) {
			bad = true
		}
	}
	if !bad {
		c.p.Devices = append(c.p.Devices, d)
	}
	return nil
}

// request checks one request of d against s, as the backend will decide
// it, and records it; false after an error.
func (c *checker) request(d *Device, s *schema.Schema, req devspec.FeatureRequest) bool {
	spelled := req.Name
	if req.Spelling != "" && req.Spelling != req.Name && req.Spelling != "features="+req.Name {
		spelled = req.Spelling + " (" + req.Name + ")"
	}
	dec := d.decide(req.Name, req.Value)
	switch dec.Action {
	case schema.Ignore:
		detail := fmt.Sprintf("%s advertises %s", s.Dir(), strings.Join(s.Names(), ", "))
		if d.stock != nil {
			detail = "backend domain " + u(d.Backend) + " runs " + stockNotOffered(d.Kind)
		}
		c.errAt(req.Range, fmt.Sprintf("%s: feature %s is not offered by backend domain %d", d.Label, spelled, d.Backend), detail)
		return false
	case schema.Refuse:
		detail := fmt.Sprintf("allowed is %s, as backend domain %d advertises in %s", s.Lookup(req.Name).Allowed(), d.Backend, s.Dir())
		if s.From != "" {
			detail = fmt.Sprintf("allowed is %s, by backend domain %d's %s", s.Lookup(req.Name).Allowed(), d.Backend, s.From)
		}
		if why := d.cannot(req.Name); why != "" {
			detail = "backend domain " + u(d.Backend) + ": " + why
		}
		c.errAt(req.Range, fmt.Sprintf("%s: %s=%s is not allowed", d.Label, spelled, req.Value), detail)
		return false
	}
	canon, _ := s.Lookup(req.Name).Check(req.Value)
	feat := Feature{Name: req.Name, Value: canon, Spelling: req.Spelling, Range: req.Range}
	switch dec.Action {
	case schema.Clamp:
		feat.Clamp = dec.Value
		c.diags = append(c.diags, &parser.Diagnostic{Severity: parser.DiagWarning,
			Summary: fmt.Sprintf("%s: %s=%s is above backend domain %d's maximum %s", d.Label, spelled, canon, d.Backend, dec.Value),
			Detail:  "the backend will clamp it to " + dec.Value, Subject: req.Range.Ptr()})
	case schema.Unenforceable:
		c.diags = append(c.diags, &parser.Diagnostic{Severity: parser.DiagWarning,
			Summary: fmt.Sprintf("%s: %s=%s cannot be enforced: backend domain %d decides %s only when it connects", d.Label, spelled, canon, d.Backend, req.Name),
			Detail: fmt.Sprintf("its own choice (%s) stays; the request is recorded and xfeat show will say %s",
				orUnknown(s.Lookup(req.Name).Defval), schema.Unenforced), Subject: req.Range.Ptr()})
	}
	d.Features = append(d.Features, feat)
	return true
}

// decide asks d's backend's schema what it does with config-<name> =
// value: schema.Decide, with, for a stock backend, why it cannot turn a
// boolean on.
func (d *Device) decide(name, value string) schema.Decision {
	return d.schema.Decide(name, value, d.cannot(name))
}

// cannot is why d's backend cannot turn feature on ("" if it can).
func (d *Device) cannot(feature string) string {
	if d.stock == nil {
		return ""
	}
	return stockCannot(d.schema, feature)
}

func orUnknown(v string) string {
	if v == "" {
		return "unknown before it connects"
	}
	return v
}

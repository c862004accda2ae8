package toolstack

import (
	"bufio"
	"context"
	"os"
	"regexp"
	"testing"

	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
	"github.com/xfeat/xfeat/xsclient"
)

var xsDumpLine = regexp.MustCompile(`^(/\S*) = "(.*)"`)

// loadDump writes every node of a `xenstore-ls -fp` capture into the store.
func loadDump(t *testing.T, c *xsclient.Client, file string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		m := xsDumpLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		if err := c.Write(context.Background(), m[1], []byte(m[2])); err != nil {
			t.Fatalf("%s: %v", m[1], err)
		}
		n++
	}
	if err := sc.Err(); err != nil || n == 0 {
		t.Fatalf("%s: %d nodes, %v", file, n, err)
	}
}

// TestStockBackendShowAndOffer: on the XenStore of a real Xen host whose
// stock Linux backends advertise no schema (testdata/xl-stock-guest.xs),
// Show lists every protocol feature with what the backend offers and what
// the guest negotiated, and ReadOffer reads the offer from that device, or
// from the protocol alone once no device exists.
func TestStockBackendShowAndOffer(t *testing.T) {
	ctx := context.Background()
	_, c := store(t)
	loadDump(t, c, "testdata/xl-stock-guest.xs")

	for _, tc := range []struct {
		kind  pv.Kind
		devid uint32
		want  map[string][2]string // feature -> effective, negotiated
	}{
		{pv.Vif, 0, map[string][2]string{
			"multi-queue-max-queues":       {"2", "2"},
			"feature-sg":                   {"1", "1"},
			"feature-gso-tcpv4":            {"1", "1"},
			"feature-split-event-channels": {"1", "1"},
			"feature-no-csum-offload":      {"0", "0"},
		}},
		{pv.Vbd, 51712, map[string][2]string{
			"multi-queue-max-queues":        {"2", "2"},
			"max-ring-page-order":           {"4", "0"},
			"feature-persistent":            {"1", "1"},
			"feature-max-indirect-segments": {"256", "256"},
			"feature-discard":               {"1", "1"},
		}},
	} {
		ref, err := LookupDevice(ctx, c, 1, tc.kind, tc.devid)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Show(ctx, c, ref)
		if err != nil {
			t.Fatal(err)
		}
		if r.Schema != SchemaNone {
			t.Errorf("%s: schema %q, want %q", r.Device, r.Schema, SchemaNone)
		}
		rules := schema.Rules(tc.kind)
		if len(r.Features) != len(rules) {
			t.Fatalf("%s: %d features, want the protocol's %d: %+v", r.Device, len(r.Features), len(rules), r.Features)
		}
		for i, f := range r.Features {
			if f.Name != rules[i].Feature || f.Verdict != schema.Default || f.Requested != nil || f.Advertised != nil {
				t.Errorf("%s row %d: %+v, want %s with no request, nothing advertised, verdict default", r.Device, i, f, rules[i].Feature)
			}
			if w, ok := tc.want[f.Name]; ok && (str(f.Effective) != w[0] || str(f.Negotiated) != w[1]) {
				t.Errorf("%s %s: effective %s negotiated %s, want %s %s", r.Device, f.Name, str(f.Effective), str(f.Negotiated), w[0], w[1])
			}
		}

		o, err := ReadOffer(ctx, c, 0, tc.kind)
		if err != nil {
			t.Fatal(err)
		}
		if o.Source != "device "+ref.Name() || len(o.Features) != len(rules) {
			t.Fatalf("offer: source %q with %d features, want %q with %d", o.Source, len(o.Features), "device "+ref.Name(), len(rules))
		}
		for _, f := range o.Features {
			if w, ok := tc.want[f.Rule.Feature]; ok && str(f.Value) != w[0] {
				t.Errorf("offer %s %s = %s, want %s", tc.kind, f.Rule.Feature, str(f.Value), w[0])
			}
			if f.Rule.Type == "" || f.Rule.Desc == "" {
				t.Errorf("offer %s %s: no protocol type or description", tc.kind, f.Rule.Feature)
			}
		}
	}

	// Once the guest is gone the protocol alone describes the backend.
	if err := c.Rm(ctx, "/local/domain/0/backend/vif/1"); err != nil {
		t.Fatal(err)
	}
	o, err := ReadOffer(ctx, c, 0, pv.Vif)
	if err != nil {
		t.Fatal(err)
	}
	if o.Source != OfferFromProtocol {
		t.Errorf("offer with no device: source %q, want %q", o.Source, OfferFromProtocol)
	}
	for _, f := range o.Features {
		if f.Value != nil {
			t.Errorf("offer with no device: %s = %s, want unknown", f.Rule.Feature, *f.Value)
		}
	}
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

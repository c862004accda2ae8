package toolstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

// ErrNoDomain means a domain named on the command line does not exist.
var ErrNoDomain = errors.New("no such domain")

// ErrNoSchema means a backend advertises no feature schema for a device type.
var ErrNoSchema = errors.New("backend advertises no feature schema")

// ParseDomid parses a decimal domain id in 0..MaxDomid.
func ParseDomid(s string) (uint32, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil || v > MaxDomid {
		return 0, false
	}
	return uint32(v), true
}

// readOpt reads path; a missing node is ("", false, nil).
func readOpt(ctx context.Context, ops xsclient.Ops, path string) (string, bool, error) {
	v, err := ops.Read(ctx, path)
	if errors.Is(err, xswire.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return string(v), true, nil
}

// dirOpt lists path; a missing node is an empty list.
func dirOpt(ctx context.Context, ops xsclient.Ops, path string) ([]string, error) {
	names, err := ops.Directory(ctx, path)
	if errors.Is(err, xswire.ErrNotFound) {
		return nil, nil
	}
	return names, err
}

// domids returns the children of path that are domain ids, sorted.
func domids(ctx context.Context, ops xsclient.Ops, path string) ([]uint32, error) {
	return numericChildren(ctx, ops, path, MaxDomid)
}

// numericChildren returns the decimal children of path up to max, sorted.
func numericChildren(ctx context.Context, ops xsclient.Ops, path string, max uint64) ([]uint32, error) {
	names, err := dirOpt(ctx, ops, path)
	if err != nil {
		return nil, err
	}
	ids := make([]uint32, 0, len(names))
	for _, n := range names {
		if n == "" || strings.TrimLeft(n, "0123456789") != "" {
			continue
		}
		if id, err := strconv.ParseUint(n, 10, 32); err == nil && id <= max {
			ids = append(ids, uint32(id))
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

// DomainName returns the name of domid: /libxl/<id>/name (ours, trusted),
// else /local/domain/<id>/name; "" when neither exists.
func DomainName(ctx context.Context, ops xsclient.Ops, domid uint32) (string, error) {
	for _, p := range []string{pv.LibxlPath(domid) + "/name", pv.DomainPath(domid) + "/name"} {
		v, ok, err := readOpt(ctx, ops, p)
		if err != nil {
			return "", err
		}
		if ok {
			return v, nil
		}
	}
	return "", nil
}

// namesInFlight bounds the concurrent reads of domainNames.
const namesInFlight = 16

// domainNames returns the name of each of ids (DomainName), reading up to
// namesInFlight at a time: a XenStore connection answers requests in order
// but a round trip costs far more than the daemon's work, so pipelining
// makes a scan of a thousand domains a few milliseconds. Only reads are
// issued, which is safe on one transaction too (each carries its id).
func domainNames(ctx context.Context, ops xsclient.Ops, ids []uint32) ([]string, error) {
	names := make([]string, len(ids))
	errs := make([]error, len(ids))
	inFlight(len(ids), func(i int) {
		names[i], errs[i] = DomainName(ctx, ops, ids[i])
	})
	return names, errors.Join(errs...)
}

// inFlight calls f(i) for each i < n on its own goroutine, at most
// namesInFlight at a time, and returns once every call has.
func inFlight(n int, f func(i int)) {
	sem := make(chan struct{}, namesInFlight)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}

// ResolveDomain turns a domain id or name into an existing domain's id and
// name. A name matching several domains is an error listing them, and so
// is a number that is one domain's id and another's name (xl accepts such
// a name; guessing would destroy or show the wrong domain).
func ResolveDomain(ctx context.Context, ops xsclient.Ops, arg string) (uint32, string, error) {
	ids, err := allDomids(ctx, ops)
	if err != nil {
		return 0, "", err
	}
	names, err := domainNames(ctx, ops, ids)
	if err != nil {
		return 0, "", err
	}
	var named []uint32
	self := -1 // index of the domain whose id arg is
	id, numeric := ParseDomid(arg)
	for i, d := range ids {
		if numeric && d == id {
			self = i
		} else if names[i] == arg {
			named = append(named, d)
		}
	}
	if numeric {
		others := ""
		if len(named) > 0 {
			others = fmt.Sprintf("domain %s's name", joinIDs(named))
		}
		switch {
		case self < 0 && others == "":
			return 0, "", fmt.Errorf("%w: domain %d (nothing at %s or %s)", ErrNoDomain, id, pv.DomainPath(id), pv.LibxlPath(id))
		case self < 0:
			return 0, "", fmt.Errorf("%w: domain %d (nothing at %s or %s); %q is %s: use its id", ErrNoDomain, id, pv.DomainPath(id), pv.LibxlPath(id), arg, others)
		case others != "":
			hint := fmt.Sprintf("domain %d has no other name", id)
			if n := names[self]; n != "" && n != arg {
				hint = fmt.Sprintf("say %q for domain %d", n, id)
			}
			return 0, "", fmt.Errorf("%q is domain %d's id and %s: refusing to guess; %s, or use the id of the other", arg, id, others, hint)
		}
		return id, names[self], nil
	}
	switch len(named) {
	case 0:
		return 0, "", fmt.Errorf("%w: no domain is named %q", ErrNoDomain, arg)
	case 1:
		return named[0], arg, nil
	}
	return 0, "", fmt.Errorf("name %q is ambiguous: domains %v have it; use the domain id", arg, named)
}

// joinIDs is "3", "3 and 5", "3, 5 and 7".
func joinIDs(ids []uint32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = u(id)
	}
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// allDomids is the union of the ids under /local/domain and /libxl.
func allDomids(ctx context.Context, ops xsclient.Ops) ([]uint32, error) {
	a, err := domids(ctx, ops, "/local/domain")
	if err != nil {
		return nil, err
	}
	b, err := domids(ctx, ops, "/libxl")
	if err != nil {
		return nil, err
	}
	seen := map[uint32]bool{}
	var ids []uint32
	for _, id := range append(a, b...) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

// readState reads the xenbus state node of a device directory: pv.Absent
// when absent or not a number (the toolstack shows what is there, leniently;
// the drivers are strict, package xenbus).
func readState(ctx context.Context, ops xsclient.Ops, dir string) (pv.State, error) {
	v, ok, err := readOpt(ctx, ops, dir+"/"+pv.KeyState)
	if err != nil || !ok {
		return pv.Absent, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return pv.Absent, nil
	}
	return pv.State(n), nil
}

// DeviceRef names one device of a domain and where its two ends live.
type DeviceRef struct {
	Kind     pv.Kind `json:"type"`
	Frontend uint32  `json:"-"`
	Devid    uint32  `json:"devid"`
	Backend  uint32  `json:"backend-id"`
	// FrontendPath and BackendPath are the device's directories.
	FrontendPath string `json:"frontend"`
	BackendPath  string `json:"backend"`
}

// Name is "vif 5/0".
func (d DeviceRef) Name() string { return fmt.Sprintf("%s %d/%d", d.Kind, d.Frontend, d.Devid) }

// DeviceState is a device with the states of its two ends (-1: absent).
type DeviceState struct {
	DeviceRef
	BackendState  pv.State
	FrontendState pv.State
}

// States returns the two states for JSON (nil where absent).
func (d DeviceState) States() EndStates {
	var s EndStates
	if d.BackendState != pv.Absent {
		s.Backend = &d.BackendState
	}
	if d.FrontendState != pv.Absent {
		s.Frontend = &d.FrontendState
	}
	return s
}

// MarshalJSON renders the device as the commands print it:
// {"device": "vif 5/0", "type", "devid", "backend-id", "backend", "frontend",
// "state": {"backend": N, "frontend": N}} with null for an absent state.
func (d DeviceState) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Device    string    `json:"device"`
		Kind      pv.Kind   `json:"type"`
		Devid     uint32    `json:"devid"`
		BackendID uint32    `json:"backend-id"`
		Backend   string    `json:"backend"`
		Frontend  string    `json:"frontend"`
		State     EndStates `json:"state"`
	}{d.Name(), d.Kind, d.Devid, d.Backend, d.BackendPath, d.FrontendPath, d.States()})
}

// LookupDevice finds a device of domid. Its backend is located through the
// libxl shadow (/libxl/<fe>/device/...), which the guest cannot write; the
// frontend's own "backend" key is used only for a device xfeat did not
// create, and must then name a directory that points back at the frontend.
func LookupDevice(ctx context.Context, ops xsclient.Ops, domid uint32, kind pv.Kind, devid uint32) (DeviceRef, error) {
	ref := DeviceRef{Kind: kind, Frontend: domid, Devid: devid, FrontendPath: pv.FrontendPath(domid, kind, devid)}
	bpath, ok, err := readOpt(ctx, ops, pv.ShadowPath(domid, kind, devid)+"/"+pv.KeyBackend)
	if err != nil {
		return ref, err
	}
	if !ok {
		bpath, ok, err = readOpt(ctx, ops, ref.FrontendPath+"/"+pv.KeyBackend)
		if err != nil {
			return ref, err
		}
		if !ok {
			return ref, fmt.Errorf("%w: domain %d has no %s %d (nothing at %s)", ErrNoDevice, domid, kind, devid, ref.FrontendPath)
		}
		back, _, err := readOpt(ctx, ops, bpath+"/"+pv.KeyFrontend)
		if err != nil {
			return ref, err
		}
		if back != ref.FrontendPath {
			return ref, fmt.Errorf("%s %d/%d: backend %q does not point back at the frontend", kind, domid, devid, bpath)
		}
	}
	be, err := backendDomid(bpath, kind, domid, devid)
	if err != nil {
		return ref, err
	}
	ref.Backend, ref.BackendPath = be, bpath
	return ref, nil
}

// ErrNoDevice means a device named on the command line does not exist.
var ErrNoDevice = errors.New("no such device")

func backendDomid(bpath string, kind pv.Kind, fe, devid uint32) (uint32, error) {
	rest, ok := strings.CutPrefix(bpath, "/local/domain/")
	if ok {
		id, _, _ := strings.Cut(rest, "/")
		if be, ok := ParseDomid(id); ok && bpath == pv.BackendPath(be, kind, fe, devid) {
			return be, nil
		}
	}
	return 0, fmt.Errorf("%s %d/%d: backend path %q is not /local/domain/<be>/backend/%s/%d/%d", kind, fe, devid, bpath, kind, fe, devid)
}

// Devices lists the vif and vbd devices of domid with their states, vifs
// first, each kind by devid.
func Devices(ctx context.Context, ops xsclient.Ops, domid uint32) ([]DeviceState, error) {
	var out []DeviceState
	for _, kind := range pv.Kinds {
		seen := map[uint32]bool{}
		var ids []uint32
		for _, base := range []string{pv.ShadowRoot(domid, kind), pv.FrontendRoot(domid, kind)} {
			got, err := numericChildren(ctx, ops, base, 1<<32-1)
			if err != nil {
				return nil, err
			}
			for _, id := range got {
				if !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, devid := range ids {
			ref, err := LookupDevice(ctx, ops, domid, kind, devid)
			if err != nil {
				if errors.Is(err, ErrNoDevice) {
					continue
				}
				return nil, err
			}
			st, err := deviceState(ctx, ops, ref)
			if err != nil {
				return nil, err
			}
			out = append(out, st)
		}
	}
	return out, nil
}

func deviceState(ctx context.Context, ops xsclient.Ops, ref DeviceRef) (DeviceState, error) {
	st := DeviceState{DeviceRef: ref}
	var err error
	if st.BackendState, err = readState(ctx, ops, ref.BackendPath); err != nil {
		return st, err
	}
	st.FrontendState, err = readState(ctx, ops, ref.FrontendPath)
	return st, err
}

// DomainInfo is one row of `xfeat list`.
type DomainInfo struct {
	ID      uint32
	Name    string
	Devices []DeviceState
}

// ListDomains lists every domain under /local/domain or /libxl, by id, with
// its devices and their states. Domains are read namesInFlight at a time.
func ListDomains(ctx context.Context, ops xsclient.Ops) ([]DomainInfo, error) {
	ids, err := allDomids(ctx, ops)
	if err != nil {
		return nil, err
	}
	out := make([]DomainInfo, len(ids))
	errs := make([]error, len(ids))
	inFlight(len(ids), func(i int) {
		id := ids[i]
		name, err := DomainName(ctx, ops, id)
		if err != nil {
			errs[i] = err
			return
		}
		devs, err := Devices(ctx, ops, id)
		out[i], errs[i] = DomainInfo{ID: id, Name: name, Devices: devs}, err
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// ReadSchema reads what backend domain be advertises for kind. A missing
// schema directory is an error wrapping ErrNoSchema that names the path.
func ReadSchema(ctx context.Context, ops xsclient.Ops, be uint32, kind pv.Kind) (*schema.Schema, error) {
	dir := pv.SchemaDir(be, kind)
	names, err := ops.Directory(ctx, dir)
	if errors.Is(err, xswire.ErrNotFound) || (err == nil && len(names) == 0) {
		return nil, fmt.Errorf("%w: backend domain %d advertises no feature schema for %s (nothing at %s): is its %s backend running?",
			ErrNoSchema, be, kind, dir, kind)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the schema of backend domain %d: %w", be, err)
	}
	entries := make(map[string]string, len(names))
	for _, n := range names {
		v, ok, err := readOpt(ctx, ops, dir+"/"+n)
		if err != nil {
			return nil, fmt.Errorf("reading the schema of backend domain %d: %w", be, err)
		}
		if ok {
			entries[n] = v
		}
	}
	s, err := schema.Parse(be, kind, entries)
	if err != nil {
		return nil, fmt.Errorf("backend domain %d advertises a malformed %s schema: %w", be, kind, err)
	}
	return s, nil
}

package toolstack

import (
	"context"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

// ErrControlDomain refuses to destroy domain 0.
var ErrControlDomain = errors.New("refusing to destroy domain 0, the control domain")

// Destroy tears domid down as libxl does: every device's backend is asked to
// close (online=0, state=Closing), the backends are given up to wait to
// reach Closed, then the devices, the domain's directories and the libxl
// directory are removed and the domain RELEASEd. Devices whose backend did
// not close in time are removed anyway and returned, so that the caller
// can warn. Destroying a domain that does not exist fails with ErrNoDomain.
func Destroy(ctx context.Context, c *xsclient.Client, domid uint32, wait time.Duration) ([]DeviceState, error) {
	if domid == 0 {
		return nil, ErrControlDomain
	}
	exists := false
	for _, p := range []string{pv.DomainPath(domid), pv.LibxlPath(domid)} {
		ok, err := c.Exists(ctx, p)
		if err != nil {
			return nil, err
		}
		exists = exists || ok
	}
	if !exists {
		return nil, fmt.Errorf("%w: domain %d", ErrNoDomain, domid)
	}
	devs, err := Devices(ctx, c, domid)
	if err != nil {
		return nil, err
	}
	refs := make([]DeviceRef, len(devs))
	for i, d := range devs {
		refs[i] = d.DeviceRef
	}
	return teardown(ctx, c, domid, refs, wait)
}

// DestroyPaths are the directories Destroy removes once the backends are
// closed, in order: per device its frontend, backend, error and shadow
// directories, per backend and kind the guest's directory, then the
// domain's home; then the domain is released and /libxl/<domid> removed
// (the error directories' parents go too once empty).
func DestroyPaths(domid uint32, refs []DeviceRef) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.FrontendPath, r.BackendPath, pv.ErrorDir(r.Backend, r.BackendPath), pv.ShadowPath(domid, r.Kind, r.Devid))
	}
	for _, r := range sortedKinds(refs) {
		out = append(out, pv.BackendGuestDir(r.Backend, r.Kind, domid))
	}
	return append(out, pv.DomainPath(domid))
}

// teardown closes and removes refs and the domain. It is also Create's
// rollback, where refs are the planned devices, written or not.
func teardown(ctx context.Context, c *xsclient.Client, domid uint32, refs []DeviceRef, wait time.Duration) ([]DeviceState, error) {
	for _, r := range refs {
		err := c.Transact(ctx, func(tx *xsclient.Tx) error {
			st, err := readState(ctx, tx, r.BackendPath)
			if err != nil || st == pv.Absent {
				return err // no backend directory: nothing to close
			}
			if err := tx.WriteString(ctx, r.BackendPath+"/"+pv.KeyOnline, "0"); err != nil {
				return err
			}
			if st != pv.Closed {
				return tx.WriteString(ctx, r.BackendPath+"/"+pv.KeyState, pv.Closing.Value())
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("closing %s: %w", r.Name(), err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	forced, err := waitClosed(wctx, c, refs)
	cancel()
	if err != nil {
		return nil, err
	}
	rm := func(path string) error {
		if err := c.Rm(ctx, path); err != nil && !errors.Is(err, xswire.ErrNotFound) {
			return fmt.Errorf("removing %s: %w", path, err)
		}
		return nil
	}
	for _, path := range DestroyPaths(domid, refs) {
		if err := rm(path); err != nil {
			return forced, err
		}
	}
	for _, r := range sortedKinds(refs) {
		if err := pruneErrorDir(ctx, c, r.Backend, r.Kind, domid); err != nil {
			return forced, err
		}
	}
	introduced, err := c.IsDomainIntroduced(ctx, domid)
	if err != nil {
		return forced, fmt.Errorf("asking whether domain %d is introduced: %w", domid, err)
	}
	if introduced {
		if err := c.Release(ctx, domid); err != nil && !errors.Is(err, xswire.ErrNotFound) {
			return forced, fmt.Errorf("releasing domain %d: %w", domid, err)
		}
	}
	// /libxl/<domid> goes last: until then the id stays claimed.
	if err := rm(pv.LibxlPath(domid)); err != nil {
		return forced, err
	}
	return forced, pruneEmpty(ctx, c, "/libxl")
}

// pruneEmpty removes each of dirs, in order, that exists with no children,
// stopping at the first that has some; in a transaction, so that a
// concurrent writer below it wins.
func pruneEmpty(ctx context.Context, c *xsclient.Client, dirs ...string) error {
	return c.Transact(ctx, func(tx *xsclient.Tx) error {
		for _, dir := range dirs {
			names, err := tx.Directory(ctx, dir)
			if errors.Is(err, xswire.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if len(names) > 0 {
				return nil
			}
			if err := tx.Rm(ctx, dir); err != nil {
				return err
			}
		}
		return nil
	})
}

// pruneErrorDir removes a domain's error directory under a backend, then
// error/backend/<kind>, error/backend and error once they are empty (the
// backend created them when it reported a problem or recorded a decision).
func pruneErrorDir(ctx context.Context, c *xsclient.Client, be uint32, kind pv.Kind, fe uint32) error {
	if err := c.Rm(ctx, pv.ErrorDir(be, pv.BackendGuestDir(be, kind, fe))); err != nil && !errors.Is(err, xswire.ErrNotFound) {
		return err
	}
	kindDir := pv.ErrorDir(be, pv.BackendRoot(be, kind))
	return pruneEmpty(ctx, c, kindDir, path.Dir(kindDir), path.Dir(path.Dir(kindDir)))
}

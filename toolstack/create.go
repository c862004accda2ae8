package toolstack

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

// ErrNameTaken means another domain already has the plan's name.
var ErrNameTaken = errors.New("domain name already in use")

// ErrNoDomid means every domain id is in use.
var ErrNoDomid = errors.New("no free domain id")

// freeDomid returns the smallest id >= 1 used neither under /local/domain
// nor under /libxl nor by a domain xenstored still has introduced (one whose
// directories someone removed without releasing it), after checking that no
// domain has name. Run inside a transaction, the listings it reads make
// concurrent claims conflict.
func freeDomid(ctx context.Context, c *xsclient.Client, ops xsclient.Ops, name string) (uint32, error) {
	ids, err := allDomids(ctx, ops)
	if err != nil {
		return 0, err
	}
	names, err := domainNames(ctx, ops, ids)
	if err != nil {
		return 0, err
	}
	for i, id := range ids {
		if names[i] == name {
			return 0, fmt.Errorf("%w: domain %d is named %q", ErrNameTaken, id, name)
		}
	}
	used := make(map[uint32]bool, len(ids))
	for _, id := range ids {
		used[id] = true
	}
	for next := uint32(1); next <= MaxDomid; next++ {
		if used[next] {
			continue
		}
		introduced, err := c.IsDomainIntroduced(ctx, next)
		if err != nil {
			return 0, err
		}
		if !introduced {
			return next, nil
		}
	}
	return 0, ErrNoDomid
}

// NextDomid is the id Create would claim now (for --dry-run); it fails like
// Create does when the name is taken.
func (pl *Plan) NextDomid(ctx context.Context, c *xsclient.Client) (uint32, error) {
	return freeDomid(ctx, c, c, pl.Name)
}

// writeNodes writes nodes in order, setting explicit permissions.
func writeNodes(ctx context.Context, tx *xsclient.Tx, nodes []Node) error {
	for _, n := range nodes {
		if err := tx.WriteString(ctx, n.Path, n.Value); err != nil {
			return err
		}
		if n.Explicit {
			if err := tx.SetPerms(ctx, n.Path, n.Perms); err != nil {
				return err
			}
		}
	}
	return nil
}

// Claim allocates a domain id for the plan by writing /libxl/<id> in a
// transaction (retried on conflicts).
func (pl *Plan) Claim(ctx context.Context, c *xsclient.Client) (uint32, error) {
	var domid uint32
	err := c.Transact(ctx, func(tx *xsclient.Tx) error {
		id, err := freeDomid(ctx, c, tx, pl.Name)
		if err != nil {
			return err
		}
		domid = id
		return writeNodes(ctx, tx, pl.ClaimNodes(id))
	})
	if err != nil {
		return 0, fmt.Errorf("claiming a domain id: %w", err)
	}
	return domid, nil
}

// CreateOptions tune Create.
type CreateOptions struct {
	// Wait bounds the wait for every device to be Connected (default 10 s).
	Wait time.Duration
	// Progress, if set, gets the device states whenever they change.
	Progress func([]DeviceState)
	// Claimed, if set, is called once the domain id is known.
	Claimed func(domid uint32)
}

// Created is a domain Create made.
type Created struct {
	Domid   uint32        `json:"domid"`
	Name    string        `json:"name"`
	Devices []DeviceState `json:"-"`
	// Elapsed is the time from the claim to every device Connected.
	Elapsed time.Duration `json:"-"`
}

// Create makes the planned domain: claim an id, INTRODUCE it, write the
// domain and every device in one transaction, and wait until every device
// is Connected. On any failure (ctx cancelled included) everything written
// is removed and the domain released before the error is returned; a
// timeout is a *StuckError, a device that gave up a *DeviceFailedError.
func Create(ctx context.Context, c *xsclient.Client, pl *Plan, o CreateOptions) (*Created, error) {
	if o.Wait <= 0 {
		o.Wait = 10 * time.Second
	}
	start := time.Now()
	domid, err := pl.Claim(ctx, c)
	if err != nil {
		return nil, err
	}
	if o.Claimed != nil {
		o.Claimed(domid)
	}
	refs := pl.Refs(domid)
	fail := func(err error) (*Created, error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, rerr := teardown(cctx, c, domid, refs, 2*time.Second); rerr != nil {
			return nil, fmt.Errorf("%w (and cleaning up domain %d failed: %v)", err, domid, rerr)
		}
		return nil, err
	}
	// Event channel 1: xenstored refuses port 0, as C xenstored does; the
	// sandbox has no real xenstore ring, so the gfn stays 0.
	if err := c.Introduce(ctx, domid, 0, 1); err != nil {
		return fail(fmt.Errorf("introducing domain %d: %w", domid, err))
	}
	nodes := pl.DomainNodes(domid)
	err = c.Transact(ctx, func(tx *xsclient.Tx) error {
		// libxl removes what a previous domain of this id may have left.
		for _, r := range refs {
			for _, stale := range []string{r.BackendPath, pv.ErrorDir(r.Backend, r.BackendPath)} {
				if err := tx.Rm(ctx, stale); err != nil && !errors.Is(err, xswire.ErrNotFound) {
					return err
				}
			}
		}
		return writeNodes(ctx, tx, nodes)
	})
	if err != nil {
		return fail(fmt.Errorf("writing domain %d: %w", domid, err))
	}
	wctx, cancel := context.WithTimeout(ctx, o.Wait)
	defer cancel()
	states, err := WaitConnected(wctx, c, refs, o.Progress)
	if err != nil {
		return fail(err)
	}
	return &Created{Domid: domid, Name: pl.Name, Devices: states, Elapsed: time.Since(start)}, nil
}

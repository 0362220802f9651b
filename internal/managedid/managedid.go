// Package managedid finds the ConnectWise company linked to a backup
// customer. The eFolder guide links them by the company's "Managed ID"
// EFS-<customerId>, entered on the company's Management tab; in REST these are
// the company's management summary rows (groupIdentifier).
//
// ConnectWise has no query from a managed ID to its company, so the Directory
// reads every active company's rows once and keeps the index in memory (per
// warm Lambda) for TTL. A customer not in the index triggers at most one
// re-read per MissInterval, so an unmapped customer sending many events does
// not turn into a scan per event.
package managedid

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
)

// ErrNotLinked is returned when no company carries the managed ID.
var ErrNotLinked = errors.New("no ConnectWise company has this managed ID")

// Company is the company linked to a managed ID.
type Company struct {
	ID         int
	Identifier string
	Name       string
}

// Directory resolves managed IDs for one ConnectWise site.
type Directory struct {
	TTL          time.Duration // how long an index is trusted (default 15 min)
	MissInterval time.Duration // least time between re-reads caused by misses (default 1 min)
	Now          func() time.Time

	mu       sync.Mutex
	index    map[string]Company
	loadedAt time.Time
}

func (d *Directory) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// Lookup returns the company whose managed ID is managedID.
func (d *Directory) Lookup(ctx context.Context, cw *connectwise.Client, managedID string) (Company, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ttl, miss := d.TTL, d.MissInterval
	if ttl <= 0 {
		ttl = 15 * time.Minute
	}
	if miss <= 0 {
		miss = time.Minute
	}
	now := d.now()
	fresh := d.index != nil && now.Sub(d.loadedAt) < ttl
	if fresh {
		if c, ok := d.index[managedID]; ok {
			return c, nil
		}
		if now.Sub(d.loadedAt) < miss {
			return Company{}, fmt.Errorf("managed ID %s: %w", managedID, ErrNotLinked)
		}
	}
	idx, err := load(ctx, cw)
	if err != nil {
		return Company{}, err
	}
	d.index, d.loadedAt = idx, now
	if c, ok := idx[managedID]; ok {
		return c, nil
	}
	return Company{}, fmt.Errorf("managed ID %s: %w", managedID, ErrNotLinked)
}

// Forget drops the index so the next Lookup reads ConnectWise again (after an
// operator fixed a mapping and reprocesses).
func (d *Directory) Forget() {
	d.mu.Lock()
	d.index = nil
	d.mu.Unlock()
}

// load reads every company that is not deleted and its management rows.
func load(ctx context.Context, cw *connectwise.Client) (map[string]Company, error) {
	cond, err := connectwise.Build(connectwise.Eq("deletedFlag", false))
	if err != nil {
		return nil, fmt.Errorf("build company conditions: %w", err)
	}
	idx := map[string]Company{}
	for c, err := range cw.Companies.All(ctx, connectwise.ListOptions{Conditions: cond, PageSize: 1000}) {
		if err != nil {
			return nil, fmt.Errorf("list companies: %w", err)
		}
		rows, _, err := cw.Companies.ListManagementSummaries(ctx, c.ID, &connectwise.ListOptions{PageSize: 1000})
		if err != nil {
			return nil, fmt.Errorf("management rows of company %d: %w", c.ID, err)
		}
		for _, r := range rows {
			if r.GroupIdentifier == "" {
				continue
			}
			if _, dup := idx[r.GroupIdentifier]; !dup {
				idx[r.GroupIdentifier] = Company{ID: c.ID, Identifier: c.Identifier, Name: c.Name}
			}
		}
	}
	return idx, nil
}

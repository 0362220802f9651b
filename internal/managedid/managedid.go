// Package managedid finds the ConnectWise company linked to a backup
// customer. The eFolder guide links them by the company's "Managed ID"
// EFS-<customerId>, entered on the company's Management tab; in REST these are
// the company's management summary rows (groupIdentifier).
//
// ConnectWise has no query from a managed ID to its company, so the Directory
// reads every active company's rows once and keeps the index for TTL: in
// memory (per warm Lambda) and, when Shared is set, in DynamoDB, so that a
// cold worker (every scale-out starts some) reuses the index instead of
// reading all of ConnectWise again. A customer not in the index triggers at
// most one re-read per MissInterval, so an unmapped customer sending many
// events does not turn into a scan per event.
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
	// Shared, when set, keeps the index under Key for every worker.
	Shared Shared
	Key    string

	mu       sync.Mutex
	index    map[string]Company
	loadedAt time.Time
	// forgotten: the next Lookup must read ConnectWise, not the shared copy.
	forgotten bool
}

// Shared stores a Directory's index where every worker sees it.
type Shared interface {
	// LoadIndex returns the stored index and when it was read from
	// ConnectWise (zero time when there is none).
	LoadIndex(ctx context.Context, key string) (map[string]Company, time.Time, error)
	SaveIndex(ctx context.Context, key string, idx map[string]Company, loadedAt time.Time) error
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
	if (d.index == nil || now.Sub(d.loadedAt) >= ttl) && d.Shared != nil && !d.forgotten {
		// A failed read of the shared copy only costs a ConnectWise read.
		if idx, at, err := d.Shared.LoadIndex(ctx, d.Key); err == nil && idx != nil && now.Sub(at) < ttl {
			d.index, d.loadedAt = idx, at
		}
	}
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
	d.index, d.loadedAt, d.forgotten = idx, now, false
	if d.Shared != nil {
		// Best effort: the index is still used from memory if this fails
		// (for example a site so large its index exceeds an item's size).
		_ = d.Shared.SaveIndex(ctx, d.Key, idx, now)
	}
	if c, ok := idx[managedID]; ok {
		return c, nil
	}
	return Company{}, fmt.Errorf("managed ID %s: %w", managedID, ErrNotLinked)
}

// Forget drops the index so the next Lookup reads ConnectWise again (after an
// operator fixed a mapping and reprocesses).
func (d *Directory) Forget() {
	d.mu.Lock()
	d.index, d.forgotten = nil, true
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

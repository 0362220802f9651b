// Package managedid finds the ConnectWise company linked to a backup
// customer. The eFolder guide links them by the company's "Managed ID"
// EFS-<customerId>, entered on the company's Management tab; in REST these are
// the company's management summary rows (groupIdentifier).
//
// ConnectWise has no query from a managed ID to its company, so finding a
// new customer's company means reading every active company's rows (1 + N
// calls: a scan). The Directory makes that rare:
//
//   - A customer's company, once found, is kept per customer (a mapping:
//     in memory for the Directory's life, and with Shared in DynamoDB, with
//     no expiry). A mapping read from DynamoDB, or taken from an index older
//     than TTL, is checked with one call (the company's rows still carry
//     the managed ID) before it is used; a company that answers 404 or lost
//     the managed ID invalidates it. A mapping the Directory found or
//     checked itself is used with no call.
//   - The scan's index (in memory, and with Shared in DynamoDB for cold
//     workers) answers customers with no mapping yet; past TTL its entries
//     are checked as above instead of scanning again.
//   - A customer found nowhere rescans at most once per MissInterval per
//     partner (the shared index's time counts for every worker), so an
//     unmapped customer sending many events does not turn into a scan per
//     event.
//
// The first ticket of a customer on a warm partner therefore costs at most
// one lookup call (a check) before its create.
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
	TTL          time.Duration // how long an index is trusted without a check (default 15 min)
	MissInterval time.Duration // least time between scans caused by misses (default 5 min)
	Now          func() time.Time
	// Shared, when set, keeps the index under Key for every worker.
	Shared Shared
	Key    string

	mu       sync.Mutex
	index    map[string]Company
	loadedAt time.Time
	// known are the mappings this Directory found or checked: used with no
	// call.
	known map[string]Company
	// forgotten: the next Lookup must read ConnectWise, not the shared copy.
	forgotten bool
}

// Shared stores a Directory's index and mappings where every worker sees
// them.
type Shared interface {
	// LoadIndex returns the stored index and when it was read from
	// ConnectWise (zero time when there is none).
	LoadIndex(ctx context.Context, key string) (map[string]Company, time.Time, error)
	SaveIndex(ctx context.Context, key string, idx map[string]Company, loadedAt time.Time) error
	// LoadMapping returns the stored company of one managed ID (found false
	// when there is none); SaveMapping stores it, and ForgetMapping drops it.
	LoadMapping(ctx context.Context, key, managedID string) (c Company, found bool, err error)
	SaveMapping(ctx context.Context, key, managedID string, c Company) error
	ForgetMapping(ctx context.Context, key, managedID string) error
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
		miss = 5 * time.Minute
	}
	now := d.now()
	if c, ok := d.known[managedID]; ok {
		return c, nil
	}
	if (d.index == nil || now.Sub(d.loadedAt) >= ttl) && d.Shared != nil && !d.forgotten {
		// A failed read of the shared copy only costs a ConnectWise read.
		if idx, at, err := d.Shared.LoadIndex(ctx, d.Key); err == nil && idx != nil && at.After(d.loadedAt) {
			d.index, d.loadedAt = idx, at
		}
	}
	indexed, inIndex := d.index[managedID]
	if inIndex && now.Sub(d.loadedAt) < ttl {
		d.learn(ctx, managedID, indexed)
		return indexed, nil
	}
	// The customer's own mapping, kept by any worker, then an old index's
	// entry: each checked with one call instead of a scan.
	var candidates []Company
	stored := false
	if d.Shared != nil {
		if c, found, err := d.Shared.LoadMapping(ctx, d.Key, managedID); err == nil && found {
			candidates, stored = append(candidates, c), true
		}
	}
	if inIndex && (len(candidates) == 0 || candidates[0] != indexed) {
		candidates = append(candidates, indexed)
	}
	for i, c := range candidates {
		ok, err := check(ctx, cw, c, managedID)
		if err != nil {
			return Company{}, err
		}
		if ok {
			if i == 0 && stored {
				d.remember(managedID, c) // the stored mapping itself
			} else {
				d.learn(ctx, managedID, c)
			}
			return c, nil
		}
		if i == 0 && stored {
			// Gone or moved: forget it; the scan finds where it is now.
			_ = d.Shared.ForgetMapping(ctx, d.Key, managedID)
		}
	}
	if d.index != nil && now.Sub(d.loadedAt) < miss {
		return Company{}, fmt.Errorf("managed ID %s: %w", managedID, ErrNotLinked)
	}
	idx, err := load(ctx, cw)
	if err != nil {
		return Company{}, err
	}
	d.index, d.loadedAt, d.forgotten = idx, now, false
	if d.Shared != nil {
		// Best effort: the index is still used from memory if this fails
		// (for example a site so large its index exceeds an item's size;
		// the mappings then spare the cold workers the scan).
		_ = d.Shared.SaveIndex(ctx, d.Key, idx, now)
	}
	if c, ok := idx[managedID]; ok {
		d.learn(ctx, managedID, c)
		return c, nil
	}
	return Company{}, fmt.Errorf("managed ID %s: %w", managedID, ErrNotLinked)
}

// remember keeps a mapping this Directory may use with no call.
func (d *Directory) remember(managedID string, c Company) {
	if d.known == nil {
		d.known = map[string]Company{}
	}
	d.known[managedID] = c
}

// learn remembers a mapping and stores it for every worker unless it is
// stored already (best effort: a failed write only costs a later check).
func (d *Directory) learn(ctx context.Context, managedID string, c Company) {
	d.remember(managedID, c)
	if d.Shared == nil {
		return
	}
	if stored, found, err := d.Shared.LoadMapping(ctx, d.Key, managedID); err == nil && found && stored == c {
		return
	}
	_ = d.Shared.SaveMapping(ctx, d.Key, managedID, c)
}

// check reports whether the company still carries the managed ID (one
// call: its management rows). A company ConnectWise no longer has (404) does
// not; other errors are returned.
func check(ctx context.Context, cw *connectwise.Client, c Company, managedID string) (bool, error) {
	rows, _, err := cw.Companies.ListManagementSummaries(ctx, c.ID, &connectwise.ListOptions{PageSize: 1000})
	if errors.Is(err, connectwise.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("management rows of company %d: %w", c.ID, err)
	}
	for _, r := range rows {
		if r.GroupIdentifier == managedID {
			return true, nil
		}
	}
	return false, nil
}

// Forget drops the index so the next Lookup reads ConnectWise again (after an
// operator fixed a mapping and reprocesses).
func (d *Directory) Forget() {
	d.mu.Lock()
	d.index, d.known, d.forgotten = nil, nil, true
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

package access

import (
	"errors"
	"fmt"
	"sync"
)

// ErrNoDecider is returned by Deciders.For for a tenant with no access decisions set up.
var ErrNoDecider = errors.New("access: no decider for this tenant")

// Deciders holds the decider of each hospital a node serves. It is safe for concurrent use.
type Deciders struct {
	mu sync.RWMutex
	m  map[string]*Decider
}

// Put adds d, or replaces the decider of d's tenant.
func (r *Deciders) Put(d *Decider) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]*Decider{}
	}
	r.m[d.Tenant()] = d
}

// For returns the decider of tenant.
func (r *Deciders) For(tenant string) (*Decider, error) {
	r.mu.RLock()
	d, ok := r.m[tenant]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoDecider, tenant)
	}
	return d, nil
}

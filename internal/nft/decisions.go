package nft

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/omamori-project/omamori/internal/decision"
)

// Decisions puts respond's decisions into an Enforcer: a block or an isolation of an address
// or a network becomes an entry of the matching kernel set, with the decision's remaining
// time as its timeout, and leaves it when the decision ends. It is the adapter between the
// two, here rather than in respond so that respond, which decides, knows nothing of netlink,
// and the Enforcer, which takes prefixes, knows nothing of decisions: package nft reads
// respond's decision type as the CrowdSec bouncer API does.
//
// Several decisions may stand on one target at once (two tenants', a person's block beside a
// policy's, an isolation approved while another stands), and the kernel holds one element for
// it. Decisions therefore keeps, per kind and prefix, the decisions in force on it: the
// element stays while any of them is, with the timeout of the one that ends last, and goes
// only when the last ends.
//
// Its methods may be called concurrently; they are serialized. Changes must come in the order
// respond made them (one goroutine applying respond.Config.Changed's calls in turn).
type Decisions struct {
	en *Enforcer

	mu sync.Mutex
	on [2]map[netip.Prefix]map[decisionKey]time.Time // per kind: prefix → the decisions in force on it → their expiry
}

// decisionKey names a decision across tenants: they share the gateway's sets.
type decisionKey struct {
	tenant string
	id     int64
}

// NewDecisions returns the adapter that applies decisions to en, which must be set up.
func NewDecisions(en *Enforcer) *Decisions {
	return &Decisions{en: en, on: [2]map[netip.Prefix]map[decisionKey]time.Time{{}, {}}}
}

// Load makes the kernel enforce exactly the live decisions in ds (what the store holds, as
// after a restart), through Reconcile and ReconcileIsolated; the decisions not live at now,
// and those on domains, are left out.
func (a *Decisions) Load(ctx context.Context, ds []decision.Decision, now time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	on := [2]map[netip.Prefix]map[decisionKey]time.Time{{}, {}}
	for _, d := range ds {
		p, ok := d.Prefix()
		if !ok || !d.Live(now) {
			continue
		}
		k := kindOf(d)
		if on[k][p] == nil {
			on[k][p] = map[decisionKey]time.Time{}
		}
		on[k][p][decisionKey{d.Tenant, d.ID}] = d.Expires
	}
	var entries [2][]Entry
	for k := range on {
		for p, ds := range on[k] {
			entries[k] = append(entries[k], Entry{Prefix: p, TTL: latest(ds).Sub(now)})
		}
	}
	if err := a.en.Reconcile(ctx, entries[kindBlock]); err != nil {
		return err
	}
	if err := a.en.ReconcileIsolated(ctx, entries[kindIsolate]); err != nil {
		return err
	}
	a.on = on
	return nil
}

// Apply applies a change of d, as respond made it at now: a decision in force is put into the
// kernel (again, with its new expiry when extended); one that ended is taken out, unless
// another decision in force stands on the same target, whose expiry the kernel's element then
// takes. A change of a decision never enforced (respond.Decision.Enforced), and a domain, are
// none of the kernel's.
func (a *Decisions) Apply(ctx context.Context, d decision.Decision, now time.Time) error {
	p, ok := d.Prefix()
	if !ok || !d.Enforced() {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	k := kindOf(d)
	on := a.on[k][p]
	if d.Live(now) {
		if on == nil {
			on = map[decisionKey]time.Time{}
			a.on[k][p] = on
		}
		on[decisionKey{d.Tenant, d.ID}] = d.Expires
	} else {
		delete(on, decisionKey{d.Tenant, d.ID})
	}
	for key, exp := range on {
		if !exp.After(now) {
			delete(on, key) // ended on its own; respond tells of it when it marks it expired
		}
	}
	if len(on) == 0 {
		delete(a.on[k], p)
		if k == kindIsolate {
			return a.en.Release(ctx, []netip.Prefix{p})
		}
		return a.en.Unblock(ctx, []netip.Prefix{p})
	}
	e := []Entry{{Prefix: p, TTL: latest(on).Sub(now)}}
	if k == kindIsolate {
		return a.en.Isolate(ctx, e)
	}
	return a.en.Block(ctx, e)
}

func kindOf(d decision.Decision) kind {
	if d.Action == decision.ActionIsolate {
		return kindIsolate
	}
	return kindBlock
}

// latest returns the last of the expiries.
func latest(on map[decisionKey]time.Time) time.Time {
	var t time.Time
	for _, exp := range on {
		if exp.After(t) {
			t = exp
		}
	}
	return t
}

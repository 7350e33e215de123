// Package decision is the vocabulary of a response decision — block an address, a range or a
// domain, isolate a host, for a time — in one type that every package after detection shares:
//
//	respond (makes it, within guardrails) ──► store (keeps it, records every change)
//	                                              ──► nft, CrowdSec bouncers, webhooks (enforce it)
//
// Package respond owns what a decision means: which policies make one, which guardrails hold
// it, who may approve it. The type lives here, below respond and the store, because the store
// persists it and respond uses the store: a type in respond could not be the store's.
package decision

import (
	"net/netip"
	"time"
)

// Action is what a decision does.
type Action string

const (
	// ActionBlock drops traffic from and to the target.
	ActionBlock Action = "block"
	// ActionIsolate cuts a host of the hospital off the network, except from the responders.
	ActionIsolate Action = "isolate"
)

// Scope is what kind of target a decision has.
type Scope string

const (
	ScopeIP     Scope = "ip"     // one address
	ScopeRange  Scope = "range"  // a network in CIDR form
	ScopeDomain Scope = "domain" // a domain and its subdomains
)

// Status is where a decision is in its life.
type Status string

const (
	StatusActive   Status = "active"   // enforced (unless dry-run) until it expires
	StatusHeld     Status = "held"     // a guardrail holds it for a person's approval
	StatusRejected Status = "rejected" // a guardrail or a person refused it; never enforced
	StatusExpired  Status = "expired"  // its time ran out
	StatusRevoked  Status = "revoked"  // a person lifted it
)

// OriginKind says who asked for a decision.
type OriginKind string

const (
	OriginRule      OriginKind = "rule"      // a policy acting on an alert
	OriginPerson    OriginKind = "person"    // a responder, by API or CLI
	OriginAuthority OriginKind = "authority" // an authority's request (police, CERT), entered by a person
)

// Origin is who asked for a decision.
type Origin struct {
	Kind      OriginKind
	Name      string // the rule ID (for a policy: the alert's rule), the person, or the authority
	Reference string // an authority's reference number; required for OriginAuthority
}

func (o Origin) String() string {
	s := string(o.Kind)
	if o.Name != "" {
		s += ":" + o.Name
	}
	if o.Reference != "" {
		s += " (ref " + o.Reference + ")"
	}
	return s
}

// Decision is one response decision: what respond makes, the store keeps and every enforcer
// reads. The fields are typed here once; the store's columns are their strings.
type Decision struct {
	ID      int64 // assigned when stored
	Tenant  string
	Action  Action
	Scope   Scope
	Value   string        // the address, the network in CIDR form, or the domain
	TTL     time.Duration // how long it applies once active
	Expires time.Time
	Reason  string
	Origin  Origin
	AlertID string // the alert that caused it, if any
	Status  Status
	// Guardrail says which guardrail held or rejected the decision and why, for the person who
	// must decide: "life-support: 10.20.1.11 is ICU ventilator bed 1 (ICU)". Empty if none did.
	Guardrail string
	DryRun    bool // recorded only: what would have been done
	Created   time.Time
	CreatedBy string // the actor, as in the audit log: "rule:<id>", "person:<name>"
	Updated   time.Time
	UpdatedBy string
	Note      string // the last person's comment, such as why they approved
	// Activated is when it first came into force, which the store records; zero if it never
	// did (held, rejected, or revoked while held): the enforcers hear of its end only if set.
	Activated time.Time
}

// Prefix returns the decision's target as a network (a single address as a /32 or /128), or
// false for a domain or a target that is neither an address (without a zone) nor a network.
func (d Decision) Prefix() (netip.Prefix, bool) {
	switch d.Scope {
	case ScopeIP:
		ip, err := netip.ParseAddr(d.Value)
		if err != nil || ip.Zone() != "" {
			return netip.Prefix{}, false
		}
		ip = ip.Unmap()
		return netip.PrefixFrom(ip, ip.BitLen()), true
	case ScopeRange:
		p, err := netip.ParsePrefix(d.Value)
		if err != nil {
			return netip.Prefix{}, false
		}
		return p.Masked(), true
	}
	return netip.Prefix{}, false
}

// Live reports whether an enforcer should apply the decision at now.
func (d Decision) Live(now time.Time) bool {
	return d.Status == StatusActive && !d.DryRun && now.Before(d.Expires)
}

// Enforced reports whether a change of d is one the enforcers act on: d is in force, or ends
// after having been. A decision never active — held, rejected, or revoked while held — is
// none of theirs: the kernel has nothing of it to remove, and a receiver that acts on what it
// is sent must not hear of a ventilator's isolation a guardrail holds.
func (d Decision) Enforced() bool { return !d.DryRun && !d.Activated.IsZero() }

// Waiting returns how long a held decision has waited for a person at now; 0 if not held.
func (d Decision) Waiting(now time.Time) time.Duration {
	if d.Status != StatusHeld {
		return 0
	}
	return now.Sub(d.Created)
}

// View is a decision as the API shows it at a moment: durations as Go durations ("4h0m0s"),
// times in RFC 3339, whether it is enforced then, and for a held decision how long it has
// waited for a person. The journal and webhooks send the same form.
type View struct {
	ID        int64      `json:"id"`
	Tenant    string     `json:"tenant"`
	Action    Action     `json:"action"`
	Scope     Scope      `json:"scope"`
	Target    string     `json:"target"`
	TTL       string     `json:"ttl"`
	Expires   time.Time  `json:"expires"`
	Reason    string     `json:"reason"`
	Origin    OriginView `json:"origin"`
	AlertID   string     `json:"alert_id,omitempty"`
	Status    Status     `json:"status"`
	Live      bool       `json:"live"` // enforced now
	Waiting   string     `json:"waiting,omitempty"`
	Guardrail string     `json:"guardrail,omitempty"`
	DryRun    bool       `json:"dry_run,omitempty"`
	Created   time.Time  `json:"created"`
	CreatedBy string     `json:"created_by"`
	Updated   time.Time  `json:"updated,omitzero"`
	UpdatedBy string     `json:"updated_by,omitempty"`
	Note      string     `json:"note,omitempty"`
}

// OriginView is Origin as the API shows it.
type OriginView struct {
	Kind      OriginKind `json:"kind"`
	Name      string     `json:"name,omitempty"`
	Reference string     `json:"reference,omitempty"`
}

// View returns d as the API shows it at now.
func (d Decision) View(now time.Time) View {
	v := View{ID: d.ID, Tenant: d.Tenant, Action: d.Action, Scope: d.Scope, Target: d.Value,
		TTL: d.TTL.String(), Expires: d.Expires, Reason: d.Reason,
		Origin:  OriginView{Kind: d.Origin.Kind, Name: d.Origin.Name, Reference: d.Origin.Reference},
		AlertID: d.AlertID, Status: d.Status, Live: d.Live(now), Guardrail: d.Guardrail, DryRun: d.DryRun,
		Created: d.Created, CreatedBy: d.CreatedBy, Updated: d.Updated, UpdatedBy: d.UpdatedBy, Note: d.Note}
	if w := d.Waiting(now); w > 0 {
		v.Waiting = w.Truncate(time.Second).String()
	}
	return v
}

// Package respond turns alerts into decisions — block an address, a range or a domain,
// isolate a host — and keeps every automatic decision inside guardrails so that no automated
// action stops care. It sits after detection on the data path:
//
//	detect ──► alerts ──► respond: policies → guardrails → decisions (store) ──► enforcers
//	                                                                           (nft, CrowdSec bouncers, webhooks)
//
// Policies (like CrowdSec profiles) say which alerts lead to which decisions. Guardrails are
// part of the decision, not of the enforcer: a life-support device is never blocked or
// isolated automatically, a decision that would cut a protected clinical service is held for
// a person's approval, and allowlisted addresses are never blocked automatically. A held
// decision waits, visibly, for a person whose role may approve it. Approving what a guardrail
// held, or overriding a guardrail when deciding, is a person's act: only an approver signed
// in to the web UI with a second factor may (see Person), never an API token, a bouncer or a
// policy. Decisions live in the metadata store (package store), where every change is recorded with who made it; the
// enforcers follow them from there.
package respond

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/store"
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

// Decision is one response decision.
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
// false for a domain.
func (d Decision) Prefix() (netip.Prefix, bool) {
	p, err := parseTarget(d.Scope, d.Value)
	if err != nil || d.Scope == ScopeDomain {
		return netip.Prefix{}, false
	}
	return p, true
}

// Live reports whether an enforcer should apply the decision at now.
func (d Decision) Live(now time.Time) bool {
	return d.Status == StatusActive && !d.DryRun && now.Before(d.Expires)
}

// Waiting returns how long a held decision has waited for a person at now; 0 if not held.
func (d Decision) Waiting(now time.Time) time.Duration {
	if d.Status != StatusHeld {
		return 0
	}
	return now.Sub(d.Created)
}

var (
	// ErrInvalid means a decision or policy is malformed; the message says what to fix.
	ErrInvalid = errors.New("respond: invalid")
	// ErrNotAllowed means the person's role may not do what was asked.
	ErrNotAllowed = errors.New("respond: not allowed")
	// ErrOverride means a request asked to decide despite a guardrail, which the API never
	// does: what a guardrail objects to is held, and an approver signed in to the web UI with
	// a second factor approves it. It is an ErrNotAllowed. The request is refused rather than
	// held, because it asked for what no API caller may do; without override it is held.
	ErrOverride = fmt.Errorf("%w: overriding a guardrail is a person's act", ErrNotAllowed)
	// ErrState means the decision is not in a state where the change applies, such as
	// approving a decision that is not held.
	ErrState = errors.New("respond: wrong state")
)

// parseTarget checks a target against its scope and returns it as a network; for a domain the
// prefix is invalid.
func parseTarget(scope Scope, value string) (netip.Prefix, error) {
	switch scope {
	case ScopeIP:
		ip, err := netip.ParseAddr(value)
		if err != nil || ip.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%w: %q is not an IP address", ErrInvalid, value)
		}
		ip = ip.Unmap()
		return netip.PrefixFrom(ip, ip.BitLen()), nil
	case ScopeRange:
		p, err := netip.ParsePrefix(value)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%w: %q is not a network in CIDR form (such as 198.51.100.0/24)", ErrInvalid, value)
		}
		return p.Masked(), nil
	case ScopeDomain:
		if !validDomain(value) {
			return netip.Prefix{}, fmt.Errorf("%w: %q is not a domain name", ErrInvalid, value)
		}
		return netip.Prefix{}, nil
	}
	return netip.Prefix{}, fmt.Errorf("%w: scope %q (want ip, range or domain)", ErrInvalid, scope)
}

func validDomain(d string) bool {
	if len(d) == 0 || len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// normalize checks d's action, scope and target and writes the target in its canonical form:
// an unmapped address, a masked network, a lower-case domain without the final dot.
func normalize(d *Decision) error {
	switch d.Action {
	case ActionBlock:
	case ActionIsolate:
		if d.Scope != ScopeIP {
			return fmt.Errorf("%w: isolate needs the host's address (scope ip), not %s", ErrInvalid, d.Scope)
		}
	default:
		return fmt.Errorf("%w: action %q (want block or isolate)", ErrInvalid, d.Action)
	}
	v, err := canonical(d.Scope, d.Value)
	if err != nil {
		return err
	}
	d.Value = v
	if d.TTL <= 0 {
		return fmt.Errorf("%w: duration %v must be positive", ErrInvalid, d.TTL)
	}
	return nil
}

// canonical checks a target against its scope and returns it as decisions keep it: an
// unmapped address, a masked network, a lower-case domain without the final dot.
func canonical(scope Scope, value string) (string, error) {
	value = strings.TrimSpace(value)
	if scope == ScopeDomain {
		value = strings.TrimSuffix(strings.ToLower(value), ".")
	}
	p, err := parseTarget(scope, value)
	if err != nil {
		return "", err
	}
	switch scope {
	case ScopeIP:
		return p.Addr().String(), nil
	case ScopeRange:
		return p.String(), nil
	}
	return value, nil
}

func toStore(d Decision) store.Decision {
	return store.Decision{ID: d.ID, Tenant: d.Tenant, Action: string(d.Action), Scope: string(d.Scope), Value: d.Value,
		TTL: d.TTL, Expires: d.Expires, Reason: d.Reason, Origin: string(d.Origin.Kind), OriginName: d.Origin.Name,
		OriginRef: d.Origin.Reference, AlertID: d.AlertID, Status: string(d.Status), Guardrail: d.Guardrail,
		DryRun: d.DryRun, Created: d.Created, CreatedBy: d.CreatedBy, Updated: d.Updated, UpdatedBy: d.UpdatedBy, Note: d.Note}
}

// FromStore converts a stored decision, as the enforcers read them, into a Decision.
func FromStore(d store.Decision) Decision {
	return Decision{ID: d.ID, Tenant: d.Tenant, Action: Action(d.Action), Scope: Scope(d.Scope), Value: d.Value,
		TTL: d.TTL, Expires: d.Expires, Reason: d.Reason,
		Origin:  Origin{Kind: OriginKind(d.Origin), Name: d.OriginName, Reference: d.OriginRef},
		AlertID: d.AlertID, Status: Status(d.Status), Guardrail: d.Guardrail, DryRun: d.DryRun,
		Created: d.Created, CreatedBy: d.CreatedBy, Updated: d.Updated, UpdatedBy: d.UpdatedBy, Note: d.Note,
		Activated: d.Activated}
}

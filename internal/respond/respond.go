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

	"github.com/omamori-project/omamori/internal/decision"
)

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
func parseTarget(scope decision.Scope, value string) (netip.Prefix, error) {
	p, ok := decision.Decision{Scope: scope, Value: value}.Prefix()
	switch {
	case scope == decision.ScopeIP && !ok:
		return netip.Prefix{}, fmt.Errorf("%w: %q is not an IP address", ErrInvalid, value)
	case scope == decision.ScopeRange && !ok:
		return netip.Prefix{}, fmt.Errorf("%w: %q is not a network in CIDR form (such as 198.51.100.0/24)", ErrInvalid, value)
	case scope == decision.ScopeDomain && !validDomain(value):
		return netip.Prefix{}, fmt.Errorf("%w: %q is not a domain name", ErrInvalid, value)
	case scope != decision.ScopeIP && scope != decision.ScopeRange && scope != decision.ScopeDomain:
		return netip.Prefix{}, fmt.Errorf("%w: scope %q (want ip, range or domain)", ErrInvalid, scope)
	}
	return p, nil
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
func normalize(d *decision.Decision) error {
	switch d.Action {
	case decision.ActionBlock:
	case decision.ActionIsolate:
		if d.Scope != decision.ScopeIP {
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
func canonical(scope decision.Scope, value string) (string, error) {
	value = strings.TrimSpace(value)
	if scope == decision.ScopeDomain {
		value = strings.TrimSuffix(strings.ToLower(value), ".")
	}
	p, err := parseTarget(scope, value)
	if err != nil {
		return "", err
	}
	switch scope {
	case decision.ScopeIP:
		return p.Addr().String(), nil
	case decision.ScopeRange:
		return p.String(), nil
	}
	return value, nil
}

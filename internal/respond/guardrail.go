package respond

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gaissmai/bart"
	"github.com/omamori-project/omamori/internal/asset"
	"github.com/omamori-project/omamori/internal/decision"
)

// Allowlist is a set of addresses never to block automatically: the hospital's own networks,
// its DNS resolvers, the EHR vendor's maintenance endpoint, the ranges of MISP warning lists.
// It must be safe for concurrent use.
type Allowlist interface {
	// AllowedPrefix reports whether any address of p is on the list — p inside a listed
	// network, or a listed network inside p — and why, for the person reading the decision
	// (such as the list's name).
	AllowedPrefix(p netip.Prefix) (why string, ok bool)
}

// DomainAllowlist is an optional capability of an Allowlist: domains never to block
// automatically. Guardrails find it by type assertion.
type DomainAllowlist interface {
	// AllowedDomain reports whether blocking domain would block a listed name: the domain is
	// listed, under a listed one, or above one.
	AllowedDomain(domain string) (why string, ok bool)
}

// AllowlistFunc adapts a function to Allowlist, for a list kept elsewhere (such as package
// intel's MISP warning lists).
type AllowlistFunc func(p netip.Prefix) (why string, ok bool)

// AllowedPrefix calls f.
func (f AllowlistFunc) AllowedPrefix(p netip.Prefix) (string, bool) { return f(p) }

// Networks is a static allowlist of networks and domains, filled from the configuration.
// Fill it before use; it is then safe for concurrent reads. The zero value is empty.
type Networks struct {
	nets    bart.Table[string]
	domains map[string]string
}

// AddPrefix lists p, with why to show when it stops a decision.
func (n *Networks) AddPrefix(p netip.Prefix, why string) {
	for _, p := range asset.Touched(p) {
		n.nets.Insert(p, why)
	}
}

// AddDomain lists a domain and its subdomains.
func (n *Networks) AddDomain(domain, why string) {
	if n.domains == nil {
		n.domains = map[string]string{}
	}
	n.domains[strings.TrimSuffix(strings.ToLower(domain), ".")] = why
}

// AllowedPrefix implements Allowlist.
func (n *Networks) AllowedPrefix(p netip.Prefix) (string, bool) {
	for _, p := range asset.Touched(p) {
		if _, why, ok := n.nets.LookupPrefixLPM(p); ok {
			return why, true
		}
		for _, why := range n.nets.Subnets(p) {
			return why, true
		}
	}
	return "", false
}

// AllowedDomain implements DomainAllowlist.
func (n *Networks) AllowedDomain(domain string) (string, bool) {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	for listed, why := range n.domains {
		if listed == domain || strings.HasSuffix(listed, "."+domain) || strings.HasSuffix(domain, "."+listed) {
			return why + " (" + listed + ")", true
		}
	}
	return "", false
}

// Guardrail names, as they appear at the start of Decision.Guardrail.
const (
	GuardLifeSupport = "life-support"
	GuardProtected   = "protected-service"
	GuardAllowlist   = "allowlist"
	GuardNoInventory = "no-inventory"
)

// Guardrails are one hospital's limits on automatic decisions. They are read-only once built
// and safe for concurrent use.
type Guardrails struct {
	// Assets is the hospital's inventory. Without one, omamori cannot tell a ventilator from
	// an attacker, so every automatic decision is held: pass an empty inventory to say that
	// there is nothing to protect.
	Assets *asset.Inventory
	// Allow are the allowlists; a block touching any of them is rejected.
	Allow []Allowlist
}

// Verdict is what the guardrails make of a decision.
type Verdict struct {
	Status    decision.Status // StatusActive (no guardrail objects), StatusHeld or StatusRejected
	Guardrail string          // one of the Guard* names; empty for StatusActive
	Reason    string          // for people: what the guardrail found
}

// String is the verdict as it is recorded in Decision.Guardrail.
func (v Verdict) String() string {
	if v.Guardrail == "" {
		return ""
	}
	return v.Guardrail + ": " + v.Reason
}

// Check applies the guardrails to an automatic decision whose target has been validated:
//
//   - a block of an allowlisted address, network or domain is rejected: never blocked
//     automatically, and nothing for a person to approve (a person can decide it directly);
//   - a block or isolation that touches a life-support device — the device itself, or a range
//     or domain covering it — is held for approval: its attacker may be blocked, it may not;
//   - one that touches a protected clinical service is held for approval;
//   - without an asset inventory, everything is held.
func (g *Guardrails) Check(d decision.Decision) Verdict {
	p, isNet := d.Prefix()
	if d.Action == decision.ActionBlock {
		if v, ok := g.allowlisted(d, p, isNet); ok {
			return v
		}
	}
	if g == nil || g.Assets == nil {
		return Verdict{Status: decision.StatusHeld, Guardrail: GuardNoInventory,
			Reason: "no asset inventory for this hospital, so omamori cannot tell whether the target is a medical device"}
	}
	if isNet {
		if a, ok := g.Assets.LifeSupportIn(p); ok {
			return Verdict{Status: decision.StatusHeld, Guardrail: GuardLifeSupport, Reason: describe(d, a)}
		}
		if a, ok := g.Assets.ProtectedIn(p); ok {
			return Verdict{Status: decision.StatusHeld, Guardrail: GuardProtected, Reason: describe(d, a)}
		}
		return Verdict{Status: decision.StatusActive}
	}
	named := g.Assets.Named(d.Value)
	for _, a := range named {
		if a.Category == asset.LifeSupport {
			return Verdict{Status: decision.StatusHeld, Guardrail: GuardLifeSupport, Reason: describe(d, a)}
		}
	}
	for _, a := range named {
		if a.Protected {
			return Verdict{Status: decision.StatusHeld, Guardrail: GuardProtected, Reason: describe(d, a)}
		}
	}
	return Verdict{Status: decision.StatusActive}
}

func (g *Guardrails) allowlisted(d decision.Decision, p netip.Prefix, isNet bool) (Verdict, bool) {
	if g == nil {
		return Verdict{}, false
	}
	for _, al := range g.Allow {
		var why string
		var ok bool
		if isNet {
			why, ok = al.AllowedPrefix(p)
		} else if dl, can := al.(DomainAllowlist); can {
			why, ok = dl.AllowedDomain(d.Value)
		}
		if ok {
			return Verdict{Status: decision.StatusRejected, Guardrail: GuardAllowlist,
				Reason: fmt.Sprintf("%s is allowlisted (%s) and is never blocked automatically", d.Value, why)}, true
		}
	}
	return Verdict{}, false
}

func describe(d decision.Decision, a asset.Asset) string {
	what := fmt.Sprintf("%s (%s", a.Name, a.Category)
	if a.Department != "" {
		what += ", " + a.Department
	}
	if a.Protected {
		what += ", protected clinical service"
	}
	what += ")"
	verb := "blocking"
	if d.Action == decision.ActionIsolate {
		verb = "isolating"
	}
	where := a.Prefix.String()
	if a.Prefix.IsSingleIP() {
		where = a.Prefix.Addr().String()
	}
	if where == d.Value {
		return fmt.Sprintf("%s %s would cut off %s; a person must approve", verb, d.Value, what)
	}
	return fmt.Sprintf("%s %s would cut off %s at %s; a person must approve", verb, d.Value, what, where)
}

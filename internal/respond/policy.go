package respond

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/severity"
)

// Entity names which of an alert's entities a policy acts on.
type Entity string

const (
	EntitySource      Entity = "source"      // the alert's source address: the attacker, usually
	EntityDestination Entity = "destination" // its destination address
	EntityHost        Entity = "host"        // its host, when that is an address (an infected computer)
)

// Policy says which alerts lead to which decision, like a CrowdSec profile. Policies are
// tried in order; the first that matches decides, unless it says Continue.
type Policy struct {
	Name string `yaml:"name"`
	// Rules are alert rule IDs (a Sigma rule's id, "behavior.<detector>"); empty: any rule.
	Rules []string `yaml:"rules"`
	// Detectors are "sigma", "sigma-correlation", "behavior"; empty: any.
	Detectors []string `yaml:"detectors"`
	// MinLevel is the lowest alert level that matches (informational, low, medium, high,
	// critical); empty: any.
	MinLevel severity.Level `yaml:"min_level"`
	// Action is block or isolate.
	Action decision.Action `yaml:"action"`
	// Target is the entity acted on: source (the default), destination or host.
	Target Entity `yaml:"target"`
	// Prefix widens an IPv4 address to its network of this length (24 blocks the /24), and
	// PrefixV6 an IPv6 address (64 is common); 0 acts on the address alone.
	Prefix   int `yaml:"prefix"`
	PrefixV6 int `yaml:"prefix_v6"`
	// TTL is how long the decision applies once active.
	TTL time.Duration `yaml:"ttl"`
	// Continue goes on to the next policies after this one matched, to take several actions
	// on one alert (block the attacker and isolate the victim).
	Continue bool `yaml:"continue"`
}

// Validate checks the policy and says what to fix.
func (p Policy) Validate() error {
	name := p.Name
	if name == "" {
		name = "(unnamed)"
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: policy %s: %s", ErrInvalid, name, fmt.Sprintf(format, args...))
	}
	if p.Name == "" {
		return fail("needs a name")
	}
	if p.Action != decision.ActionBlock && p.Action != decision.ActionIsolate {
		return fail("action %q (want block or isolate)", p.Action)
	}
	switch p.Target {
	case "", EntitySource, EntityDestination, EntityHost:
	default:
		return fail("target %q (want source, destination or host)", p.Target)
	}
	if _, err := severity.Parse(string(p.MinLevel)); p.MinLevel != "" && err != nil {
		return fail("min_level %q: %v", p.MinLevel, err)
	}
	if p.TTL <= 0 {
		return fail("ttl must be positive, such as 4h")
	}
	if p.Prefix < 0 || p.Prefix > 32 || p.PrefixV6 < 0 || p.PrefixV6 > 128 {
		return fail("prefix %d / prefix_v6 %d out of range", p.Prefix, p.PrefixV6)
	}
	if p.Action == decision.ActionIsolate && (p.Prefix != 0 || p.PrefixV6 != 0) {
		return fail("isolate acts on one host; prefix must be 0")
	}
	return nil
}

// Matches reports whether the alert is one the policy acts on.
func (p Policy) Matches(a detect.Alert) bool {
	if len(p.Rules) > 0 && !slices.Contains(p.Rules, a.RuleID) {
		return false
	}
	if len(p.Detectors) > 0 && !slices.Contains(p.Detectors, a.Detector) {
		return false
	}
	if p.MinLevel != "" && !a.Level.AtLeast(p.MinLevel) {
		return false
	}
	return true
}

// Propose returns the decision the policy makes for an alert it matches, before guardrails:
// status active, origin the alert's rule. It fails if the alert lacks the entity acted on.
func (p Policy) Propose(a detect.Alert, now time.Time) (decision.Decision, error) {
	var value string
	switch p.Target {
	case "", EntitySource:
		value = a.Entities.Source
	case EntityDestination:
		value = a.Entities.Destination
	case EntityHost:
		value = a.Entities.Host
	}
	target := p.Target
	if target == "" {
		target = EntitySource
	}
	ip, err := netip.ParseAddr(value)
	if err != nil {
		return decision.Decision{}, fmt.Errorf("%w: policy %s: alert %s has no %s address (%q)", ErrInvalid, p.Name, a.ID, target, value)
	}
	ip = ip.Unmap()
	d := decision.Decision{
		Tenant:  a.Tenant,
		Action:  p.Action,
		Scope:   decision.ScopeIP,
		Value:   ip.String(),
		TTL:     p.TTL,
		Expires: now.Add(p.TTL),
		Reason:  fmt.Sprintf("%s (policy %s)", a.Title, p.Name),
		Origin:  decision.Origin{Kind: decision.OriginRule, Name: a.RuleID},
		AlertID: a.ID,
		Status:  decision.StatusActive,
		Created: now,
	}
	bits := p.Prefix
	if ip.Is6() {
		bits = p.PrefixV6
	}
	if bits > 0 && bits < ip.BitLen() {
		d.Scope, d.Value = decision.ScopeRange, netip.PrefixFrom(ip, bits).Masked().String()
	}
	return d, nil
}

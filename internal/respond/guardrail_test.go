package respond

import (
	"encoding/json"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/asset"
	"github.com/omamori-project/omamori/internal/decision"
)

const warningLists = "../../../shared/data/intel/misp-warninglists/lists/"

// loadWarningList adds a real MISP warning list of type cidr to n, as the hospital's
// configuration would through package intel.
func loadWarningList(t testing.TB, n *Networks, name string) {
	t.Helper()
	data, err := os.ReadFile(warningLists + name + "/list.json")
	if err != nil {
		t.Fatal(err)
	}
	var wl struct {
		Name string   `json:"name"`
		List []string `json:"list"`
	}
	if err := json.Unmarshal(data, &wl); err != nil {
		t.Fatal(err)
	}
	for _, v := range wl.List {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			ip, err := netip.ParseAddr(v)
			if err != nil {
				t.Fatalf("%s: %q: %v", name, v, err)
			}
			p = netip.PrefixFrom(ip, ip.BitLen())
		}
		n.AddPrefix(p, "MISP warning list: "+wl.Name)
	}
}

func loadAssets(t testing.TB) *asset.Inventory {
	t.Helper()
	f, err := os.Open("testdata/assets.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	as, err := asset.ParseCSV(f)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := asset.New(as)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// hospitalGuardrails are a hospital's guardrails: its inventory, the public DNS resolvers
// from MISP, its own resolver and the EHR vendor's maintenance endpoint. ownNets adds the
// hospital's own networks (RFC 1918, from MISP) to the allowlist.
func hospitalGuardrails(t testing.TB, ownNets bool) *Guardrails {
	var n Networks
	loadWarningList(t, &n, "public-dns-v4")
	if ownNets {
		loadWarningList(t, &n, "rfc1918")
	}
	n.AddPrefix(netip.MustParsePrefix("10.0.0.53/32"), "hospital DNS resolver")
	n.AddPrefix(netip.MustParsePrefix("198.51.100.10/32"), "EHR vendor maintenance endpoint")
	n.AddDomain("maint.ehr-vendor.example", "EHR vendor maintenance endpoint")
	return &Guardrails{Assets: loadAssets(t), Allow: []Allowlist{&n}}
}

func TestGuardrails(t *testing.T) {
	hospital := hospitalGuardrails(t, false)
	withOwn := hospitalGuardrails(t, true)
	empty, _ := asset.New(nil)
	tests := []struct {
		name   string
		g      *Guardrails
		action decision.Action
		scope  decision.Scope
		value  string
		status decision.Status
		guard  string // expected guardrail name
	}{
		{"attacker is blocked", hospital, decision.ActionBlock, decision.ScopeIP, "203.0.113.7", decision.StatusActive, ""},
		{"attacker range is blocked", hospital, decision.ActionBlock, decision.ScopeRange, "203.0.113.0/24", decision.StatusActive, ""},
		{"ventilator is never blocked automatically", hospital, decision.ActionBlock, decision.ScopeIP, "10.20.1.11", decision.StatusHeld, GuardLifeSupport},
		{"ventilator is never isolated automatically", hospital, decision.ActionIsolate, decision.ScopeIP, "10.20.1.12", decision.StatusHeld, GuardLifeSupport},
		{"IPv6 ventilator", hospital, decision.ActionIsolate, decision.ScopeIP, "2001:db8:20::11", decision.StatusHeld, GuardLifeSupport},
		{"IPv4-mapped ventilator", hospital, decision.ActionIsolate, decision.ScopeIP, "::ffff:10.20.1.11", decision.StatusHeld, GuardLifeSupport},
		{"device in the dialysis VLAN", hospital, decision.ActionIsolate, decision.ScopeIP, "10.20.2.40", decision.StatusHeld, GuardLifeSupport},
		{"range over the ICU", hospital, decision.ActionBlock, decision.ScopeRange, "10.20.0.0/16", decision.StatusHeld, GuardLifeSupport},
		{"isolating the EHR server cuts a protected service", hospital, decision.ActionIsolate, decision.ScopeIP, "10.40.0.10", decision.StatusHeld, GuardProtected},
		{"range over the cloud EHR cuts a protected service", hospital, decision.ActionBlock, decision.ScopeRange, "192.0.2.0/24", decision.StatusHeld, GuardProtected},
		{"domain of the EHR", hospital, decision.ActionBlock, decision.ScopeDomain, "ehr.tokyo-general.example", decision.StatusHeld, GuardProtected},
		{"parent domain of the EHR", hospital, decision.ActionBlock, decision.ScopeDomain, "tokyo-general.example", decision.StatusHeld, GuardProtected},
		{"infected workstation is isolated", hospital, decision.ActionIsolate, decision.ScopeIP, "10.30.5.5", decision.StatusActive, ""},
		{"diagnostic, unprotected device is isolated", hospital, decision.ActionIsolate, decision.ScopeIP, "10.30.0.5", decision.StatusActive, ""},
		{"unprotected PACS is blocked", hospital, decision.ActionBlock, decision.ScopeIP, "10.40.0.20", decision.StatusActive, ""},
		{"public resolver (MISP) is never blocked", hospital, decision.ActionBlock, decision.ScopeIP, "8.8.8.8", decision.StatusRejected, GuardAllowlist},
		{"range containing a public resolver", hospital, decision.ActionBlock, decision.ScopeRange, "8.8.0.0/16", decision.StatusRejected, GuardAllowlist},
		{"hospital resolver", hospital, decision.ActionBlock, decision.ScopeIP, "10.0.0.53", decision.StatusRejected, GuardAllowlist},
		{"EHR vendor maintenance endpoint", hospital, decision.ActionBlock, decision.ScopeIP, "198.51.100.10", decision.StatusRejected, GuardAllowlist},
		{"EHR vendor maintenance domain", hospital, decision.ActionBlock, decision.ScopeDomain, "maint.ehr-vendor.example", decision.StatusRejected, GuardAllowlist},
		{"parent of the maintenance domain", hospital, decision.ActionBlock, decision.ScopeDomain, "ehr-vendor.example", decision.StatusRejected, GuardAllowlist},
		{"malicious domain", hospital, decision.ActionBlock, decision.ScopeDomain, "evil.example", decision.StatusActive, ""},
		{"own network is never blocked", withOwn, decision.ActionBlock, decision.ScopeIP, "10.30.5.5", decision.StatusRejected, GuardAllowlist},
		{"own network host may still be isolated", withOwn, decision.ActionIsolate, decision.ScopeIP, "10.30.5.5", decision.StatusActive, ""},
		{"allowlist before inventory for a ventilator block", withOwn, decision.ActionBlock, decision.ScopeIP, "10.20.1.11", decision.StatusRejected, GuardAllowlist},
		{"no inventory: held", &Guardrails{}, decision.ActionBlock, decision.ScopeIP, "203.0.113.7", decision.StatusHeld, GuardNoInventory},
		{"no guardrails at all: held", nil, decision.ActionIsolate, decision.ScopeIP, "10.30.5.5", decision.StatusHeld, GuardNoInventory},
		{"empty inventory says nothing to protect", &Guardrails{Assets: empty}, decision.ActionBlock, decision.ScopeIP, "203.0.113.7", decision.StatusActive, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decision.Decision{Action: tt.action, Scope: tt.scope, Value: tt.value, TTL: time.Hour}
			if err := normalize(&d); err != nil {
				t.Fatal(err)
			}
			v := tt.g.Check(d)
			if v.Status != tt.status || v.Guardrail != tt.guard {
				t.Errorf("Check(%s %s) = %s %q (%s), want %s %q", tt.action, tt.value, v.Status, v.Guardrail, v.Reason, tt.status, tt.guard)
			}
			if (v.Status == decision.StatusActive) != (v.Reason == "") {
				t.Errorf("Check(%s %s) reason = %q: a guardrail must say why, and only then", tt.action, tt.value, v.Reason)
			}
		})
	}
}

func TestGuardrailReason(t *testing.T) {
	g := hospitalGuardrails(t, false)
	d := decision.Decision{Action: decision.ActionIsolate, Scope: decision.ScopeIP, Value: "10.20.1.11", TTL: time.Hour}
	got := g.Check(d).String()
	want := "life-support: isolating 10.20.1.11 would cut off ICU ventilator bed 1 (life-support, ICU, protected clinical service); a person must approve"
	if got != want {
		t.Errorf("Check(isolate ventilator) = %q, want %q", got, want)
	}
	d = decision.Decision{Action: decision.ActionBlock, Scope: decision.ScopeIP, Value: "8.8.8.8", TTL: time.Hour}
	if got := g.Check(d).String(); !strings.Contains(got, "MISP warning list: List of known IPv4 public DNS resolvers") {
		t.Errorf("Check(block 8.8.8.8) = %q, want it to name the MISP list", got)
	}
}

// BenchmarkGuardrails measures the guardrails for one decision, against an inventory of the
// test hospital and the 62,745 public resolvers of MISP's warning list.
func BenchmarkGuardrails(b *testing.B) {
	g := hospitalGuardrails(b, true)
	ds := []decision.Decision{
		{Action: decision.ActionBlock, Scope: decision.ScopeIP, Value: "203.0.113.7"},       // passes everything
		{Action: decision.ActionBlock, Scope: decision.ScopeIP, Value: "8.8.8.8"},           // allowlisted
		{Action: decision.ActionIsolate, Scope: decision.ScopeIP, Value: "10.20.1.11"},      // life support
		{Action: decision.ActionBlock, Scope: decision.ScopeRange, Value: "203.0.112.0/22"}, // a range
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		g.Check(ds[i%len(ds)])
	}
}

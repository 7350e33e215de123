package respond

import (
	"net/netip"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/intel"
)

// The MISP warning lists as package intel loads them, plugged in through AllowlistFunc the
// way serve wires them: a brute force from a public resolver is never blocked.
func TestIntelWarningLists(t *testing.T) {
	wl, err := intel.LoadWarningLists(warningLists)
	if err != nil {
		t.Fatal(err)
	}
	misp := AllowlistFunc(func(p netip.Prefix) (string, bool) {
		if p.IsSingleIP() {
			return wl.Check(&intel.Indicator{Kind: intel.KindIP, Value: p.Addr().String()})
		}
		return wl.Check(&intel.Indicator{Kind: intel.KindCIDR, Value: p.String()})
	})
	g := &Guardrails{Assets: loadAssets(t), Allow: []Allowlist{misp}}
	for _, tt := range []struct {
		value  string
		status decision.Status
	}{
		{"8.8.8.8", decision.StatusRejected},
		{"1.1.1.1", decision.StatusRejected},
		{"203.0.113.7", decision.StatusRejected}, // TEST-NET-3, on the RFC 5735 list
		{"45.155.205.233", decision.StatusActive},
	} {
		d := decision.Decision{Action: decision.ActionBlock, Scope: decision.ScopeIP, Value: tt.value, TTL: time.Hour}
		if v := g.Check(d); v.Status != tt.status {
			t.Errorf("Check(block %s) with intel's warning lists = %s (%s), want %s", tt.value, v.Status, v.Reason, tt.status)
		}
	}
}

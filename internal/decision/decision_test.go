package decision

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func TestPrefix(t *testing.T) {
	for _, tt := range []struct {
		scope Scope
		value string
		want  string // "" for none
	}{
		{ScopeIP, "203.0.113.7", "203.0.113.7/32"},
		{ScopeIP, "::ffff:10.20.1.11", "10.20.1.11/32"},
		{ScopeIP, "2001:db8::1", "2001:db8::1/128"},
		{ScopeIP, "fe80::1%eth0", ""},
		{ScopeIP, "203.0.113.0/24", ""},
		{ScopeRange, "198.51.100.7/24", "198.51.100.0/24"},
		{ScopeRange, "198.51.100.7", ""},
		{ScopeDomain, "evil.example", ""},
		{"url", "203.0.113.7", ""},
	} {
		p, ok := Decision{Scope: tt.scope, Value: tt.value}.Prefix()
		if got := map[bool]string{true: p.String()}[ok]; got != tt.want {
			t.Errorf("Decision{%s %s}.Prefix() = %q, %v; want %q", tt.scope, tt.value, p, ok, tt.want)
		}
	}
}

func TestLive(t *testing.T) {
	now := time.Date(2026, 4, 1, 2, 0, 0, 0, time.UTC)
	active := Decision{Status: StatusActive, Expires: now.Add(time.Hour)}
	for _, tt := range []struct {
		name string
		d    Decision
		want bool
	}{
		{"active", active, true},
		{"dry run", Decision{Status: StatusActive, Expires: now.Add(time.Hour), DryRun: true}, false},
		{"expiring now", Decision{Status: StatusActive, Expires: now}, false},
		{"held", Decision{Status: StatusHeld, Expires: now.Add(time.Hour)}, false},
		{"revoked", Decision{Status: StatusRevoked, Expires: now.Add(time.Hour)}, false},
	} {
		if got := tt.d.Live(now); got != tt.want {
			t.Errorf("%s: Live = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func ExampleDecision_View() {
	created := time.Date(2026, 4, 1, 2, 0, 0, 0, time.UTC)
	d := Decision{ID: 7, Tenant: "tokyo", Action: ActionIsolate, Scope: ScopeIP, Value: "10.20.1.11", TTL: 4 * time.Hour,
		Expires: created.Add(4 * time.Hour), Reason: "write to a ventilator from an infected PC",
		Origin: Origin{Kind: OriginRule, Name: "behavior.lateral_movement"}, Status: StatusHeld,
		Guardrail: "life-support: 10.20.1.11 is ICU ventilator bed 1 (ICU)", Created: created, CreatedBy: "rule:isolate"}
	b, _ := json.Marshal(d.View(created.Add(90 * time.Second)))
	fmt.Println(string(b))
	p, _ := d.Prefix()
	fmt.Println(p)
	// Output:
	// {"id":7,"tenant":"tokyo","action":"isolate","scope":"ip","target":"10.20.1.11","ttl":"4h0m0s","expires":"2026-04-01T06:00:00Z","reason":"write to a ventilator from an infected PC","origin":{"kind":"rule","name":"behavior.lateral_movement"},"status":"held","live":false,"waiting":"1m30s","guardrail":"life-support: 10.20.1.11 is ICU ventilator bed 1 (ICU)","created":"2026-04-01T02:00:00Z","created_by":"rule:isolate"}
	// 10.20.1.11/32
}

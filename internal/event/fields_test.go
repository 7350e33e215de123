package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// Every typed field reads the same through Value as AppendECS writes it, and an event that
// lacks one has none.
func TestCommonsAgreeWithECS(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 30, 0, 123, time.UTC)
	full := Event{Time: at, Received: at.Add(time.Second), Tenant: "tokyo", Source: "syslog-udp", Format: "fortigate",
		Dataset: "fortigate.traffic", Category: "network", Action: "accept", Outcome: OutcomeSuccess, Severity: 6, Facility: 23,
		Host: "fg-gw01", Process: "sshd", PID: 4242, User: "admin", SrcIP: netip.MustParseAddr("198.51.100.77"), SrcPort: 51000,
		BytesOut: 1 << 30, DstIP: netip.MustParseAddr("192.168.50.10"), DstPort: 443, BytesIn: 512, Protocol: "tcp",
		Message: `"quoted" line`, Raw: []byte("raw line")}
	full.Add(K("fortigate.tunnelip"), "10.212.134.200")
	var ecs map[string]any
	dec := json.NewDecoder(bytes.NewReader(AppendECS(nil, &full)))
	dec.UseNumber() // numbers as written
	if err := dec.Decode(&ecs); err != nil {
		t.Fatal(err)
	}
	for _, c := range commons {
		v, ok := full.Value(c.Name)
		want, written := ecs[c.Name]
		if ok != written {
			t.Errorf("%s: Value says present=%v, AppendECS wrote it: %v", c.Name, ok, written)
			continue
		}
		if _, isNum := want.(json.Number); ok && (fmt.Sprint(want) != v || isNum != c.Number) {
			t.Errorf("%s: Value = %q (number: %v), AppendECS wrote %#v", c.Name, v, c.Number, want)
		}
		if c.Key.String() != c.Name {
			t.Errorf("%s: key %q", c.Name, c.Key)
		}
	}
	if v, ok := full.Value("fortigate.tunnelip"); !ok || v != "10.212.134.200" {
		t.Errorf("an extra field: %q, %v", v, ok)
	}
	var none Event
	for _, c := range commons {
		if v, ok := none.Value(c.Name); ok {
			t.Errorf("%s of an empty event = %q; want none", c.Name, v)
		}
	}
	// The raw record in base64 when it is not text.
	bin := Event{Raw: []byte{0xff, 0x00}}
	if v, ok := bin.Value("event.original_base64"); !ok || v != "/wA=" {
		t.Errorf("event.original_base64 = %q, %v", v, ok)
	}
	if _, ok := bin.Value("event.original"); ok {
		t.Error("event.original of a binary record: want none")
	}
}

// BenchmarkAppendECS measures rendering one typical firewall event as ECS JSON, the form of
// exports and of `omamori decode`.
func BenchmarkAppendECS(b *testing.B) {
	at := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	e := Event{Time: at, Received: at, Tenant: "tokyo", Source: "syslog-udp", Format: "fortigate", Dataset: "fortigate.traffic",
		Category: "network", Action: "accept", Outcome: OutcomeSuccess, Host: "fg-gw01", SrcIP: netip.MustParseAddr("192.168.10.5"),
		SrcPort: 51000, DstIP: netip.MustParseAddr("203.0.113.50"), DstPort: 443, BytesOut: 1200, BytesIn: 5400, Protocol: "tcp",
		Raw: []byte(`date=2026-11-23 time=09:30:00 devname="fg-gw01" type="traffic" action="accept" srcip=192.168.10.5 dstip=203.0.113.50`)}
	e.Add(K("fortigate.policyid"), "12")
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendECS(buf[:0], &e)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
}

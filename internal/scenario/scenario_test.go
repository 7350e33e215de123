package scenario

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
)

// TestRansomwareDecodes proves the scenario speaks the formats omamori reads: every record
// decodes, and the steps of the attack are there in the decoded events as a detector will see
// them.
func TestRansomwareDecodes(t *testing.T) {
	start := time.Date(2021, 10, 31, 0, 30, 0, 0, tokyo)
	recs := Ransomware(start)
	var events []*event.Event
	for i, r := range recs {
		if i > 0 && r.At.Before(recs[i-1].At) {
			t.Fatalf("record %d at %v comes before record %d at %v", i, r.At, i-1, recs[i-1].At)
		}
		d, err := decode.New(r.Format, decode.Options{Location: tokyo})
		if err != nil {
			t.Fatal(err)
		}
		e := &event.Event{Raw: r.Data, Received: start}
		if err := d.Decode(e); err != nil {
			t.Fatalf("record %d (%s) does not decode: %v\n%s", i, r.Format, err, r.Data)
		}
		if !e.Time.Equal(r.At) {
			t.Errorf("record %d: decoded time %v, want %v\n%s", i, e.Time, r.At, r.Data)
		}
		events = append(events, e)
	}

	attacker := netip.MustParseAddr(Attacker)
	count := func(match func(*event.Event) bool) int {
		n := 0
		for _, e := range events {
			if match(e) {
				n++
			}
		}
		return n
	}
	steps := []struct {
		name  string
		want  int
		match func(*event.Event) bool
	}{
		{"failed VPN logins from the attacker", 24, func(e *event.Event) bool {
			return e.SrcIP == attacker && e.Outcome == event.OutcomeFailure && e.Category == "authentication"
		}},
		{"successful VPN login of the maintenance account", 1, func(e *event.Event) bool {
			return e.SrcIP == attacker && e.Outcome == event.OutcomeSuccess && e.User == VPNAccount
		}},
		{"RDP logons (4624 type 10) of the shared administrator", 1 + len(EHRServers), func(e *event.Event) bool {
			v, _ := e.Get(event.K("winlog.event_data.LogonType"))
			return e.User == SharedAccount && v == "10" && e.Outcome == event.OutcomeSuccess
		}},
		{"SMB sessions", len(EHRServers) + 40, func(e *event.Event) bool {
			return e.DstPort == 445 && e.Protocol == "tcp"
		}},
		{"connections to the ventilator", 1, func(e *event.Event) bool {
			return e.DstIP == netip.MustParseAddr(Ventilator)
		}},
	}
	for _, s := range steps {
		if got := count(s.match); got != s.want {
			t.Errorf("%s: %d events, want %d", s.name, got, s.want)
		}
	}
}

func TestRoutineDecodes(t *testing.T) {
	lines := bytes.Split(bytes.TrimSuffix(Routine(1000), []byte("\n")), []byte("\n"))
	if len(lines) != 1000 {
		t.Fatalf("Routine(1000) gave %d lines", len(lines))
	}
	d, _ := decode.New("syslog", decode.Options{Location: tokyo})
	formats := map[string]int{}
	for _, l := range lines {
		e := &event.Event{Raw: l, Received: time.Now()}
		if err := d.Decode(e); err != nil {
			t.Fatalf("Decode(%q) = %v", l, err)
		}
		formats[e.Format]++
	}
	if formats["fortigate"] != 700 || formats["syslog"] != 300 {
		t.Errorf("formats = %v, want 700 fortigate and 300 syslog", formats)
	}
}

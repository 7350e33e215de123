package decode

import (
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

func TestFortiGateTime(t *testing.T) {
	jst := time.FixedZone("JST", 9*3600)
	base := `devname="F" logid="0000000013" type="traffic" `
	tests := []struct {
		kv   string
		want time.Time
	}{
		{"date=2024-05-01 time=10:20:30 eventtime=1714526430123456789", time.Date(2024, 5, 1, 1, 20, 30, 123456789, time.UTC)},
		{"eventtime=1714526430123456", time.Date(2024, 5, 1, 1, 20, 30, 123456000, time.UTC)},
		{"eventtime=1714526430123", time.Date(2024, 5, 1, 1, 20, 30, 123000000, time.UTC)},
		{"eventtime=1714526430", time.Date(2024, 5, 1, 1, 20, 30, 0, time.UTC)},
		{`date=2024-05-01 time=10:20:30 tz="+0900"`, time.Date(2024, 5, 1, 1, 20, 30, 0, time.UTC)},
		{`date=2024-05-01 time=10:20:30 tz="-07:00"`, time.Date(2024, 5, 1, 17, 20, 30, 0, time.UTC)},
		{`date=2024-05-01 time=10:20:30 tz=JST`, time.Date(2024, 5, 1, 1, 20, 30, 0, time.UTC)},
		{"date=2024-05-01 time=10:20:30", time.Date(2024, 5, 1, 10, 20, 30, 0, jst)}, // the Location option
	}
	for _, tt := range tests {
		raw := base + tt.kv
		e, err := textDecode(t, "fortigate", Options{Location: jst}, time.Time{}, []byte(raw))
		if err != nil || !e.Time.Equal(tt.want) {
			t.Errorf("Decode(%q) = %v, %v; want %v", raw, e.Time, err, tt.want)
		}
	}
}

func TestFortiGateFields(t *testing.T) {
	raw := `<189>date=2024-05-01 time=10:20:30 devname="FGT 60F" devid="X" logid="0101039426" type="event" subtype="vpn" level="alert" ` +
		`action="ssl-login-fail" remip=198.51.100.77 user="dr \"tanaka\"" group= reason="sslvpn_login_unknown_user" proto=17 msg="SSL user failed to logged in"`
	e, err := textDecode(t, "fortigate", Options{Location: time.UTC}, time.Time{}, []byte(raw))
	if err != nil {
		t.Fatalf("Decode(%q) = %v", raw, err)
	}
	got := []any{e.Format, e.Dataset, e.Category, e.Action, e.Outcome, e.User, e.SrcIP.String(), e.Host, e.Severity, e.Facility, e.Protocol, e.Message}
	want := []any{"fortigate", "fortigate.vpn", "authentication", "vpn_login", event.OutcomeFailure, `dr "tanaka"`, "198.51.100.77", "FGT 60F", uint8(1), uint8(23), "udp", "SSL user failed to logged in"}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("Decode(%q): field %d = %v, want %v", raw, i, got[i], want[i])
		}
	}
	for k, v := range map[string]string{"fortigate.group": "", "fortigate.reason": "sslvpn_login_unknown_user", "fortigate.user": `dr "tanaka"`} {
		if got, ok := e.Get(event.K(k)); !ok || got != v {
			t.Errorf("Decode(%q): %s = %q, %v; want %q", raw, k, got, ok, v)
		}
	}
}

func TestFortiGateErrors(t *testing.T) {
	tests := []struct {
		raw    string
		reason Reason
	}{
		{`date=2024-05-01 time=10:20:30 devname="F" logid="1" msg="open`, ReasonSyntax},
		{`date=2024-05-01 time=10:20:30 devname="F" logid="1" msg="a"b`, ReasonSyntax},
		{`date=2024-05-01 time=10:20:30 devname="F" logid="1" junk`, ReasonSyntax},
		{`date=2024-02-30 time=10:20:30 devname="F" logid="1"`, ReasonTimestamp},
		{`date=2024-05-01 time=10:20 devname="F" logid="1"`, ReasonTimestamp},
		{`devname="F" logid="1" type="traffic"`, ReasonTimestamp}, // no time at all, none of arrival
		{`May  1 10:20:30 h sshd[1]: Accepted password for a from 192.0.2.1 port 1 ssh2`, ReasonSyntax},
	}
	for _, tt := range tests {
		_, err := textDecode(t, "fortigate", Options{}, time.Time{}, []byte(tt.raw))
		if got := ReasonOf(err); got != tt.reason {
			t.Errorf("Decode(%q) = %v, want reason %s", tt.raw, err, tt.reason)
		}
	}
}

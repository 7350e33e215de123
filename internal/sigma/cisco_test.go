package sigma

import (
	"os"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
)

// SigmaHQ's Cisco rules reach Cisco events: the IOS configuration command of issue 19, as a
// syslog server writes it to a file, decoded as a listener decodes it, fires "Cisco Dot1x
// Disabled", "clear logging" fires "Cisco Clear Logs", and an ordinary command fires nothing.
func TestSigmaHQCisco(t *testing.T) {
	dir := sigmaData(t)
	rs, rep, err := Load(os.DirFS(dir), Options{}, "rules/network/cisco")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failed) > 0 || rep.Compiled == 0 || len(rep.NoSource) > 0 {
		t.Fatalf("Load(rules/network/cisco) = %d compiled, failed %v, no source %v", rep.Compiled, rep.Failed, rep.NoSource)
	}
	dec, err := decode.New("syslog", decode.Options{Location: time.UTC, Year: 2024})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		raw  string
		want string // rule ID, or "" for none
	}{
		{"172.16.5.10 6705: Feb 17 13:40:03.673: %PARSER-5-CFGLOG_LOGGEDCMD: User:admin  logged command:no access-session port-control",
			"ef0ff092-a24a-4fbc-beea-06c08d53e085"},
		{"<189>May  1 01:31:00 rtr01 92: May  1 01:31:00.000 UTC: %PARSER-5-CFGLOG_LOGGEDCMD: User:netadmin  logged command:clear logging",
			"ceb407f6-8277-439b-951f-e4210e3ed956"},
		{"172.16.5.10 6706: Feb 17 13:41:00.000: %PARSER-5-CFGLOG_LOGGEDCMD: User:admin  logged command:interface GigabitEthernet1/0/1", ""},
	} {
		e := &event.Event{Raw: []byte(tt.raw), Received: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)}
		if err := dec.Decode(e); err != nil {
			t.Fatalf("Decode(%q) = %v", tt.raw, err)
		}
		got := rs.NewMatcher().Match(e, nil)
		switch {
		case tt.want == "" && len(got) != 0:
			t.Errorf("Match(%q) = %s, want none", tt.raw, got[0].Rule.ID)
		case tt.want != "" && (len(got) != 1 || got[0].Rule.ID != tt.want):
			t.Errorf("Match(%q) = %v, want rule %s", tt.raw, got, tt.want)
		}
	}
}

package sigma

import (
	"testing"

	"github.com/omamori-project/omamori/internal/event"
)

// TestChannelCaseInsensitive checks that a Windows event meets the rules of its channel
// whatever the case the forwarder wrote the channel and provider in: Windows compares them
// without case, and NXLog relays and some WEF collectors write "security". The rule is
// SigmaHQ's Security Eventlog Cleared (service: security, EventID 1102).
func TestChannelCaseInsensitive(t *testing.T) {
	rs := oneRule(t, "d99b79d2-0a6f-4f46-ad8b-260b6e17f982")
	tests := []struct {
		channel, provider string
		want              bool
	}{
		{"Security", "Microsoft-Windows-Eventlog", true},
		{"security", "Microsoft-Windows-Eventlog", true},
		{"SECURITY", "microsoft-windows-eventlog", true},
		{"sEcUrItY", "MICROSOFT-WINDOWS-EVENTLOG", true},
		{"System", "Microsoft-Windows-Eventlog", false}, // another channel: the rule is not for it
		{"securityx", "Microsoft-Windows-Eventlog", false},
	}
	for _, tt := range tests {
		e := &event.Event{Dataset: "windows.security", Fields: []event.Field{
			{Key: event.K("winlog.event_id"), Value: "1102"},
			{Key: event.K("winlog.channel"), Value: tt.channel},
			{Key: event.K("winlog.provider_name"), Value: tt.provider},
			{Key: event.K("winlog.user_data.SubjectUserName"), Value: "dadmin"},
		}}
		var titles []string
		for _, m := range rs.NewMatcher().Match(e, nil) {
			titles = append(titles, m.Rule.Title)
		}
		if got := len(titles) == 1 && titles[0] == "Security Eventlog Cleared"; got != tt.want {
			t.Errorf("Match(channel %q, provider %q) = %v, want Security Eventlog Cleared: %v", tt.channel, tt.provider, titles, tt.want)
		}
	}
}

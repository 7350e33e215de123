package sigma

import (
	"testing"

	"github.com/omamori-project/omamori/internal/event"
)

func TestCovers(t *testing.T) {
	rs := oneRule(t, "d99b79d2-0a6f-4f46-ad8b-260b6e17f982") // Security Eventlog Cleared
	reaches := DefaultMapping().LogSources()
	win := func(channel, id string) *event.Event {
		return &event.Event{Dataset: "windows", Fields: []event.Field{
			{Key: event.K("winlog.channel"), Value: channel}, {Key: event.K("winlog.event_id"), Value: id}}}
	}
	tests := []struct {
		name          string
		e             *event.Event
		covers, reach bool
	}{
		{"the rule's channel and ID", win("Security", "1102"), true, true},
		{"the rule's channel in lower case", win("security", "1102"), true, true},
		{"the rule's channel, another ID: the log source is the channel", win("Security", "4624"), true, true},
		{"another channel", win("System", "104"), false, true},
		{"a channel no service reads", win("Contoso-App/Admin", "1"), false, false},
		{"generic JSON holding Windows names", &event.Event{Dataset: "json", Fields: []event.Field{
			{Key: event.K("EventID"), Value: "1102"}, {Key: event.K("Channel"), Value: "Security"}}}, false, false},
		{"sshd", &event.Event{Dataset: "sshd"}, false, true},
		{"zeek, a dataset with a service", &event.Event{Dataset: "zeek.conn"}, false, true},
	}
	for _, tt := range tests {
		if got := rs.Covers(tt.e); got != tt.covers {
			t.Errorf("Covers(%s) = %v, want %v", tt.name, got, tt.covers)
		}
		if got := reaches(tt.e); got != tt.reach {
			t.Errorf("LogSources()(%s) = %v, want %v", tt.name, got, tt.reach)
		}
	}
}

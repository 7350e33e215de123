package sigma

import (
	"strings"

	"github.com/omamori-project/omamori/internal/event"
)

// Covers reports whether e meets the log source of at least one rule of rs: a Windows event
// of a channel (and event ID) some rule reads, or an event of a dataset some rule reads. An
// event no rule covers can never match, whatever it holds; a file or source of only such
// events is one whose zero alerts mean nothing, and omamori says so.
func (rs *Ruleset) Covers(e *event.Event) bool {
	b := rs.bucket(e)
	return b != nil && len(b.variants) > 0
}

// LogSources returns a test of whether an event is of a kind some Sigma log source under m
// means — a Windows event of a channel one of its services reads, or an event of one of its
// datasets — whatever rules are loaded: for `omamori decode`, which loads none.
func (m *Mapping) LogSources() func(*event.Event) bool {
	channels := map[string]bool{}
	for _, chs := range m.Windows.Services {
		for _, ch := range chs {
			channels[strings.ToLower(ch)] = true
		}
	}
	datasets := map[string]bool{}
	var prefixes []string // of datasets with a {service}: "zeek."
	for _, s := range m.Sources {
		for _, d := range s.Datasets {
			if p, _, ok := strings.Cut(d, "{service}"); ok {
				prefixes = append(prefixes, p)
			} else {
				datasets[d] = true
			}
		}
	}
	return func(e *event.Event) bool {
		if ch, ok := e.Get(keyChannel); ok {
			return channels[strings.ToLower(ch)]
		}
		if _, ok := e.Get(keyEventID); ok {
			return false // a Windows event without a channel: no service reads it
		}
		if datasets[e.Dataset] {
			return true
		}
		for _, p := range prefixes {
			if strings.HasPrefix(e.Dataset, p) {
				return true
			}
		}
		return false
	}
}

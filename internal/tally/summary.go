package tally

import (
	"cmp"
	"slices"
	"time"

	"github.com/omamori-project/omamori/internal/store"
)

// SilentAfter is how long a source may send nothing before it is shown as silent. Firewalls,
// VPN appliances and domain controllers log every minute of the day; an hour without a line
// from one means it stopped sending (or its logs stopped arriving), which is when an
// attacker who has turned off logging wants nobody to look.
const SilentAfter = time.Hour

// Hour is what arrived in one hour.
type Hour struct {
	Start       time.Time
	Events      int64
	DeadLetters int64
}

// Source is the health of one source over the summarised hours.
type Source struct {
	Name        string
	Datasets    []string // the kinds of log it sent, sorted
	Events      int64
	DeadLetters int64
	LastSeen    time.Time
	Silent      bool // nothing for SilentAfter
}

// Summary is what arrived in a tenant over the last hours.
type Summary struct {
	Hours       []Hour // one per hour, oldest first, the current hour last
	Sources     []Source
	Events      int64
	DeadLetters int64
}

// Summarize sums counts (a Scope's IngestCounts) into the hours hours up to now, hour by
// hour and source by source. Counts outside those hours are left out.
func Summarize(counts []store.IngestCount, now time.Time, hours int) Summary {
	now = now.UTC()
	last := now.Truncate(time.Hour)
	first := last.Add(-time.Duration(hours-1) * time.Hour)
	s := Summary{Hours: make([]Hour, hours)}
	for i := range s.Hours {
		s.Hours[i].Start = first.Add(time.Duration(i) * time.Hour)
	}
	bySource := map[string]*Source{}
	for _, c := range counts {
		if c.Hour.Before(first) || c.Hour.After(last) {
			continue
		}
		h := &s.Hours[int(c.Hour.Sub(first)/time.Hour)]
		h.Events += c.Events
		h.DeadLetters += c.DeadLetters
		s.Events += c.Events
		s.DeadLetters += c.DeadLetters
		src := bySource[c.Source]
		if src == nil {
			src = &Source{Name: c.Source}
			bySource[c.Source] = src
		}
		src.Events += c.Events
		src.DeadLetters += c.DeadLetters
		if c.LastSeen.After(src.LastSeen) {
			src.LastSeen = c.LastSeen
		}
		if c.Dataset != "" && !slices.Contains(src.Datasets, c.Dataset) {
			src.Datasets = append(src.Datasets, c.Dataset)
		}
	}
	for _, src := range bySource {
		slices.Sort(src.Datasets)
		src.Silent = now.Sub(src.LastSeen) > SilentAfter
		s.Sources = append(s.Sources, *src)
	}
	// The silent first, then those with dead letters, then by name: what needs a look on top.
	slices.SortFunc(s.Sources, func(a, b Source) int {
		return cmp.Or(-cmp.Compare(btoi(a.Silent), btoi(b.Silent)), -cmp.Compare(btoi(a.DeadLetters > 0), btoi(b.DeadLetters > 0)),
			cmp.Compare(a.Name, b.Name))
	})
	return s
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

package web

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"time"

	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/severity"
)

// levels are the alert levels, most severe first.
var levels = func() []severity.Level {
	l := severity.All()
	slices.Reverse(l)
	return l
}()

// tenantAlerts returns the tenant's alerts, newest first. It reads the whole ALERTS stream:
// simple and right while a hospital's alerts number in the thousands; the alert store that
// incidents need (issue 7's later pages) will replace it with an indexed query.
func (s *Server) tenantAlerts(ctx context.Context, tenant string) ([]detect.Alert, error) {
	if s.opt.Alerts == nil {
		return nil, nil
	}
	var out []detect.Alert
	err := s.opt.Alerts.ReadAlerts(ctx, func(m bus.Msg) error {
		if m.Tenant != tenant {
			return nil
		}
		a, err := detect.ParseAlert(m) // the subject and the body must agree, or it is not shown
		if err != nil {
			s.log.Warn("unreadable alert on the bus", "seq", m.Seq, "err", err)
			return nil
		}
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	slices.SortStableFunc(out, func(a, b detect.Alert) int { return b.Last.Compare(a.Last) })
	return out, nil
}

// ArchiveQuery is the archive search for what a's source address did over the days of the
// alert ("?ip=…&from=…&to=…"), or "" when the alert names no address: the analyst's next look.
func (p *page) ArchiveQuery(a detect.Alert) string {
	ip, err := netip.ParseAddr(a.Entities.Source)
	if err != nil {
		return ""
	}
	day := func(t time.Time) string { return t.In(p.L.loc).Format(time.DateOnly) }
	return "?" + url.Values{"ip": {ip.String()}, "from": {day(a.First)}, "to": {day(a.Last)}}.Encode()
}

// levelCount is one bar of the dashboard.
type levelCount struct {
	Level severity.Level
	Count int
	Pct   int // of the largest count, for the bar
}

type alertSummary struct {
	Total   int
	Last24h int
	ByLevel []levelCount
	Hourly  []hourCount // the last 24 hours, oldest first
	Latest  []detect.Alert
}

// hourCount is one hour of a chart: alerts whose last event fell in it, or what arrived.
type hourCount struct {
	Start     time.Time
	Count     int
	Dead      int     // dead letters, on the chart of what arrived
	Height, Y int     // of its bar, in a 100-high chart
	X, Width  float64 // its bar's left edge and width, in a 96-wide chart
}

func summarise(as []detect.Alert, now time.Time) alertSummary {
	sum := alertSummary{Total: len(as)}
	counts := map[severity.Level]int{}
	for _, a := range as {
		counts[a.Level]++
		if now.Sub(a.Last) <= 24*time.Hour {
			sum.Last24h++
		}
	}
	top := 1
	for _, n := range counts {
		top = max(top, n)
	}
	for _, l := range levels {
		sum.ByLevel = append(sum.ByLevel, levelCount{l, counts[l], counts[l] * 100 / top})
	}
	sum.Latest = as[:min(len(as), 10)]
	sum.Hourly = hourly(as, now)
	return sum
}

// hourly counts the alerts of each of the 24 hours before now.
func hourly(as []detect.Alert, now time.Time) []hourCount {
	end := now.Truncate(time.Hour).Add(time.Hour)
	hours := make([]hourCount, 24)
	for i := range hours {
		hours[i].Start = end.Add(time.Duration(i-24) * time.Hour)
	}
	for _, a := range as {
		d := end.Sub(a.Last) // in (0, 1h] for the current hour
		if i := 24 - int((d+time.Hour-1)/time.Hour); d > 0 && i >= 0 {
			hours[i].Count++
		}
	}
	scaleBars(hours)
	return hours
}

// scaleBars sizes the bars of a chart to its highest count and spreads them over its width,
// with a gap of a quarter bar between them.
func scaleBars(hours []hourCount) {
	top := 1
	for _, h := range hours {
		top = max(top, h.Count)
	}
	step := 96 / float64(max(len(hours), 1))
	for i := range hours {
		hours[i].X, hours[i].Width = float64(i)*step, step*3/4
		hours[i].Height = hours[i].Count * 100 / top
		hours[i].Y = 100 - hours[i].Height
	}
}

package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/deadletter"
	"github.com/omamori-project/omamori/internal/tally"
)

// The health of ingest, on the dashboard and the sources page: what arrived from each
// source hour by hour (package tally's counts), which sources fell silent, and what went to
// the dead letters and why. A silent firewall is the first thing a hospital's manager should
// see: the logs the law asks the hospital to keep are not arriving.

// Listener is an entry point of a tenant's logs, as the sources page lists it.
type Listener struct {
	Name     string
	Protocol string // udp, tcp, tls, https
	Listen   string // address and port
	Format   string
	Tenant   string // empty: every tenant's (the HTTP API)
}

// DeadLetters is where the sources page reads a tenant's latest dead letters; *bus.Bus has
// it. ReadDeadLetters calls fn with every dead-letter batch of every tenant, oldest first.
type DeadLetters interface {
	ReadDeadLetters(ctx context.Context, fn func(bus.Msg) error) error
}

const (
	sourcesHours      = 7 * 24 // the sources page looks back a week, so a source silent for days is still listed
	deadLettersShown  = 50
	deadLetterRawShow = 300 // bytes of a dead letter's raw record shown
)

type ingestView struct {
	Events, DeadLetters int64
	Hours               []hourCount
	Sources             []tally.Source
	Silent              int // sources that fell silent
}

// ingest summarises what arrived in tenant over the hours up to now.
func (s *Server) ingest(ctx context.Context, tenant string, now time.Time, hours int) (ingestView, error) {
	counts, err := s.opt.Store.Tenant(tenant).IngestCounts(ctx, now.Add(-time.Duration(hours)*time.Hour))
	if err != nil {
		return ingestView{}, err
	}
	sum := tally.Summarize(counts, now, hours)
	v := ingestView{Events: sum.Events, DeadLetters: sum.DeadLetters, Sources: sum.Sources}
	for _, src := range sum.Sources {
		if src.Silent {
			v.Silent++
		}
	}
	for _, h := range sum.Hours {
		v.Hours = append(v.Hours, hourCount{Start: h.Start, Count: int(h.Events), Dead: int(h.DeadLetters)})
	}
	scaleBars(v.Hours)
	return v, nil
}

type deadLetterRow struct {
	Time                   time.Time
	Source, Format, Reason string
	Detail                 string
	Raw                    string // its start, as text
}

type sourcesData struct {
	ingestView
	Listeners   []Listener
	ShowDead    bool // the person may read raw records, and the dead letters can be read
	DeadRows    []deadLetterRow
	DeadShown   int
	SilentAfter time.Duration
}

func (s *Server) sources(w http.ResponseWriter, r *http.Request, p *page) error {
	ctx := r.Context()
	v, err := s.ingest(ctx, p.Tenant, time.Now(), sourcesHours)
	if err != nil {
		return err
	}
	d := sourcesData{ingestView: v, SilentAfter: tally.SilentAfter, DeadShown: deadLettersShown}
	if s.opt.Listeners != nil {
		for _, l := range s.opt.Listeners() {
			if l.Tenant == p.Tenant || l.Tenant == "" {
				d.Listeners = append(d.Listeners, l)
			}
		}
	}
	// A record no decoder understood may hold anything, a patient's name among it: reading
	// it is a search of the logs.
	if d.ShowDead = s.opt.DeadLetters != nil && p.Can(string(auth.ActionSearchEvents)); d.ShowDead {
		if d.DeadRows, err = s.latestDeadLetters(ctx, p.Tenant, deadLettersShown); err != nil {
			return err
		}
	}
	p.Nav, p.Data = "sources", d
	s.render(w, r, http.StatusOK, "sources", p)
	return nil
}

// latestDeadLetters returns the tenant's last n dead letters, newest first. Like the alerts,
// it reads the whole stream, which the bus's limits keep bounded.
func (s *Server) latestDeadLetters(ctx context.Context, tenant string, n int) ([]deadLetterRow, error) {
	var recs []deadletter.Record // the latest n, and at most n before them
	err := s.opt.DeadLetters.ReadDeadLetters(ctx, func(m bus.Msg) error {
		if m.Tenant != tenant {
			return nil
		}
		// The records share m.Data, which is ours to keep.
		err := deadletter.DecodeBatch(m.Data, func(rec *deadletter.Record) error {
			if rec.Tenant == tenant {
				if len(recs) == 2*n {
					recs = append(recs[:0], recs[n:]...)
				}
				recs = append(recs, *rec)
			}
			return nil
		})
		if err != nil {
			s.log.Warn("unreadable dead-letter batch on the bus", "seq", m.Seq, "err", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	recs = recs[max(0, len(recs)-n):]
	out := make([]deadLetterRow, 0, len(recs))
	for _, rec := range slices.Backward(recs) {
		out = append(out, deadLetterRow{Time: rec.Time, Source: rec.Source, Format: rec.Format, Reason: string(rec.Reason),
			Detail: rec.Detail, Raw: printable(rec.Raw, deadLetterRawShow)})
	}
	return out, nil
}

// printable returns the start of raw as text, at most max bytes, with what is not printable
// UTF-8 (the control byte that got the record refused, say) shown as \xNN.
func printable(raw []byte, max int) string {
	var b []byte
	i := 0
	for i < len(raw) && len(b) < max {
		r, size := utf8.DecodeRune(raw[i:])
		if (r == utf8.RuneError && size <= 1) || r < 0x20 || r == 0x7f {
			b = fmt.Appendf(b, `\x%02x`, raw[i])
		} else {
			b = append(b, raw[i:i+size]...)
		}
		i += size
	}
	if i < len(raw) {
		b = append(b, "…"...)
	}
	return string(b)
}

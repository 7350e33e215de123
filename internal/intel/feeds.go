package intel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// LoadFile reads the indicators of one file, telling its format from its content: a STIX
// 2.1 bundle (JSON with "type"), MISP JSON (an "Event", "response" or "Attribute"), or else a
// plain list (see LoadList). The file's base name is the source of its indicators.
func LoadFile(path string) ([]Indicator, []Rejected, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load intel: %w", err)
	}
	source := filepath.Base(path)
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		var probe map[string]json.RawMessage
		if trimmed[0] == '{' {
			if err := json.Unmarshal(trimmed, &probe); err != nil {
				return nil, nil, fmt.Errorf("load intel %s: %w", path, err)
			}
		}
		if _, ok := probe["type"]; ok {
			return LoadSTIX(bytes.NewReader(trimmed), source)
		}
		return LoadMISP(bytes.NewReader(trimmed), source)
	}
	return LoadList(bytes.NewReader(data), source)
}

// TAXIIFeed is one TAXII collection to poll.
type TAXIIFeed struct {
	Name       string // the source of its indicators; default: the collection id
	Client     *TAXIIClient
	APIRoot    string
	Collection string
}

// Feeds keeps the indicators of a node's feeds — files re-read at each refresh, TAXII
// collections polled for what was added since the last poll — and builds a Set from all of
// them. Refresh is not safe for concurrent use; Run calls it on a schedule.
type Feeds struct {
	Files []string
	TAXII []TAXIIFeed
	Allow *Allowlist
	Log   *slog.Logger

	mu    sync.Mutex
	files map[string][]Indicator // by path: the last good load
	taxii map[string]*taxiiState // by feed name
}

// taxiiState is what earlier polls of a collection gave: the indicators by STIX id, so a
// newer version of an indicator replaces the old one and a revoked one goes.
type taxiiState struct {
	last time.Time
	byID map[string][]Indicator
}

// Refresh reads the files, polls the TAXII collections, and builds a Set from everything,
// leaving out indicators expired at now. A feed that fails keeps what it had
// from its last good load; its error is returned joined with the others beside the Set, so a
// feed being down never empties the node's intelligence. Rejected inputs are logged, counted
// by reason, per feed.
func (f *Feeds) Refresh(ctx context.Context, now time.Time) (*Set, Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	log := f.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if f.taxii == nil {
		f.files, f.taxii = make(map[string][]Indicator), make(map[string]*taxiiState)
	}
	var (
		all  []Indicator
		errs []error
	)
	for _, path := range f.Files {
		inds, rej, err := LoadFile(path)
		if err != nil {
			errs = append(errs, err)
			log.Warn("intel feed not loaded; keeping what it had", "file", path, "err", err)
		} else {
			f.files[path] = inds
			logRejected(log, "file", path, len(inds), rej)
		}
		all = append(all, f.files[path]...)
	}
	for _, tf := range f.TAXII {
		name := tf.Name
		if name == "" {
			name = tf.Collection
		}
		st := f.taxii[name]
		if st == nil {
			st = &taxiiState{byID: make(map[string][]Indicator)}
			f.taxii[name] = st
		}
		inds, rej, last, err := tf.Client.Poll(ctx, tf.APIRoot, tf.Collection, name, st.last)
		if err != nil {
			errs = append(errs, fmt.Errorf("poll taxii feed %s: %w", name, err))
			log.Warn("intel feed not polled; keeping what it had", "taxii", name, "err", err)
		} else {
			applyTAXII(st, inds, rej)
			st.last = last
			logRejected(log, "taxii", name, len(inds), rej)
		}
		for _, v := range st.byID {
			all = append(all, v...)
		}
	}
	s, r := NewSet(all, SetOptions{Allow: f.Allow, Now: now})
	for _, a := range r.Allowlisted {
		log.Info("intel indicator on a warning list: never alerts", "indicator", a.Indicator.String(),
			"id", a.Indicator.ID, "source", a.Indicator.Source, "list", a.List)
	}
	log.Info("intel set built", "indicators", r.Indexed, "allowlisted", len(r.Allowlisted),
		"expired", r.Expired, "duplicates", r.Duplicates)
	return s, r, errors.Join(errs...)
}

// applyTAXII folds one poll into st: the terms of an indicator replace those of its earlier
// version; a revoked one removes it.
func applyTAXII(st *taxiiState, inds []Indicator, rej []Rejected) {
	fresh := make(map[string][]Indicator)
	for _, in := range inds {
		fresh[in.ID] = append(fresh[in.ID], in)
	}
	for id, v := range fresh {
		st.byID[id] = v
	}
	for _, r := range rej {
		if r.Reason == ReasonRevoked {
			delete(st.byID, r.ID)
		}
	}
}

func logRejected(log *slog.Logger, kind, name string, n int, rej []Rejected) {
	counts := CountReasons(rej)
	log.Info("intel feed loaded", kind, name, "indicators", n, "rejected", len(rej),
		"unsupported", counts[ReasonUnsupported], "invalid", counts[ReasonInvalid],
		"revoked", counts[ReasonRevoked], "context", counts[ReasonContext])
	for _, r := range rej {
		if r.Reason == ReasonUnsupported || r.Reason == ReasonInvalid {
			log.Debug("intel input not used", kind, name, "id", r.ID, "reason", r.Reason.String(), "detail", r.Detail)
		}
	}
}

// Run refreshes every interval until ctx ends, handing each new Set to publish (which swaps
// it in, typically atomic.Pointer[Set].Store). The first refresh is immediate. Errors of
// single feeds are logged by Refresh and do not stop it.
func (f *Feeds) Run(ctx context.Context, every time.Duration, publish func(*Set)) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s, _, _ := f.Refresh(ctx, time.Now())
		publish(s)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

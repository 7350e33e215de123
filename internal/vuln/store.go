package vuln

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/omamori-project/omamori/internal/asset"
	"github.com/omamori-project/omamori/internal/store"
)

// Keep stores recs, replacing what each source said before about the same CVE, and returns
// how many were new.
func Keep(ctx context.Context, st *store.Store, recs []Record) (added int, err error) {
	rows := make([]store.VulnRecord, 0, len(recs))
	for _, r := range recs {
		body, err := json.Marshal(r)
		if err != nil {
			return 0, fmt.Errorf("keep %s from %s: %w", r.CVE, r.Key(), err)
		}
		rows = append(rows, store.VulnRecord{CVE: r.CVE, Source: r.Key(), Modified: r.Modified, Body: body})
	}
	return st.PutVulnRecords(ctx, rows)
}

// Load reads every kept record into a catalogue.
func Load(ctx context.Context, st *store.Store) (*Catalog, error) {
	rows, err := st.VulnRecords(ctx)
	if err != nil {
		return nil, err
	}
	recs := make([]Record, 0, len(rows))
	for _, row := range rows {
		var r Record
		if err := json.Unmarshal(row.Body, &r); err != nil {
			return nil, fmt.Errorf("load vulnerability %s from %s: %w", row.CVE, row.Source, err)
		}
		recs = append(recs, r)
	}
	return NewCatalog(recs), nil
}

// Assessment is what Assess found and changed.
type Assessment struct {
	Findings  []Finding   // every current finding, highest risk first
	Unmatched []Unmatched // assets with a product whose findings cannot be known
	Opened    int         // findings new, or back after having been patched
	Patched   int         // findings that no longer match
}

// Assess matches inv against cat and records the result as the tenant's findings: new ones
// open; those of an assessed asset that no longer match are patched, saying what the asset
// runs now. Only assets with a product and a version are assessed, so an inventory entry
// that lost its version does not close its findings.
func Assess(ctx context.Context, sc store.Scope, actor string, cat *Catalog, inv *asset.Inventory) (Assessment, error) {
	found, unmatched := cat.Match(inv)
	a := Assessment{Findings: found, Unmatched: unmatched}
	products := map[string]string{}
	var assessed []string
	for _, as := range inv.All() {
		p, ok, err := ProductOf(as)
		if err != nil || !ok {
			continue
		}
		if _, err := ParseVersion(p.Version); err != nil {
			continue
		}
		addr := prefixString(as)
		assessed = append(assessed, addr)
		products[addr] = p.String()
	}
	rows := make([]store.Finding, 0, len(found))
	for _, f := range found {
		body, err := json.Marshal(f)
		if err != nil {
			return a, fmt.Errorf("assess: %w", err)
		}
		rows = append(rows, store.Finding{Asset: f.Asset, CVE: f.CVE, Risk: f.Risk, Body: body})
	}
	gone := func(f store.Finding) string {
		if _, known := cat.Get(f.CVE); !known {
			return "no longer in the vulnerability data"
		}
		return "no longer matches: the asset runs " + products[f.Asset]
	}
	var err error
	a.Opened, a.Patched, err = sc.RecordFindings(ctx, actor, assessed, rows, gone)
	if err != nil {
		return a, fmt.Errorf("assess: %w", err)
	}
	return a, nil
}

// Kept is a finding as the store keeps it for a hospital: what matching found, and where
// people have put it.
type Kept struct {
	Finding
	State       store.FindingState `json:"state"`
	StateReason string             `json:"state_reason"`
	StateBy     string             `json:"state_by"`
	StateUntil  *time.Time         `json:"state_until,omitempty"` // an acceptance's expiry
	FirstSeen   time.Time          `json:"first_seen"`
	LastSeen    time.Time          `json:"last_seen"`
}

// Decode reads a kept finding.
func Decode(f store.Finding) (Kept, error) {
	k := Kept{State: f.State, StateReason: f.StateReason, StateBy: f.StateBy, FirstSeen: f.FirstSeen, LastSeen: f.LastSeen}
	if err := json.Unmarshal(f.Body, &k.Finding); err != nil {
		return Kept{}, fmt.Errorf("read finding %s: %w", f.Key(), err)
	}
	if !f.StateUntil.IsZero() {
		until := f.StateUntil
		k.StateUntil = &until
	}
	return k, nil
}

// Findings returns the tenant's kept findings in states (all if none), highest risk first.
func Findings(ctx context.Context, sc store.Scope, states ...store.FindingState) ([]Kept, error) {
	kept, err := sc.Findings(ctx, states...)
	if err != nil {
		return nil, err
	}
	out := make([]Kept, 0, len(kept))
	for _, f := range kept {
		k, err := Decode(f)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

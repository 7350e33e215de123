package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/omamori-project/omamori/internal/access"
	"github.com/omamori-project/omamori/internal/api"
	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/journal"
)

// startAccess sets up the EHR access decisions of every tenant and registers their routes:
// the decision point the EHR calls, and the break-glass review queue.
func (n *Node) startAccess(cfg *config.Config, tenants []string) error {
	policies := access.DefaultPolicies()
	if cfg.Access.Policies != "" {
		var err error
		if policies, err = access.LoadPolicies(cfg.Access.Policies); err != nil {
			return fmt.Errorf("access policies: %w", err)
		}
	}
	var roster access.Entities
	if cfg.Access.Directory != "" {
		var err error
		if roster, err = access.LoadCSV(cfg.Access.Directory, cfg.Location()); err != nil {
			return fmt.Errorf("access directory: %w", err)
		}
	}
	reviews := access.NewStoreQueue(n.Store)
	n.reviews = reviews
	rec := journalRecorder{n.Journal}
	for _, t := range tenants {
		dir := access.NewDirectory()
		if t == cfg.Ingest.DefaultTenant && cfg.Access.Directory != "" {
			if err := dir.Replace(roster); err != nil {
				return fmt.Errorf("access directory: %w", err)
			}
		}
		d, err := access.New(t, access.Options{Policies: policies, Directory: dir, Reviews: reviews,
			ReviewSLA: cfg.Access.ReviewSLA, Recorder: rec, Location: cfg.Location(), Log: n.log})
		if err != nil {
			return fmt.Errorf("access decisions for %s: %w", t, err)
		}
		n.Access.Put(d)
	}
	lookup := func(r *http.Request) (*access.Decider, error) {
		p, ok := auth.FromContext(r.Context())
		if !ok {
			return nil, errors.New("no principal on an authenticated route")
		}
		return n.Access.For(p.Tenant)
	}
	n.API.Handle("POST /api/v1/access/decide", auth.ScopeAccess, access.Handler(lookup, n.log), api.MaxBody(8<<20))
	who := func(r *http.Request) (string, string, error) {
		p, ok := auth.FromContext(r.Context())
		if !ok {
			return "", "", errors.New("no principal on an authenticated route")
		}
		return p.Tenant, "token:" + p.Name, nil
	}
	reviewsH := access.ReviewHandler(reviews, who, time.Now, n.log)
	n.API.Handle("GET /api/v1/access/reviews", auth.ScopeRead, reviewsH)
	n.API.Handle("POST /api/v1/access/reviews/{id}", auth.ScopeAdmin, reviewsH)
	return nil
}

// journalRecorder keeps access decisions in the archive, through the journal.
type journalRecorder struct{ j *journal.Journal }

func (r journalRecorder) RecordDecision(_ context.Context, d *access.Decision) error {
	e, err := d.Event()
	if err != nil {
		return err
	}
	return r.j.Add(&e)
}

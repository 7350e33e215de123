package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/omamori-project/omamori/internal/access"
	"github.com/omamori-project/omamori/internal/api"
	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/httpapi"
	"github.com/omamori-project/omamori/internal/incident"
	"github.com/omamori-project/omamori/internal/journal"
	"github.com/omamori-project/omamori/internal/store"
)

// startAccess sets up the EHR access decisions of every tenant and registers their routes:
// the decision point the EHR calls, and the break-glass review queue.
func (n *Node) startAccess(ctx context.Context, cfg *config.Config, tenants []string) error {
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
	rec := journalRecorder{j: n.Journal, log: n.log, notify: notifier(cfg)}
	// A tenant's decider starts with the directory last sent by API, kept in the store; else,
	// for the default tenant, with the one in the configuration; else empty, which denies
	// every request but break-glass until HR sends its roster (PUT .../directory).
	newDecider := func(ctx context.Context, t string) (*access.Decider, error) {
		d, err := access.New(t, access.Options{Policies: policies, Directory: access.NewDirectory(), Reviews: reviews,
			ReviewSLA: cfg.Access.ReviewSLA, Recorder: rec, Location: cfg.Location(), Log: n.log})
		if err != nil {
			return nil, err
		}
		kept, err := n.Store.Tenant(t).Document(ctx, store.DocAccessDirectory)
		switch {
		case err == nil:
			if err := replaceDirectory(d, kept.Body); err != nil {
				return nil, fmt.Errorf("the access directory kept for %s: %w", t, err)
			}
			n.log.Info("access directory restored", "tenant", t, "sent", kept.Updated)
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		case t == cfg.Ingest.DefaultTenant && cfg.Access.Directory != "":
			if err := d.Directory().Replace(roster); err != nil {
				return nil, fmt.Errorf("access directory: %w", err)
			}
		}
		return d, nil
	}
	for _, t := range tenants {
		d, err := newDecider(ctx, t)
		if err != nil {
			return fmt.Errorf("access decisions for %s: %w", t, err)
		}
		n.Access.Put(d)
	}
	// A hospital added while omamori runs gets its decider on its first request.
	var created sync.Mutex
	lookup := func(r *http.Request) (*access.Decider, error) {
		p, err := tokenPrincipal(r)
		if err != nil {
			return nil, err
		}
		d, err := n.Access.For(p.Tenant)
		if !errors.Is(err, access.ErrNoDecider) {
			return d, err
		}
		created.Lock()
		defer created.Unlock()
		if d, err := n.Access.For(p.Tenant); err == nil {
			return d, nil
		}
		if d, err = newDecider(r.Context(), p.Tenant); err != nil {
			return nil, err
		}
		n.Access.Put(d)
		return d, nil
	}
	n.API.Handle("POST /api/v1/access/decide", auth.ScopeAccess, access.Handler(lookup, n.log), api.MaxBody(8<<20))
	// HR and the EHR keep the roster, assignments, care teams and consultations current by
	// replacing the tenant's directory (the same lists the CSV import reads).
	n.API.Handle("PUT /api/v1/access/directory", auth.ScopeAdmin, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := lookup(r)
		if err != nil {
			httpapi.WriteError(w, http.StatusNotFound, err.Error(), "")
			return
		}
		var e access.Entities
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			httpapi.WriteError(w, http.StatusBadRequest, "the body is not a directory: "+err.Error(),
				"send {\"staff\": [...], \"assignments\": [...], ...} as docs/ehr-access-policy.md describes")
			return
		}
		// Checked whole by a directory of its own first, then kept, then put in force: a
		// directory in force is always one a restart would restore.
		if err := access.NewDirectory().Replace(e); err != nil {
			httpapi.WriteError(w, http.StatusBadRequest, err.Error(), "every staff ID named must be on the roster; fix the lists and send them whole again")
			return
		}
		body, err := json.Marshal(e)
		if err != nil {
			httpapi.WriteError(w, http.StatusInternalServerError, err.Error(), "")
			return
		}
		p, _ := auth.FromContext(r.Context())
		if err := n.Store.Tenant(p.Tenant).PutDocument(r.Context(), p.Actor(), store.DocAccessDirectory, body,
			fmt.Sprintf("%d staff, %d assignments, %d consultations", len(e.Staff), len(e.Assignments), len(e.Consultations))); err != nil {
			n.log.Error("keep the access directory", "tenant", p.Tenant, "err", err)
			httpapi.WriteError(w, http.StatusServiceUnavailable, "the directory could not be kept, so it is not in force", "try again")
			return
		}
		if err := d.Directory().Replace(e); err != nil {
			httpapi.WriteError(w, http.StatusInternalServerError, err.Error(), "")
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]int{"staff": len(e.Staff), "assignments": len(e.Assignments),
			"care_team_members": len(e.CareTeamMembers), "care_team_patients": len(e.CareTeamPatients), "consultations": len(e.Consultations)})
	}), api.MaxBody(64<<20))
	reviewsH := access.ReviewHandler(reviews, tokenActor, time.Now, n.log)
	n.API.Handle("GET /api/v1/access/reviews", auth.ScopeRead, reviewsH)
	n.API.Handle("POST /api/v1/access/reviews/{id}", auth.ScopeAdmin, reviewsH)
	return nil
}

// replaceDirectory puts the directory body (access.Entities as JSON) in force in d.
func replaceDirectory(d *access.Decider, body []byte) error {
	var e access.Entities
	if err := json.Unmarshal(body, &e); err != nil {
		return err
	}
	return d.Directory().Replace(e)
}

// journalRecorder keeps access decisions in the archive, through the journal, and tells the
// privacy officer of each break-glass access (through the incidents' webhook, when set).
type journalRecorder struct {
	j      *journal.Journal
	notify incident.Notifier
	log    *slog.Logger
}

func (r journalRecorder) RecordDecision(ctx context.Context, d *access.Decision) error {
	e, err := d.Event()
	if err != nil {
		return err
	}
	if d.BreakGlass && r.notify != nil {
		n := incident.Notification{Kind: "break-glass", Tier: "privacy-officer", Tenant: d.Tenant, Title: "break-glass access",
			Time: d.Time, Text: fmt.Sprintf("緊急アクセス: %s (%s) が患者 %s の %s を閲覧しました。理由: %s — 確認をお願いします",
				d.Subject.ID, d.Subject.Role, d.Patient, d.Resource.DataType, d.BreakGlassReason)}
		// Not on the EHR's path: the decision is answered while the notice goes out.
		id := d.ID
		go func() {
			if err := r.notify.Notify(context.WithoutCancel(ctx), n); err != nil {
				r.log.Error("privacy officer not told of a break-glass access", "decision", id, "err", err)
			}
		}()
	}
	return r.j.Add(&e)
}

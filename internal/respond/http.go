package respond

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/httpapi"
	"github.com/omamori-project/omamori/internal/store"
)

// HTTP serves decisions as JSON under /api/v1/decisions, for the web UI and the CLI.
// Whether a person may change a decision is the Service's rule (their Person), not the
// route's: a viewer's approval, or a token's extension of an approved decision, reaches the
// Service and is refused there with 403. A request to override a guardrail is refused here.
type HTTP struct {
	Service *Service
	// Principal returns the tenant a request acts for and the person making it (ByToken for an
	// API token, SignedIn for a web UI session), from the authentication the server did. An
	// error answers 401.
	Principal func(r *http.Request) (tenant string, who Person, err error)
	Log       *slog.Logger
}

// Routes returns the routes to mount, each with the scope a token needs for it: read to see
// decisions, respond to change them:
//
//	GET    /api/v1/decisions?status=held,active&target=203.0.113.7&origin=rule&after=0&limit=100
//	GET    /api/v1/decisions/{id}
//	POST   /api/v1/decisions               {"action": "block", "target": "203.0.113.7", "ttl": "4h", "reason": "..."}
//	POST   /api/v1/decisions/{id}/approve  {"note": "..."}
//	POST   /api/v1/decisions/{id}/reject   {"note": "..."}
//	POST   /api/v1/decisions/{id}/extend   {"ttl": "24h", "note": "..."}
//	DELETE /api/v1/decisions/{id}?note=... revoke (or {"note": "..."} in the body)
func (h *HTTP) Routes() []httpapi.Route {
	return []httpapi.Route{
		{Pattern: "GET /api/v1/decisions", Scope: auth.ScopeRead, Handler: h.handle(h.list)},
		{Pattern: "GET /api/v1/decisions/{id}", Scope: auth.ScopeRead, Handler: h.handle(func(r *http.Request, tenant string, _ Person) (any, error) {
			id, err := pathID(r)
			if err != nil {
				return nil, err
			}
			d, err := h.Service.Get(r.Context(), tenant, id)
			if err != nil {
				return nil, err
			}
			return h.view(d), nil
		})},
		{Pattern: "POST /api/v1/decisions", Scope: auth.ScopeRespond, Handler: h.handle(h.add)},
		{Pattern: "POST /api/v1/decisions/{id}/approve", Scope: auth.ScopeRespond, Handler: h.handle(func(r *http.Request, tenant string, who Person) (any, error) {
			return h.change(r, false, func(id int64, in changeRequest) (decision.Decision, error) {
				return h.Service.Approve(r.Context(), tenant, who, id, in.Note)
			})
		})},
		{Pattern: "POST /api/v1/decisions/{id}/reject", Scope: auth.ScopeRespond, Handler: h.handle(func(r *http.Request, tenant string, who Person) (any, error) {
			return h.change(r, true, func(id int64, in changeRequest) (decision.Decision, error) {
				return h.Service.Reject(r.Context(), tenant, who, id, in.Note)
			})
		})},
		{Pattern: "POST /api/v1/decisions/{id}/extend", Scope: auth.ScopeRespond, Handler: h.handle(func(r *http.Request, tenant string, who Person) (any, error) {
			return h.change(r, false, func(id int64, in changeRequest) (decision.Decision, error) {
				ttl, err := parseTTL(in.TTL)
				if err != nil {
					return decision.Decision{}, err
				}
				return h.Service.Extend(r.Context(), tenant, who, id, ttl, in.Note)
			})
		})},
		{Pattern: "DELETE /api/v1/decisions/{id}", Scope: auth.ScopeRespond, Handler: h.handle(func(r *http.Request, tenant string, who Person) (any, error) {
			return h.change(r, true, func(id int64, in changeRequest) (decision.Decision, error) {
				return h.Service.Revoke(r.Context(), tenant, who, id, in.Note)
			})
		})},
	}
}

// DecisionPage is one page of GET /api/v1/decisions. Next, when not zero, is the after= of
// the next page.
type DecisionPage struct {
	Decisions []decision.View `json:"decisions"`
	Next      int64           `json:"next,omitempty"`
}

func (h *HTTP) view(d decision.Decision) decision.View { return d.View(h.Service.now()) }

const (
	defaultPage = 100
	maxPage     = 1000
)

func (h *HTTP) list(r *http.Request, tenant string, _ Person) (any, error) {
	q := r.URL.Query()
	var f store.DecisionFilter
	for _, s := range strings.Split(q.Get("status"), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		switch st := decision.Status(s); st {
		case decision.StatusActive, decision.StatusHeld, decision.StatusRejected, decision.StatusExpired, decision.StatusRevoked:
			f.Status = append(f.Status, st)
		default:
			return nil, httpapi.BadRequest(fmt.Sprintf("status %q is not a decision status", s), "statuses are active, held, rejected, expired, revoked; separate several with commas")
		}
	}
	if t := strings.TrimSpace(q.Get("target")); t != "" {
		// The store matches exactly, so the target is written as the decisions keep it.
		f.Value = canonicalTarget(t)
	}
	// origin is a kind (rule, person, authority), optionally with its name: "rule:behavior.bruteforce".
	var originKind decision.OriginKind
	var originName string
	if o := strings.TrimSpace(q.Get("origin")); o != "" {
		k, name, _ := strings.Cut(o, ":")
		switch decision.OriginKind(k) {
		case decision.OriginRule, decision.OriginPerson, decision.OriginAuthority:
			originKind, originName = decision.OriginKind(k), name
		default:
			return nil, httpapi.BadRequest(fmt.Sprintf("origin %q is not an origin", o), "origin is rule, person or authority, optionally with a name: rule:behavior.bruteforce")
		}
	}
	limit := defaultPage
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPage {
			return nil, httpapi.BadRequest(fmt.Sprintf("limit %q is not a page size", s), fmt.Sprintf("limit is 1 to %d", maxPage))
		}
		limit = n
	}
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return nil, httpapi.BadRequest(fmt.Sprintf("after %q is not a decision ID", s), "after is the next of the previous page")
		}
		f.After = n
	}
	// The store filters by status and target; the origin is filtered here, reading pages of
	// the store until this page is full, so that a page is short only at the end.
	f.Limit = limit
	if originKind != "" {
		f.Limit = max(limit, 500)
	}
	page := DecisionPage{Decisions: []decision.View{}}
	for {
		ds, err := h.Service.List(r.Context(), tenant, f)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			f.After = d.ID
			if originKind != "" && (d.Origin.Kind != originKind || originName != "" && d.Origin.Name != originName) {
				continue
			}
			page.Decisions = append(page.Decisions, h.view(d))
			if len(page.Decisions) == limit {
				page.Next = d.ID
				return page, nil
			}
		}
		if len(ds) < f.Limit {
			return page, nil
		}
	}
}

// canonicalTarget writes a target as the decisions keep it (canonical), reading its scope
// from its form; what is no valid target is only lower-cased, and matches nothing.
func canonicalTarget(t string) string {
	if v, err := canonical(scopeOf(t), t); err == nil {
		return v
	}
	return strings.TrimSuffix(strings.ToLower(t), ".")
}

// AddRequest is the body of POST /api/v1/decisions.
type AddRequest struct {
	Action decision.Action `json:"action"` // block or isolate
	// Scope is ip, range or domain; empty: read from the target.
	Scope  decision.Scope `json:"scope,omitempty"`
	Target string         `json:"target"`
	TTL    string         `json:"ttl"` // a Go duration: "4h", "90m"
	Reason string         `json:"reason"`
	// Authority and Reference record an authority's request (the police, the national CERT)
	// with its reference number; both or neither.
	Authority string `json:"authority,omitempty"`
	Reference string `json:"reference,omitempty"`
	AlertID   string `json:"alert_id,omitempty"`
	// Override asks to decide despite a guardrail, which the API refuses with 403
	// (ErrOverride) from every caller: an approver approves a held decision on the web UI.
	// The field is read so that the refusal says so, rather than holding what was asked.
	Override bool `json:"override,omitempty"`
}

const addExample = `{"action": "block", "target": "203.0.113.7", "ttl": "4h", "reason": "SSH brute force on the VPN"}`

func (h *HTTP) add(r *http.Request, tenant string, who Person) (any, error) {
	var in AddRequest
	if err := httpapi.ReadJSON(r, &in, addExample); err != nil {
		return nil, err
	}
	if in.Target = strings.TrimSpace(in.Target); in.Target == "" {
		return nil, httpapi.BadRequest("a decision needs a target", "target is an address, a network in CIDR form or a domain: "+addExample)
	}
	if in.Action == "" {
		in.Action = decision.ActionBlock
	}
	if in.Scope == "" {
		in.Scope = scopeOf(in.Target)
	}
	if in.Override {
		return nil, fmt.Errorf("%w: the API decides past a guardrail for no caller, API token or person, %s included; without override, a decision a guardrail objects to is held for an approver",
			ErrOverride, who.Name)
	}
	ttl, err := parseTTL(in.TTL)
	if err != nil {
		return nil, err
	}
	d, err := h.Service.Add(r.Context(), tenant, who, Request{Action: in.Action, Scope: in.Scope, Value: in.Target,
		TTL: ttl, Reason: in.Reason, Authority: in.Authority, Reference: in.Reference, AlertID: in.AlertID})
	if err != nil {
		return nil, err
	}
	return created{h.view(d)}, nil
}

// scopeOf guesses a target's scope from its form.
func scopeOf(target string) decision.Scope {
	if _, err := netip.ParseAddr(target); err == nil {
		return decision.ScopeIP
	}
	if _, err := netip.ParsePrefix(target); err == nil {
		return decision.ScopeRange
	}
	return decision.ScopeDomain
}

// changeRequest is the body of approve, reject, extend and revoke.
type changeRequest struct {
	Note string `json:"note"`
	TTL  string `json:"ttl,omitempty"` // extend only
}

// change reads the decision ID and the body (optional for DELETE, which may carry the note
// as ?note=) and applies f. needNote refuses a change without a note: rejecting or revoking
// a decision is explained for the record.
func (h *HTTP) change(r *http.Request, needNote bool, f func(id int64, in changeRequest) (decision.Decision, error)) (any, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	var in changeRequest
	if err := httpapi.ReadOptionalJSON(r, &in, `{"note": "confirmed with the ward: not the ventilator's traffic"}`); err != nil {
		return nil, err
	}
	if in.Note == "" {
		in.Note = r.URL.Query().Get("note")
	}
	in.Note = strings.TrimSpace(in.Note)
	if needNote && in.Note == "" {
		return nil, httpapi.BadRequest("a note is needed: say why, for the record", `send {"note": "..."} (or ?note=... on DELETE)`)
	}
	d, err := f(id, in)
	if err != nil {
		return nil, err
	}
	return h.view(d), nil
}

func parseTTL(s string) (time.Duration, error) {
	if s == "" {
		return 0, httpapi.BadRequest("a duration is needed", `ttl is a Go duration such as "4h" or "90m"`)
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, httpapi.BadRequest(fmt.Sprintf("ttl %q is not a positive duration", s), `write it as "4h" or "90m"; days as hours, "168h" for a week`)
	}
	return d, nil
}

func pathID(r *http.Request) (int64, error) {
	s := r.PathValue("id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, httpapi.BadRequest(fmt.Sprintf("decision ID %q is not a number", s), "GET /api/v1/decisions lists the decisions with their IDs")
	}
	return id, nil
}

// created marks a value answered with 201.
type created struct{ v any }

func (h *HTTP) handle(f func(r *http.Request, tenant string, who Person) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenant, who, err := h.Principal(r)
		if err != nil {
			httpapi.WriteError(w, http.StatusUnauthorized, "not signed in", "send an API token with scope respond, or sign in to the web UI")
			return
		}
		v, err := f(r, tenant, who)
		if err == nil {
			status := http.StatusOK
			if c, ok := v.(created); ok {
				status, v = http.StatusCreated, c.v
			}
			httpapi.WriteJSON(w, status, v)
			return
		}
		var refused *httpapi.Error
		switch {
		case errors.As(err, &refused):
			refused.Write(w)
		case errors.Is(err, ErrInvalid):
			httpapi.WriteError(w, http.StatusBadRequest, err.Error(), "an action is block or isolate (isolate only an address); a target an address, a CIDR network or a domain; a reason is required; an authority's request needs its reference number")
		case errors.Is(err, ErrOverride):
			httpapi.WriteError(w, http.StatusForbidden, err.Error(), "send the decision without override: a guardrail holds it, and an approver decides on the web UI's decisions page, signed in with a second factor")
		case errors.Is(err, ErrNotAllowed):
			httpapi.WriteError(w, http.StatusForbidden, err.Error(), "a viewer only sees decisions; a responder adds, extends and revokes them; approving or rejecting a held one needs an approver")
		case errors.Is(err, ErrState):
			httpapi.WriteError(w, http.StatusConflict, err.Error(), "GET /api/v1/decisions/{id} shows its status: only held decisions are approved or rejected, active ones extended, active or held ones revoked")
		case errors.Is(err, store.ErrNotFound):
			httpapi.WriteError(w, http.StatusNotFound, "no such decision", "GET /api/v1/decisions lists this hospital's decisions")
		case errors.Is(err, store.ErrConflict):
			httpapi.WriteError(w, http.StatusConflict, "the decision changed meanwhile", "read it again and retry")
		default:
			// The details stay in the log: the client learns only that it failed.
			if h.Log != nil {
				h.Log.Error("decision request", "component", "respond", "method", r.Method, "path", r.URL.Path, "tenant", tenant, "err", err)
			}
			httpapi.WriteError(w, http.StatusInternalServerError, "internal error", "the server log has the details")
		}
	})
}

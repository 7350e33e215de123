// Package crowdsec serves omamori's decisions over the CrowdSec Local API's bouncer protocol,
// so that the existing CrowdSec bouncers — firewalls, nginx and HAProxy modules, cloud WAFs —
// enforce them unchanged. It sits at the end of the response path, beside the nftables
// enforcer: respond writes decisions to the store, and each bouncer pulls them from here.
//
// It speaks the LAPI v1 bouncer endpoints:
//
//	GET /v1/decisions/stream?startup=true|false   what is new and deleted since this bouncer's last pull
//	GET /v1/decisions?ip=&range=&scope=&value=&type=&contains=   the live decisions matching
//
// with the X-Api-Key header naming the bouncer, and the JSON of CrowdSec's models.Decision.
// Bouncers only read: no route here makes or changes a decision (the watchers' endpoints,
// POST /v1/alerts among them, are not served), so everything a bouncer enforces went through
// package respond's guardrails, and only what is live reaches it — never a held decision.
// Each bouncer key belongs to one tenant, and a bouncer sees only that tenant's decisions.
// A bouncer's position in the decision change log is kept in the store, so a restart of
// omamori loses no deletion. Blocks and isolations of addresses and ranges are served, as
// type "ban" with scope "Ip" or "Range"; domain decisions, which no bouncer of this protocol
// enforces, and dry-run decisions (CrowdSec's "simulated") are not.
package crowdsec

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gaissmai/bart"
	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/store"
)

// Bouncer is who a bouncer key belongs to.
type Bouncer struct {
	Tenant string
	Name   string // unique within the tenant, such as "gw-tokyo-nftables"; its position is kept under this name
}

// Keys verifies bouncer API keys. It must be safe for concurrent use.
type Keys interface {
	// Bouncer returns the bouncer that key belongs to, or false.
	Bouncer(ctx context.Context, key string) (Bouncer, bool)
}

// StaticKeys are bouncer keys from the configuration. Keys are held only as SHA-256 hashes,
// and looked up by hash, so the lookup's timing says nothing about a key's characters.
type StaticKeys struct {
	byHash map[[32]byte]Bouncer
}

// NewStaticKeys returns keys from a map of key to bouncer. A key must be at least 16
// characters: it is the bouncer's only credential.
func NewStaticKeys(keys map[string]Bouncer) (*StaticKeys, error) {
	s := &StaticKeys{byHash: make(map[[32]byte]Bouncer, len(keys))}
	for k, b := range keys {
		if len(k) < 16 {
			return nil, fmt.Errorf("crowdsec: bouncer key for %s/%s is %d characters; use at least 16 random ones", b.Tenant, b.Name, len(k))
		}
		if b.Tenant == "" || b.Name == "" {
			return nil, errors.New("crowdsec: a bouncer key needs a tenant and a bouncer name")
		}
		s.byHash[sha256.Sum256([]byte(k))] = b
	}
	return s, nil
}

// Bouncer implements Keys.
func (s *StaticKeys) Bouncer(_ context.Context, key string) (Bouncer, bool) {
	b, ok := s.byHash[sha256.Sum256([]byte(key))]
	return b, ok
}

// Decision is CrowdSec's models.Decision as bouncers read it.
type Decision struct {
	Duration string `json:"duration"` // time left, as Go prints a duration: "3h59m58s"
	ID       int64  `json:"id"`
	Origin   string `json:"origin"`   // always "omamori"
	Scenario string `json:"scenario"` // "omamori/rule:<rule id>", "omamori/person:<name>", "omamori/authority:<name>"
	Scope    string `json:"scope"`    // "Ip" or "Range"
	Type     string `json:"type"`     // always "ban"
	Until    string `json:"until,omitempty"`
	Value    string `json:"value"`
}

// StreamResponse is the body of GET /v1/decisions/stream.
type StreamResponse struct {
	New     []Decision `json:"new"`
	Deleted []Decision `json:"deleted"`
}

// Origin is the origin omamori's decisions carry, for a bouncer's "origins" filter.
const Origin = "omamori"

// Config is what the handler needs beyond the store.
type Config struct {
	Keys Keys
	Log  *slog.Logger
	Now  func() time.Time // default time.Now
}

// Handler serves the bouncer API. Mount it where bouncers' api_url points: at the root of a
// listener, or under a prefix with http.StripPrefix. It is safe for concurrent use, and
// several omamori processes may serve the same store.
type Handler struct {
	st   *store.Store
	keys Keys
	log  *slog.Logger
	now  func() time.Time
	mux  *http.ServeMux

	mu      sync.Mutex
	tenants map[string]*cache
}

// NewHandler returns the bouncer API over the store's decisions.
func NewHandler(st *store.Store, cfg Config) *Handler {
	h := &Handler{st: st, keys: cfg.Keys, log: cfg.Log, now: cfg.Now, mux: http.NewServeMux(), tenants: map[string]*cache{}}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.log = h.log.With("component", "crowdsec")
	if h.now == nil {
		h.now = time.Now
	}
	h.mux.HandleFunc("GET /v1/decisions/stream", h.auth(h.stream))
	h.mux.HandleFunc("GET /v1/decisions", h.auth(h.list))
	// Newer bouncers report usage metrics; accepted and not kept, so that they log no errors.
	h.mux.HandleFunc("POST /v1/usage-metrics", h.auth(func(w http.ResponseWriter, _ *http.Request, _ Bouncer) {
		w.WriteHeader(http.StatusCreated)
	}))
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

type message struct {
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (h *Handler) auth(next func(http.ResponseWriter, *http.Request, Bouncer)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-Api-Key")
		b, ok := Bouncer{}, false
		if key != "" && h.keys != nil {
			b, ok = h.keys.Bouncer(r.Context(), key)
		}
		if !ok {
			h.log.Warn("bouncer refused", "remote", r.RemoteAddr, "key_given", key != "")
			writeJSON(w, http.StatusForbidden, message{"access forbidden"})
			return
		}
		if r.Method == http.MethodHead { // a bouncer's connection check: no body, no position change
			w.WriteHeader(http.StatusOK)
			return
		}
		next(w, r, b)
	}
}

// filter is a bouncer's selection of decisions, from the query string.
type filter struct {
	scopes      map[string]bool // lower-case CrowdSec scopes
	origins     []string
	containing  []string
	notContains []string
	value, typ  string
	prefix      netip.Prefix // ip or range
	contains    bool
}

func parseFilter(r *http.Request, defaultScopes string) (filter, error) {
	q := r.URL.Query()
	f := filter{contains: true, scopes: map[string]bool{}}
	scopes := q.Get("scopes")
	if scopes == "" {
		scopes = q.Get("scope")
	}
	if scopes == "" {
		scopes = defaultScopes
	}
	for _, s := range strings.Split(scopes, ",") {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			f.scopes[s] = true
		}
	}
	split := func(s string) []string {
		var out []string
		for _, v := range strings.Split(s, ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, strings.ToLower(v))
			}
		}
		return out
	}
	f.origins = split(q.Get("origins"))
	f.containing = split(q.Get("scenarios_containing"))
	f.notContains = split(q.Get("scenarios_not_containing"))
	f.value, f.typ = q.Get("value"), q.Get("type")
	if c := q.Get("contains"); c != "" {
		b, err := strconv.ParseBool(c)
		if err != nil {
			return f, fmt.Errorf("contains=%q: want true or false", c)
		}
		f.contains = b
	}
	for _, k := range []string{"ip", "range"} {
		v := q.Get(k)
		if v == "" {
			continue
		}
		p, err := parsePrefix(v)
		if err != nil {
			return f, fmt.Errorf("%s=%q: not an IP address or CIDR range", k, v)
		}
		f.prefix = p
	}
	return f, nil
}

func parsePrefix(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return p, err
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, err
	}
	ip = ip.Unmap()
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

// served reports whether a decision is of a kind bouncers enforce, and converts it. Dry-run
// decisions never reach a bouncer, not even as deleted; nor does any decision that was never
// active (decision.Decision.Activated): held, rejected, or held and then revoked before anyone
// approved it. A bouncer learns of what a guardrail keeps back, such as an isolation of a
// ventilator, only once a person approves it, and of its end only after that.
func served(d decision.Decision, now time.Time) (Decision, netip.Prefix, bool) {
	if d.DryRun || d.Action != decision.ActionBlock && d.Action != decision.ActionIsolate || d.Activated.IsZero() {
		return Decision{}, netip.Prefix{}, false
	}
	var scope string
	switch d.Scope {
	case decision.ScopeIP:
		scope = "Ip"
	case decision.ScopeRange:
		scope = "Range"
	default:
		return Decision{}, netip.Prefix{}, false
	}
	p, err := parsePrefix(d.Value)
	if err != nil {
		return Decision{}, netip.Prefix{}, false
	}
	scenario := "omamori/" + string(d.Origin.Kind)
	if d.Origin.Name != "" {
		scenario += ":" + d.Origin.Name
	}
	return Decision{
		Duration: d.Expires.Sub(now).Round(time.Second).String(),
		ID:       d.ID,
		Origin:   Origin,
		Scenario: scenario,
		Scope:    scope,
		Type:     "ban",
		Until:    d.Expires.UTC().Format(time.RFC3339),
		Value:    d.Value,
	}, p, true
}

func (f *filter) match(d Decision, p netip.Prefix) bool {
	if !f.scopes[strings.ToLower(d.Scope)] {
		return false
	}
	if len(f.origins) > 0 && !slices.Contains(f.origins, strings.ToLower(d.Origin)) {
		return false
	}
	scen := strings.ToLower(d.Scenario)
	if len(f.containing) > 0 && !anySubstring(scen, f.containing) {
		return false
	}
	if len(f.notContains) > 0 && anySubstring(scen, f.notContains) {
		return false
	}
	if f.value != "" && d.Value != f.value {
		return false
	}
	if f.typ != "" && d.Type != f.typ {
		return false
	}
	if f.prefix.IsValid() {
		if p.Addr().Is4() != f.prefix.Addr().Is4() {
			return false
		}
		if f.contains { // the decision covers what was asked about
			return p.Bits() <= f.prefix.Bits() && p.Contains(f.prefix.Addr())
		}
		return f.prefix.Bits() <= p.Bits() && f.prefix.Contains(p.Addr())
	}
	return true
}

func anySubstring(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// stream serves GET /v1/decisions/stream. With startup=true, or for a bouncer never seen, it
// sends every live decision as new; otherwise what changed since the bouncer's last pull: new
// what is live now, deleted what stopped after having been active (revoked, expired). The
// bouncer's position moves only once the answer is built, so a failed pull is repeated, never
// skipped.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, b Bouncer) {
	ctx := r.Context()
	f, err := parseFilter(r, "ip,range")
	if err != nil {
		writeJSON(w, http.StatusBadRequest, message{err.Error()})
		return
	}
	sc := h.st.Tenant(b.Tenant)
	now := h.now()
	cursor, known, err := sc.BouncerCursor(ctx, b.Name)
	if err != nil {
		h.fail(w, b, err)
		return
	}
	if r.URL.Query().Get("startup") == "true" || !known {
		c := h.cache(b.Tenant)
		c.mu.Lock()
		if err := c.sync(ctx, sc, now); err != nil {
			c.mu.Unlock()
			h.fail(w, b, err)
			return
		}
		pos := c.seq
		entries := make([]*entry, 0, len(c.live))
		for _, e := range c.live {
			if now.Before(e.expires) && f.match(e.d, e.p) {
				entries = append(entries, e)
			}
		}
		c.mu.Unlock()
		slices.SortFunc(entries, func(a, b *entry) int { return cmp.Compare(a.d.ID, b.d.ID) })
		if !known || pos != cursor {
			if err := sc.SetBouncerCursor(ctx, b.Name, pos); err != nil {
				h.fail(w, b, err)
				return
			}
		}
		h.log.Debug("bouncer pull", "tenant", b.Tenant, "bouncer", b.Name, "startup", true, "new", len(entries))
		// Entries are immutable once cached, so they are written outside the lock.
		buf := make([]byte, 0, 64+len(entries)*200)
		buf = append(buf, `{"new":[`...)
		buf = appendEntries(buf, entries, now)
		buf = append(buf, "],\"deleted\":[]}\n"...)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(buf)
		return
	}
	changed, last, err := sc.DecisionChanges(ctx, cursor, 0)
	if err != nil {
		h.fail(w, b, err)
		return
	}
	resp := StreamResponse{New: []Decision{}, Deleted: []Decision{}}
	for _, d := range changed {
		cd, p, ok := served(d, now)
		if !ok || !f.match(cd, p) {
			continue
		}
		if d.Live(now) {
			resp.New = append(resp.New, cd)
		} else {
			resp.Deleted = append(resp.Deleted, cd)
		}
	}
	if last != cursor {
		if err := sc.SetBouncerCursor(ctx, b.Name, last); err != nil {
			h.fail(w, b, err)
			return
		}
	}
	h.log.Debug("bouncer pull", "tenant", b.Tenant, "bouncer", b.Name, "startup", false, "new", len(resp.New), "deleted", len(resp.Deleted))
	writeJSON(w, http.StatusOK, resp)
}

// list serves GET /v1/decisions: the live decisions matching the filter, or null if none, as
// CrowdSec answers.
func (h *Handler) list(w http.ResponseWriter, r *http.Request, b Bouncer) {
	ctx := r.Context()
	f, err := parseFilter(r, "ip,range")
	if err != nil {
		writeJSON(w, http.StatusBadRequest, message{err.Error()})
		return
	}
	now := h.now()
	c := h.cache(b.Tenant)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.sync(ctx, h.st.Tenant(b.Tenant), now); err != nil {
		h.fail(w, b, err)
		return
	}
	var out []*entry
	add := func(ids map[int64]struct{}) {
		for id := range ids {
			if e := c.live[id]; now.Before(e.expires) && f.match(e.d, e.p) {
				out = append(out, e)
			}
		}
	}
	switch {
	case f.prefix.IsValid() && f.contains:
		for _, ids := range c.index.Supernets(f.prefix) {
			add(ids)
		}
	case f.prefix.IsValid():
		for _, ids := range c.index.Subnets(f.prefix) {
			add(ids)
		}
	default:
		for _, e := range c.live {
			if now.Before(e.expires) && f.match(e.d, e.p) {
				out = append(out, e)
			}
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if len(out) == 0 {
		w.Write([]byte("null\n")) // as CrowdSec answers
		return
	}
	slices.SortFunc(out, func(a, b *entry) int { return cmp.Compare(a.d.ID, b.d.ID) })
	buf := append(appendEntries([]byte{'['}, out, now), "]\n"...)
	w.Write(buf)
}

// appendEntries writes entries as a JSON array's elements, each the JSON encoding/json would
// write for the Decision with its duration at now.
func appendEntries(buf []byte, entries []*entry, now time.Time) []byte {
	for i, e := range entries {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"duration":"`...)
		buf = append(buf, e.expires.Sub(now).Round(time.Second).String()...)
		buf = append(buf, `",`...)
		buf = append(buf, e.json[1:]...)
	}
	return buf
}

func (h *Handler) fail(w http.ResponseWriter, b Bouncer, err error) {
	h.log.Error("bouncer request", "tenant", b.Tenant, "bouncer", b.Name, "err", err)
	writeJSON(w, http.StatusInternalServerError, message{"internal error; see omamori's log"})
}

func (h *Handler) cache(tenant string) *cache {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.tenants[tenant]
	if c == nil {
		c = &cache{live: map[int64]*entry{}}
		h.tenants[tenant] = c
	}
	return c
}

// cache is one tenant's live decisions, indexed by address, kept up to date from the store's
// change log: a pull costs one indexed query when nothing changed.
type cache struct {
	mu    sync.Mutex
	built bool
	seq   int64
	live  map[int64]*entry
	index bart.Table[map[int64]struct{}]
}

// entry is a live decision as served. It is not modified once made.
type entry struct {
	d       Decision
	p       netip.Prefix
	expires time.Time
	json    []byte // the JSON object of d without its duration, which changes with time
}

func (c *cache) sync(ctx context.Context, sc store.Scope, now time.Time) error {
	if !c.built {
		seq, err := sc.DecisionSeq(ctx)
		if err != nil {
			return err
		}
		ds, err := sc.Decisions(ctx, store.DecisionFilter{Live: now})
		if err != nil {
			return err
		}
		for _, d := range ds {
			c.apply(d, now)
		}
		c.seq, c.built = seq, true
	}
	for {
		changed, last, err := sc.DecisionChanges(ctx, c.seq, 10000)
		if err != nil {
			return err
		}
		for _, d := range changed {
			c.apply(d, now)
		}
		if last == c.seq {
			return nil
		}
		c.seq = last
	}
}

func (c *cache) apply(d decision.Decision, now time.Time) {
	old, had := c.live[d.ID]
	if had {
		delete(c.live, d.ID)
		if ids, ok := c.index.Get(old.p); ok {
			delete(ids, d.ID)
			if len(ids) == 0 {
				c.index.Delete(old.p)
			}
		}
	}
	cd, p, ok := served(d, now)
	if !ok || !d.Live(now) {
		return
	}
	cd.Duration = ""
	enc, _ := json.Marshal(struct {
		ID       int64  `json:"id"`
		Origin   string `json:"origin"`
		Scenario string `json:"scenario"`
		Scope    string `json:"scope"`
		Type     string `json:"type"`
		Until    string `json:"until,omitempty"`
		Value    string `json:"value"`
	}{cd.ID, cd.Origin, cd.Scenario, cd.Scope, cd.Type, cd.Until, cd.Value})
	c.live[d.ID] = &entry{d: cd, p: p, expires: d.Expires, json: enc}
	ids, ok := c.index.Get(p)
	if !ok {
		ids = map[int64]struct{}{}
		c.index.Insert(p, ids)
	}
	ids[d.ID] = struct{}{}
}

// Package web is the interface people use: the hospital's information-system manager and the
// SOC analysts sign in here, in Japanese by default, and read what the data path found. It
// sits at the end of the data path, beside internal/api: api serves machines under /api/v1/,
// web serves browsers everywhere else, and both ask package auth who is calling.
//
// Pages are rendered on the server with html/template and made a little livelier with htmx
// (a vendored, embedded file; no Node at build or run time). We chose that over a single-page
// application because the pages are lists and forms that the server already has the data
// for; a SPA would add a JavaScript build, a second copy of the permission logic in the
// browser and a JSON API for every screen, and a hospital's locked-down browsers and old
// workstations are better served by HTML that works without JavaScript, which every page
// here does (htmx only spares a full reload when a filter changes).
//
// The pages follow a hospital's work: the dashboard (alerts by level and hour, open
// incidents with their SLA clocks, counts of active and held blocks, logs received per hour
// and the health of each source), alerts, incidents (clocks, playbook checklist, state,
// assignee, notes, report drafts to the authorities), decisions (held ones first, approved or
// rejected by an approver; active ones revoked), the asset inventory the guardrails use
// (which an administrator may replace by uploading its CSV), the hospital profile the report
// drafts name the reporter from (kept by the administrator), the
// log sources (silent ones first, the listeners, the latest dead letters and why), archive
// search and the export of a verifiable extract for an authority, users and roles (creating
// an account shows its initial password, which its holder must replace at first sign-in, and
// TOTP key once), the hospital's API tokens (issued with the token shown once, revoked after
// a confirmation), the audit log, and for the privacy officer the break-glass review queue
// and the access log (who saw which patient's record) of package access. The pages read and
// act through the services of packages incident, respond, asset, access and archive, each
// given in Options as a small interface declared here with only what the pages call
// (Incidents, Decisions, Archive, Reviews, Alerts, DeadLetters), and read accounts, tokens,
// the audit log and tally's counts from the store; without a service its pages say that
// none is configured.
//
// Every route is registered with the action it needs (auth.Action), and one guard checks it:
// no session → sign-in page; a tenant in the path that the person holds no role in, or a
// role without the action → refused. State-changing requests pass net/http's
// CrossOriginProtection (Sec-Fetch-Site / Origin) and, once signed in, also carry the
// session's CSRF token. The route-walk test walks every registered route.
package web

import (
	"cmp"
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/access"
	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/asset"
	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/incident"
	"github.com/omamori-project/omamori/internal/respond"
	"github.com/omamori-project/omamori/internal/store"
)

//go:embed templates static locales
var files embed.FS

// Alerts is where the UI reads alerts from; *bus.Bus has it. ReadAlerts calls fn with every
// alert message of every tenant, oldest first; the UI keeps only the tenant's own.
type Alerts interface {
	ReadAlerts(ctx context.Context, fn func(bus.Msg) error) error
}

// Incidents is what the UI asks of the incident workflow; *incident.Service has it.
type Incidents interface {
	List(ctx context.Context, tenant string, states ...incident.State) ([]incident.Incident, error)
	Get(ctx context.Context, tenant, id string) (incident.Incident, error)
	Show(ctx context.Context, tenant, id string) (incident.Record, error)
	// IncidentOf returns the ID of the incident holding an alert, or store.ErrNotFound.
	IncidentOf(ctx context.Context, tenant, alertID string) (string, error)
	Transition(ctx context.Context, tenant, id, actor string, to incident.State, note string) (incident.Incident, error)
	Assign(ctx context.Context, tenant, id, actor, assignee string) (incident.Incident, error)
	Note(ctx context.Context, tenant, id, actor, text string) (incident.Incident, error)
	CheckStep(ctx context.Context, tenant, id, actor, playbook, step string, done bool) (incident.Incident, error)
	SetFacts(ctx context.Context, tenant, id, actor string, f incident.Facts, version int) (incident.Incident, error)
	Report(ctx context.Context, tenant, id, obligation string) ([]byte, error)
	Obligations() []incident.Obligation
	// Profile and SaveProfile keep the hospital profile the report drafts name the reporter
	// from; an error wrapping *incident.InputError is the form's fault.
	Profile(ctx context.Context, tenant string) (incident.Hospital, error)
	SaveProfile(ctx context.Context, tenant, actor string, h incident.Hospital) (incident.Hospital, error)
}

// Decisions is what the UI asks of response decisions; *respond.Service has it. It checks
// the person's role itself (respond.SignedIn), whatever the guard let through.
type Decisions interface {
	List(ctx context.Context, tenant string, f store.DecisionFilter) ([]decision.Decision, error)
	Approve(ctx context.Context, tenant string, who respond.Person, id int64, note string) (decision.Decision, error)
	Reject(ctx context.Context, tenant string, who respond.Person, id int64, note string) (decision.Decision, error)
	Revoke(ctx context.Context, tenant string, who respond.Person, id int64, note string) (decision.Decision, error)
}

// Archive is what the archive and access log pages read; *archive.Archive has it.
type Archive interface {
	Tenants() []string
	PublicKey() string
	Checkpoints(tenant string) []archive.Checkpoint
	Search(ctx context.Context, q archive.Query, progress func(int64), fn func(*archive.Record) error) error
	Export(ctx context.Context, q archive.Query, w io.Writer, progress func(int64)) (*archive.ExportStats, error)
}

// Reviews is the break-glass review queue as the review page works it; every
// access.ReviewQueue has it, and one that also lists past verdicts (access.StoreQueue) shows
// them.
type Reviews interface {
	Pending(ctx context.Context, tenant string) ([]access.ReviewItem, error)
	Review(ctx context.Context, tenant, id string, outcome access.Outcome, reviewer, note string, at time.Time) (access.ReviewItem, error)
}

// Options configure the UI handler.
type Options struct {
	Store    *store.Store
	Accounts *auth.Accounts // default: auth.NewAccounts over Store
	Alerts   Alerts         // usually the *bus.Bus; nil shows no alerts
	// Location is the time zone dates are shown in; default Japan Standard Time (UTC+9, no
	// daylight saving, so a fixed zone is exact and needs no tz database).
	Location *time.Location
	Logger   *slog.Logger
	// Secure marks the session cookie Secure (and names it __Host-…). Set it whenever the UI
	// is served over TLS, which it must be anywhere but loopback.
	Secure bool

	// Incidents is the incident workflow (nil: the incident pages say none is configured).
	Incidents Incidents
	// Decisions makes and changes response decisions (nil: the decisions page says none is
	// configured).
	Decisions Decisions
	// Assets returns a tenant's asset inventory, the one its guardrails use (nil, or nil for
	// a tenant: the assets page says none is loaded, and every automatic decision is held).
	Assets func(tenant string) *asset.Inventory
	// ReplaceAssets puts a tenant's new inventory (CSV, as PUT /api/v1/assets takes it) in
	// force for actor and returns how many assets it holds; an error wrapping
	// ErrInvalidUpload is the file's fault. Nil: the assets page offers no upload.
	ReplaceAssets func(ctx context.Context, tenant, actor string, csv []byte) (int, error)
	// Obligations are the statutory reports drafts are offered for; default the Incidents
	// service's, or without one the ones shipped (incident.DefaultObligations).
	Obligations []incident.Obligation
	// Playbooks name the checklist steps in English too; default the ones shipped.
	Playbooks []incident.Playbook
	// Reviews is the break-glass review queue of package access, usually an
	// access.StoreQueue (nil: the review page says none is configured).
	Reviews Reviews
	// Archive is searched and exported by the archive page, and searched by the access log
	// page for omamori's access decisions and the EHR's own access log (nil: those pages say
	// none is configured).
	Archive Archive
	// Listeners returns the entry points of logs the sources page lists, each under its
	// tenant (all tenants when it names none), with the addresses they are bound to.
	Listeners func() []Listener
	// DeadLetters is where the sources page reads the latest dead letters, usually the
	// *bus.Bus (nil: the page shows their counts only).
	DeadLetters DeadLetters
}

// JST is Japan Standard Time.
var JST = time.FixedZone("JST", 9*60*60)

// Server is the UI. It is an http.Handler to mount at "/" (internal/api keeps "/api/v1/").
type Server struct {
	opt      Options
	log      *slog.Logger
	accounts *auth.Accounts
	mux      *http.ServeMux
	handler  http.Handler
	pages    map[string]*template.Template
	cat      catalogues
	routes   []Route
	cookie   string

	obligations []incident.Obligation
	stepTitleEn map[string]string    // "playbook/step" → English title
	playbooks   map[string][2]string // playbook ID → Japanese and English titles
}

// audience says who may reach a route.
type audience int

const (
	public   audience = iota // anyone: sign-in, assets, language
	pending                  // halfway through sign-in: the TOTP form
	signedIn                 // any signed-in person; the handler shows only their tenants
	tenant                   // a signed-in person holding Route.Action in the path's {tenant}
)

// Route is one registered UI route, as the guard and the route-walk test see it.
type Route struct {
	Method, Pattern string
	Access          audience
	Action          auth.Action // for tenant routes
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, p *page) error

// New returns the UI handler.
func New(o Options) (*Server, error) {
	if o.Store == nil {
		return nil, errors.New("web: Options.Store is required")
	}
	o.Location = cmp.Or(o.Location, JST)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Accounts == nil {
		o.Accounts = auth.NewAccounts(auth.AccountsConfig{Store: o.Store, Logger: o.Logger})
	}
	s := &Server{opt: o, log: o.Logger.With("component", "web"), accounts: o.Accounts, mux: http.NewServeMux(),
		cookie: "omamori_session"}
	if o.Secure {
		s.cookie = "__Host-omamori_session" // the prefix makes browsers insist on Secure, Path=/, no Domain
	}
	var err error
	if o.Obligations == nil && o.Incidents != nil {
		o.Obligations = o.Incidents.Obligations()
	}
	if s.obligations = o.Obligations; s.obligations == nil {
		if s.obligations, err = incident.DefaultObligations(); err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
	}
	pbs := o.Playbooks
	if pbs == nil {
		if pbs, err = incident.DefaultPlaybooks(); err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
	}
	s.stepTitleEn, s.playbooks = map[string]string{}, map[string][2]string{}
	for _, pb := range pbs {
		s.playbooks[pb.ID] = [2]string{pb.Title, pb.TitleEn}
		for _, st := range pb.Steps {
			s.stepTitleEn[pb.ID+"/"+st.ID] = st.TitleEn
		}
	}
	if s.cat, err = loadCatalogues(); err != nil {
		return nil, err
	}
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	static, _ := fs.Sub(files, "static")
	assets := http.FileServerFS(static)
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheAssets(assets)))
	s.routes = append(s.routes, Route{Method: "GET", Pattern: "/static/{file...}", Access: public})

	s.handle("GET /signin", public, "", s.signinForm)
	s.handle("POST /signin", public, "", s.signin)
	s.handle("GET /signin/totp", pending, "", s.totpForm)
	s.handle("POST /signin/totp", pending, "", s.totp)
	s.handle("POST /lang", public, "", s.setLang)
	s.handle("POST /signout", signedIn, "", s.signout)
	s.handle("GET /account/password", signedIn, "", s.passwordForm)
	s.handle("POST /account/password", signedIn, "", s.changePassword)
	s.handle("GET /{$}", signedIn, "", s.home)
	s.handle("GET /t/{tenant}/{$}", tenant, auth.ActionViewDashboard, s.dashboard)
	s.handle("GET /t/{tenant}/alerts", tenant, auth.ActionViewAlerts, s.alerts)
	s.handle("GET /t/{tenant}/audit", tenant, auth.ActionViewAudit, s.audit)
	s.handle("GET /t/{tenant}/users", tenant, auth.ActionManageUsers, s.users)
	s.handle("POST /t/{tenant}/users/{user}/roles", tenant, auth.ActionManageUsers, s.setRole)
	s.handle("POST /t/{tenant}/users", tenant, auth.ActionManageUsers, s.createUser)
	s.handle("GET /t/{tenant}/tokens", tenant, auth.ActionManageTokens, s.tokens)
	s.handle("POST /t/{tenant}/tokens", tenant, auth.ActionManageTokens, s.createToken)
	s.handle("GET /t/{tenant}/tokens/{token}/revoke", tenant, auth.ActionManageTokens, s.confirmRevoke)
	s.handle("POST /t/{tenant}/tokens/{token}/revoke", tenant, auth.ActionManageTokens, s.revokeToken)
	s.handle("GET /t/{tenant}/incidents", tenant, auth.ActionViewIncidents, s.incidents)
	s.handle("GET /t/{tenant}/incidents/{incident}", tenant, auth.ActionViewIncidents, s.incidentPage)
	s.handle("POST /t/{tenant}/incidents/{incident}/state", tenant, auth.ActionWorkIncidents, s.incidentState)
	s.handle("POST /t/{tenant}/incidents/{incident}/assign", tenant, auth.ActionWorkIncidents, s.incidentAssign)
	s.handle("POST /t/{tenant}/incidents/{incident}/notes", tenant, auth.ActionWorkIncidents, s.incidentNote)
	s.handle("POST /t/{tenant}/incidents/{incident}/steps", tenant, auth.ActionWorkIncidents, s.incidentStep)
	s.handle("POST /t/{tenant}/incidents/{incident}/facts", tenant, auth.ActionWorkIncidents, s.incidentFacts)
	s.handle("GET /t/{tenant}/incidents/{incident}/reports/{obligation}", tenant, auth.ActionDraftReports, s.incidentReport)
	s.handle("GET /t/{tenant}/decisions", tenant, auth.ActionViewDecisions, s.decisions)
	s.handle("POST /t/{tenant}/decisions/{decision}/approve", tenant, auth.ActionApproveDecisions, s.approveDecision)
	s.handle("POST /t/{tenant}/decisions/{decision}/reject", tenant, auth.ActionApproveDecisions, s.rejectDecision)
	s.handle("POST /t/{tenant}/decisions/{decision}/revoke", tenant, auth.ActionRevokeDecisions, s.revokeDecision)
	s.handle("GET /t/{tenant}/assets", tenant, auth.ActionViewAssets, s.assets)
	s.handle("POST /t/{tenant}/assets", tenant, auth.ActionManageSettings, s.uploadAssets)
	s.handle("GET /t/{tenant}/settings/hospital", tenant, auth.ActionManageSettings, s.hospitalProfile)
	s.handle("POST /t/{tenant}/settings/hospital", tenant, auth.ActionManageSettings, s.saveHospitalProfile)
	s.handle("GET /t/{tenant}/sources", tenant, auth.ActionViewDashboard, s.sources)
	s.handle("GET /t/{tenant}/access/reviews", tenant, auth.ActionViewAccess, s.accessReviews)
	s.handle("POST /t/{tenant}/access/reviews/{review}", tenant, auth.ActionReviewAccess, s.reviewAccess)
	s.handle("GET /t/{tenant}/access/log", tenant, auth.ActionViewAccess, s.accessLog)
	s.handle("GET /t/{tenant}/archive", tenant, auth.ActionSearchEvents, s.archivePage)
	s.handle("POST /t/{tenant}/archive/export", tenant, auth.ActionExportArchive, s.archiveExport)

	// Anything else is a plain 404 page, after the same headers.
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p := s.newPage(r, nil)
		s.render(w, r, http.StatusNotFound, "error", p.with("error.notfound"))
	})
	s.handler = securityHeaders(http.NewCrossOriginProtection().Handler(s.mux))
	return s, nil
}

// Routes returns every registered route, for the route-walk test and for documentation.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// handle registers pattern behind the guard: the one place where who-may-do-what is checked.
func (s *Server) handle(pattern string, acc audience, action auth.Action, h handlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	if acc == tenant && (action == "" || !strings.Contains(path, "{tenant}")) {
		panic("web: tenant route " + pattern + " needs an action and a {tenant}")
	}
	s.routes = append(s.routes, Route{Method: method, Pattern: path, Access: acc, Action: action})
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		p, r, ok := s.guard(w, r, acc, action)
		if !ok {
			return
		}
		if err := h(w, r, p); err != nil {
			s.log.Error("page", "path", r.URL.Path, "err", err)
			s.render(w, r, http.StatusInternalServerError, "error", p.with("error.internal"))
		}
	})
}

// guard lets the request through (with the person in its context) or answers it itself.
func (s *Server) guard(w http.ResponseWriter, r *http.Request, acc audience, action auth.Action) (*page, *http.Request, bool) {
	ctx := r.Context()
	cookie := ""
	if c, err := r.Cookie(s.cookie); err == nil {
		cookie = c.Value
	}
	var cur *auth.Current
	if acc == signedIn || acc == tenant {
		c, err := s.accounts.Session(ctx, cookie)
		if err != nil {
			if !errors.Is(err, auth.ErrNoSession) {
				s.log.Error("read session", "err", err)
			}
			p := s.newPage(r, nil)
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/signin", http.StatusSeeOther)
			} else {
				s.render(w, r, http.StatusUnauthorized, "error", p.with("error.signin"))
			}
			return nil, nil, false
		}
		cur = &c
	}
	p := s.newPage(r, cur)
	p.cookie = cookie
	// A password an administrator chose opens nothing but the page that replaces it (and
	// sign-out): whoever saw it cannot work as its holder.
	if cur != nil && cur.MustChangePassword && r.URL.Path != passwordPath && r.URL.Path != "/signout" {
		if r.Method == http.MethodGet {
			http.Redirect(w, r, passwordPath, http.StatusSeeOther)
		} else {
			s.render(w, r, http.StatusForbidden, "error", p.with("password.required"))
		}
		return nil, nil, false
	}
	if acc == pending {
		csrf, err := s.accounts.PendingCSRF(ctx, cookie)
		if err != nil {
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return nil, nil, false
		}
		p.CSRF = csrf
	}
	if acc == tenant {
		t := r.PathValue("tenant")
		if !cur.Can(t, action) {
			// The same answer whether the tenant exists or not.
			s.log.Info("refused", "user", cur.Identity, "tenant", t, "action", action, "path", r.URL.Path)
			s.render(w, r, http.StatusForbidden, "error", p.with("error.forbidden"))
			return nil, nil, false
		}
		p.Tenant = t
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && acc != public {
		if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(p.CSRF)) != 1 || p.CSRF == "" {
			s.log.Warn("CSRF token mismatch", "path", r.URL.Path)
			s.render(w, r, http.StatusForbidden, "error", p.with("error.csrf"))
			return nil, nil, false
		}
	}
	if cur != nil {
		r = r.WithContext(auth.WithIdentity(ctx, cur.Identity))
	}
	return p, r, true
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: value, Path: "/", MaxAge: maxAge,
		Secure: s.opt.Secure || r.TLS != nil, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// plainRemote reports whether r came from another machine over plain HTTP to a UI not
// declared Secure: a password would cross the hospital's network readable, so sign-in is
// refused. From loopback (a browser on the server, or a TLS proxy on the same host) it is
// allowed.
func (s *Server) plainRemote(r *http.Request) bool {
	if s.opt.Secure || r.TLS != nil {
		return false
	}
	ip, err := netip.ParseAddr(clientAddr(r))
	return err != nil || !ip.Unmap().IsLoopback()
}

// clientAddr is the address sign-in failures are counted against. Behind a reverse proxy it
// is the proxy's; reading X-Forwarded-For needs a configured list of trusted proxies first.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// securityHeaders are on every response: no framing, no inline script or style (htmx is a
// file of our own origin), no referrer leaving the site, no sniffing.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

func cacheAssets(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

var funcs = template.FuncMap{
	// rows hands a table partial its page and rows.
	"has": has,
	// in reports whether list holds v: a checkbox given back checked.
	"in":   func(list []string, v string) bool { return slices.Contains(list, v) },
	"rows": func(p *page, as []detect.Alert) map[string]any { return map[string]any{"P": p, "Alerts": as} },
	// clocks hands the clock partial its page and clocks.
	"clocks": func(p *page, cs []clockView) map[string]any { return map[string]any{"P": p, "Clocks": cs} },
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
	"pagerOf": func(p *page, pg pager, target string) map[string]any {
		return map[string]any{"P": p, "Pager": pg, "Target": target}
	},
}

func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/partials.html", n)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", n, err)
		}
		pages[name] = t
	}
	return pages, nil
}

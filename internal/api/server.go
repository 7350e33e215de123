// Package api is omamori's HTTP front door: the versioned JSON API under /api/v1, the health
// and readiness probes, and Prometheus metrics, behind one wrapper that is secure by default.
// It sits beside the data path and at one of its entrances: log senders post NDJSON to the
// ingest route that cmd/omamori mounts here, administrators manage tokens, Prometheus scrapes.
//
// Every route is registered with the scope it requires in one table (Routes): the server's
// own, and the httpapi.Routes that domain packages such as respond and incident declare,
// each with its scope beside its pattern (HandleRoutes). Those packages answer in the
// vocabulary of package httpapi and never import this one. The same wrapper authenticates
// every request, checks the scope, limits the body, sets security headers, rejects
// cross-origin browser writes and logs the request without secrets. A handler therefore finds an authenticated auth.Principal in its request's context and works
// only within the Principal's tenant.
//
// The package is named api, as DESIGN and CONVENTIONS name it, because the API is what it
// serves; the web UI is its own package (web), whose browser handler is mounted here, behind
// the same wrapper and TLS.
package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/httpapi"
	"github.com/omamori-project/omamori/internal/selfsigned"
	"github.com/omamori-project/omamori/internal/store"
)

// Public marks a route that needs no token. Only the probes are public.
const Public auth.Scope = ""

// DefaultMaxBody is the request body limit of a route registered without MaxBody.
const DefaultMaxBody = 1 << 20

// Check is a readiness check: Ready reports whether the named dependency answers.
type Check struct {
	Name  string // "store", "bus"; shown to anyone who asks /readyz, so nothing secret
	Ready func(ctx context.Context) error
}

// Deps are what the server works with.
type Deps struct {
	Store    *store.Store   // required
	Verifier *auth.Verifier // required; its Run is the caller's to start
	// Gatherer is what /metrics serves. Nil: an empty registry.
	Gatherer prometheus.Gatherer
	// Registerer takes the server's own metrics (requests by route and code). Nil: none.
	Registerer prometheus.Registerer
	// Checks are run by /readyz; all must pass.
	Checks []Check
	Log    *slog.Logger // required
}

// Server is the HTTP server. Register extra routes with Handle before Serve.
type Server struct {
	cfg   config.HTTP
	dir   string // data directory, for the self-signed certificate
	deps  Deps
	log   *slog.Logger
	root  *http.ServeMux
	api   *http.ServeMux
	csrf  *http.CrossOriginProtection
	stats *stats

	mu      sync.Mutex
	routes  []httpapi.Route
	serving bool
	tls     bool
	handler http.Handler
}

// New returns a server for cfg, with the built-in routes registered. dataDir is where a
// self-signed certificate is kept when one is needed.
func New(cfg config.HTTP, dataDir string, deps Deps) (*Server, error) {
	if deps.Store == nil || deps.Verifier == nil || deps.Log == nil {
		return nil, errors.New("new api server: store, verifier and log are required")
	}
	if deps.Gatherer == nil {
		deps.Gatherer = prometheus.NewRegistry()
	}
	s := &Server{
		cfg:  cfg,
		dir:  dataDir,
		deps: deps,
		log:  deps.Log.With("component", "api"),
		root: http.NewServeMux(),
		api:  http.NewServeMux(),
		csrf: http.NewCrossOriginProtection(),
	}
	st, err := newStats(deps.Registerer)
	if err != nil {
		return nil, fmt.Errorf("new api server: %w", err)
	}
	s.stats = st
	s.csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteError(w, http.StatusForbidden, "cross-origin request refused",
			"the API does not accept writes from web pages of other sites; call it from a script or the omamori web UI")
	}))
	// The route table: every built-in route and the scope it needs, in one place.
	s.handle("GET /healthz", Public, http.HandlerFunc(s.healthz))
	s.handle("GET /readyz", Public, http.HandlerFunc(s.readyz))
	s.handle("GET /metrics", auth.ScopeMetrics, promhttp.HandlerFor(deps.Gatherer, promhttp.HandlerOpts{ErrorLog: slogPrinter{s.log}}))
	s.handle("GET /api/v1/tokens", auth.ScopeAdmin, http.HandlerFunc(s.listTokens))
	s.handle("POST /api/v1/tokens", auth.ScopeAdmin, http.HandlerFunc(s.createToken))
	s.handle("DELETE /api/v1/tokens/{id}", auth.ScopeAdmin, http.HandlerFunc(s.revokeToken))
	s.handle("GET /api/v1/tenants", auth.ScopeAdmin, http.HandlerFunc(s.listTenants))
	s.handle("POST /api/v1/tenants", auth.ScopeOperator, http.HandlerFunc(s.createTenant))
	s.handle("GET /api/v1/openapi.yaml", auth.ScopeRead, http.HandlerFunc(serveOpenAPI))

	s.root.Handle("/api/v1/", jsonNotFound(s.api))
	return s, nil
}

// RouteOption adjusts one route.
type RouteOption func(*httpapi.Route)

// MaxBody sets the largest request body a route accepts, for routes such as ingest that take
// more than DefaultMaxBody.
func MaxBody(n int64) RouteOption { return func(r *httpapi.Route) { r.MaxBody = n } }

// Handle registers h for pattern ("POST /api/v1/ingest"), reachable only with a token that
// holds scope. Patterns under /api/v1/ go to the API mux; others (/metrics) to the root. It
// panics if called after Serve or Handler, or with a pattern without a method or
// with the Public scope: only the built-in probes are public.
func (s *Server) Handle(pattern string, scope auth.Scope, h http.Handler, opts ...RouteOption) {
	rt := httpapi.Route{Pattern: pattern, Scope: scope, Handler: h}
	for _, o := range opts {
		o(&rt)
	}
	s.HandleRoutes(rt)
}

// HandleRoutes registers the routes a domain package declares (respond.HTTP.Routes), each
// reachable only with a token that holds the scope declared beside it, as Handle does.
func (s *Server) HandleRoutes(routes ...httpapi.Route) {
	for _, rt := range routes {
		if rt.Scope == Public || rt.Authn != "" {
			panic("api: Handle " + rt.Pattern + ": every mounted route needs a scope")
		}
		s.register(rt)
	}
}

// Mount registers h for pattern, a handler that authenticates its callers itself in the
// way authn names ("session" for the web UI, "bouncer key" for the CrowdSec API). It still
// passes the wrapper's body limit, security headers, cross-origin check and logging. The
// pattern may omit the method, as the UI's "/" does.
func (s *Server) Mount(pattern, authn string, h http.Handler) {
	if authn == "" {
		panic("api: Mount " + pattern + ": say how the handler authenticates")
	}
	s.register(httpapi.Route{Pattern: pattern, Handler: h, Authn: authn})
}

// handle registers one of the server's own routes; Public only for the probes.
func (s *Server) handle(pattern string, scope auth.Scope, h http.Handler) {
	s.register(httpapi.Route{Pattern: pattern, Scope: scope, Handler: h})
}

// register puts rt in the route table and on its mux, behind the guard.
func (s *Server) register(rt httpapi.Route) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handler != nil {
		panic("api: Handle " + rt.Pattern + " after the server started")
	}
	if rt.MaxBody == 0 {
		rt.MaxBody = DefaultMaxBody
	}
	method, path, ok := strings.Cut(rt.Pattern, " ")
	if !ok && rt.Authn != "" {
		method, path, ok = "any", rt.Pattern, true
	}
	if !ok || method == "" || !strings.HasPrefix(path, "/") {
		panic("api: Handle " + rt.Pattern + ": want \"METHOD /path\"")
	}
	s.routes = append(s.routes, rt)
	wrapped := s.guard(rt, rt.Handler)
	if strings.HasPrefix(path, "/api/v1/") {
		s.api.Handle(rt.Pattern, wrapped)
	} else {
		s.root.Handle(rt.Pattern, wrapped)
	}
}

// Routes returns every registered route with its scope, for tests that walk them all.
func (s *Server) Routes() []httpapi.Route {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]httpapi.Route(nil), s.routes...)
}

// Handler returns the whole server as a handler, wrapper included. Routes can no longer be
// added afterwards.
func (s *Server) Handler() http.Handler {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handler == nil {
		s.handler = s.recoverPanics(s.headers(s.csrf.Handler(s.root)))
	}
	return s.handler
}

// Listen binds the configured address: plain HTTP on a loopback address without a
// certificate, HTTPS otherwise — with the configured certificate, or a self-signed one made in
// <data dir>/tls, whose fingerprint is logged so people can check what their browser shows.
func (s *Server) Listen() (net.Listener, error) {
	tc, err := s.tlsConfig()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	scheme := "http"
	if tc != nil {
		ln = tls.NewListener(ln, tc)
		scheme = "https"
		s.mu.Lock()
		s.tls = true
		s.mu.Unlock()
	}
	s.log.Info("listening", "url", scheme+"://"+ln.Addr().String())
	return ln, nil
}

func (s *Server) tlsConfig() (*tls.Config, error) {
	certFile, keyFile := s.cfg.TLSCert, s.cfg.TLSKey
	if certFile == "" {
		if config.IsLoopback(s.cfg.Listen) {
			return nil, nil
		}
		hosts, err := selfsigned.Hosts(s.cfg.Listen)
		if err != nil {
			return nil, err
		}
		certFile, keyFile, err = selfsigned.Ensure(filepath.Join(s.dir, "tls"), "http", hosts)
		if err != nil {
			return nil, fmt.Errorf("make self-signed certificate: %w", err)
		}
		fp, err := selfsigned.Fingerprint(certFile)
		if err != nil {
			return nil, err
		}
		s.log.Warn("no TLS certificate configured: serving a self-signed one; set http.tls_cert and http.tls_key to use your own",
			"cert", certFile, "sha256", fp)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// Serve serves on ln until ctx is done, then stops accepting, lets requests in flight finish
// (for up to 30 seconds) and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler: s.Handler(),
		// Slow clients cannot hold connections open for ever (slow loris).
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // a large ingest body over a slow hospital link
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down http: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	checks := append([]Check{{Name: "store", Ready: s.deps.Store.Ping}}, s.deps.Checks...)
	failing := []string{}
	for _, c := range checks {
		if err := c.Ready(ctx); err != nil {
			s.log.Warn("not ready", "check", c.Name, "err", err)
			failing = append(failing, c.Name)
		}
	}
	if len(failing) > 0 {
		httpapi.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "failing": failing})
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"status": "ready"})
}

// slogPrinter lets promhttp log through slog.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Warn("metrics", "err", fmt.Sprint(v...)) }

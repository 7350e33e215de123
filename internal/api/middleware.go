package api

import (
	"context"
	"errors"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/httpapi"
)

// reqInfo is filled in by the layers of one request for its access log line.
type reqInfo struct {
	route     string
	principal auth.Principal
	refused   auth.Reason
}

type infoKey struct{}

// recorder remembers the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// recoverPanics is the outermost layer: it logs every request — method, path, route, status,
// size, duration, tenant and token ID, never headers, query strings or bodies, which may hold
// secrets or patient data — and turns a handler's panic into a JSON 500.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &reqInfo{}
		rec := &recorder{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panic", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				if rec.status == 0 {
					httpapi.WriteError(rec, http.StatusInternalServerError, "internal error", "this is a bug in omamori; the server log has the details")
				}
			}
			if rec.status == 0 {
				rec.status = http.StatusOK // nothing written: net/http sends 200
			}
			attrs := []any{"method", r.Method, "path", r.URL.Path, "route", info.route, "status", rec.status,
				"bytes", rec.bytes, "duration", time.Since(start), "remote", r.RemoteAddr}
			if info.principal.TokenID != "" {
				attrs = append(attrs, "principal", info.principal)
			}
			if info.refused != "" {
				attrs = append(attrs, "refused", string(info.refused))
			}
			s.log.Info("http request", attrs...)
			s.stats.observe(info.route, rec.status, time.Since(start))
		}()
		next.ServeHTTP(rec, r)
	})
}

// headers sets the security headers every response carries.
func (s *Server) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// guard authenticates the request, checks the route's scope, limits the body and puts the
// Principal in the context. It wraps every route, so no handler runs unauthenticated except
// the Public probes.
func (s *Server) guard(rt httpapi.Route, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, _ := r.Context().Value(infoKey{}).(*reqInfo)
		if info == nil {
			info = &reqInfo{}
		}
		info.route = rt.Pattern
		r.Body = http.MaxBytesReader(w, r.Body, rt.MaxBody)
		if rt.Scope == Public { // the probes, and handlers that authenticate on their own (Mount)
			next.ServeHTTP(w, r)
			return
		}
		token, ok := bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="omamori"`)
			httpapi.WriteError(w, http.StatusUnauthorized, "authentication required",
				"send an API token in the header Authorization: Bearer omm_...; an administrator creates one with omamori token create")
			return
		}
		p, err := s.deps.Verifier.Verify(r.Context(), token)
		var refused *auth.Error
		switch {
		case errors.As(err, &refused):
			info.refused = refused.Reason
			w.Header().Set("WWW-Authenticate", `Bearer realm="omamori", error="invalid_token"`)
			httpapi.WriteError(w, http.StatusUnauthorized, "invalid token",
				"the token is unknown, revoked or expired; ask your omamori administrator for a new one")
			return
		case err != nil:
			s.log.Error("verify token", "err", err)
			httpapi.WriteError(w, http.StatusServiceUnavailable, "cannot check the token now", "the metadata store does not answer; try again shortly")
			return
		}
		info.principal = p
		if !p.Has(rt.Scope) {
			httpapi.WriteError(w, http.StatusForbidden, "token lacks scope "+string(rt.Scope),
				"create a token with the "+string(rt.Scope)+" scope for this")
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), p)))
	})
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (auth.Secret, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return auth.Secret(token), token != ""
}

// jsonNotFound serves the API mux, answering unknown paths and methods in JSON.
func jsonNotFound(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// Let the mux decide between 404 and 405 (and set Allow), then speak JSON.
		probe := &statusOnly{header: http.Header{}}
		mux.ServeHTTP(probe, r)
		if allow := probe.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		if probe.status == http.StatusMethodNotAllowed {
			httpapi.WriteError(w, probe.status, "method not allowed", "this path accepts: "+probe.header.Get("Allow"))
			return
		}
		httpapi.WriteError(w, http.StatusNotFound, "no such API endpoint", "the API is described at /api/v1/; check the path and version")
	})
}

type statusOnly struct {
	header http.Header
	status int
}

func (s *statusOnly) Header() http.Header         { return s.header }
func (s *statusOnly) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusOnly) WriteHeader(code int)        { s.status = code }

// stats are the server's own metrics.
type stats struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newStats(reg prometheus.Registerer) (*stats, error) {
	st := &stats{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omamori_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "omamori_http_request_duration_seconds", Help: "HTTP request duration by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8),
		}, []string{"route"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{st.requests, st.duration} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return st, nil
}

func (st *stats) observe(route string, code int, d time.Duration) {
	if route == "" {
		route = "unmatched" // keeps label cardinality bounded whatever paths clients try
	}
	st.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	st.duration.WithLabelValues(route).Observe(d.Seconds())
}

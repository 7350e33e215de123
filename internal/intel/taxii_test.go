package intel

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// taxiiServer is a TAXII 2.1 server for tests: discovery, one API root, and a collection
// per real STIX bundle, whose objects it serves with added_after, limit and next, as
// medallion (the OASIS reference server) does. No real TAXII server is reachable from here.
type taxiiServer struct {
	t           *testing.T
	srv         *httptest.Server
	token       string
	user, pass  string
	noNext      bool // page with added_after only, as some servers do
	collections []*taxiiCollection
	requests    atomic.Int64
}

type taxiiCollection struct {
	id, title, file string
	added           []time.Time
	objects         []json.RawMessage
}

func newTAXIIServer(t *testing.T, bundles ...string) *taxiiServer {
	t.Helper()
	s := &taxiiServer{t: t}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, name := range bundles {
		data, err := os.ReadFile(filepath.Join(stixDir, name))
		if err != nil {
			t.Fatal(err)
		}
		var b struct {
			Objects []json.RawMessage `json:"objects"`
		}
		if err := json.Unmarshal(data, &b); err != nil {
			t.Fatal(err)
		}
		c := &taxiiCollection{
			id:    "91a7b528-80eb-42ed-a74d-c6fbd5a26" + strconv.Itoa(100+i),
			title: strings.TrimSuffix(filepath.Base(name), ".json"),
			file:  name,
		}
		// The server added the objects one a second, in bundle order.
		for j, o := range b.Objects {
			c.added = append(c.added, base.Add(time.Duration(j)*time.Second))
			c.objects = append(c.objects, o)
		}
		s.collections = append(s.collections, c)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /taxii2/", s.guard(s.discovery))
	mux.HandleFunc("GET /api1/collections/", s.guard(s.listCollections))
	mux.HandleFunc("GET /api1/collections/{id}/objects/", s.guard(s.objects))
	s.srv = httptest.NewTLSServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *taxiiServer) client() *TAXIIClient {
	return &TAXIIClient{Discovery: s.srv.URL + "/taxii2/", HTTP: s.srv.Client()}
}

func (s *taxiiServer) reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", MediaTAXII)
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.t.Error(err)
	}
}

func (s *taxiiServer) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if r.Header.Get("Accept") != MediaTAXII {
			s.reply(w, http.StatusNotAcceptable, map[string]string{"title": "Not Acceptable", "http_status": "406"})
			return
		}
		user, pass, basic := r.BasicAuth()
		switch {
		case s.token != "" && r.Header.Get("Authorization") == "Bearer "+s.token:
		case s.user != "" && basic && user == s.user && pass == s.pass:
		case s.token == "" && s.user == "":
		default:
			s.reply(w, http.StatusUnauthorized, map[string]string{"title": "Unauthorized", "description": "no valid credentials", "http_status": "401"})
			return
		}
		h(w, r)
	}
}

func (s *taxiiServer) discovery(w http.ResponseWriter, r *http.Request) {
	s.reply(w, http.StatusOK, TAXIIDiscovery{Title: "test feeds", Default: s.srv.URL + "/api1/", APIRoots: []string{s.srv.URL + "/api1/"}})
}

func (s *taxiiServer) listCollections(w http.ResponseWriter, r *http.Request) {
	var out struct {
		Collections []TAXIICollection `json:"collections"`
	}
	for _, c := range s.collections {
		out.Collections = append(out.Collections, TAXIICollection{ID: c.id, Title: c.title, CanRead: true, MediaTypes: []string{"application/stix+json;version=2.1"}})
	}
	s.reply(w, http.StatusOK, out)
}

func (s *taxiiServer) objects(w http.ResponseWriter, r *http.Request) {
	var c *taxiiCollection
	for _, cc := range s.collections {
		if cc.id == r.PathValue("id") {
			c = cc
		}
	}
	if c == nil {
		s.reply(w, http.StatusNotFound, map[string]string{"title": "Collection not found", "http_status": "404"})
		return
	}
	q := r.URL.Query()
	start := 0
	if v := q.Get("added_after"); v != "" {
		after, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			s.reply(w, http.StatusBadRequest, map[string]string{"title": "bad added_after"})
			return
		}
		for start < len(c.added) && !c.added[start].After(after) {
			start++
		}
	}
	if v := q.Get("next"); v != "" {
		start, _ = strconv.Atoi(v)
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	end := min(start+limit, len(c.objects))
	env := map[string]any{"more": end < len(c.objects)}
	if end < len(c.objects) && !s.noNext {
		env["next"] = strconv.Itoa(end)
	}
	if start < end {
		env["objects"] = c.objects[start:end]
		w.Header().Set("X-TAXII-Date-Added-First", c.added[start].Format(time.RFC3339Nano))
		w.Header().Set("X-TAXII-Date-Added-Last", c.added[end-1].Format(time.RFC3339Nano))
	}
	s.reply(w, http.StatusOK, env)
}

func TestTAXIIPoll(t *testing.T) {
	bundles := []string{"threat-reports/apt1.json", "threat-reports/poisonivy.json", "indicators-for-C2-with-COA.json"}
	for _, noNext := range []bool{false, true} {
		t.Run("noNext="+strconv.FormatBool(noNext), func(t *testing.T) {
			s := newTAXIIServer(t, bundles...)
			s.noNext = noNext
			s.token = "s3cret"
			c := s.client()
			c.Token = "s3cret"
			c.PageSize = 7
			ctx := context.Background()

			d, err := c.Discover(ctx)
			if err != nil {
				t.Fatalf("Discover = %v", err)
			}
			if len(d.APIRoots) != 1 || d.Title != "test feeds" {
				t.Fatalf("Discover = %+v, want one API root", d)
			}
			cols, err := c.Collections(ctx, d.APIRoots[0])
			if err != nil {
				t.Fatalf("Collections = %v", err)
			}
			if len(cols) != len(bundles) {
				t.Fatalf("Collections = %d, want %d", len(cols), len(bundles))
			}
			for i, col := range cols {
				// What a poll gives is what loading the bundle file gives.
				f, err := os.Open(filepath.Join(stixDir, bundles[i]))
				if err != nil {
					t.Fatal(err)
				}
				wantInds, wantRej, err := LoadSTIX(f, col.Title)
				f.Close()
				if err != nil {
					t.Fatal(err)
				}
				before := s.requests.Load()
				inds, rej, last, err := c.Poll(ctx, d.APIRoots[0], col.ID, col.Title, time.Time{})
				if err != nil {
					t.Fatalf("Poll(%s) = %v", col.Title, err)
				}
				if diff := cmp.Diff(formatLoad(wantInds, wantRej), formatLoad(inds, rej)); diff != "" {
					t.Errorf("Poll(%s) differs from LoadSTIX(%s) (-want +got):\n%s", col.Title, bundles[i], diff)
				}
				n := len(s.collections[i].objects)
				if got, want := s.requests.Load()-before, int64((n+6)/7); got != want {
					t.Errorf("Poll(%s) of %d objects made %d requests, want %d pages of 7", col.Title, n, got, want)
				}
				if want := s.collections[i].added[n-1]; !last.Equal(want) {
					t.Errorf("Poll(%s) last = %v, want %v", col.Title, last, want)
				}
				// The next poll asks only for what came since, and there is nothing.
				inds, _, again, err := c.Poll(ctx, d.APIRoots[0], col.ID, col.Title, last)
				if err != nil || len(inds) != 0 || !again.Equal(last) {
					t.Errorf("Poll(%s, after %v) = %d indicators, %v, %v; want none, the same date", col.Title, last, len(inds), again, err)
				}
			}
		})
	}
}

func TestTAXIIErrors(t *testing.T) {
	ctx := context.Background()
	s := newTAXIIServer(t, "indicators-for-C2-with-COA.json")
	s.user, s.pass = "hospital", "correct horse"

	c := s.client()
	c.Username, c.Password = "hospital", "correct horse"
	if _, err := c.Discover(ctx); err != nil {
		t.Errorf("Discover with basic auth = %v", err)
	}

	c.Password = "wrong"
	_, err := c.Discover(ctx)
	var te *TAXIIError
	if !errors.As(err, &te) || te.Status != http.StatusUnauthorized || te.Title != "Unauthorized" {
		t.Errorf("Discover with a wrong password = %v, want a TAXIIError 401 Unauthorized", err)
	}

	c.Password = "correct horse"
	_, _, _, err = c.Poll(ctx, s.srv.URL+"/api1/", "no-such-collection", "x", time.Time{})
	if !errors.As(err, &te) || te.Status != http.StatusNotFound {
		t.Errorf("Poll of a missing collection = %v, want a TAXIIError 404", err)
	}

	// Credentials never go over plain http: the request is not even made.
	before := s.requests.Load()
	plain := &TAXIIClient{Discovery: "http://" + strings.TrimPrefix(s.srv.URL, "https://") + "/taxii2/", Token: "t"}
	if _, err := plain.Discover(ctx); !errors.Is(err, ErrTAXIIInsecure) {
		t.Errorf("Discover over http with a token = %v, want ErrTAXIIInsecure", err)
	}
	if s.requests.Load() != before {
		t.Errorf("Discover over http with a token reached the server")
	}

	// A server that is not TAXII (here: a plain web page) is named as such.
	web := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html></html>"))
	}))
	defer web.Close()
	wc := &TAXIIClient{Discovery: web.URL + "/taxii2/", HTTP: web.Client()}
	if _, err := wc.Discover(ctx); err == nil || !strings.Contains(err.Error(), "not a TAXII 2.1 server") {
		t.Errorf("Discover of a web page = %v, want 'not a TAXII 2.1 server'", err)
	}
}

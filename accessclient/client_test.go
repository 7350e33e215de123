package accessclient_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omamori-project/omamori/accessclient"
	"github.com/omamori-project/omamori/internal/access"
	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
)

var now = time.Date(2026, 4, 1, 10, 0, 0, 0, time.FixedZone("JST", 9*3600))

// server is an omamori stand-in built from the real parts: access.Handler over a Decider
// with the test hospital of internal/access, and the EHR decoder behind the ingest path.
type server struct {
	*httptest.Server
	decisions atomic.Int64
	status    atomic.Int64 // when set, every decision is answered with it
	ingested  []event.Event
	reviews   *access.MemoryQueue
}

func newServer(t *testing.T) *server {
	t.Helper()
	ents, err := access.LoadCSV(filepath.Join("..", "internal", "access", "testdata", "hospital"), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := access.NewDirectory()
	if err := dir.Replace(ents); err != nil {
		t.Fatal(err)
	}
	s := &server{reviews: access.NewMemoryQueue()}
	d, err := access.New("tokyo-general", access.Options{Directory: dir, Reviews: s.reviews, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	h := access.Handler(func(r *http.Request) (*access.Decider, error) {
		if r.Header.Get("Authorization") != "Bearer omm_test_decide" {
			return nil, errors.New("bad token")
		}
		return d, nil
	}, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/access/decide", func(w http.ResponseWriter, r *http.Request) {
		s.decisions.Add(1)
		if st := s.status.Load(); st != 0 {
			http.Error(w, "unavailable", int(st))
			return
		}
		h.ServeHTTP(w, r)
	})
	mux.HandleFunc("POST /api/v1/ingest", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("format") != "ehr" || r.Header.Get("Authorization") != "Bearer omm_test_ingest" {
			http.Error(w, "bad ingest", http.StatusBadRequest)
			return
		}
		rd, _, err := decode.NewReader(r.Body, "ehr", decode.Options{}, 0)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for {
			var ev event.Event
			err := rd.Next(&ev)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			s.ingested = append(s.ingested, *ev.Clone())
		}
		w.Write([]byte(`{"accepted":1}`))
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func newClient(t *testing.T, url string, clock *time.Time) (*accessclient.Client, string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "emergency.ndjson")
	c, err := accessclient.New(url, "omm_test_decide", accessclient.Options{
		EmergencyLog: logPath, System: "ehr-main", IngestToken: "omm_test_ingest",
		Now: func() time.Time { return *clock },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, logPath
}

var ward = accessclient.Device{ID: "5E-PC-01", Managed: true, Compliant: true, Location: "ward-5E", Network: "ward"}

func assigned() accessclient.Request {
	return accessclient.Request{Subject: accessclient.Subject{ID: "D001"}, Action: "view",
		Resource: accessclient.Resource{Patient: "P001", DataType: "chart", Department: "internal_medicine"}, Device: ward, PurposeOfUse: "TREAT"}
}

func breakGlass(reason string) accessclient.Request {
	return accessclient.Request{Subject: accessclient.Subject{ID: "N002", Role: "nurse", Department: "emergency"}, Action: "view",
		Resource: accessclient.Resource{Patient: "P005", DataType: "chart", Department: "internal_medicine"},
		Device:   ward, Emergency: true, PurposeOfUse: "ETREAT", Reason: reason}
}

func TestDecideAndCache(t *testing.T) {
	s := newServer(t)
	clock := now
	c, _ := newClient(t, s.URL, &clock)
	ctx := context.Background()
	d, err := c.Decide(ctx, assigned())
	if err != nil || !d.Allowed() || d.Cached || len(d.Policies) != 1 || d.Policies[0] != "care-assigned" {
		t.Fatalf("Decide(assigned) = %+v, %v; want allow by care-assigned", d, err)
	}
	d2, err := c.Decide(ctx, assigned())
	if err != nil || !d2.Cached || d2.ID != d.ID {
		t.Errorf("second Decide = %+v, %v; want the cached decision %s", d2, err, d.ID)
	}
	if n := s.decisions.Load(); n != 1 {
		t.Errorf("server asked %d times, want 1 (the second answer from the cache)", n)
	}
	clock = now.Add(6 * time.Second)
	if d3, _ := c.Decide(ctx, assigned()); d3.Cached {
		t.Errorf("Decide after the cache TTL was answered from the cache")
	}
	other := assigned()
	other.Resource.Patient = "P005"
	if d4, _ := c.Decide(ctx, other); d4.Allowed() || d4.Cached {
		t.Errorf("Decide(another patient) = %+v, want a fresh deny", d4)
	}
}

func TestBreakGlassIsNeverCached(t *testing.T) {
	s := newServer(t)
	clock := now
	c, _ := newClient(t, s.URL, &clock)
	for range 2 {
		d, err := c.Decide(context.Background(), breakGlass("意識障害で救急搬送"))
		if err != nil || !d.Allowed() || !d.BreakGlass || d.Cached || d.Emergency {
			t.Fatalf("Decide(break-glass) = %+v, %v; want a server break-glass allow", d, err)
		}
	}
	if n := s.decisions.Load(); n != 2 {
		t.Errorf("server asked %d times, want 2", n)
	}
	if p, _ := s.reviews.Pending(context.Background(), "tokyo-general"); len(p) != 2 {
		t.Errorf("review queue holds %d, want both break-glass accesses", len(p))
	}
}

func TestEmergencyMode(t *testing.T) {
	for _, tt := range []struct {
		name string
		down func(s *server)
	}{
		{"server gone", func(s *server) { s.Close() }},
		{"server answers 503", func(s *server) { s.status.Store(http.StatusServiceUnavailable) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t)
			clock := now
			c, logPath := newClient(t, s.URL, &clock)
			tt.down(s)
			ctx := context.Background()

			d, err := c.Decide(ctx, breakGlass(""))
			if !errors.Is(err, accessclient.ErrReasonRequired) || d.Allowed() {
				t.Errorf("Decide(no reason) = %s, %v; want deny and ErrReasonRequired", d.Decision, err)
			}
			d, err = c.Decide(ctx, assigned()) // an ordinary request has no reason either
			if !errors.Is(err, accessclient.ErrReasonRequired) || d.Allowed() {
				t.Errorf("Decide(ordinary) = %s, %v; want deny and ErrReasonRequired", d.Decision, err)
			}
			if _, err := os.Stat(logPath); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("denied requests were logged to the emergency log")
			}

			d, err = c.Decide(ctx, breakGlass("意識障害で救急搬送、既往歴の確認のため"))
			if err != nil || !d.Allowed() || !d.Emergency || !d.BreakGlass || d.Policies[0] != accessclient.EmergencyPolicy {
				t.Fatalf("Decide(reason) = %+v, %v; want an emergency allow", d, err)
			}
			b, err := os.ReadFile(logPath)
			if err != nil {
				t.Fatal(err)
			}
			if n := bytes.Count(b, []byte("\n")); n != 1 {
				t.Fatalf("emergency log has %d lines, want 1:\n%s", n, b)
			}
			// The line is omamori's EHR access log format: the real decoder reads it.
			rd, _, err := decode.NewReader(bytes.NewReader(b), "ehr", decode.Options{}, 0)
			if err != nil {
				t.Fatal(err)
			}
			var ev event.Event
			if err := rd.Next(&ev); err != nil {
				t.Fatalf("decode emergency log: %v\n%s", err, b)
			}
			for k, want := range map[string]string{"ehr.patient.id": "P005", "ehr.break_glass.used": "true",
				"ehr.break_glass.reason": "意識障害で救急搬送、既往歴の確認のため", "ehr.purpose_of_use": "ETREAT"} {
				if got, _ := ev.Get(event.K(k)); got != want {
					t.Errorf("emergency log %s = %q, want %q", k, got, want)
				}
			}
			if ev.User != "N002" || ev.Outcome != event.OutcomeSuccess {
				t.Errorf("emergency log user %q outcome %v, want N002 success", ev.User, ev.Outcome)
			}
		})
	}
}

func TestUploadEmergencyLog(t *testing.T) {
	s := newServer(t)
	clock := now
	c, logPath := newClient(t, s.URL, &clock)
	ctx := context.Background()
	if n, err := c.UploadEmergencyLog(ctx); n != 0 || err != nil {
		t.Errorf("UploadEmergencyLog(nothing logged) = %d, %v; want 0, nil", n, err)
	}
	s.status.Store(http.StatusBadGateway)
	for _, reason := range []string{"急変", "心肺停止"} {
		if d, err := c.Decide(ctx, breakGlass(reason)); err != nil || !d.Emergency {
			t.Fatalf("Decide = %+v, %v", d, err)
		}
	}
	s.status.Store(0)
	n, err := c.UploadEmergencyLog(ctx)
	if err != nil || n != 2 {
		t.Fatalf("UploadEmergencyLog = %d, %v; want 2", n, err)
	}
	if len(s.ingested) != 2 {
		t.Fatalf("server ingested %d events, want 2", len(s.ingested))
	}
	if r, _ := s.ingested[1].Get(event.K("ehr.break_glass.reason")); r != "心肺停止" {
		t.Errorf("second ingested reason = %q", r)
	}
	if _, err := os.Stat(logPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("emergency log still there after upload: %v", err)
	}
	if n, err := c.UploadEmergencyLog(ctx); n != 0 || err != nil {
		t.Errorf("second UploadEmergencyLog = %d, %v; want 0, nil", n, err)
	}
}

func TestUploadFailureKeepsRecords(t *testing.T) {
	s := newServer(t)
	clock := now
	logPath := filepath.Join(t.TempDir(), "emergency.ndjson")
	c, err := accessclient.New(s.URL, "omm_test_decide", accessclient.Options{EmergencyLog: logPath, IngestToken: "omm_wrong",
		Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	s.status.Store(http.StatusServiceUnavailable)
	c.Decide(context.Background(), breakGlass("急変"))
	if _, err := c.UploadEmergencyLog(context.Background()); err == nil {
		t.Fatalf("UploadEmergencyLog with a refused token succeeded")
	}
	if b, err := os.ReadFile(logPath + ".upload"); err != nil || bytes.Count(b, []byte("\n")) != 1 {
		t.Errorf("after a failed upload the record is not kept for the next: %v", err)
	}
}

func TestAuthErrorIsNotAnOutage(t *testing.T) {
	s := newServer(t)
	clock := now
	logPath := filepath.Join(t.TempDir(), "e.ndjson")
	c, _ := accessclient.New(s.URL, "omm_wrong", accessclient.Options{EmergencyLog: logPath, Now: func() time.Time { return clock }})
	d, err := c.Decide(context.Background(), breakGlass("急変"))
	if err == nil || errors.Is(err, accessclient.ErrUnavailable) || d.Allowed() {
		t.Errorf("Decide with a refused token = %s, %v; want a deny and an error that is not an outage", d.Decision, err)
	}
}

func TestNewRefuses(t *testing.T) {
	if _, err := accessclient.New("http://x", "t", accessclient.Options{}); err == nil {
		t.Errorf("New without an emergency log succeeded")
	}
	if _, err := accessclient.New("", "t", accessclient.Options{EmergencyLog: "x"}); err == nil {
		t.Errorf("New without a URL succeeded")
	}
}

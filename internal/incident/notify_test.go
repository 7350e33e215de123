package incident

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/severity"
)

// receiver is a webhook endpoint that answers with the given statuses in turn (then 200) and
// keeps what it was sent.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	got      []Notification
	headers  []http.Header
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	body, _ := io.ReadAll(req.Body)
	var n Notification
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &n) != nil {
		http.Error(w, "want a JSON POST", http.StatusBadRequest)
		return
	}
	r.headers = append(r.headers, req.Header.Clone())
	status := http.StatusOK
	if len(r.statuses) > 0 {
		status, r.statuses = r.statuses[0], r.statuses[1:]
	}
	if status == http.StatusOK {
		r.got = append(r.got, n)
	}
	w.WriteHeader(status)
	io.WriteString(w, http.StatusText(status))
}

func TestWebhook(t *testing.T) {
	n := Notification{Kind: "breach", Tier: "l2", Tenant: tenant, Incident: "INC-20260918-ABCDEF", Title: "ransomware on FS01",
		Severity: severity.Critical, State: New, Clock: ClockAcknowledge, Deadline: time.Date(2026, 9, 18, 22, 5, 0, 0, jst)}
	n.Text = n.text()
	for _, tc := range []struct {
		name      string
		statuses  []int
		wantErr   error
		wantTries int
	}{
		{"delivered", nil, nil, 1},
		{"retried after 503 and 429", []int{503, 429}, nil, 3},
		{"gives up after three tries", []int{500, 502, 503}, ErrWebhook, 3},
		{"a 400 is final", []int{400}, ErrWebhook, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &receiver{statuses: tc.statuses}
			srv := httptest.NewServer(r)
			defer srv.Close()
			w := &Webhook{URL: srv.URL, Backoff: time.Millisecond, Header: http.Header{"Authorization": {"Bearer s3cret"}}}
			err := w.Notify(t.Context(), n)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Notify() = %v, want %v", err, tc.wantErr)
			}
			if len(r.headers) != tc.wantTries {
				t.Errorf("webhook was called %d times, want %d", len(r.headers), tc.wantTries)
			}
			if r.headers[0].Get("Authorization") != "Bearer s3cret" {
				t.Errorf("Authorization = %q, want the configured header", r.headers[0].Get("Authorization"))
			}
			if tc.wantErr == nil {
				got := r.got[0]
				if got.Incident != n.Incident || got.Tier != "l2" || got.Kind != "breach" || !got.Deadline.Equal(n.Deadline) {
					t.Errorf("received %+v, want %+v", got, n)
				}
				if want := "[critical] INC-20260918-ABCDEF の acknowledge 期限を超過しました (09/18 22:05): ransomware on FS01"; got.Text != want {
					t.Errorf("text = %q, want %q", got.Text, want)
				}
			}
		})
	}
	// A cancelled context stops the retries.
	r := &receiver{statuses: []int{503, 503, 503}}
	srv := httptest.NewServer(r)
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := (&Webhook{URL: srv.URL, Backoff: time.Hour}).Notify(ctx, n); err == nil {
		t.Error("Notify(cancelled) = nil error, want one")
	}
}

// The service escalates through a webhook per tier: the opening goes to the on-call channel,
// the breach to the CSIRT lead's.
func TestEscalationOverWebhooks(t *testing.T) {
	oncall, lead := &receiver{}, &receiver{}
	s1, s2 := httptest.NewServer(oncall), httptest.NewServer(lead)
	defer s1.Close()
	defer s2.Close()
	t0 := time.Date(2026, 4, 1, 3, 0, 0, 0, jst)
	e := newEnv(t, t0, Config{Escalation: Escalation{Chain: []string{"oncall", "csirt-lead"}}})
	var err error
	e.svc, err = NewService(e.st, Config{Escalation: Escalation{Chain: []string{"oncall", "csirt-lead"}}}, e.clock.Now,
		Tiers{By: map[string]Notifier{"oncall": &Webhook{URL: s1.URL}, "csirt-lead": &Webhook{URL: s2.URL}}, Default: e.rec}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.svc.Ingest(t.Context(), alert("h1", "rh", "high", t0, detect.Entities{Source: "10.0.0.7"}), 1)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(15 * time.Minute)
	if err := e.svc.CheckClocks(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(oncall.got) != 1 || oncall.got[0].Kind != "opened" || oncall.got[0].Incident != out.Incident {
		t.Errorf("on-call channel got %+v, want the opening", oncall.got)
	}
	if len(lead.got) != 1 || lead.got[0].Kind != "breach" || lead.got[0].Clock != ClockAcknowledge {
		t.Errorf("CSIRT lead got %+v, want the acknowledge breach", lead.got)
	}
	if err := (Tiers{}).Notify(t.Context(), Notification{Tier: "nobody"}); err == nil {
		t.Error("Tiers{}.Notify(unknown tier) = nil error, want one")
	}
}

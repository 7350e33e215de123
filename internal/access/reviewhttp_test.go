package access

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestReviewHandler(t *testing.T) {
	d, q, _ := hospital(t)
	dec := d.Decide(context.Background(), breakGlassRequest())
	h := ReviewHandler(q, func(r *http.Request) (string, string, error) {
		switch r.Header.Get("Authorization") {
		case "po":
			return "tokyo-general", "PO01", nil
		case "osaka":
			return "osaka-central", "PO99", nil
		}
		return "", "", errors.New("no session")
	}, func() time.Time { return caseTime.Add(73 * time.Hour) }, nil)
	do := func(method, path, who, body string) (int, string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", who)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code, w.Body.String()
	}
	code, body := do("GET", "/api/v1/access/reviews", "po", "")
	var items []struct {
		ID      string `json:"id"`
		Overdue bool   `json:"overdue"`
	}
	if err := json.Unmarshal([]byte(body), &items); err != nil || code != 200 || len(items) != 1 || items[0].ID != dec.ID || !items[0].Overdue {
		t.Fatalf("GET reviews = %d %s, want the break-glass item, overdue after 73 h (SLA 48 h)", code, body)
	}
	if code, body := do("GET", "/api/v1/access/reviews", "osaka", ""); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("GET reviews as another hospital = %d %s, want an empty list", code, body)
	}
	for _, tt := range []struct {
		who, id, body string
		want          int
	}{
		{"", dec.ID, `{"outcome":"justified"}`, 403},
		{"osaka", dec.ID, `{"outcome":"justified"}`, 404},
		{"po", dec.ID, `{"outcome":"fine"}`, 400},
		{"po", dec.ID, `{"outcome":"justified","reviewer":"someone else"}`, 400},
		{"po", dec.ID, `{"outcome":"justified","note":"救急外来の診療のため"}`, 200},
		{"po", dec.ID, `{"outcome":"not_justified"}`, 409},
	} {
		if code, body := do("POST", "/api/v1/access/reviews/"+tt.id, tt.who, tt.body); code != tt.want {
			t.Errorf("POST review as %q with %s = %d %s, want %d", tt.who, tt.body, code, body, tt.want)
		}
	}
	it, _ := q.Get(context.Background(), "tokyo-general", dec.ID)
	if it.Outcome != OutcomeJustified || it.Reviewer != "PO01" {
		t.Errorf("after review, item = %+v, want justified by PO01", it)
	}
}

func TestDeciders(t *testing.T) {
	var r Deciders
	d, _, _ := hospital(t)
	r.Put(d)
	if got, err := r.For("tokyo-general"); err != nil || got != d {
		t.Errorf("For(tokyo-general) = %v, %v", got, err)
	}
	if _, err := r.For("osaka-central"); !errors.Is(err, ErrNoDecider) {
		t.Errorf("For(osaka-central) = %v, want ErrNoDecider", err)
	}
}

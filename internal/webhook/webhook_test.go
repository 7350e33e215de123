package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDeliveries: a receiver that fails twice gets the message on the third try; one that
// refuses it is not asked again; every delivery is reported with its attempts.
func TestDeliveries(t *testing.T) {
	var flaky atomic.Int32
	var got []map[string]string
	var mu sync.Mutex
	fortigate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if flaky.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get("Authorization") != "Bearer fgt-token" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		var v map[string]string
		json.NewDecoder(r.Body).Decode(&v)
		mu.Lock()
		got = append(got, v)
		mu.Unlock()
	}))
	defer fortigate.Close()
	var refusals atomic.Int32
	edr := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		refusals.Add(1)
		http.Error(w, "unknown host", http.StatusBadRequest)
	}))
	defer edr.Close()

	deliveries := make(chan Delivery, 10)
	s := New(Config{
		Targets: []Target{
			{Name: "fortigate", URL: fortigate.URL, Header: http.Header{"Authorization": {"Bearer fgt-token"}}},
			{Name: "edr", URL: edr.URL},
		},
		Backoff:   time.Millisecond,
		Delivered: func(d Delivery) { deliveries <- d },
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go s.Run(ctx)
	if err := s.Send("handa", "decision 1 active", map[string]string{"action": "block", "target": "198.51.100.77"}); err != nil {
		t.Fatal(err)
	}
	byTarget := map[string]Delivery{}
	for range 2 {
		d := <-deliveries
		byTarget[d.Target] = d
	}
	if d := byTarget["fortigate"]; !d.OK() || d.Attempts != 3 || d.Status != 200 || d.Tenant != "handa" {
		t.Errorf("fortigate delivery %+v, want OK on the third attempt", d)
	}
	if d := byTarget["edr"]; d.OK() || d.Attempts != 1 || d.Status != 400 || refusals.Load() != 1 {
		t.Errorf("edr delivery %+v (%d requests), want one refused attempt", d, refusals.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0]["target"] != "198.51.100.77" {
		t.Errorf("fortigate received %v", got)
	}
}

// TestQueueFull: when the queue is full, Send reports it and records failed deliveries rather
// than waiting.
func TestQueueFull(t *testing.T) {
	var failed []Delivery
	s := New(Config{Targets: []Target{{Name: "x", URL: "http://127.0.0.1:1"}}, Queue: 1, Delivered: func(d Delivery) { failed = append(failed, d) }})
	if err := s.Send("a", "first", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Send("a", "second", 2); err == nil {
		t.Fatal("a second message into a full queue of one was accepted")
	}
	if len(failed) != 1 || failed[0].Subject != "second" || failed[0].OK() {
		t.Errorf("deliveries %+v, want the second reported as not sent", failed)
	}
}

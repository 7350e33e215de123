package webhook

import (
	"context"
	"encoding/json"
	"fmt"
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
	if err := s.Send("handa", "decision 1 active", true, map[string]string{"action": "block", "target": "198.51.100.77"}); err != nil {
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
	if err := s.Send("a", "first", true, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Send("a", "second", true, 2); err == nil {
		t.Fatal("a second message into a full queue of one was accepted")
	}
	if len(failed) != 1 || failed[0].Subject != "second" || failed[0].OK() {
		t.Errorf("deliveries %+v, want the second reported as not sent", failed)
	}
}

// TestHeldOnlyToAll: a message not sent as enforced — a held isolation — reaches only the
// target that asked for every message (a ticketing system), never the one that enforces what
// it receives (a FortiGate stitch), which gets the enforced message sent after it.
func TestHeldOnlyToAll(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]string{}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]string
		json.NewDecoder(r.Body).Decode(&v)
		mu.Lock()
		got[r.URL.Path] = append(got[r.URL.Path], v["status"])
		mu.Unlock()
	}))
	defer receiver.Close()
	deliveries := make(chan Delivery, 10)
	s := New(Config{
		Targets:   []Target{{Name: "fortigate", URL: receiver.URL + "/fortigate"}, {Name: "tickets", URL: receiver.URL + "/tickets", All: true}},
		Delivered: func(d Delivery) { deliveries <- d },
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go s.Run(ctx)
	s.Send("handa", "decision 1 held", false, map[string]string{"status": "held"})
	s.Send("handa", "decision 2 active", true, map[string]string{"status": "active"})
	var told []string
	for range 3 { // held to tickets, active to both; sent in order by one goroutine
		d := <-deliveries
		told = append(told, d.Target+": "+d.Subject)
	}
	want := []string{"tickets: decision 1 held", "fortigate: decision 2 active", "tickets: decision 2 active"}
	if fmt.Sprint(told) != fmt.Sprint(want) {
		t.Errorf("deliveries %q, want %q", told, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got["/fortigate"]) != "[active]" || fmt.Sprint(got["/tickets"]) != "[held active]" {
		t.Errorf("received %v, want the FortiGate only the active decision, the ticketing system both", got)
	}
}

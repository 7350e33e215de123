package journal

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/ingest"
	"github.com/omamori-project/omamori/internal/keyring"
)

type decision struct {
	Type   string `json:"type"`
	Value  string `json:"value"`
	Reason string `json:"reason"`
}

// TestRecordsReachTheArchive records decisions of two hospitals through a real embedded bus
// and finds them in a real archive, each under its own hospital, with the JSON it was given.
func TestRecordsReachTheArchive(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	b, err := bus.Open(ctx, bus.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p, err := ingest.NewPipeline(b, ingest.Config{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	j := New(p)
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	want := map[string]decision{
		"handa":   {"ban", "198.51.100.77", "brute force on the SSL-VPN"},
		"tsurugi": {"isolate", "192.168.20.15", "lateral movement"},
	}
	for tenant, d := range want {
		if err := j.Record(tenant, "omamori.decision", "block", "rule:behavior.brute_force", at, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Record("handa", "decision", "block", "x", at, nil); err == nil {
		t.Error("a dataset outside omamori.* was accepted")
	}
	if err := j.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}

	keys, err := keyring.New(keyring.Generate())
	if err != nil {
		t.Fatal(err)
	}
	a, err := archive.Open(ctx, archive.Options{Dir: t.TempDir(), Keys: keys, CheckpointEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.ConsumeEvents(cctx, bus.ConsumeConfig{Durable: archive.ConsumerName}, a) }()
	for {
		n, err := b.ConsumerPending(ctx, archive.ConsumerName)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}

	for tenant, d := range want {
		var got []decision
		q := archive.Query{Tenant: tenant, Where: []archive.Cond{{Field: "event.dataset", Op: "=", Value: "omamori.decision"}}}
		err := a.Search(ctx, q, nil, func(r *archive.Record) error {
			if r.Event.User != "rule:behavior.brute_force" || r.Event.Action != "block" || !r.Event.Time.Equal(at) {
				t.Errorf("%s: record user %q action %q time %v", tenant, r.Event.User, r.Event.Action, r.Event.Time)
			}
			var g decision
			if err := json.Unmarshal(r.Event.Raw, &g); err != nil {
				return err
			}
			got = append(got, g)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != d {
			t.Errorf("%s: archive holds %+v, want [%+v]", tenant, got, d)
		}
	}
}

// TestRunSendsQuietRecords: one record and then silence still reaches the bus, without Sync.
func TestRunSendsQuietRecords(t *testing.T) {
	ctx := t.Context()
	b, err := bus.Open(ctx, bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p, err := ingest.NewPipeline(b, ingest.Config{MaxDelay: 10 * time.Millisecond}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	j := New(p)
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	go j.Run(rctx, 5*time.Millisecond)
	if err := j.Record("handa", "omamori.audit", "token.create", "admin", time.Now(), map[string]string{"name": "fortigate"}); err != nil {
		t.Fatal(err)
	}
	// No consumer of that name exists, so ConsumerPending counts every message on the stream.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		n, err := b.ConsumerPending(ctx, "nobody")
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the record never reached the bus")
		}
	}
}

package ingest

import (
	"context"
	"strconv"
	"testing"
	"time"
)

func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end bench in -short mode")
	}
	res, err := Bench(context.Background(), BenchOptions{Events: 20_000, Conns: 3, BatchEvents: 500})
	if err != nil {
		t.Fatalf("Bench: %v", err)
	}
	if res.Events != 20_000 || res.Stored != 20_000 || res.DeadLetters != 0 {
		t.Errorf("Bench = %v, want 20000 events stored and no dead letters", res)
	}
	t.Log(res)
}

// BenchmarkIngestTCP is Bench as a Go benchmark: socket to durable JetStream.
//
//	go test ./internal/ingest -run XXX -bench IngestTCP -benchtime 3x
func BenchmarkIngestTCP(b *testing.B) {
	for _, sync := range []struct {
		name     string
		interval time.Duration
	}{{"always", 0}, {"2m", 2 * time.Minute}} {
		for _, batch := range []int{1000, 4000} {
			b.Run(sync.name+"/batch="+strconv.Itoa(batch), func(b *testing.B) {
				var total float64
				for b.Loop() {
					res, err := Bench(b.Context(), BenchOptions{Events: 300_000, Conns: 4, BatchEvents: batch, SyncInterval: sync.interval})
					if err != nil {
						b.Fatal(err)
					}
					total += res.EventsPerSec
				}
				b.ReportMetric(total/float64(b.N), "events/s")
			})
		}
	}
}

package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

// forEachBus runs test against an embedded bus and, when OMAMORI_TEST_NATS_URL is set, against
// that external NATS too: one conformance suite for both. Each run has its own stream prefix,
// so runs never see each other's messages.
func forEachBus(t *testing.T, test func(t *testing.T, b *Bus)) {
	t.Run("embedded", func(t *testing.T) {
		b := openTest(t, Config{DataDir: t.TempDir()})
		test(t, b)
	})
	t.Run("external", func(t *testing.T) {
		url := os.Getenv("OMAMORI_TEST_NATS_URL")
		if url == "" {
			t.Skip("OMAMORI_TEST_NATS_URL is not set: set it (e.g. nats://127.0.0.1:4222) to run the bus conformance tests against an external NATS with JetStream")
		}
		b := openTest(t, Config{URL: url, Prefix: uniquePrefix()})
		t.Cleanup(func() {
			ctx := context.Background()
			_ = b.js.DeleteStream(ctx, b.events)
			_ = b.js.DeleteStream(ctx, b.dead)
		})
		test(t, b)
	})
}

func uniquePrefix() string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	return "T" + hex.EncodeToString(r[:])
}

func openTest(t *testing.T, cfg Config) *Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	b, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// testEvents makes n events of the batch number batch; each message names its event uniquely.
func testEvents(batch, n int) []event.Event {
	evs := make([]event.Event, n)
	for i := range evs {
		raw := fmt.Appendf(nil, `<189>date=2024-05-01 time=10:00:00 devname="FGT60F" logid="0000000013" type="traffic" subtype="forward" srcip=10.1.%d.%d srcport=%d dstip=203.0.113.9 dstport=443 proto=6 action="close" sentbyte=%d rcvdbyte=%d msg="id-%d-%d"`,
			i/250%250, i%250, 1024+i, 100+i, 900+i, batch, i)
		s := event.String(raw)
		evs[i] = event.Event{
			Received: time.Unix(1714521600, int64(i)), Tenant: "hospital-a", Source: "test", Format: "fortigate",
			Host: "FGT60F", SrcIP: netip.AddrFrom4([4]byte{10, 1, byte(i / 250), byte(i % 250)}), DstPort: 443,
			Message: s[strings.Index(s, "id-"):], Raw: raw,
		}
	}
	return evs
}

func TestPublishReadBack(t *testing.T) {
	forEachBus(t, func(t *testing.T, b *Bus) {
		const batches, per = 20, 50
		ctx := t.Context()
		var wg sync.WaitGroup
		errs := make(chan error, batches)
		for i := range batches {
			wg.Go(func() {
				tenant := []string{"hospital-a", "hospital-b"}[i%2]
				if err := b.PublishEvents(ctx, tenant, event.AppendBatch(nil, testEvents(i, per))); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("PublishEvents: %v", err)
		}

		seen := map[string]bool{}
		tenants := map[string]int{}
		err := b.ReadEvents(ctx, func(m Msg) error {
			tenants[m.Tenant]++
			return event.DecodeBatch(m.Data, func(e *event.Event) error {
				if seen[e.Message] {
					return fmt.Errorf("event %q read twice", e.Message)
				}
				seen[e.Message] = true
				return nil
			})
		})
		if err != nil {
			t.Fatalf("ReadEvents: %v", err)
		}
		if len(seen) != batches*per {
			t.Errorf("ReadEvents read %d distinct events, want %d", len(seen), batches*per)
		}
		if tenants["hospital-a"] != batches/2 || tenants["hospital-b"] != batches/2 {
			t.Errorf("ReadEvents messages per tenant = %v, want %d each", tenants, batches/2)
		}
	})
}

func TestPublishDeadLetters(t *testing.T) {
	forEachBus(t, func(t *testing.T, b *Bus) {
		if err := b.PublishDeadLetters(t.Context(), "hospital-a", []byte("opaque")); err != nil {
			t.Fatalf("PublishDeadLetters: %v", err)
		}
		var got []string
		if err := b.ReadDeadLetters(t.Context(), func(m Msg) error {
			got = append(got, m.Tenant+":"+string(m.Data))
			return nil
		}); err != nil {
			t.Fatalf("ReadDeadLetters: %v", err)
		}
		if len(got) != 1 || got[0] != "hospital-a:opaque" {
			t.Errorf("ReadDeadLetters = %q, want [hospital-a:opaque]", got)
		}
		// Nothing went to EVENTS.
		n := 0
		if err := b.ReadEvents(t.Context(), func(Msg) error { n++; return nil }); err != nil || n != 0 {
			t.Errorf("ReadEvents after a dead letter = %d messages, %v; want 0, nil", n, err)
		}
	})
}

func TestPublishInvalidTenant(t *testing.T) {
	forEachBus(t, func(t *testing.T, b *Bus) {
		for _, tenant := range []string{"", "a.b", "a*", ">", "a b", strings.Repeat("x", 65)} {
			if err := b.PublishEvents(t.Context(), tenant, []byte{1}); !errors.Is(err, ErrTenant) {
				t.Errorf("PublishEvents(tenant %q) = %v, want %v", tenant, err, ErrTenant)
			}
		}
	})
}

func TestPublishCanceled(t *testing.T) {
	forEachBus(t, func(t *testing.T, b *Bus) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		// Either JetStream was faster than the canceled context, or the call reports it.
		if err := b.PublishEvents(ctx, "hospital-a", []byte{1}); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("PublishEvents(canceled) = %v, want nil or %v", err, context.Canceled)
		}
	})
}

// TestEmbeddedReopen checks that the embedded store keeps acknowledged batches across a clean
// restart on the same data directory. The crash case is ingest's crash test.
func TestEmbeddedReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	b, err := Open(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.PublishEvents(ctx, "hospital-a", event.AppendBatch(nil, testEvents(0, 10))); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b = openTest(t, Config{DataDir: dir})
	n := 0
	if err := b.ReadEvents(ctx, func(m Msg) error {
		return event.DecodeBatch(m.Data, func(*event.Event) error { n++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	if n != 10 {
		t.Errorf("after reopening, ReadEvents found %d events, want 10", n)
	}
}

func TestEmbeddedListen(t *testing.T) {
	b := openTest(t, Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if b.srv.ClientURL() == "" {
		t.Fatal("embedded server with Listen has no client URL")
	}
	// A second node reaches the first over the network.
	other := openTest(t, Config{URL: b.srv.ClientURL()})
	if err := other.PublishEvents(t.Context(), "hospital-a", event.AppendBatch(nil, testEvents(0, 1))); err != nil {
		t.Fatalf("PublishEvents over the listener: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, cfg := range []Config{{}, {DataDir: t.TempDir(), Listen: "nonsense"}} {
		if b, err := Open(t.Context(), cfg); err == nil {
			b.Close()
			t.Errorf("Open(%+v) = nil error, want one", cfg)
		}
	}
}

// BenchmarkPublish measures durable publishing of batches of FortiGate-like events (about 330
// bytes each encoded) with 8 publishers in flight, for each sync policy and batch size:
//
//	go test ./internal/bus -run XXX -bench Publish -benchtime 200x
func BenchmarkPublish(b *testing.B) {
	for _, policy := range []struct {
		name     string
		interval time.Duration
	}{{"always", 0}, {"2m", 2 * time.Minute}} {
		for _, per := range []int{100, 1000, 4000} {
			b.Run(fmt.Sprintf("sync=%s/batch=%d", policy.name, per), func(b *testing.B) {
				bus, err := Open(b.Context(), Config{DataDir: b.TempDir(), SyncInterval: policy.interval})
				if err != nil {
					b.Fatal(err)
				}
				defer bus.Close()
				data := event.AppendBatch(nil, testEvents(0, per))
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				var wg sync.WaitGroup
				work := make(chan struct{})
				for range 8 {
					wg.Go(func() {
						for range work {
							if err := bus.PublishEvents(b.Context(), "hospital-a", data); err != nil {
								b.Error(err)
							}
						}
					})
				}
				for b.Loop() {
					work <- struct{}{}
				}
				close(work)
				wg.Wait()
				b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

func TestEmbeddedDataDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b, err := Open(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, Config{DataDir: dir}); !errors.Is(err, ErrInUse) {
		t.Errorf("second Open of %s = %v, want ErrInUse", dir, err)
	}
	b.Close()
	b2, err := Open(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	b2.Close()
}

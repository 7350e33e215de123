package archive

import (
	"context"
	"testing"

	"github.com/omamori-project/omamori/internal/shareddata"
)

func TestBenchSmall(t *testing.T) {
	r, err := Bench(context.Background(), BenchOptions{File: shareddata.Path(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log"), Events: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if r.VerifyRecords != 5000 || r.DiskBytes == 0 || r.RawBytes == 0 {
		t.Errorf("Bench = %+v, want 5000 records verified and sizes measured", r)
	}
	t.Log(r)
}

func BenchmarkArchiveAppend(b *testing.B) {
	events := sample(b, "zeek/stratosphere/002-zeek-scenario-port-scanning/conn.log", "bench")
	a := openTest(b, b.TempDir(), testKeys(b), func(o *Options) { o.BlockBytes = 1 << 20; o.SegmentBytes = 256 << 20 })
	defer a.Close()
	ctx := context.Background()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		j := n % (len(events) - 1000)
		if err := a.Append(ctx, "bench", 0, events[j:j+1000]); err != nil {
			b.Fatal(err)
		}
		n += 1000
		if n%8000 == 0 {
			a.Sync(ctx)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkVerify(b *testing.B) {
	events := sample(b, "zeek/stratosphere/002-zeek-scenario-port-scanning/conn.log", "bench")
	dir, keys := b.TempDir(), testKeys(b)
	a := openTest(b, dir, keys, func(o *Options) { o.BlockBytes = 1 << 20; o.SegmentBytes = 256 << 20 })
	ctx := context.Background()
	for n := 0; n < 200_000; n += len(events) {
		if err := a.Append(ctx, "bench", 0, events); err != nil {
			b.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var bytes int64
	for b.Loop() {
		rep, err := Verify(ctx, dir, keys, nil)
		if err != nil || !rep.OK() {
			b.Fatalf("Verify = %v, %v", rep.Problems, err)
		}
		bytes += rep.Bytes
	}
	b.ReportMetric(float64(bytes)/1e6/b.Elapsed().Seconds(), "MB/s")
}

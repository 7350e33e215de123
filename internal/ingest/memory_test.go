package ingest

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// heapAfterGC returns the bytes of live heap objects and of goroutine stacks after a full
// collection: what the process holds, without the garbage a collection would free and without
// the free memory the runtime keeps from the system.
func heapAfterGC() int64 {
	runtime.GC()
	runtime.GC() // the second frees what the first's finalizers and pools released
	s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	rtmetrics.Read(s)
	return int64(s[0].Value.Uint64() + s[1].Value.Uint64())
}

// vmRSS returns the resident set size of this process from /proc/self/status, 0 where there is
// none. It is reported, not asserted: RSS also counts memory the runtime has freed but not yet
// returned to the system.
func vmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestIdleConnectionsMemory holds 1,000 syslog connections open to a real listener on
// loopback, each of which has sent one record and the first byte of the next and then
// nothing, as a fleet of quiet devices does, and checks that the server holds them within
// 64 MiB of heap: buffers are taken when data arrives and given back when a connection goes
// quiet, not allocated for a full batch up front. The same for TLS, whose connections keep
// crypto/tls's own buffers besides.
func TestIdleConnectionsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 connections")
	}
	const conns = 1000
	const budget = 64 << 20
	serverTLS, clientTLS := testTLS(t)
	for _, tc := range []struct {
		name   string
		server *tls.Config
		client *tls.Config
	}{
		{name: "tcp"},
		{name: "tls", server: serverTLS, client: clientTLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mb := newTestBus(t)
			reg := prometheus.NewRegistry()
			p, err := NewPipeline(mb, Config{}, reg, nil)
			if err != nil {
				t.Fatal(err)
			}
			source := "mem-" + tc.name
			addr, stop := serveTCP(t, p, Listener{Tenant: "hospital-a", Source: source, MaxConns: 2 * conns}, tc.server)
			defer stop()
			heap0, rss0 := heapAfterGC(), vmRSS()

			held := make([]net.Conn, 0, conns)
			defer func() {
				for _, c := range held {
					c.Close()
				}
			}()
			for i := range conns {
				var c net.Conn
				if tc.client != nil {
					c, err = tls.Dial("tcp", addr, tc.client)
				} else {
					c, err = net.Dial("tcp", addr)
				}
				if err != nil {
					t.Fatalf("connection %d: %v", i, err)
				}
				held = append(held, c)
				line, _ := sshdMessage(i)
				if _, err := fmt.Fprintf(c, "%s\n<", line); err != nil {
					t.Fatalf("connection %d: write: %v", i, err)
				}
			}
			// Every connection's record on the bus shows that every connection was read, and
			// its batch flushed: what is left is what an idle connection keeps.
			events := p.m.events.WithLabelValues(source)
			waitFor(t, "an event from every connection", func() bool { return testutil.ToFloat64(events) >= conns })
			if n := testutil.ToFloat64(p.m.conns.WithLabelValues(source)); n != conns {
				t.Fatalf("%v connections open, want %d", n, conns)
			}
			heap1, rss1 := heapAfterGC(), vmRSS()
			grew := heap1 - heap0
			t.Logf("%d idle %s connections: heap and stacks %.1f → %.1f MiB (+%.1f MiB, %.1f KiB a connection); RSS %.1f → %.1f MiB",
				conns, tc.name, mib(heap0), mib(heap1), mib(grew), float64(grew)/conns/1024, mib(rss0), mib(rss1))
			if grew > budget {
				t.Errorf("%d idle %s connections hold %.1f MiB of heap, want at most %d MiB", conns, tc.name, mib(grew), budget>>20)
			}
		})
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

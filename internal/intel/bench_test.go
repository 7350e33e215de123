package intel

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"

	"github.com/omamori-project/omamori/internal/event"
)

// synthIndicators makes n indicators in the mix a national feed has: 40% addresses, 10%
// networks, 30% domains, 10% URLs, 10% hashes, from a fixed seed.
func synthIndicators(n int) []Indicator {
	r := rand.New(rand.NewPCG(1, 2))
	inds := make([]Indicator, 0, n)
	word := func() string {
		const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
		b := make([]byte, 5+r.IntN(10))
		for i := range b {
			b[i] = letters[r.IntN(len(letters))]
		}
		return string(b)
	}
	tlds := []string{"com", "net", "org", "info", "ru", "cn", "top", "xyz"}
	for i := 0; i < n; i++ {
		in := Indicator{ID: fmt.Sprintf("indicator--%d", i), Source: "synthetic", Confidence: 50}
		switch p := i % 10; {
		case p < 4:
			a := netip.AddrFrom4([4]byte{byte(1 + r.IntN(222)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
			in.Kind, in.Value = KindIP, a.String()
		case p < 5:
			a := netip.AddrFrom4([4]byte{byte(1 + r.IntN(222)), byte(r.IntN(256)), byte(r.IntN(256)), 0})
			in.Kind, in.Value = KindCIDR, netip.PrefixFrom(a, 20+r.IntN(9)).Masked().String()
		case p < 8:
			in.Kind, in.Value = KindDomain, word()+"."+tlds[r.IntN(len(tlds))]
		case p < 9:
			in.Kind, in.Value = KindURL, word()+"."+tlds[r.IntN(len(tlds))]+"/"+word()+".php"
		default:
			in.Kind, in.Value = KindSHA256, fmt.Sprintf("%016x%016x%016x%016x", r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64())
		}
		inds = append(inds, in)
	}
	return inds
}

// benchEvents decodes the real logs TestSetRealLogs uses: Zeek conn, dns, http, ssl and
// files records and Sysmon process creations.
func benchEvents(b *testing.B) []*event.Event {
	b.Helper()
	var evs []*event.Event
	t := &testing.T{}
	for _, name := range []string{
		"../../../shared/data/zeek/rita/test_data/proxy/conn.log",
		"../../../shared/data/zeek/rita/test_data/proxy/dns.log",
		"../../../shared/data/zeek/rita/test_data/proxy/http.log",
		"../../../shared/data/zeek/rita/test_data/proxy/ssl.log",
		"../../../shared/data/zeek/rita/test_data/proxy/files.log",
		"../../../shared/data/sigma/regression_data/rules-emerging-threats/2026/Exploits/CVE-2026-33829/proc_creation_win_exploit_cve_2026_33829/7c3a5b1d-9e2f-4a8c-b5d7-1e0f3c6a9b2d.json",
	} {
		matchFile(t, name, func(e *event.Event) { evs = append(evs, e.Clone()) })
	}
	if t.Failed() || len(evs) == 0 {
		b.Fatal("could not decode the benchmark logs")
	}
	return evs
}

// BenchmarkMatch matches real decoded events against 100k synthetic indicators plus the
// values of testdata/real.list (so some events hit). One op is one event.
func BenchmarkMatch(b *testing.B) {
	inds := synthIndicators(100_000)
	more, _, err := LoadFile("testdata/real.list")
	if err != nil {
		b.Fatal(err)
	}
	s, _ := NewSet(append(inds, more...), SetOptions{Allow: loadAllow(b)})
	evs := benchEvents(b)
	var hits []Hit
	b.ReportAllocs()
	n := 0
	runtime.LockOSThread() // so that the thread's CPU time is the loop's
	defer runtime.UnlockOSThread()
	cpu := threadCPU()
	for i := 0; b.Loop(); i++ {
		hits = s.Match(evs[i%len(evs)], hits[:0])
		n += len(hits)
	}
	// CPU time of this thread per op: on a machine shared with other work, ns/op (wall
	// time) counts the time others had the core too.
	b.ReportMetric(float64(threadCPU()-cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(n)/float64(b.N), "hits/op")
}

func BenchmarkNewSet(b *testing.B) {
	allow := loadAllowB(b)
	for _, n := range []int{100_000, 1_000_000} {
		inds := synthIndicators(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var heap uint64
			var cpu int64
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for b.Loop() {
				b.StopTimer()
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				b.StartTimer()
				c := threadCPU()
				s, _ := NewSet(inds, SetOptions{Allow: allow})
				cpu += threadCPU() - c
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&after)
				heap = after.HeapAlloc - before.HeapAlloc
				runtime.KeepAlive(s)
				b.StartTimer()
			}
			b.ReportMetric(float64(heap)/(1<<20), "MiB-set")
			b.ReportMetric(float64(cpu)/float64(b.N)/1e6, "cpu-ms/op")
		})
	}
}

func loadAllowB(b *testing.B) *Allowlist { return loadAllow(b) }

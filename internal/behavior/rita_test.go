package behavior

import (
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/shareddata"
)

// feedFiles decodes Zeek logs (plain or gzip) into fn, in the order given.
func feedFiles(t testing.TB, files []string, fn func(*event.Event)) int {
	t.Helper()
	n := 0
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		r, err := decode.Decompress(f)
		if err != nil {
			t.Fatalf("decompress %s: %v", name, err)
		}
		rd, _, err := decode.NewReader(r, "auto", decode.Options{}, 0)
		if err != nil {
			t.Fatalf("reader %s: %v", name, err)
		}
		var e event.Event
		for {
			err := rd.Next(&e)
			if err == io.EOF {
				break
			}
			if err != nil {
				continue
			}
			fn(&e)
			n++
		}
		f.Close()
	}
	return n
}

// ritaFiles lists a RITA test set's logs, http before conn: a proxy request is logged when it
// is made, its connection when it closes.
func ritaFiles(t testing.TB, dir string) []string {
	var out []string
	for _, l := range []string{"http", "conn"} {
		m, _ := filepath.Glob(filepath.Join(dir, l+".log"))
		m2, _ := filepath.Glob(filepath.Join(dir, "*", l+".*.log.gz"))
		sort.Strings(m2)
		out = append(out, m...)
		out = append(out, m2...)
	}
	if len(out) == 0 {
		t.Skipf("no Zeek logs under %s", dir)
	}
	return out
}

// TestBeaconRITA holds the scores to those SOURCES.md gives for RITA's own test sets: within
// 0.05, the connection counts RITA reports, and in proxy/ no other pair above the beacons.
func TestBeaconRITA(t *testing.T) {
	type want struct {
		key   string
		score float64
		conns int // 0: not checked
	}
	cases := []struct {
		dir   string
		wants []want
		top   bool // the beacons are the highest-scoring pairs of the set
	}{
		{"proxy", []want{{"10.136.0.18->www.honestimnotevil.com", 0.98, 357}, {"10.136.0.18->www.google.com", 0.59, 0}}, true},
		{"missing_host", []want{{"73.54.23.243->64.225.56.201", 0.96, 331}}, false},
	}
	for _, c := range cases {
		t.Run(c.dir, func(t *testing.T) {
			cfg := DefaultConfig()
			en, err := New(cfg, Shard{})
			if err != nil {
				t.Fatal(err)
			}
			feedFiles(t, ritaFiles(t, shareddata.Path(t, "zeek", "rita", "test_data", c.dir)), func(e *event.Event) {
				en.Observe(nil, e)
			})
			scores := en.BeaconScores()
			byKey := map[string]PairScore{}
			for _, s := range scores {
				byKey[s.Key()] = s
			}
			lowest := 1.0
			for _, w := range c.wants {
				s, ok := byKey[w.key]
				if !ok {
					t.Fatalf("pair %s not scored; have %d pairs", w.key, len(scores))
				}
				if math.Abs(s.Score-w.score) > 0.05 {
					t.Errorf("score(%s) = %.3f (%+v), want %.2f ± 0.05", w.key, s.Score, s.BeaconScore, w.score)
				}
				if w.conns != 0 && s.Connections != w.conns {
					t.Errorf("connections(%s) = %d, want %d", w.key, s.Connections, w.conns)
				}
				t.Logf("%s: %+v", w.key, s.BeaconScore)
				lowest = min(lowest, s.Score)
			}
			if !c.top {
				return
			}
			for _, s := range scores {
				isWant := false
				for _, w := range c.wants {
					isWant = isWant || s.Key() == w.key
				}
				if !isWant && s.Score > lowest {
					t.Errorf("pair %s scores %.3f, above the known beacons (lowest %.3f)", s.Key(), s.Score, lowest)
				}
			}
		})
	}
}

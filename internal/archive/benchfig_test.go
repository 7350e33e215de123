package archive

import (
	"context"
	"os"
	"testing"

	"github.com/omamori-project/omamori/internal/shareddata"
)

// TestBenchFigures prints the figures of the aims; it runs only when asked
// (OMAMORI_BENCH=1), since it takes a while and its numbers depend on the machine.
func TestBenchFigures(t *testing.T) {
	if os.Getenv("OMAMORI_BENCH") == "" {
		t.Skip("set OMAMORI_BENCH=1 to print the archive's bench figures")
	}
	for _, f := range []string{"zeek/stratosphere/002-zeek-scenario-port-scanning/conn.log", "zeek/stratosphere/005-zeek-scenario-malicious/conn.log", "syslog/loghub/OpenSSH/OpenSSH_2k.log", "syslog/loghub/Linux/Linux_2k.log"} {
		p := shareddata.Path(t, f)
		one, err := Bench(context.Background(), BenchOptions{File: p, Events: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("one pass: %v", one)
		r, err := Bench(context.Background(), BenchOptions{File: p, Events: 300_000})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("repeated: %v", r)
	}
}

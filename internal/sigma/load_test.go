package sigma

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/omamori-project/omamori/internal/shareddata"
)

// sigmaData returns the SigmaHQ checkout under the shared test data, the folder that holds
// its rules, or skips (fails under CI).
func sigmaData(t testing.TB) string {
	t.Helper()
	return filepath.Dir(shareddata.Path(t, "sigma", "rules"))
}

func TestLoadSigmaHQ(t *testing.T) {
	dir := sigmaData(t)
	for _, roots := range [][]string{{"rules"}, {"rules-emerging-threats", "rules-threat-hunting", "rules-compliance", "rules-placeholder"}} {
		rs, rep, err := Load(os.DirFS(dir), Options{}, roots...)
		if err != nil {
			t.Fatalf("Load(%v) = %v", roots, err)
		}
		t.Logf("%v: %d files, %d rules, %d compiled, %d failed", roots, rep.Files, rep.Rules, rep.Compiled, len(rep.Failed))
		for _, f := range rep.Failed {
			t.Errorf("did not compile: %v", f)
		}
		var ns []string
		for k, n := range rep.NoSource {
			ns = append(ns, k+"="+strconv.Itoa(n))
		}
		sort.Strings(ns)
		t.Logf("compiled, but no event omamori reads reaches them: %s", strings.Join(ns, ", "))
		for n, ids := range rep.Placeholders {
			t.Logf("placeholder %%%s%% has no value: %d rules", n, len(ids))
		}
		if rep.Compiled+len(rep.Failed) != rep.Rules {
			t.Errorf("Load(%v): compiled %d + failed %d != rules %d", roots, rep.Compiled, len(rep.Failed), rep.Rules)
		}
		if rs.Rules() != rep.Compiled {
			t.Errorf("Load(%v): ruleset holds %d rules, report says %d compiled", roots, rs.Rules(), rep.Compiled)
		}
	}
}

package sigma

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
)

// regressionCase is one case of SigmaHQ's regression_data: a rule and the events it must match.
type regressionCase struct {
	dir        string
	ruleID     string
	title      string
	matchCount int // 0: at least one
	evtx, json string
}

func regressionCases(t testing.TB, dir string) []regressionCase {
	t.Helper()
	var cases []regressionCase
	root := filepath.Join(dir, "regression_data")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Name() != "info.yml" {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var info struct {
			RuleMetadata []struct {
				ID    string `yaml:"id"`
				Title string `yaml:"title"`
			} `yaml:"rule_metadata"`
			Tests []struct {
				Type       string `yaml:"type"`
				MatchCount int    `yaml:"match_count"`
				Path       string `yaml:"path"`
			} `yaml:"regression_tests_info"`
		}
		if err := yaml.Unmarshal(data, &info); err != nil {
			return err
		}
		if len(info.RuleMetadata) != 1 || len(info.Tests) != 1 {
			t.Errorf("%s: want one rule and one test, have %d and %d", p, len(info.RuleMetadata), len(info.Tests))
			return nil
		}
		c := regressionCase{dir: filepath.Dir(p), ruleID: info.RuleMetadata[0].ID, title: info.RuleMetadata[0].Title,
			matchCount: info.Tests[0].MatchCount}
		c.evtx = filepath.Join(dir, filepath.FromSlash(info.Tests[0].Path))
		c.json = strings.TrimSuffix(c.evtx, ".evtx") + ".json"
		cases = append(cases, c)
		return nil
	})
	if err != nil {
		t.Fatalf("read regression data: %v", err)
	}
	if len(cases) == 0 {
		t.Fatalf("no regression cases under %s", root)
	}
	return cases
}

var allRules = sync.OnceValues(func() (*Ruleset, *Report) {
	dir := filepath.Join("..", "..", "..", "shared", "data", "sigma")
	rs, rep, err := Load(os.DirFS(dir), Options{}, "rules", "rules-emerging-threats", "rules-threat-hunting", "rules-compliance")
	if err != nil {
		panic(err)
	}
	return rs, rep
})

// readEvents decodes a file of events, auto-detecting its format.
func readEvents(t testing.TB, path string) []*event.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, _, err := decode.NewReader(f, "auto", decode.Options{}, 0)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	var out []*event.Event
	var e event.Event
	for {
		err := rd.Next(&e)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Errorf("decode %s: %v", path, err)
			continue
		}
		out = append(out, e.Clone())
	}
	return out
}

// matchCountErrata corrects the match_count of cases whose info.yml counts fewer events than
// the rule, read as the Sigma specification says, matches.
var matchCountErrata = map[string]int{
	// Three of the five file writes are to ...\AppData\Roaming\AnyDesk\user.conf.new or
	// user.conf~RF2d9c20d.TMP, each containing the rule's \AppData\Roaming\AnyDesk\user.conf.
	"0b9ad457-2554-44c1-82c2-d56a99c42377": 3,
	// All three registry writes set a ZoneMap\Domains\bad-domain.com value to
	// DWORD (0x00000002), which the filter does not exclude.
	"45e112d0-7759-4c2a-aa36-9f8fb79d3393": 3,
}

// TestRegressionData proves that the rule each SigmaHQ regression case names matches its
// events, both as EVTX and as JSON, as many times as the case says.
func TestRegressionData(t *testing.T) {
	dir := sigmaData(t)
	rs, _ := allRules()
	passed, total := 0, 0
	for _, c := range regressionCases(t, dir) {
		for _, file := range []string{c.evtx, c.json} {
			total++
			name, _ := filepath.Rel(dir, file)
			events := readEvents(t, file)
			m := rs.NewMatcher()
			got := 0
			var others []string
			for _, e := range events {
				for _, mt := range m.Match(e, nil) {
					if mt.Rule.ID == c.ruleID {
						got++
					} else {
						others = append(others, mt.Rule.ID)
					}
				}
			}
			want := c.matchCount
			if n, ok := matchCountErrata[c.ruleID]; ok {
				want = n
			}
			ok := got > 0 && (want == 0 || got == want)
			if !ok {
				t.Errorf("%s: rule %s (%s) matched %d of %d events, want %d (other rules: %v)",
					name, c.ruleID, c.title, got, len(events), max(want, 1), others)
				continue
			}
			passed++
		}
	}
	t.Logf("regression cases passing: %d of %d files", passed, total)
}

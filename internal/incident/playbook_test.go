package incident

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/omamori-project/omamori/internal/detect"
)

func TestDefaultPlaybooks(t *testing.T) {
	pbs, err := DefaultPlaybooks()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, p := range pbs {
		ids[p.ID] = len(p.Steps)
		if p.TitleEn == "" {
			t.Errorf("playbook %s has no English title", p.ID)
		}
		for _, s := range p.Steps {
			if s.TitleEn == "" {
				t.Errorf("playbook %s step %s has no English title", p.ID, s.ID)
			}
		}
	}
	for _, want := range []string{"ransomware", "vpn-compromise", "patient-data-leak", "medical-device"} {
		if ids[want] < 5 {
			t.Errorf("playbook %s has %d steps, want it shipped with at least 5", want, ids[want])
		}
	}
}

func TestPlaybookMatches(t *testing.T) {
	pbs, _ := DefaultPlaybooks()
	byID := map[string]Playbook{}
	for _, p := range pbs {
		byID[p.ID] = p
	}
	for _, tc := range []struct {
		playbook string
		alert    detect.Alert
		want     bool
	}{
		{"ransomware", detect.Alert{RuleID: "behavior.ransomware_burst"}, true},
		{"ransomware", detect.Alert{RuleID: "x", Techniques: []string{"T1486"}}, true},
		{"ransomware", detect.Alert{RuleID: "x", Techniques: []string{"t1490.001"}}, true},
		{"ransomware", detect.Alert{RuleID: "x", Techniques: []string{"T14860"}}, false},
		{"ransomware", detect.Alert{RuleID: "behavior.brute_force", Techniques: []string{"T1110.001"}}, false},
		{"vpn-compromise", detect.Alert{RuleID: "f901c065-e7a8-48ea-b948-0de64723c18a"}, true},
		{"vpn-compromise", detect.Alert{RuleID: "behavior.password_spraying", Techniques: []string{"T1110.003"}}, false},
		{"patient-data-leak", detect.Alert{RuleID: "behavior.exfiltration", Techniques: []string{"T1048"}}, true},
		{"medical-device", detect.Alert{RuleID: "x", Techniques: []string{"T0836"}}, true},
	} {
		if got := byID[tc.playbook].Matches(tc.alert); got != tc.want {
			t.Errorf("%s.Matches(%s %v) = %v, want %v", tc.playbook, tc.alert.RuleID, tc.alert.Techniques, got, tc.want)
		}
	}
}

func TestParsePlaybookErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml string }{
		{"not YAML", "{{{"},
		{"unknown field", "id: x\ntitle: X\nsteps: [{id: a, title: A}]\nowner: me"},
		{"bad ID", "id: X Y\ntitle: X\nsteps: [{id: a, title: A}]"},
		{"no title", "id: x\nsteps: [{id: a, title: A}]"},
		{"no steps", "id: x\ntitle: X"},
		{"step without title", "id: x\ntitle: X\nsteps: [{id: a}]"},
		{"step ID twice", "id: x\ntitle: X\nsteps: [{id: a, title: A}, {id: a, title: B}]"},
	} {
		if _, err := ParsePlaybook([]byte(tc.yaml)); err == nil {
			t.Errorf("%s: ParsePlaybook = nil error, want refusal", tc.name)
		}
	}
}

// A hospital's own folder replaces a shipped playbook by ID and adds its own.
func TestWithPlaybooks(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ransomware.yaml"), []byte("id: ransomware\ntitle: 当院のランサムウェア対応\nsteps: [{id: call-ceo, title: 院長に電話する}]"), 0o644)
	os.WriteFile(filepath.Join(dir, "flood.yaml"), []byte("id: flood\ntitle: 水害\nsteps: [{id: move, title: サーバを上階へ}]"), 0o644)
	base, _ := DefaultPlaybooks()
	got, err := WithPlaybooks(base, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(base)+1 {
		t.Errorf("WithPlaybooks = %d playbooks, want %d", len(got), len(base)+1)
	}
	for _, p := range got {
		if p.ID == "ransomware" && (len(p.Steps) != 1 || p.Steps[0].ID != "call-ceo") {
			t.Errorf("ransomware playbook = %+v, want the hospital's", p)
		}
	}
	os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte("id: broken"), 0o644)
	if _, err := WithPlaybooks(base, dir); err == nil {
		t.Error("WithPlaybooks(folder with a broken playbook) = nil error, want refusal")
	}
}

// FuzzParsePlaybook: any input is refused with an error or gives a playbook that holds to
// the rules, never a panic.
func FuzzParsePlaybook(f *testing.F) {
	seeds, _ := filepath.Glob("playbooks/*.yaml")
	if len(seeds) == 0 {
		f.Fatal("no seed playbooks")
	}
	for _, s := range seeds {
		data, _ := os.ReadFile(s)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePlaybook(data)
		if err != nil {
			return
		}
		if !validKind(p.ID) || p.Title == "" || len(p.Steps) == 0 {
			t.Errorf("ParsePlaybook accepted %+v", p)
		}
	})
}

package incident

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/store"
)

// Playbook is a response procedure as data: the alerts it applies to and the steps people
// tick off. Its ID is the incident kind it stands for.
type Playbook struct {
	ID      string         `yaml:"id"`
	Title   string         `yaml:"title"`
	TitleEn string         `yaml:"title_en"`
	Match   Match          `yaml:"match"`
	Steps   []PlaybookStep `yaml:"steps"`
}

// Match says which alerts a playbook applies to: any listed rule ID, or any listed ATT&CK
// technique (T1486 also matches its sub-techniques, T1486.001). An empty Match applies only
// when people add the kind by hand.
type Match struct {
	Rules      []string `yaml:"rules"`
	Techniques []string `yaml:"techniques"`
}

// PlaybookStep is one step of a playbook.
type PlaybookStep struct {
	ID      string `yaml:"id"`
	Title   string `yaml:"title"`
	TitleEn string `yaml:"title_en"`
}

// Matches reports whether the playbook applies to alert a.
func (p Playbook) Matches(a detect.Alert) bool {
	if slices.Contains(p.Match.Rules, a.RuleID) {
		return true
	}
	for _, t := range a.Techniques {
		for _, m := range p.Match.Techniques {
			if strings.EqualFold(t, m) || (len(t) > len(m) && strings.EqualFold(t[:len(m)], m) && t[len(m)] == '.') {
				return true
			}
		}
	}
	return false
}

//go:embed playbooks/*.yaml
var playbookFS embed.FS

// DefaultPlaybooks returns the playbooks shipped in the binary.
func DefaultPlaybooks() ([]Playbook, error) {
	sub, _ := fs.Sub(playbookFS, "playbooks")
	return LoadPlaybooks(sub)
}

// LoadPlaybooks reads every *.yaml file of fsys as a playbook, in name order, and checks them:
// for a hospital's own folder of playbooks (os.DirFS), which may replace shipped ones by ID.
func LoadPlaybooks(fsys fs.FS) ([]Playbook, error) {
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, fmt.Errorf("load playbooks: %w", err)
	}
	var out []Playbook
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("load playbooks: %w", err)
		}
		p, err := ParsePlaybook(data)
		if err != nil {
			return nil, fmt.Errorf("load playbook %s: %w", name, err)
		}
		if slices.ContainsFunc(out, func(q Playbook) bool { return q.ID == p.ID }) {
			return nil, fmt.Errorf("load playbook %s: ID %q used twice", name, p.ID)
		}
		out = append(out, p)
	}
	return out, nil
}

// WithPlaybooks returns base with the playbooks of dir added, replacing those of the same ID.
func WithPlaybooks(base []Playbook, dir string) ([]Playbook, error) {
	extra, err := LoadPlaybooks(os.DirFS(filepath.Clean(dir)))
	if err != nil {
		return nil, err
	}
	out := slices.Clone(base)
	for _, p := range extra {
		if i := slices.IndexFunc(out, func(q Playbook) bool { return q.ID == p.ID }); i >= 0 {
			out[i] = p
		} else {
			out = append(out, p)
		}
	}
	return out, nil
}

// ParsePlaybook reads one playbook (YAML) and checks it: unknown fields, a missing ID or
// title, no steps, or a step ID used twice are errors.
func ParsePlaybook(data []byte) (Playbook, error) {
	var p Playbook
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return Playbook{}, fmt.Errorf("parse playbook: %w", err)
	}
	switch {
	case !validKind(p.ID):
		return Playbook{}, fmt.Errorf("playbook ID %q: want lower-case letters, digits and '-'", p.ID)
	case p.Title == "":
		return Playbook{}, fmt.Errorf("playbook %s: no title", p.ID)
	case len(p.Steps) == 0:
		return Playbook{}, fmt.Errorf("playbook %s: no steps", p.ID)
	}
	seen := map[string]bool{}
	for i, s := range p.Steps {
		if !validKind(s.ID) || s.Title == "" {
			return Playbook{}, fmt.Errorf("playbook %s: step %d needs an ID (lower-case letters, digits, '-') and a title", p.ID, i+1)
		}
		if seen[s.ID] {
			return Playbook{}, fmt.Errorf("playbook %s: step ID %q used twice", p.ID, s.ID)
		}
		seen[s.ID] = true
	}
	return p, nil
}

func validKind(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func (s *Service) playbook(id string) (Playbook, bool) {
	i := slices.IndexFunc(s.cfg.Playbooks, func(p Playbook) bool { return p.ID == id })
	if i < 0 {
		return Playbook{}, false
	}
	return s.cfg.Playbooks[i], true
}

// checklist returns the steps of playbook p for a new kind on an incident.
func checklist(p Playbook) []store.ChecklistStep {
	var out []store.ChecklistStep
	for i, st := range p.Steps {
		out = append(out, store.ChecklistStep{Playbook: p.ID, Step: st.ID, Position: i + 1, Title: st.Title})
	}
	return out
}

// AddKind attaches the playbook kind to tenant's incident id by hand (a leak found by a
// person rather than a rule), with its checklist.
func (s *Service) AddKind(ctx context.Context, tenant, id, actor, kind string) (Incident, error) {
	p, ok := s.playbook(kind)
	if !ok {
		return Incident{}, refuse("add kind to %s: no playbook %q", id, kind)
	}
	return s.change(ctx, tenant, id, actor, "kind", func(inc *Incident, now time.Time) (store.IncidentChange, error) {
		if slices.Contains(inc.Kinds, kind) {
			return store.IncidentChange{}, refuse("already has playbook %s", kind)
		}
		inc.Kinds = append(inc.Kinds, kind)
		ch := store.IncidentChange{Detail: kind, Checklist: checklist(p),
			Timeline: []store.IncidentEvent{{Kind: "playbook", Detail: p.ID + ": " + p.Title}}}
		clocks, err := s.st.Tenant(tenant).IncidentClocks(ctx, inc.ID)
		if err != nil {
			return ch, err
		}
		ch.Clocks, err = s.statutoryClocks(*inc, clocks)
		return ch, err
	})
}

// ErrStep is wrapped when a checklist step does not exist on the incident.
var ErrStep = errors.New("incident: no such checklist step")

// CheckStep marks step of playbook on tenant's incident id done (or not done again), with
// who and when, so the time to each step is measured.
func (s *Service) CheckStep(ctx context.Context, tenant, id, actor, playbook, step string, done bool) (Incident, error) {
	return s.change(ctx, tenant, id, actor, "step", func(inc *Incident, now time.Time) (store.IncidentChange, error) {
		steps, err := s.st.Tenant(tenant).IncidentChecklist(ctx, inc.ID)
		if err != nil {
			return store.IncidentChange{}, err
		}
		i := slices.IndexFunc(steps, func(st store.ChecklistStep) bool { return st.Playbook == playbook && st.Step == step })
		if i < 0 {
			return store.IncidentChange{}, fmt.Errorf("%w: %s/%s", ErrStep, playbook, step)
		}
		st := steps[i]
		if done == !st.Done.IsZero() {
			return store.IncidentChange{}, refuse("step %s/%s is already %s", playbook, step, map[bool]string{true: "done", false: "not done"}[done])
		}
		kind := "step.done"
		st.Done, st.DoneBy = now, actor
		if !done {
			kind, st.Done, st.DoneBy = "step.undone", time.Time{}, ""
		}
		return store.IncidentChange{Detail: playbook + "/" + step, Checklist: []store.ChecklistStep{st},
			Timeline: []store.IncidentEvent{{Kind: kind, Detail: playbook + "/" + step + " " + st.Title}}}, nil
	})
}

package sigma

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/omamori-project/omamori/internal/event"
)

//go:embed logsources.yml
var defaultMappingYAML []byte

// Mapping says which events each Sigma log source means and which event keys its field
// names stand for. DefaultMapping is omamori's; ParseMapping reads one in the same form
// (see logsources.yml).
type Mapping struct {
	Windows struct {
		Fields     map[string][]string `yaml:"fields"`
		Default    []string            `yaml:"default"`
		Services   map[string][]string `yaml:"services"`
		Categories []struct {
			Category   string            `yaml:"category"`
			Service    string            `yaml:"service"`
			EventIDs   []string          `yaml:"eventids"`
			Conditions map[string]string `yaml:"conditions"`
			Fields     map[string]string `yaml:"fields"`
		} `yaml:"categories"`
	} `yaml:"windows"`
	Sources []struct {
		Logsource Logsource           `yaml:"logsource"`
		Datasets  []string            `yaml:"datasets"`
		Fields    map[string][]string `yaml:"fields"`
		Default   []string            `yaml:"default"`
	} `yaml:"sources"`
}

// DefaultMapping returns omamori's log-source mapping.
func DefaultMapping() *Mapping {
	m, err := ParseMapping(defaultMappingYAML)
	if err != nil {
		panic("sigma: the built-in logsources.yml: " + err.Error())
	}
	return m
}

// ParseMapping reads a log-source mapping in the form of logsources.yml.
func ParseMapping(data []byte) (*Mapping, error) {
	var m Mapping
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parse log-source mapping: %w", err)
	}
	for _, c := range m.Windows.Categories {
		if _, ok := m.Windows.Services[c.Service]; !ok {
			return nil, fmt.Errorf("parse log-source mapping: category %s names service %q, which has no channels", c.Category, c.Service)
		}
	}
	return &m, nil
}

// target is one way a rule's log source reaches events: Windows events of some channels (and
// event IDs), or events of some datasets; with the conditions the event must also meet and
// the names of fields.
type target struct {
	channels   []string // Windows; nil with windows set means every channel
	windows    bool
	eventIDs   []string // nil: every event ID
	datasets   []string
	conditions map[string]string // Sigma field → value the event must also have
	fields     map[string][]string
	defaults   []string
}

// targets resolves a log source. An empty list means no event omamori reads carries it: the
// rule still compiles, and is reported as having no source.
func (m *Mapping) targets(ls Logsource) []target {
	var out []target
	for _, s := range m.Sources {
		l := s.Logsource
		if l.Product != ls.Product || l.Category != ls.Category {
			continue
		}
		if l.Service != ls.Service && !(l.Service == "*" && ls.Service != "") {
			continue
		}
		sub := func(x string) string { return strings.ReplaceAll(x, "{service}", ls.Service) }
		t := target{fields: s.Fields}
		for _, d := range s.Datasets {
			t.datasets = append(t.datasets, sub(d))
		}
		for _, d := range s.Default {
			t.defaults = append(t.defaults, sub(d))
		}
		out = append(out, t)
	}
	if len(out) > 0 || ls.Product != "windows" && ls.Product != "" {
		return out
	}
	w := &m.Windows
	base := func() target {
		return target{windows: true, fields: w.Fields, defaults: w.Default}
	}
	switch {
	case ls.Category != "":
		for _, c := range w.Categories {
			if c.Category != ls.Category || ls.Service != "" && ls.Service != c.Service {
				continue
			}
			t := base()
			t.channels = w.Services[c.Service]
			t.eventIDs = c.EventIDs
			t.conditions = c.Conditions
			if len(c.Fields) > 0 {
				t.fields = map[string][]string{}
				for k, v := range w.Fields {
					t.fields[k] = v
				}
				for from, to := range c.Fields {
					for _, d := range w.Default {
						t.fields[from] = append(t.fields[from], strings.ReplaceAll(d, "{}", to))
					}
				}
			}
			out = append(out, t)
		}
	case ls.Service != "":
		if ch, ok := w.Services[ls.Service]; ok {
			t := base()
			t.channels = ch
			out = append(out, t)
		}
	case ls.Product == "windows":
		out = append(out, base()) // every Windows event
	}
	return out
}

// fieldRef says where a Sigma field's value comes from: the first of keys the event has.
type fieldRef struct {
	name string
	keys []event.Key
}

// Virtual keys name the typed common fields of an event, so a mapping can point a Sigma
// field at them.
var virtualNames = []string{"host.name", "message", "process.name", "user.name", "source.ip",
	"source.port", "destination.ip", "destination.port", "network.transport", "event.action",
	"event.category", "event.outcome", "event.dataset"}

func isVirtual(k event.Key) bool { return slices.Contains(virtualNames, k.String()) }

// resolver returns the fieldRef of each Sigma field name under t, made once per name.
func (t *target) resolver() func(string) *fieldRef {
	cache := map[string]*fieldRef{}
	return func(name string) *fieldRef {
		if r, ok := cache[name]; ok {
			return r
		}
		r := &fieldRef{name: name}
		names := t.fields[name]
		if len(names) == 0 {
			for _, d := range t.defaults {
				names = append(names, strings.ReplaceAll(d, "{}", name))
			}
		}
		if len(names) == 0 {
			names = []string{name}
		}
		for _, n := range names {
			r.keys = append(r.keys, event.K(n))
		}
		cache[name] = r
		return r
	}
}

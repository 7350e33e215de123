package sigma

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/omamori-project/omamori/internal/severity"
)

// Rule is one Sigma rule as written: a detection rule, or a correlation rule over others.
type Rule struct {
	ID          string
	Name        string // the name correlation rules may refer to it by
	Title       string
	Status      string
	Level       severity.Level
	Description string
	Tags        []string
	Logsource   Logsource
	Detection   *Detection   // nil for a correlation rule
	Correlation *Correlation // nil for a detection rule
	Path        string       // the file it came from, when loaded from one
}

// Logsource says what logs a rule reads.
type Logsource struct {
	Product  string `yaml:"product"`
	Category string `yaml:"category"`
	Service  string `yaml:"service"`
}

func (l Logsource) String() string {
	var parts []string
	for _, p := range [][2]string{{"product", l.Product}, {"category", l.Category}, {"service", l.Service}} {
		if p[1] != "" {
			parts = append(parts, p[0]+":"+p[1])
		}
	}
	return strings.Join(parts, " ")
}

// Detection is a rule's named searches and the condition that combines them.
type Detection struct {
	Searches  map[string]*Search
	Condition []string // several conditions are alternatives
}

// Search is one named search: alternatives (any of Any) each made of field matches that
// must all hold.
type Search struct {
	Any [][]*FieldMatch
}

// FieldMatch is one "field|modifier|modifier: values" item. A keyword search (a list of plain
// values) is a FieldMatch with no field.
type FieldMatch struct {
	Field     string
	Modifiers []string
	Values    []Value
}

// Value is one value as written in the rule. Null is YAML null.
type Value struct {
	S    string
	Null bool
}

// Correlation is a Sigma v2 correlation rule.
type Correlation struct {
	Type      string   // event_count, value_count, temporal, temporal_ordered
	Rules     []string // ids or names of the rules it correlates
	GroupBy   []string
	Timespan  string
	Condition map[string]string // gt, gte, lt, lte, eq, and field for value_count
	Generate  bool
	Aliases   map[string]map[string]string // alias → rule name → field
}

// ErrSyntax is wrapped by the errors Parse returns for YAML that is not a Sigma rule.
var ErrSyntax = errors.New("sigma: not a valid rule")

type ruleDoc struct {
	ID          string         `yaml:"id"`
	Name        string         `yaml:"name"`
	Title       string         `yaml:"title"`
	Status      string         `yaml:"status"`
	Level       severity.Level `yaml:"level"`
	Description string         `yaml:"description"`
	Tags        []string       `yaml:"tags"`
	Logsource   Logsource      `yaml:"logsource"`
	Detection   yaml.Node      `yaml:"detection"`
	Correlation yaml.Node      `yaml:"correlation"`
}

// Parse parses the YAML documents of one rule file. SigmaHQ files hold one rule; a
// correlation file may hold the correlation and the rules it refers to.
func Parse(data []byte) ([]*Rule, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var rules []*Rule
	for i := 0; ; i++ {
		var doc ruleDoc
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return rules, fmt.Errorf("%w: document %d: %v", ErrSyntax, i+1, err)
		}
		r, err := doc.rule()
		if err != nil {
			return rules, fmt.Errorf("%w: document %d (%s): %v", ErrSyntax, i+1, doc.Title, err)
		}
		if r != nil {
			rules = append(rules, r)
		}
	}
	if len(rules) == 0 {
		return nil, fmt.Errorf("%w: no rule in the file", ErrSyntax)
	}
	return rules, nil
}

func (d *ruleDoc) rule() (*Rule, error) {
	r := &Rule{ID: d.ID, Name: d.Name, Title: d.Title, Status: d.Status, Level: d.Level,
		Description: d.Description, Tags: d.Tags, Logsource: d.Logsource}
	switch {
	case d.Detection.Kind != 0 && d.Correlation.Kind != 0:
		return nil, errors.New("both detection and correlation")
	case d.Detection.Kind != 0:
		det, err := parseDetection(&d.Detection)
		if err != nil {
			return nil, err
		}
		r.Detection = det
	case d.Correlation.Kind != 0:
		c, err := parseCorrelation(&d.Correlation)
		if err != nil {
			return nil, err
		}
		r.Correlation = c
	case d.Title == "" && d.ID == "":
		return nil, nil // an empty document
	default:
		return nil, errors.New("no detection")
	}
	if r.Title == "" {
		return nil, errors.New("no title")
	}
	return r, nil
}

func parseDetection(n *yaml.Node) (*Detection, error) {
	if n.Kind != yaml.MappingNode {
		return nil, errors.New("detection is not a map")
	}
	det := &Detection{Searches: map[string]*Search{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, n.Content[i+1]
		if k == "condition" {
			switch v.Kind {
			case yaml.ScalarNode:
				det.Condition = []string{v.Value}
			case yaml.SequenceNode:
				for _, c := range v.Content {
					if c.Kind != yaml.ScalarNode {
						return nil, errors.New("condition list holds a non-string")
					}
					det.Condition = append(det.Condition, c.Value)
				}
			default:
				return nil, errors.New("condition is not a string or a list")
			}
			continue
		}
		if k == "timeframe" {
			return nil, errors.New("timeframe: Sigma v1 aggregations are not supported; write a correlation rule")
		}
		s, err := parseSearch(v)
		if err != nil {
			return nil, fmt.Errorf("search %s: %w", k, err)
		}
		det.Searches[k] = s
	}
	if len(det.Condition) == 0 {
		return nil, errors.New("detection has no condition")
	}
	return det, nil
}

func parseSearch(n *yaml.Node) (*Search, error) {
	s := &Search{}
	switch n.Kind {
	case yaml.MappingNode:
		g, err := parseMap(n)
		if err != nil {
			return nil, err
		}
		s.Any = [][]*FieldMatch{g}
	case yaml.SequenceNode:
		var keywords []Value
		for _, c := range n.Content {
			switch c.Kind {
			case yaml.MappingNode:
				g, err := parseMap(c)
				if err != nil {
					return nil, err
				}
				s.Any = append(s.Any, g)
			case yaml.ScalarNode:
				keywords = append(keywords, scalar(c))
			default:
				return nil, errors.New("list item is neither a map nor a value")
			}
		}
		if len(keywords) > 0 {
			s.Any = append(s.Any, []*FieldMatch{{Values: keywords}})
		}
	case yaml.ScalarNode:
		s.Any = [][]*FieldMatch{{{Values: []Value{scalar(n)}}}}
	default:
		return nil, errors.New("neither a map nor a list")
	}
	if len(s.Any) == 0 {
		return nil, errors.New("empty")
	}
	return s, nil
}

func parseMap(n *yaml.Node) ([]*FieldMatch, error) {
	var g []*FieldMatch
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, v := n.Content[i].Value, n.Content[i+1]
		parts := strings.Split(key, "|")
		fm := &FieldMatch{Field: parts[0], Modifiers: parts[1:]}
		switch v.Kind {
		case yaml.ScalarNode:
			fm.Values = []Value{scalar(v)}
		case yaml.SequenceNode:
			for _, c := range v.Content {
				if c.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("field %s: a value is not a scalar", key)
				}
				fm.Values = append(fm.Values, scalar(c))
			}
			if len(fm.Values) == 0 {
				return nil, fmt.Errorf("field %s: empty list of values", key)
			}
		default:
			return nil, fmt.Errorf("field %s: value is a map", key)
		}
		g = append(g, fm)
	}
	if len(g) == 0 {
		return nil, errors.New("empty map")
	}
	return g, nil
}

// scalar keeps a value as written: 0x10 stays "0x10", not 16, as Sigma compares strings.
func scalar(n *yaml.Node) Value {
	if n.Tag == "!!null" && n.Style == 0 {
		return Value{Null: true}
	}
	return Value{S: n.Value}
}

func parseCorrelation(n *yaml.Node) (*Correlation, error) {
	var raw struct {
		Type      string                       `yaml:"type"`
		Rules     yaml.Node                    `yaml:"rules"`
		GroupBy   yaml.Node                    `yaml:"group-by"`
		Timespan  string                       `yaml:"timespan"`
		Condition map[string]any               `yaml:"condition"`
		Generate  bool                         `yaml:"generate"`
		Aliases   map[string]map[string]string `yaml:"aliases"`
	}
	if err := n.Decode(&raw); err != nil {
		return nil, err
	}
	c := &Correlation{Type: raw.Type, Timespan: raw.Timespan, Generate: raw.Generate,
		Aliases: raw.Aliases, Condition: map[string]string{}}
	list := func(n *yaml.Node) []string {
		switch n.Kind {
		case yaml.ScalarNode:
			return []string{n.Value}
		case yaml.SequenceNode:
			var out []string
			for _, c := range n.Content {
				out = append(out, c.Value)
			}
			return out
		}
		return nil
	}
	c.Rules, c.GroupBy = list(&raw.Rules), list(&raw.GroupBy)
	for k, v := range raw.Condition {
		c.Condition[k] = fmt.Sprint(v)
	}
	switch c.Type {
	case "event_count", "value_count", "temporal", "temporal_ordered":
	default:
		return nil, fmt.Errorf("correlation type %q", c.Type)
	}
	if len(c.Rules) == 0 {
		return nil, errors.New("correlation names no rules")
	}
	if c.Timespan == "" {
		return nil, errors.New("correlation has no timespan")
	}
	return c, nil
}

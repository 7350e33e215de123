// Package severity is the one scale of how serious something is: a Sigma rule's level, the
// alert it raises, a behavioural finding, a response policy's threshold and an incident.
// It sits beside the data path rather than on it; every stage from the rules to the incidents
// reads and orders severities through it, so the five names are written once.
package severity

import (
	"fmt"
	"slices"
)

// Level is one of Sigma's levels. It is a string so that its wire forms (JSON of alerts and
// incidents, YAML of rules, policies and obligations, the store's columns) are the names
// themselves; Parse is what admits a name from outside.
type Level string

// Sigma's levels, least severe first.
const (
	Informational Level = "informational"
	Low           Level = "low"
	Medium        Level = "medium"
	High          Level = "high"
	Critical      Level = "critical"
)

// levels lists them in rising order; Rank is the index plus one.
var levels = [...]Level{Informational, Low, Medium, High, Critical}

// All returns the levels, least severe first, in a slice the caller owns.
func All() []Level { return slices.Clone(levels[:]) }

// Parse returns the level named s, exactly as Sigma spells it (lower case).
func Parse(s string) (Level, error) {
	if l := Level(s); l.Rank() > 0 {
		return l, nil
	}
	return "", fmt.Errorf("severity: unknown level %q (want informational, low, medium, high or critical)", s)
}

// Rank orders levels: 1 for Informational to 5 for Critical, 0 for anything else, which so
// ranks below every level.
func (l Level) Rank() int { return slices.Index(levels[:], l) + 1 }

// AtLeast reports whether l is min or more severe.
func (l Level) AtLeast(min Level) bool { return l.Rank() >= min.Rank() }

// Compare orders a before b when a is less severe, for slices.SortFunc; reverse the arguments
// for most severe first.
func Compare(a, b Level) int { return a.Rank() - b.Rank() }

func (l Level) String() string { return string(l) }

package sigma

import (
	"regexp/syntax"
	"strings"
)

// regexLiterals returns substrings, lowercased, one of which every text the regular
// expression matches contains; ok is false when there are none to name (a regular expression
// of character classes alone). The rule index keys regular-expression rules on them instead
// of trying the expression on every event.
func regexLiterals(expr string) (lits []string, ok bool) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, false
	}
	lits, ok = needed(re.Simplify())
	if !ok {
		return nil, false
	}
	for i := range lits {
		if lits[i] == "" {
			return nil, false
		}
		lits[i] = strings.ToLower(lits[i])
	}
	return lits, true
}

func needed(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		return []string{string(re.Rune)}, true
	case syntax.OpCapture, syntax.OpPlus:
		return needed(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return needed(re.Sub[0])
		}
	case syntax.OpAlternate:
		var out []string
		for _, s := range re.Sub {
			l, ok := needed(s)
			if !ok {
				return nil, false
			}
			out = append(out, l...)
		}
		return out, true
	case syntax.OpConcat:
		// Adjacent literals join into a longer one; of the rest, the best single piece.
		var best []string
		found := false
		consider := func(l []string) {
			if !found || litScore(l) > litScore(best) {
				best, found = l, true
			}
		}
		var run strings.Builder
		for _, s := range re.Sub {
			if s.Op == syntax.OpLiteral {
				run.WriteString(string(s.Rune))
				continue
			}
			if run.Len() > 0 {
				consider([]string{run.String()})
				run.Reset()
			}
			if l, ok := needed(s); ok {
				consider(l)
			}
		}
		if run.Len() > 0 {
			consider([]string{run.String()})
		}
		return best, found
	}
	return nil, false
}

func litScore(l []string) int {
	min := 1 << 30
	for _, s := range l {
		min = sizeMin(min, len(s))
	}
	return min*64 - len(l)
}

func sizeMin(a, b int) int {
	if a < b {
		return a
	}
	return b
}

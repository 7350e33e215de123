package sigma

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// node is a parsed condition: and, or, not, a search by name, or "N of pattern".
type node struct {
	op    string // "and", "or", "not", "ref", "of"
	kids  []*node
	name  string // ref: the search; of: the pattern, or "them"
	count int    // of: how many must match; 0 means all
}

func (n *node) String() string {
	switch n.op {
	case "ref":
		return n.name
	case "of":
		c := "all"
		if n.count > 0 {
			c = strconv.Itoa(n.count)
		}
		return c + " of " + n.name
	case "not":
		return "not " + n.kids[0].String()
	}
	var parts []string
	for _, k := range n.kids {
		parts = append(parts, k.String())
	}
	return "(" + strings.Join(parts, " "+n.op+" ") + ")"
}

// parseCondition parses a Sigma condition: not binds tighter than and, and than or.
func parseCondition(s string) (*node, error) {
	if strings.Contains(s, "|") {
		return nil, errors.New("condition has a \"|\" aggregation (Sigma v1); write a correlation rule")
	}
	p := &condParser{toks: tokenize(s)}
	if len(p.toks) == 0 {
		return nil, errors.New("empty condition")
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		return nil, fmt.Errorf("unexpected %q in condition", p.toks[p.i])
	}
	return n, nil
}

func tokenize(s string) []string {
	var toks []string
	cur := strings.Builder{}
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		switch r {
		case ' ', '\t', '\n', '\r':
			flush()
		case '(', ')':
			flush()
			toks = append(toks, string(r))
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return toks
}

type condParser struct {
	toks  []string
	i     int
	depth int
}

func (p *condParser) peek() string {
	if p.i < len(p.toks) {
		return strings.ToLower(p.toks[p.i])
	}
	return ""
}

func (p *condParser) or() (*node, error) {
	return p.binary("or", p.and)
}

func (p *condParser) and() (*node, error) {
	return p.binary("and", p.not)
}

func (p *condParser) binary(op string, next func() (*node, error)) (*node, error) {
	n, err := next()
	if err != nil {
		return nil, err
	}
	kids := []*node{n}
	for p.peek() == op {
		p.i++
		k, err := next()
		if err != nil {
			return nil, err
		}
		kids = append(kids, k)
	}
	if len(kids) == 1 {
		return n, nil
	}
	return &node{op: op, kids: kids}, nil
}

func (p *condParser) not() (*node, error) {
	if p.peek() == "not" {
		p.i++
		k, err := p.not()
		if err != nil {
			return nil, err
		}
		return &node{op: "not", kids: []*node{k}}, nil
	}
	return p.primary()
}

func (p *condParser) primary() (*node, error) {
	t := p.peek()
	switch t {
	case "":
		return nil, errors.New("condition ends too early")
	case "(":
		p.depth++
		if p.depth > 100 {
			return nil, errors.New("condition nests too deep")
		}
		p.i++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, errors.New("missing ) in condition")
		}
		p.i++
		p.depth--
		return n, nil
	case ")", "and", "or", "of":
		return nil, fmt.Errorf("unexpected %q in condition", t)
	}
	count := -1
	if t == "all" {
		count = 0
	} else if t == "any" {
		count = 1
	} else if n, err := strconv.Atoi(t); err == nil && n > 0 {
		count = n
	}
	if count >= 0 && p.i+1 < len(p.toks) && strings.ToLower(p.toks[p.i+1]) == "of" {
		if p.i+2 >= len(p.toks) {
			return nil, fmt.Errorf("%q of what", t)
		}
		name := p.toks[p.i+2]
		if name == "(" || name == ")" {
			return nil, fmt.Errorf("unexpected %q after of", name)
		}
		p.i += 3
		return &node{op: "of", name: name, count: count}, nil
	}
	p.i++
	return &node{op: "ref", name: p.toks[p.i-1]}, nil
}

// expandOf replaces "N of pattern" by and/or over the search names it matches; "them" is
// every search whose name does not start with "_".
func expandOf(n *node, names []string) (*node, error) {
	switch n.op {
	case "ref":
		if !slices.Contains(names, n.name) {
			return nil, fmt.Errorf("condition names %q, which is not a search", n.name)
		}
		return n, nil
	case "of":
		var match []string
		for _, s := range names {
			ok := false
			if n.name == "them" {
				ok = !strings.HasPrefix(s, "_")
			} else {
				ok, _ = path.Match(n.name, s)
			}
			if ok {
				match = append(match, s)
			}
		}
		if len(match) == 0 {
			return nil, fmt.Errorf("%q matches no search", n.name)
		}
		slices.Sort(match)
		var kids []*node
		for _, s := range match {
			kids = append(kids, &node{op: "ref", name: s})
		}
		switch {
		case n.count == 0:
			return &node{op: "and", kids: kids}, nil
		case n.count == 1:
			return &node{op: "or", kids: kids}, nil
		case n.count > len(kids):
			return nil, fmt.Errorf("%d of %q, which matches %d searches", n.count, n.name, len(kids))
		}
		return &node{op: "atleast", kids: kids, count: n.count}, nil
	}
	out := &node{op: n.op, count: n.count}
	for _, k := range n.kids {
		e, err := expandOf(k, names)
		if err != nil {
			return nil, err
		}
		out.kids = append(out.kids, e)
	}
	return out, nil
}

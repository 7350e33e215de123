package intel

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnsupported is wrapped by the pattern errors ParsePattern returns for valid STIX that a
// Set cannot evaluate on its own: AND and FOLLOWEDBY (which need several observations at
// once), qualifiers (WITHIN, REPEATS, START/STOP), NOT, operators other than = IN and
// ISSUBSET, and objects other than addresses, domains, URLs and file hashes. Matching a part
// of such a pattern would raise alerts the pattern does not describe.
var ErrUnsupported = errors.New("intel: unsupported pattern")

// ErrPatternSyntax is wrapped by the errors ParsePattern returns for text that is not a STIX
// pattern.
var ErrPatternSyntax = errors.New("intel: pattern syntax")

// A Term is one comparison of a STIX pattern that a Set can match: a kind and a normalized
// value.
type Term struct {
	Kind  Kind
	Value string
}

// maxDepth bounds the nesting of brackets and parentheses, so a hostile pattern cannot run
// the recursive parser out of stack.
const maxDepth = 64

// ParsePattern reads a STIX 2.1 pattern and returns the comparisons in it that stand alone
// as indicators: those joined by OR, inside one observation or between observations, with
// the operators =, IN and ISSUBSET on
//
//	ipv4-addr:value, ipv6-addr:value    an address, or a network ('198.51.100.0/24')
//	domain-name:value
//	url:value
//	file:hashes.MD5, file:hashes.'SHA-1', file:hashes.'SHA-256' (any spelling MISP or STIX uses)
//
// For example [ipv4-addr:value ISSUBSET '198.51.100.0/24'] OR [domain-name:value = 'evil.example'].
// Every part it cannot use is an error wrapping ErrUnsupported (an AND, a qualifier, another
// object), ErrInvalidValue (a bad value) or ErrPatternSyntax, so the caller can report it; the
// usable branches of an OR are returned beside those errors. A syntax error returns no terms.
func ParsePattern(pattern string) ([]Term, []error) {
	p := &patternParser{lex: lexer{s: pattern}}
	p.next()
	n, err := p.parse()
	if err != nil {
		return nil, []error{err}
	}
	var c collector
	c.walk(n)
	return c.terms, c.errs
}

// node is one part of a parsed pattern.
type node struct {
	op   string // "cmp", "OR", "AND", "FOLLOWEDBY", or a qualifier keyword
	kids []*node
	pos  int
	// comparison
	path   string
	not    bool
	cmp    string // "=", "!=", "IN", "LIKE", ...
	values []token
}

type patternParser struct {
	lex   lexer
	tok   token
	depth int
}

func (p *patternParser) next() { p.tok = p.lex.next() }

func (p *patternParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrPatternSyntax, fmt.Sprintf(format, args...))
}

func (p *patternParser) parse() (*node, error) {
	n, err := p.obsSeq()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, p.errorf("unexpected %s at offset %d", p.tok, p.tok.pos)
	}
	return n, nil
}

// binary parses operands joined by the keyword op, left to right, into one node.
func (p *patternParser) binary(op string, operand func() (*node, error)) (*node, error) {
	first, err := operand()
	if err != nil {
		return nil, err
	}
	if !p.tok.is(op) {
		return first, nil
	}
	n := &node{op: op, kids: []*node{first}, pos: p.tok.pos}
	for p.tok.is(op) {
		p.next()
		k, err := operand()
		if err != nil {
			return nil, err
		}
		n.kids = append(n.kids, k)
	}
	return n, nil
}

func (p *patternParser) obsSeq() (*node, error) { return p.binary("FOLLOWEDBY", p.obsOr) }
func (p *patternParser) obsOr() (*node, error)  { return p.binary("OR", p.obsAnd) }
func (p *patternParser) obsAnd() (*node, error) { return p.binary("AND", p.obsQualified) }

func (p *patternParser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errorf("nested deeper than %d at offset %d", maxDepth, p.tok.pos)
	}
	return nil
}

func (p *patternParser) obsQualified() (*node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	var n *node
	switch p.tok.kind {
	case tokLBracket:
		p.next()
		var err error
		if n, err = p.cmpOr(); err != nil {
			return nil, err
		}
		if err := p.expect(tokRBracket); err != nil {
			return nil, err
		}
	case tokLParen:
		p.next()
		var err error
		if n, err = p.obsSeq(); err != nil {
			return nil, err
		}
		if err := p.expect(tokRParen); err != nil {
			return nil, err
		}
	default:
		return nil, p.errorf("want '[' or '(' at offset %d, got %s", p.tok.pos, p.tok)
	}
	for {
		q := p.tok
		var args int
		switch {
		case q.is("WITHIN"), q.is("REPEATS"):
			args = 2 // WITHIN n SECONDS, REPEATS n TIMES
		case q.is("START"):
			args = 3 // START t'…' STOP t'…'
		default:
			return n, nil
		}
		p.next()
		for range args {
			if p.tok.kind != tokWord && p.tok.kind != tokTyped {
				return nil, p.errorf("incomplete %s qualifier at offset %d", strings.ToUpper(q.text), q.pos)
			}
			p.next()
		}
		n = &node{op: strings.ToUpper(q.text), kids: []*node{n}, pos: q.pos}
	}
}

func (p *patternParser) expect(k tokKind) error {
	if p.tok.kind != k {
		return p.errorf("want %s at offset %d, got %s", k, p.tok.pos, p.tok)
	}
	p.next()
	return nil
}

func (p *patternParser) cmpOr() (*node, error)  { return p.binary("OR", p.cmpAnd) }
func (p *patternParser) cmpAnd() (*node, error) { return p.binary("AND", p.propTest) }

func (p *patternParser) propTest() (*node, error) {
	if p.tok.kind == tokLParen {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		p.next()
		n, err := p.cmpOr()
		if err != nil {
			return nil, err
		}
		return n, p.expect(tokRParen)
	}
	n := &node{op: "cmp", pos: p.tok.pos}
	if p.tok.is("EXISTS") {
		p.next()
		n.cmp = "EXISTS"
	}
	if p.tok.kind != tokWord || !strings.Contains(p.tok.text, ":") {
		return nil, p.errorf("want an object path at offset %d, got %s", p.tok.pos, p.tok)
	}
	n.path = p.tok.text
	p.next()
	if n.cmp == "EXISTS" {
		return n, nil
	}
	if p.tok.is("NOT") {
		n.not = true
		p.next()
	}
	op := p.tok
	switch {
	case op.kind == tokOp:
		n.cmp = op.text
	case op.is("IN"), op.is("LIKE"), op.is("MATCHES"), op.is("ISSUBSET"), op.is("ISSUPERSET"):
		n.cmp = strings.ToUpper(op.text)
	default:
		return nil, p.errorf("want an operator after %s at offset %d, got %s", n.path, op.pos, op)
	}
	p.next()
	if n.cmp != "IN" {
		if !p.tok.literal() {
			return nil, p.errorf("want a literal after %s %s at offset %d, got %s", n.path, n.cmp, p.tok.pos, p.tok)
		}
		n.values = []token{p.tok}
		p.next()
		return n, nil
	}
	if err := p.expect(tokLParen); err != nil {
		return nil, err
	}
	for {
		if !p.tok.literal() {
			return nil, p.errorf("want a literal in the IN list at offset %d, got %s", p.tok.pos, p.tok)
		}
		n.values = append(n.values, p.tok)
		p.next()
		if p.tok.kind != tokComma {
			break
		}
		p.next()
	}
	return n, p.expect(tokRParen)
}

// collector gathers the terms of the parts of a pattern a Set can match, and an error for
// each part it cannot.
type collector struct {
	terms []Term
	errs  []error
}

func (c *collector) unsupported(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...)))
}

func (c *collector) walk(n *node) {
	switch n.op {
	case "OR":
		for _, k := range n.kids {
			c.walk(k)
		}
	case "cmp":
		c.comparison(n)
	case "AND", "FOLLOWEDBY":
		c.unsupported("%s at offset %d joins %d expressions that must all be seen", n.op, n.pos, len(n.kids))
	default:
		c.unsupported("qualifier %s at offset %d", n.op, n.pos)
	}
}

func (c *collector) comparison(n *node) {
	kind, family, ok := pathKind(n.path)
	if !ok {
		c.unsupported("object path %s", n.path)
		return
	}
	if n.not {
		c.unsupported("NOT %s on %s", n.cmp, n.path)
		return
	}
	switch n.cmp {
	case "=", "IN":
	case "ISSUBSET":
		if kind != KindIP {
			c.unsupported("ISSUBSET on %s", n.path)
			return
		}
	default:
		c.unsupported("operator %s on %s", n.cmp, n.path)
		return
	}
	for _, v := range n.values {
		if v.kind != tokString {
			c.errs = append(c.errs, fmt.Errorf("%w: %s compared with %s, want a quoted string", ErrInvalidValue, n.path, v))
			continue
		}
		k := kind
		if k == KindIP && (n.cmp == "ISSUBSET" || strings.Contains(v.text, "/")) {
			k = KindCIDR // feeds write networks with '=', though STIX says ISSUBSET
		}
		norm, err := Normalize(k, v.text)
		if err != nil {
			c.errs = append(c.errs, fmt.Errorf("%s: %w", n.path, err))
			continue
		}
		if family != "" && strings.Contains(norm, ":") != (family == ":") {
			// ipv4-addr holding an IPv6 value or the reverse: a mistake in the feed.
			c.errs = append(c.errs, fmt.Errorf("%w: %s holds %q of the other address family", ErrInvalidValue, n.path, v.text))
			continue
		}
		c.terms = append(c.terms, Term{k, norm})
	}
}

// pathKind maps the object paths a Term can come from. For addresses it also returns a
// marker of the family: "." for IPv4, ":" for IPv6, checked against the normalized value.
func pathKind(path string) (Kind, string, bool) {
	switch path {
	case "ipv4-addr:value":
		return KindIP, ".", true
	case "ipv6-addr:value":
		return KindIP, ":", true
	case "domain-name:value":
		return KindDomain, "", true
	case "url:value":
		return KindURL, "", true
	}
	if h, ok := strings.CutPrefix(path, "file:hashes."); ok {
		h = strings.ToUpper(strings.Trim(h, "'"))
		switch strings.ReplaceAll(h, "-", "") {
		case "MD5":
			return KindMD5, "", true
		case "SHA1":
			return KindSHA1, "", true
		case "SHA256":
			return KindSHA256, "", true
		}
	}
	return 0, "", false
}

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokErr
	tokLBracket
	tokRBracket
	tokLParen
	tokRParen
	tokComma
	tokOp
	tokString
	tokTyped // t'…', h'…', b'…'
	tokWord  // keywords, object paths, numbers, booleans
)

var tokNames = [...]string{"end of pattern", "error", "'['", "']'", "'('", "')'", "','", "operator", "string", "typed literal", "word"}

func (k tokKind) String() string { return tokNames[k] }

type token struct {
	kind tokKind
	text string
	pos  int
}

func (t token) String() string {
	if t.kind == tokEOF {
		return t.kind.String()
	}
	return fmt.Sprintf("%s %q", t.kind, t.text)
}

func (t token) is(keyword string) bool {
	return t.kind == tokWord && strings.EqualFold(t.text, keyword)
}

// literal reports whether t can be a comparison's value: a string, typed literal, number
// or boolean (a word that is not a path).
func (t token) literal() bool {
	return t.kind == tokString || t.kind == tokTyped || t.kind == tokWord && !strings.Contains(t.text, ":")
}

type lexer struct {
	s   string
	pos int
}

func (l *lexer) next() token {
	for l.pos < len(l.s) && strings.IndexByte(" \t\r\n", l.s[l.pos]) >= 0 {
		l.pos++
	}
	start := l.pos
	if l.pos >= len(l.s) {
		return token{kind: tokEOF, pos: start}
	}
	c := l.s[l.pos]
	switch c {
	case '[':
		l.pos++
		return token{kind: tokLBracket, text: "[", pos: start}
	case ']':
		l.pos++
		return token{kind: tokRBracket, text: "]", pos: start}
	case '(':
		l.pos++
		return token{kind: tokLParen, text: "(", pos: start}
	case ')':
		l.pos++
		return token{kind: tokRParen, text: ")", pos: start}
	case ',':
		l.pos++
		return token{kind: tokComma, text: ",", pos: start}
	case '\'':
		s, ok := l.quoted()
		if !ok {
			return token{kind: tokErr, text: "unterminated string", pos: start}
		}
		return token{kind: tokString, text: s, pos: start}
	case '=', '!', '<', '>':
		l.pos++
		if l.pos < len(l.s) && l.s[l.pos] == '=' {
			l.pos++
		}
		if c == '!' && l.pos-start == 1 {
			return token{kind: tokErr, text: "!", pos: start}
		}
		return token{kind: tokOp, text: l.s[start:l.pos], pos: start}
	case 't', 'h', 'b':
		if l.pos+1 < len(l.s) && l.s[l.pos+1] == '\'' {
			l.pos++
			s, ok := l.quoted()
			if !ok {
				return token{kind: tokErr, text: "unterminated string", pos: start}
			}
			return token{kind: tokTyped, text: string(c) + "'" + s + "'", pos: start}
		}
	}
	// A word runs to a space, bracket or operator; an object path may hold quoted names
	// (file:hashes.'SHA-256') and list indexes (body_multipart[*]).
	var b strings.Builder
	for l.pos < len(l.s) {
		c := l.s[l.pos]
		switch {
		case c == '\'' && l.pos > start && l.s[l.pos-1] == '.':
			s, ok := l.quoted()
			if !ok {
				return token{kind: tokErr, text: "unterminated string", pos: start}
			}
			b.WriteString("'" + s + "'")
			continue
		case c == '[' && l.pos > start && strings.Contains(l.s[start:l.pos], ":"):
			end := strings.IndexByte(l.s[l.pos:], ']')
			if end < 0 {
				return token{kind: tokErr, text: "unterminated index", pos: start}
			}
			b.WriteString(l.s[l.pos : l.pos+end+1])
			l.pos += end + 1
			continue
		case strings.IndexByte(" \t\r\n[]()',=!<>", c) >= 0:
			if l.pos == start {
				l.pos++
				return token{kind: tokErr, text: string(c), pos: start}
			}
			return token{kind: tokWord, text: b.String(), pos: start}
		}
		b.WriteByte(c)
		l.pos++
	}
	return token{kind: tokWord, text: b.String(), pos: start}
}

// quoted reads a '…' string at l.pos with the escapes \' and \\.
func (l *lexer) quoted() (string, bool) {
	l.pos++
	var b strings.Builder
	for l.pos < len(l.s) {
		c := l.s[l.pos]
		switch c {
		case '\\':
			if l.pos+1 < len(l.s) {
				b.WriteByte(l.s[l.pos+1])
				l.pos += 2
				continue
			}
			return "", false
		case '\'':
			l.pos++
			return b.String(), true
		}
		b.WriteByte(c)
		l.pos++
	}
	return "", false
}

// Package ahocorasick finds every occurrence of many literal strings in a text in one pass
// (Aho–Corasick, compiled to a DFA). The Sigma compiler uses it to learn, for one field of
// one event, which of thousands of rule literals it contains, so that detection does not
// try every rule on every event.
//
// The libraries weighed (github.com/cloudflare/ahocorasick, github.com/petar-dambovaliev/aho-corasick)
// have no tagged release, and the first allocates a result slice per scan and the second
// reports leftmost rather than all overlapping matches, which a prefilter needs.
package ahocorasick

import "sort"

// Matcher is a compiled set of patterns. It is immutable and safe for concurrent use.
type Matcher struct {
	class    [256]uint8 // byte → column of trans; folds ASCII case when built with Fold
	classes  int
	trans    []int32  // state*classes + class → next state
	trans16  []uint16 // the same, when the states fit: half the memory, fewer cache misses
	outStart []int32  // outputs of state s are outs[outStart[s]:outStart[s+1]]
	outs     []int32
	patterns int
}

// Options change how patterns match.
type Options struct {
	// Fold makes matching ASCII case-insensitive: patterns and text are compared as if
	// lowercased.
	Fold bool
}

type node struct {
	next map[byte]int32
	fail int32
	out  []int32
}

// New compiles patterns. Pattern i is reported as i. Empty patterns are never reported.
func New(patterns []string, opts Options) *Matcher {
	m := &Matcher{patterns: len(patterns)}
	lower := func(b byte) byte {
		if opts.Fold && b >= 'A' && b <= 'Z' {
			return b + 'a' - 'A'
		}
		return b
	}
	// Bytes no pattern uses share class 0, which only ever leads back towards the root.
	var used [256]bool
	for _, p := range patterns {
		for i := 0; i < len(p); i++ {
			used[lower(p[i])] = true
		}
	}
	n := 1
	var col [256]uint8
	for b := range 256 {
		if used[b] {
			col[b] = uint8(n)
			n++
		}
	}
	if n > 256 { // every byte value used: class 0 is a real byte then
		n = 256
		for b := range 256 {
			col[b] = uint8(b)
		}
	}
	for b := range 256 {
		m.class[b] = col[lower(byte(b))]
	}
	m.classes = n

	nodes := []node{{}}
	for i, p := range patterns {
		if p == "" {
			continue
		}
		s := int32(0)
		for j := 0; j < len(p); j++ {
			c := m.class[p[j]]
			if nodes[s].next == nil {
				nodes[s].next = map[byte]int32{}
			}
			t, ok := nodes[s].next[c]
			if !ok {
				t = int32(len(nodes))
				nodes = append(nodes, node{})
				nodes[s].next[c] = t
			}
			s = t
		}
		nodes[s].out = append(nodes[s].out, int32(i))
	}

	// Breadth-first: a node's failure link is known before its children's.
	m.trans = make([]int32, len(nodes)*n)
	queue := make([]int32, 0, len(nodes))
	for c := range n {
		if t, ok := nodes[0].next[byte(c)]; ok {
			m.trans[c] = t
			queue = append(queue, t)
		}
	}
	for qi := 0; qi < len(queue); qi++ {
		s := queue[qi]
		f := nodes[s].fail
		nodes[s].out = append(nodes[s].out, nodes[f].out...)
		for c := range n {
			if t, ok := nodes[s].next[byte(c)]; ok {
				nodes[t].fail = m.trans[int(f)*n+c]
				m.trans[int(s)*n+c] = t
				queue = append(queue, t)
			} else {
				m.trans[int(s)*n+c] = m.trans[int(f)*n+c]
			}
		}
	}
	if len(nodes) <= 1<<16 {
		m.trans16 = make([]uint16, len(m.trans))
		for i, t := range m.trans {
			m.trans16[i] = uint16(t)
		}
		m.trans = nil
	}
	m.outStart = make([]int32, len(nodes)+1)
	for s := range nodes {
		o := nodes[s].out
		sort.Slice(o, func(i, j int) bool { return o[i] < o[j] })
		m.outs = append(m.outs, o...)
		m.outStart[s+1] = int32(len(m.outs))
	}
	return m
}

// Len returns the number of patterns the matcher was built with.
func (m *Matcher) Len() int { return m.patterns }

// States returns the number of DFA states, a measure of the matcher's memory.
func (m *Matcher) States() int { return len(m.outStart) - 1 }

// Each calls fn with the index of every pattern that occurs in text, once per occurrence,
// in the order their occurrences end.
func (m *Matcher) Each(text string, fn func(pattern int)) {
	if m.trans16 != nil {
		s := int32(0)
		n := int32(m.classes)
		for i := 0; i < len(text); i++ {
			s = int32(m.trans16[s*n+int32(m.class[text[i]])])
			if a, b := m.outStart[s], m.outStart[s+1]; a != b {
				for _, p := range m.outs[a:b] {
					fn(int(p))
				}
			}
		}
		return
	}
	s := int32(0)
	n := int32(m.classes)
	for i := 0; i < len(text); i++ {
		s = m.trans[s*n+int32(m.class[text[i]])]
		if a, b := m.outStart[s], m.outStart[s+1]; a != b {
			for _, p := range m.outs[a:b] {
				fn(int(p))
			}
		}
	}
}

// Append appends to dst the index of every pattern that occurs in text, once per
// occurrence, in the order their occurrences end, and returns the extended slice. Unlike
// Each it costs no closure on the hot path.
func (m *Matcher) Append(dst []int32, text string) []int32 {
	if m.trans16 != nil {
		s := int32(0)
		n := int32(m.classes)
		for i := 0; i < len(text); i++ {
			s = int32(m.trans16[s*n+int32(m.class[text[i]])])
			if a, b := m.outStart[s], m.outStart[s+1]; a != b {
				dst = append(dst, m.outs[a:b]...)
			}
		}
		return dst
	}
	s := int32(0)
	n := int32(m.classes)
	for i := 0; i < len(text); i++ {
		s = m.trans[s*n+int32(m.class[text[i]])]
		if a, b := m.outStart[s], m.outStart[s+1]; a != b {
			dst = append(dst, m.outs[a:b]...)
		}
	}
	return dst
}

// Contains reports whether any pattern occurs in text.
func (m *Matcher) Contains(text string) bool {
	if m.trans16 != nil {
		s := int32(0)
		n := int32(m.classes)
		for i := 0; i < len(text); i++ {
			s = int32(m.trans16[s*n+int32(m.class[text[i]])])
			if m.outStart[s] != m.outStart[s+1] {
				return true
			}
		}
		return false
	}
	s := int32(0)
	n := int32(m.classes)
	for i := 0; i < len(text); i++ {
		s = m.trans[s*n+int32(m.class[text[i]])]
		if m.outStart[s] != m.outStart[s+1] {
			return true
		}
	}
	return false
}

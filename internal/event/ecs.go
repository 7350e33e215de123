package event

import (
	"unicode/utf8"
)

// AppendECS appends e to dst as one line of JSON with Elastic Common Schema field names
// (@timestamp, source.ip, user.name, event.outcome, ...), flat and dotted, followed by a
// newline. It is how omamori shows what it understood of a record, and the form of exports.
//
// Extra fields follow the common ones under their own names. The raw record goes in
// event.original, or base64 in event.original_base64 when it is not UTF-8 text.
func AppendECS(dst []byte, e *Event) []byte {
	var scratch [64]byte // room for any value that is not text: a time, an address, a number
	w := ecsWriter{b: append(dst, '{'), tmp: scratch[:0]}
	for i, c := range commons {
		if i == len(commons)-rawCommons {
			w.fields(e.Fields)
		}
		w.common(c, e)
	}
	return append(w.b, '}', '\n')
}

type ecsWriter struct {
	b    []byte
	more bool
	tmp  []byte // a common field's value, before it is quoted
}

func (w *ecsWriter) key(k string) {
	if w.more {
		w.b = append(w.b, ',')
	}
	w.more = true
	w.b = AppendJSONString(w.b, k)
	w.b = append(w.b, ':')
}

// common writes e's value of c, if it has one.
func (w *ecsWriter) common(c Common, e *Event) {
	if c.Text != nil {
		w.str(c.Name, c.Text(e))
		return
	}
	var ok bool
	if w.tmp, ok = c.Append(w.tmp[:0], e); !ok {
		return
	}
	w.key(c.Name)
	if c.Number {
		w.b = append(w.b, w.tmp...)
	} else {
		w.b = AppendJSONString(w.b, String(w.tmp))
	}
}

func (w *ecsWriter) str(k, v string) {
	if v == "" {
		return
	}
	w.key(k)
	w.b = AppendJSONString(w.b, v)
}

// fields writes extra fields. A key that repeats (a JSON array a source sent, a Windows event
// that names a value twice) becomes one key with an array of its values in their order, so the
// output stays a JSON object with unique keys.
func (w *ecsWriter) fields(fs []Field) {
next:
	for i, f := range fs {
		for _, g := range fs[:i] {
			if g.Key == f.Key {
				continue next
			}
		}
		n := 1
		for _, g := range fs[i+1:] {
			if g.Key == f.Key {
				n++
			}
		}
		if n == 1 {
			w.str(f.Key.String(), f.Value)
			continue
		}
		w.key(f.Key.String())
		w.b = append(w.b, '[')
		for j, g := range fs[i:] {
			if g.Key != f.Key {
				continue
			}
			if j > 0 {
				w.b = append(w.b, ',')
			}
			w.b = AppendJSONString(w.b, g.Value)
		}
		w.b = append(w.b, ']')
	}
}

// AppendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does; HTML characters are not escaped, since the output is not for a page.
func AppendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

package decode

import (
	"bytes"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/omamori-project/omamori/internal/event"
)

// jsonFlat flattens one JSON object into leaves with dotted key paths ("alert.signature"),
// without building maps: the JSON decoders (json, eve, zeek-json, evtx-json, winlogbeat, ehr)
// then read the leaves in order. String values share the record's memory unless they hold
// escapes, so a record without escapes costs no allocation once the buffers have grown.
//
// Elements of an array take the path of the array, so a list of three strings becomes three
// leaves with one key; each leaf also says which object holds it, so that the attribute and
// the text of one Windows XML element, rendered as {"#attributes":{"Name":..},"#text":..},
// can be paired again.
//
// Package evtx fills the same structure from binary XML (jsonFlat is its Sink), which is how a .evtx record and
// its JSON rendering come out as the same event.
type jsonFlat struct {
	data   []byte
	pos    int
	depth  int
	objs   int32
	path   []byte     // the path of the value being read
	keys   []byte     // the paths of all leaves, back to back
	leaves []jsonLeaf // in document order

	cache   map[string]event.Key // interned keys by name, so K is not called per field
	scratch []byte
	norm    []byte
	fields  []event.Field // fields held back while an event's first fields are found
}

type jsonKind uint8

const (
	jsonString jsonKind = iota + 1
	jsonNumber
	jsonTrue
	jsonFalse
	jsonNull
)

// jsonLeaf is one scalar of the document.
type jsonLeaf struct {
	k0, k1 int32 // key path in jsonFlat.keys[k0:k1]
	obj    int32 // number of the innermost object that holds it, in document order
	kind   jsonKind
	val    string // the string's text, the number's literal, "true", "false", or "" for null
}

// jsonMaxDepth bounds nesting: deeper documents are refused rather than risking the stack.
const jsonMaxDepth = 100

// jsonMaxKeys bounds the per-decoder key cache, which a source with ever-new key names would
// otherwise grow without end.
const jsonMaxKeys = 8192

// jsonSyntaxError says where a document stops being JSON.
type jsonSyntaxError struct {
	off int
	msg string
}

func (e *jsonSyntaxError) Error() string { return fmt.Sprintf("offset %d: %s", e.off, e.msg) }

func (f *jsonFlat) reset() {
	f.data, f.pos, f.depth, f.objs = nil, 0, 0, 0
	f.path, f.keys, f.leaves = f.path[:0], f.keys[:0], f.leaves[:0]
}

// parse flattens data, which must hold exactly one JSON object.
func (f *jsonFlat) parse(data []byte) error {
	f.reset()
	f.data = data
	f.ws()
	if f.pos >= len(data) || data[f.pos] != '{' {
		return f.fail("not a JSON object")
	}
	if err := f.object(-1); err != nil {
		return err
	}
	f.ws()
	if f.pos != len(data) {
		return f.fail("data after the object")
	}
	return nil
}

func (f *jsonFlat) fail(msg string) error { return &jsonSyntaxError{off: f.pos, msg: msg} }

func (f *jsonFlat) ws() {
	for f.pos < len(f.data) {
		switch f.data[f.pos] {
		case ' ', '\t', '\n', '\r':
			f.pos++
		default:
			return
		}
	}
}

func (f *jsonFlat) object(parent int32) error {
	f.depth++
	if f.depth > jsonMaxDepth {
		return f.fail("nested too deeply")
	}
	obj := parent
	if !bytes.HasSuffix(f.path, []byte("#attributes")) {
		// The attributes of an XML element rendered as JSON belong to the element's
		// object, so they pair with its "#text".
		obj = f.objs
		f.objs++
	}
	f.pos++ // '{'
	base := len(f.path)
	f.ws()
	if f.pos < len(f.data) && f.data[f.pos] == '}' {
		f.pos++
		f.depth--
		return nil
	}
	for {
		if f.pos >= len(f.data) || f.data[f.pos] != '"' {
			return f.fail("want a key")
		}
		f.path = f.path[:base]
		if base > 0 {
			f.path = append(f.path, '.')
		}
		var err error
		if f.path, err = f.str(f.path); err != nil {
			return err
		}
		f.ws()
		if f.pos >= len(f.data) || f.data[f.pos] != ':' {
			return f.fail("want ':'")
		}
		f.pos++
		f.ws()
		if err := f.value(obj); err != nil {
			return err
		}
		f.ws()
		if f.pos >= len(f.data) {
			return f.fail("unterminated object")
		}
		switch f.data[f.pos] {
		case ',':
			f.pos++
			f.ws()
		case '}':
			f.pos++
			f.path = f.path[:base]
			f.depth--
			return nil
		default:
			return f.fail("want ',' or '}'")
		}
	}
}

func (f *jsonFlat) array(obj int32) error {
	f.depth++
	if f.depth > jsonMaxDepth {
		return f.fail("nested too deeply")
	}
	f.pos++ // '['
	f.ws()
	if f.pos < len(f.data) && f.data[f.pos] == ']' {
		f.pos++
		f.depth--
		return nil
	}
	for {
		if err := f.value(obj); err != nil {
			return err
		}
		f.ws()
		if f.pos >= len(f.data) {
			return f.fail("unterminated array")
		}
		switch f.data[f.pos] {
		case ',':
			f.pos++
			f.ws()
		case ']':
			f.pos++
			f.depth--
			return nil
		default:
			return f.fail("want ',' or ']'")
		}
	}
}

func (f *jsonFlat) value(obj int32) error {
	if f.pos >= len(f.data) {
		return f.fail("want a value")
	}
	switch c := f.data[f.pos]; {
	case c == '{':
		return f.object(obj)
	case c == '[':
		return f.array(obj)
	case c == '"':
		start := f.pos + 1
		esc, err := f.skipStr()
		if err != nil {
			return err
		}
		raw := f.data[start : f.pos-1]
		var v string
		if esc {
			v = event.String(jsonUnescape(make([]byte, 0, len(raw)), raw))
		} else {
			v = event.String(raw)
		}
		f.leaf(obj, jsonString, v)
		return nil
	case c == 't':
		return f.literal(obj, "true", jsonTrue)
	case c == 'f':
		return f.literal(obj, "false", jsonFalse)
	case c == 'n':
		return f.literal(obj, "null", jsonNull)
	case c == '-' || c >= '0' && c <= '9':
		start := f.pos
		if err := f.number(); err != nil {
			return err
		}
		f.leaf(obj, jsonNumber, event.String(f.data[start:f.pos]))
		return nil
	}
	return f.fail("want a value")
}

func (f *jsonFlat) literal(obj int32, lit string, kind jsonKind) error {
	if len(f.data)-f.pos < len(lit) || string(f.data[f.pos:f.pos+len(lit)]) != lit {
		return f.fail("bad literal")
	}
	f.pos += len(lit)
	v := lit
	if kind == jsonNull {
		v = ""
	}
	f.leaf(obj, kind, v)
	return nil
}

func (f *jsonFlat) leaf(obj int32, kind jsonKind, v string) { f.leafAt(f.path, obj, kind, v) }

// leafAt adds a leaf at path: the path of the value being read, or one the EVTX reader gives.
func (f *jsonFlat) leafAt(path []byte, obj int32, kind jsonKind, v string) {
	k0 := int32(len(f.keys))
	f.keys = append(f.keys, path...)
	f.leaves = append(f.leaves, jsonLeaf{k0: k0, k1: int32(len(f.keys)), obj: obj, kind: kind, val: v})
}

// number checks the JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (f *jsonFlat) number() error {
	d := f.data
	if f.pos < len(d) && d[f.pos] == '-' {
		f.pos++
	}
	switch {
	case f.pos < len(d) && d[f.pos] == '0':
		f.pos++
	case f.pos < len(d) && d[f.pos] >= '1' && d[f.pos] <= '9':
		for f.pos < len(d) && d[f.pos] >= '0' && d[f.pos] <= '9' {
			f.pos++
		}
	default:
		return f.fail("bad number")
	}
	if f.pos < len(d) && d[f.pos] == '.' {
		f.pos++
		if f.pos >= len(d) || d[f.pos] < '0' || d[f.pos] > '9' {
			return f.fail("bad number")
		}
		for f.pos < len(d) && d[f.pos] >= '0' && d[f.pos] <= '9' {
			f.pos++
		}
	}
	if f.pos < len(d) && (d[f.pos] == 'e' || d[f.pos] == 'E') {
		f.pos++
		if f.pos < len(d) && (d[f.pos] == '+' || d[f.pos] == '-') {
			f.pos++
		}
		if f.pos >= len(d) || d[f.pos] < '0' || d[f.pos] > '9' {
			return f.fail("bad number")
		}
		for f.pos < len(d) && d[f.pos] >= '0' && d[f.pos] <= '9' {
			f.pos++
		}
	}
	return nil
}

// skipStr moves past the string that starts at f.pos, checking its escapes, and reports
// whether it has any.
func (f *jsonFlat) skipStr() (esc bool, err error) {
	d := f.data
	f.pos++ // '"'
	for f.pos < len(d) {
		c := d[f.pos]
		switch {
		case c == '"':
			f.pos++
			return esc, nil
		case c < 0x20:
			return false, f.fail("control character in string")
		case c == '\\':
			esc = true
			if f.pos+1 >= len(d) {
				return false, f.fail("unterminated string")
			}
			switch d[f.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				f.pos += 2
			case 'u':
				if f.pos+6 > len(d) {
					return false, f.fail("bad \\u escape")
				}
				for _, h := range d[f.pos+2 : f.pos+6] {
					if jsonHex(h) < 0 {
						return false, f.fail("bad \\u escape")
					}
				}
				f.pos += 6
			default:
				return false, f.fail("bad escape")
			}
		default:
			f.pos++
		}
	}
	return false, f.fail("unterminated string")
}

// str reads the string at f.pos and appends its text to dst.
func (f *jsonFlat) str(dst []byte) ([]byte, error) {
	start := f.pos + 1
	esc, err := f.skipStr()
	if err != nil {
		return dst, err
	}
	raw := f.data[start : f.pos-1]
	if !esc {
		return append(dst, raw...), nil
	}
	return jsonUnescape(dst, raw), nil
}

func jsonHex(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// jsonUnescape appends the text of the string body raw, whose escapes skipStr has checked.
// Lone surrogates become U+FFFD, as in encoding/json.
func jsonUnescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := jsonHex4(raw[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if r2 := utf16.DecodeRune(r, jsonHex4(raw[i+2:])); r2 != utf8.RuneError {
						dst = utf8.AppendRune(dst, r2)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, raw[i+1])
		}
		i += 2
	}
	return dst
}

func jsonHex4(b []byte) rune {
	return jsonHex(b[0])<<12 | jsonHex(b[1])<<8 | jsonHex(b[2])<<4 | jsonHex(b[3])
}

// keyOf returns the dotted path of leaf l.
func (f *jsonFlat) keyOf(l *jsonLeaf) []byte { return f.keys[l.k0:l.k1] }

// intern returns the interned key for prefix+name, from the decoder's cache when it can.
func (f *jsonFlat) intern(prefix string, name []byte) event.Key {
	b := append(append(f.scratch[:0], prefix...), name...)
	f.scratch = b
	if k, ok := f.cache[string(b)]; ok {
		return k
	}
	if f.cache == nil || len(f.cache) >= jsonMaxKeys {
		f.cache = make(map[string]event.Key)
	}
	s := string(b)
	k := event.K(s)
	f.cache[s] = k
	return k
}

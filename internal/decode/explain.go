package decode

import (
	"slices"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

// Origin is one ECS field of a decoded record and the key=value pairs of the record it comes
// from.
type Origin struct {
	Field, Value string
	Pairs        []string // "key=value", in the record's order; none if no single pair makes it
}

// Explain decodes one record in format and says, for each ECS field of the event, which of
// the record's key=value pairs it comes from: the pairs that, taken out of the record or with
// the last character of their value changed (srcip=192.0.2.1 to 192.0.2.2), make the decoder
// give the field another value or none. It asks the decoder itself, twice per pair, so it
// holds no copy of any decoder's map and cannot drift from it: a pair that fills a field
// directly (srcip= to source.ip) and one it is derived from (status=failure, action=deny to
// event.outcome) show alike. needed are the pairs without which the record is not read at all
// or not as the same vendor's. It reads the pairs of key=value bodies (FortiGate, Sophos XG,
// SonicWall, LEEF: the kvScanner's); a record with none gets its fields and no pairs. The
// vendor's own fields (<event.module>.<key>) and event.original are not listed.
func Explain(format string, raw []byte, opts Options) (fields []Origin, needed []string, err error) {
	d, err := New(format, opts)
	if err != nil {
		return nil, nil, err
	}
	base, module, err := explainDecode(d, raw)
	if err != nil {
		return nil, nil, err
	}
	for _, f := range base {
		if f.Field == "event.original" || f.Field == "event.module" ||
			module != "" && strings.HasPrefix(f.Field, module+".") {
			continue
		}
		fields = append(fields, f)
	}
	for _, p := range kvPairs(raw) {
		pair := string(raw[p.start:p.end])
		changed := make([]bool, len(fields))
		without := slices.Concat(raw[:p.start:p.start], raw[p.end:])
		got, m, err := explainDecode(d, without)
		if err != nil || m != module {
			needed = append(needed, pair)
		} else {
			explainChanged(changed, fields, got)
		}
		if other, ok := explainPerturb(raw, p.end); ok {
			if got, m, err := explainDecode(d, other); err == nil && m == module {
				explainChanged(changed, fields, got)
			}
		}
		for i := range fields {
			if changed[i] {
				fields[i].Pairs = append(fields[i].Pairs, pair)
			}
		}
	}
	return fields, needed, nil
}

// explainChanged marks the fields whose value got does not have.
func explainChanged(changed []bool, fields, got []Origin) {
	for i, f := range fields {
		if explainValue(got, f.Field) != f.Value {
			changed[i] = true
		}
	}
}

// explainPerturb returns raw with the last character of the value that ends at end (before
// its closing quote) changed to a neighbour of the same kind, a digit to a digit and a letter
// to a letter, so the value keeps its shape; ok is false for a value that ends otherwise.
func explainPerturb(raw []byte, end int) ([]byte, bool) {
	i := end - 1
	if i > 0 && (raw[i] == '"' || raw[i] == '\'') {
		i--
	}
	if i < 0 || raw[i] == '=' {
		return nil, false
	}
	c := raw[i]
	switch {
	case c == '9', c == 'z', c == 'Z':
		c--
	case c >= '0' && c < '9', c >= 'a' && c < 'z', c >= 'A' && c < 'Z':
		c++
	default:
		return nil, false
	}
	out := slices.Clone(raw)
	out[i] = c
	return out, true
}

// explainDecode decodes raw with d and returns the ECS fields of the event as rendered
// (values of a list joined by commas), and its event.module.
func explainDecode(d Decoder, raw []byte) ([]Origin, string, error) {
	e := event.Event{Raw: raw, Received: time.Unix(0, 0).UTC()}
	if err := d.Decode(&e); err != nil {
		return nil, "", err
	}
	e.Received = time.Time{}
	var f jsonFlat
	if err := f.parse(event.AppendECS(nil, &e)); err != nil {
		return nil, "", err
	}
	var fields []Origin
	module := ""
	for i := range f.leaves {
		l := &f.leaves[i]
		k := string(f.keyOf(l))
		if k == "event.module" {
			module = l.val
		}
		if n := len(fields); n > 0 && fields[n-1].Field == k {
			fields[n-1].Value += "," + l.val
			continue
		}
		fields = append(fields, Origin{Field: k, Value: l.val})
	}
	return fields, module, nil
}

func explainValue(fields []Origin, key string) string {
	for _, f := range fields {
		if f.Field == key {
			return f.Value
		}
	}
	return "\x00none"
}

// kvPairs returns where the key=value pairs of raw's body are: from the first word after
// which the rest of the record reads as pairs to its end.
func kvPairs(raw []byte) []struct{ start, end int } {
	s := string(raw)
	for i := 0; i < len(s); i++ {
		if i > 0 && s[i-1] != ' ' && s[i-1] != '\t' && s[i-1] != '>' && s[i-1] != '|' {
			continue
		}
		if spans, ok := kvSpans(s, i); ok {
			return spans
		}
	}
	return nil
}

// kvSpans reads s from i to its end as key=value pairs, or reports that it is not.
func kvSpans(s string, i int) ([]struct{ start, end int }, bool) {
	var spans []struct{ start, end int }
	kv := kvScanner{s: s[i:], single: true}
	for {
		before := len(s) - len(trimSpaceLeft(kv.s))
		_, _, ok, err := kv.next()
		if err != nil {
			return nil, false
		}
		if !ok {
			break
		}
		spans = append(spans, struct{ start, end int }{before, len(s) - len(kv.s)})
	}
	return spans, len(spans) >= 2
}

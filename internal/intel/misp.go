package intel

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

type mispAttribute struct {
	Type     string          `json:"type"`
	Category string          `json:"category"`
	Tag      []mispTag       `json:"Tag"`
	Value    string          `json:"value"`
	UUID     string          `json:"uuid"`
	EventID  string          `json:"event_id"`
	ToIDS    json.RawMessage `json:"to_ids"` // MISP writes true, "1" or 1 depending on version
	Deleted  json.RawMessage `json:"deleted"`
}

type mispTag struct {
	Name string `json:"name"`
}

type mispEvent struct {
	Tag       []mispTag       `json:"Tag"`
	UUID      string          `json:"uuid"`
	ID        string          `json:"id"`
	Info      string          `json:"info"`
	Attribute []mispAttribute `json:"Attribute"`
	Object    []struct {
		Attribute []mispAttribute `json:"Attribute"`
	} `json:"Object"`
}

// LoadMISP reads MISP JSON in the shapes MISP exports and its API returns: one
// {"Event": …}, a list of them, {"response": [{"Event": …}, …]}, or attributes from
// restSearch ({"response": {"Attribute": […]}} or {"Attribute": […]}). Attributes of the
// types ip-src, ip-dst (with |port), domain, hostname, domain|ip, url, md5, sha1,
// sha256 and filename|<hash> become indicators, including those inside objects. Attributes
// whose to_ids flag is off are meant as context, not detection, and are returned as Rejected
// with that reason, as is every attribute of another type.
func LoadMISP(r io.Reader, source string) ([]Indicator, []Rejected, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("read misp %s: %w", source, err)
	}
	type wrapped struct {
		Event *mispEvent `json:"Event"`
	}
	var events []mispEvent
	var loose []mispAttribute
	trimmed := strings.TrimSpace(string(data))
	switch {
	case strings.HasPrefix(trimmed, "["):
		var ws []wrapped
		if err := json.Unmarshal(data, &ws); err != nil {
			return nil, nil, fmt.Errorf("decode misp %s: %w", source, err)
		}
		for _, w := range ws {
			if w.Event != nil {
				events = append(events, *w.Event)
			}
		}
	default:
		var top struct {
			Event     *mispEvent      `json:"Event"`
			Attribute []mispAttribute `json:"Attribute"`
			Response  json.RawMessage `json:"response"`
		}
		if err := json.Unmarshal(data, &top); err != nil {
			return nil, nil, fmt.Errorf("decode misp %s: %w", source, err)
		}
		if top.Event != nil {
			events = append(events, *top.Event)
		}
		loose = top.Attribute
		if len(top.Response) > 0 {
			var ws []wrapped
			var attrs struct {
				Attribute []mispAttribute `json:"Attribute"`
			}
			if json.Unmarshal(top.Response, &ws) == nil {
				for _, w := range ws {
					if w.Event != nil {
						events = append(events, *w.Event)
					}
				}
			} else if err := json.Unmarshal(top.Response, &attrs); err == nil {
				loose = append(loose, attrs.Attribute...)
			} else {
				return nil, nil, fmt.Errorf("decode misp %s response: %w", source, err)
			}
		}
	}
	if len(events) == 0 && len(loose) == 0 {
		return nil, nil, fmt.Errorf("decode misp %s: no Event and no Attribute", source)
	}
	var (
		inds []Indicator
		rej  []Rejected
	)
	add := func(ev *mispEvent, eventID string, a *mispAttribute) {
		id := "misp:event/" + eventID + "/attribute/" + a.UUID
		got, reason, why := mispIndicators(a)
		if reason != 0 {
			rej = append(rej, reject(source, id, a.Type+" "+a.Value, reason, why))
			return
		}
		var labels []string
		if a.Category != "" {
			labels = append(labels, a.Category)
		}
		var name string
		if ev != nil {
			name = ev.Info
			for _, t := range ev.Tag {
				labels = append(labels, t.Name)
			}
		}
		for _, t := range a.Tag {
			labels = append(labels, t.Name)
		}
		for _, in := range got {
			in.ID, in.Name, in.Source, in.Confidence, in.Labels = id, name, source, -1, labels
			inds = append(inds, in)
		}
	}
	for i := range events {
		ev := &events[i]
		id := ev.UUID
		if id == "" {
			id = ev.ID
		}
		for j := range ev.Attribute {
			add(ev, id, &ev.Attribute[j])
		}
		for _, o := range ev.Object {
			for j := range o.Attribute {
				add(ev, id, &o.Attribute[j])
			}
		}
	}
	for j := range loose {
		add(nil, loose[j].EventID, &loose[j])
	}
	return inds, rej, nil
}

func mispFlag(raw json.RawMessage) bool {
	switch strings.Trim(string(raw), `"`) {
	case "true", "1":
		return true
	}
	return false
}

// mispIndicators turns one attribute into indicators, or says why it does not.
func mispIndicators(a *mispAttribute) ([]Indicator, Reason, string) {
	if mispFlag(a.Deleted) {
		return nil, ReasonContext, "deleted"
	}
	if len(a.ToIDS) > 0 && !mispFlag(a.ToIDS) {
		return nil, ReasonContext, "to_ids is off: context, not for detection"
	}
	typ, value := a.Type, strings.TrimSpace(a.Value)
	one := func(k Kind, v string) ([]Indicator, Reason, string) {
		if k == KindIP && strings.Contains(v, "/") {
			k = KindCIDR
		}
		n, err := Normalize(k, v)
		if err != nil {
			return nil, ReasonInvalid, err.Error()
		}
		return []Indicator{{Kind: k, Value: n}}, 0, ""
	}
	switch typ {
	case "ip-src", "ip-dst":
		return one(KindIP, value)
	case "ip-src|port", "ip-dst|port":
		// MISP writes address|port; an IPv6 address has colons of its own.
		host, _, _ := strings.Cut(value, "|")
		return one(KindIP, host)
	case "domain", "hostname":
		return one(KindDomain, value)
	case "domain|ip":
		d, ip, ok := strings.Cut(value, "|")
		if !ok {
			return nil, ReasonInvalid, "domain|ip without '|'"
		}
		a, r, why := one(KindDomain, d)
		if r != 0 {
			return nil, r, why
		}
		b, r, why := one(KindIP, ip)
		if r != 0 {
			return nil, r, why
		}
		return append(a, b...), 0, ""
	case "url":
		return one(KindURL, value)
	case "uri":
		return nil, ReasonUnsupported, "uri is a path without a host"
	case "md5", "sha1", "sha256":
		k, _ := ParseKind(typ)
		return one(k, value)
	case "filename|md5", "filename|sha1", "filename|sha256":
		_, h, ok := strings.Cut(value, "|")
		if !ok {
			return nil, ReasonInvalid, typ + " without '|'"
		}
		k, _ := ParseKind(strings.TrimPrefix(typ, "filename|"))
		return one(k, h)
	}
	return nil, ReasonUnsupported, "attribute type " + typ
}

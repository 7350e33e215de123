package intel

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// stixObject holds the fields of a STIX 2.1 object that LoadSTIX reads.
type stixObject struct {
	Type            string     `json:"type"`
	ID              string     `json:"id"`
	Name            string     `json:"name"`
	Pattern         string     `json:"pattern"`
	PatternType     string     `json:"pattern_type"`
	ValidFrom       *time.Time `json:"valid_from"`
	ValidUntil      *time.Time `json:"valid_until"`
	Confidence      *int       `json:"confidence"`
	Revoked         bool       `json:"revoked"`
	IndicatorTypes  []string   `json:"indicator_types"`
	Labels          []string   `json:"labels"`
	KillChainPhases []struct {
		KillChainName string `json:"kill_chain_name"`
		PhaseName     string `json:"phase_name"`
	} `json:"kill_chain_phases"`
}

// LoadSTIX reads a STIX 2.1 bundle (or one object alone) and returns an indicator for every usable term of every
// indicator object's pattern (see ParsePattern), and a Rejected for every object or term that
// did not make one: revoked indicators, patterns in another language, parts of patterns a Set
// cannot evaluate, bad values. Objects other than indicators (reports, malware,
// relationships) carry no pattern and are passed over. source names the feed in every result.
func LoadSTIX(r io.Reader, source string) ([]Indicator, []Rejected, error) {
	var doc json.RawMessage
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return nil, nil, fmt.Errorf("decode stix bundle %s: %w", source, err)
	}
	var bundle struct {
		Type    string            `json:"type"`
		Objects []json.RawMessage `json:"objects"`
	}
	if err := json.Unmarshal(doc, &bundle); err != nil {
		return nil, nil, fmt.Errorf("decode stix bundle %s: %w", source, err)
	}
	switch bundle.Type {
	case "bundle":
	case "":
		return nil, nil, fmt.Errorf("decode stix bundle %s: no \"type\": not STIX", source)
	default:
		// One object on its own, as the STIX examples and some exports have it.
		bundle.Objects = []json.RawMessage{doc}
	}
	inds, rej := STIXObjects(bundle.Objects, source)
	return inds, rej, nil
}

// STIXObjects is LoadSTIX for objects already taken out of their bundle or TAXII envelope.
func STIXObjects(objects []json.RawMessage, source string) (inds []Indicator, rej []Rejected) {
	for i, raw := range objects {
		var o stixObject
		if err := json.Unmarshal(raw, &o); err != nil {
			rej = append(rej, reject(source, fmt.Sprintf("object %d", i), string(raw), ReasonInvalid, "decode object: "+err.Error()))
			continue
		}
		if o.Type != "indicator" {
			continue
		}
		got, bad := stixIndicator(&o, source)
		inds = append(inds, got...)
		rej = append(rej, bad...)
	}
	return inds, rej
}

func stixIndicator(o *stixObject, source string) (inds []Indicator, rej []Rejected) {
	if o.Revoked {
		return nil, []Rejected{reject(source, o.ID, o.Pattern, ReasonRevoked, "revoked by its producer")}
	}
	if o.PatternType != "" && o.PatternType != "stix" {
		return nil, []Rejected{reject(source, o.ID, o.Pattern, ReasonUnsupported, "pattern_type "+o.PatternType+" is not stix")}
	}
	terms, errs := ParsePattern(o.Pattern)
	for _, err := range errs {
		reason := ReasonInvalid
		if errors.Is(err, ErrUnsupported) {
			reason = ReasonUnsupported
		}
		rej = append(rej, reject(source, o.ID, o.Pattern, reason, err.Error()))
	}
	if len(terms) == 0 {
		return nil, rej
	}
	base := Indicator{ID: o.ID, Name: o.Name, Source: source, Confidence: -1}
	if o.Confidence != nil {
		base.Confidence = *o.Confidence
	}
	if o.ValidFrom != nil {
		base.ValidFrom = *o.ValidFrom
	}
	if o.ValidUntil != nil {
		base.ValidUntil = *o.ValidUntil
	}
	// The terms of one indicator share its label and kill-chain slices.
	for _, l := range append(o.IndicatorTypes, o.Labels...) {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(base.Labels, l) {
			base.Labels = append(base.Labels, l)
		}
	}
	for _, k := range o.KillChainPhases {
		base.KillChain = append(base.KillChain, k.KillChainName+":"+k.PhaseName)
	}
	for _, t := range terms {
		in := base
		in.Kind, in.Value = t.Kind, t.Value
		inds = append(inds, in)
	}
	return inds, rej
}

package decode

import (
	"github.com/omamori-project/omamori/internal/event"
)

// ehrDecoder decodes EHR access logs in omamori's JSON schema (docs/ehr-access-log.md), one
// access a line: who opened which patient's record, what kind of data, from which terminal,
// for what purpose, and whether it was allowed or a break-glass access.
//
// The patient identifier is personal data: it is kept (a privacy officer needs it to answer
// "who looked at this patient"), under ehr.patient.id only, never in the message.
type ehrDecoder struct {
	opts Options
	f    jsonFlat
}

func newEHRDecoder(opts Options) Decoder { return &ehrDecoder{opts: opts} }

var (
	ehrKeyUserID    = event.K("user.id")
	ehrKeyPatientID = event.K("ehr.patient.id")
)

func (d *ehrDecoder) Decode(e *event.Event) error {
	if err := d.f.parse(e.Raw); err != nil {
		return jsonSyntax("ehr", err)
	}
	e.Format = "ehr"
	e.Dataset = "ehr.access"
	e.Category = "database"
	var patient, action, outcome bool
	for i := range d.f.leaves {
		l := &d.f.leaves[i]
		if l.kind == jsonNull {
			continue
		}
		v := l.val
		path := d.f.keyOf(l)
		var ecs string
		switch string(path) {
		case "time", "@timestamp":
			t, err := jsonTime(v, l.kind, d.opts)
			if err != nil {
				return &Error{Format: "ehr", Reason: ReasonTimestamp, Detail: err.Error()}
			}
			e.Time = t
			continue
		case "system":
			e.Host = v
			continue
		case "user.id":
			e.User = v
			ecs = "user.id"
		case "user.name":
			ecs = "user.full_name"
		case "user.role":
			ecs = "user.roles"
		case "patient.id":
			patient = v != ""
			ecs = "ehr.patient.id"
		case "action":
			switch v {
			case "view", "print", "export", "modify", "create", "delete":
			default:
				return &Error{Format: "ehr", Reason: ReasonField, Detail: "unknown action " + v}
			}
			e.Action = v
			action = true
			continue
		case "outcome":
			switch v {
			case "allowed":
				e.Outcome = event.OutcomeSuccess
			case "denied":
				e.Outcome = event.OutcomeFailure
			default:
				return &Error{Format: "ehr", Reason: ReasonField, Detail: "outcome " + v + ", want allowed or denied"}
			}
			outcome = true
			ecs = "ehr.outcome"
		case "terminal.ip":
			if jsonAddr(&e.SrcIP, v) {
				continue
			}
			return &Error{Format: "ehr", Reason: ReasonField, Detail: "terminal.ip " + v + " is not an address"}
		case "message":
			e.Message = v
			continue
		}
		if ecs != "" {
			e.Add(d.f.intern(ecs, nil), v)
			continue
		}
		e.Add(d.f.intern("ehr.", path), v)
	}
	switch {
	case e.Time.IsZero():
		return &Error{Format: "ehr", Reason: ReasonTimestamp, Detail: "no time"}
	case e.User == "":
		return &Error{Format: "ehr", Reason: ReasonField, Detail: "no user.id"}
	case !patient:
		return &Error{Format: "ehr", Reason: ReasonField, Detail: "no patient.id"}
	case !action:
		return &Error{Format: "ehr", Reason: ReasonField, Detail: "no action"}
	case !outcome:
		return &Error{Format: "ehr", Reason: ReasonField, Detail: "no outcome"}
	}
	return nil
}

func sniffEHR(head []byte) bool {
	return jsonSniffObject(head, "patient", "purpose_of_use")
}

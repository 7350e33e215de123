package decode

import "github.com/omamori-project/omamori/internal/event"

// winShapes are the formats of Windows events that come as records, in the order a record is
// tried against them: each sniffer looks for its own shipper's names.
var winShapes = []struct {
	name  string
	sniff func([]byte) bool
	new   func(Options) Decoder
}{
	{"winlogbeat", sniffWinlogbeat, newWinlogbeatDecoder},
	{"evtx-json", sniffEVTXJSON, newEVTXJSONDecoder},
	{"nxlog", sniffNXLog, newNXLogDecoder},
	{"winlogbeat6", sniffWinlogbeat6, newWinlogbeat6Decoder},
	{"log-analytics", sniffLogAnalytics, newLogAnalyticsDecoder},
	{"wef-xml", sniffWEF, newWEFDecoder},
}

// WindowsFormats returns the names of the formats that read Windows events, for a hint to a
// user whose events met no Windows rule.
func WindowsFormats() []string {
	names := []string{"evtx"}
	for _, s := range winShapes {
		names = append(names, s.name)
	}
	return names
}

// winAnyDecoder decodes Windows events of any shape, finding the shape of each record: a live
// source (an HTTP client, a syslog relay) may carry more than one.
type winAnyDecoder struct {
	opts Options
	decs []Decoder // by index in winShapes, made when a record of the shape first comes
}

func newWinAnyDecoder(opts Options) Decoder {
	return &winAnyDecoder{opts: opts, decs: make([]Decoder, len(winShapes))}
}

func (d *winAnyDecoder) Decode(e *event.Event) error {
	raw := e.Raw
	if len(raw) > 8<<10 {
		raw = raw[:8<<10]
	}
	for i, s := range winShapes {
		if !s.sniff(raw) {
			continue
		}
		if d.decs[i] == nil {
			d.decs[i] = s.new(d.opts)
		}
		return d.decs[i].Decode(e)
	}
	return &Error{Format: "windows", Reason: ReasonUnknown,
		Detail: "not a Windows event in any shape omamori reads (evtx-json, winlogbeat 6 to 8, nxlog, log-analytics, wef-xml)"}
}

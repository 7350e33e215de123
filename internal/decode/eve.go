package decode

import (
	"github.com/omamori-project/omamori/internal/event"
)

// eveDecoder decodes Suricata EVE JSON, one event per line. The five-tuple, the alert's
// signature and the flow's byte counts fill the common fields; the rest is kept under
// "suricata.eve.<path>", with ECS names for the few fields ECS has (rule.*, url.*, dns.*).
type eveDecoder struct {
	opts Options
	f    jsonFlat
}

func newEVEDecoder(opts Options) Decoder { return &eveDecoder{opts: opts} }

// eveCategory is the ECS event.category of each EVE event_type.
func eveCategory(eventType string) string {
	switch eventType {
	case "alert", "anomaly", "drop":
		return "intrusion_detection"
	case "fileinfo":
		return "file"
	case "http":
		return "web"
	case "stats":
		return ""
	}
	return "network"
}

func (d *eveDecoder) Decode(e *event.Event) error {
	if err := d.f.parse(e.Raw); err != nil {
		return jsonSyntax("eve", err)
	}
	e.Format = "eve"
	var eventType string
	for i := range d.f.leaves {
		l := &d.f.leaves[i]
		if l.kind == jsonNull {
			continue
		}
		v := l.val
		path := d.f.keyOf(l)
		var ecs string
		switch string(path) {
		case "timestamp":
			t, err := jsonTime(v, l.kind, d.opts)
			if err != nil {
				return &Error{Format: "eve", Reason: ReasonTimestamp, Detail: err.Error()}
			}
			e.Time = t
			continue
		case "event_type":
			eventType = v
			continue
		case "src_ip":
			if jsonAddr(&e.SrcIP, v) {
				continue
			}
		case "dest_ip":
			if jsonAddr(&e.DstIP, v) {
				continue
			}
		case "src_port":
			if jsonPort(&e.SrcPort, v) {
				continue
			}
		case "dest_port":
			if jsonPort(&e.DstPort, v) {
				continue
			}
		case "proto":
			e.Protocol = jsonLower(v)
			continue
		case "host":
			e.Host = v
			continue
		case "flow.bytes_toserver":
			if jsonUint(&e.BytesOut, v) {
				continue
			}
		case "flow.bytes_toclient":
			if jsonUint(&e.BytesIn, v) {
				continue
			}
		case "alert.signature":
			e.Message = v
			ecs = "rule.name"
		case "alert.signature_id":
			ecs = "rule.id"
		case "alert.category":
			ecs = "rule.category"
		case "alert.severity":
			ecs = "event.severity"
		case "http.hostname":
			ecs = "url.domain"
		case "http.url":
			ecs = "url.original"
		case "http.http_user_agent":
			ecs = "user_agent.original"
		case "http.http_method":
			ecs = "http.request.method"
		case "http.status":
			ecs = "http.response.status_code"
		case "dns.rrname", "dns.queries.rrname":
			ecs = "dns.question.name"
		case "dns.rrtype", "dns.queries.rrtype":
			ecs = "dns.question.type"
		case "dns.rcode":
			ecs = "dns.response_code"
		case "tls.sni":
			ecs = "tls.client.server_name"
		case "fileinfo.filename":
			ecs = "file.name"
		}
		if ecs != "" {
			e.Add(d.f.intern(ecs, nil), v)
			continue
		}
		e.Add(d.f.intern("suricata.eve.", path), v)
	}
	if eventType == "" {
		return &Error{Format: "eve", Reason: ReasonField, Detail: "no event_type"}
	}
	e.Dataset = eveDataset(eventType)
	e.Category = eveCategory(eventType)
	e.Action = eventType
	if eventType == "alert" {
		// ECS event.action of an alert is what the engine did about it.
		if v, ok := e.Get(eveAlertAction); ok {
			e.Action = "alert_" + v
		}
	}
	if eventType == "ssh" {
		e.Category = "network"
	}
	return nil
}

var eveAlertAction = event.K("suricata.eve.alert.action")

// eveDataset returns "suricata.<event_type>", without allocating for the common types.
func eveDataset(t string) string {
	switch t {
	case "alert":
		return "suricata.alert"
	case "flow":
		return "suricata.flow"
	case "dns":
		return "suricata.dns"
	case "http":
		return "suricata.http"
	case "tls":
		return "suricata.tls"
	case "ssh":
		return "suricata.ssh"
	case "fileinfo":
		return "suricata.fileinfo"
	case "anomaly":
		return "suricata.anomaly"
	}
	return "suricata." + t
}

func sniffEVE(head []byte) bool {
	return jsonSniffObject(head, "event_type", "timestamp")
}

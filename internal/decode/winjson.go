package decode

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

// Windows events also arrive as flat JSON whose keys are the shipper's own names for the
// System items, with the EventData items beside them or in one object:
//
//   - NXLog's im_msvistalog with to_json() ("nxlog"): EventID, Channel, SourceName, Hostname,
//     RecordNumber, ... and every EventData item at the top level, often wrapped by Logstash
//     (@timestamp, @version, host, port, tags) and sometimes framed as syslog.
//   - Winlogbeat 6 ("winlogbeat6"): event_id, log_name, source_name, computer_name and an
//     event_data object, at the top level (Winlogbeat 7 and 8 put them under winlog.*).
//   - Azure Log Analytics and Microsoft Sentinel exports of the SecurityEvent, Event and
//     WindowsEvent tables ("log-analytics"): TimeGenerated, Computer, EventID, the channel in
//     Channel or EventLog, and EventData as XML text, JSON text or an object.
//
// Each comes out as the evtx and evtx-json decoders make it (winlog.event_id, winlog.channel,
// winlog.event_data.<Name>, ...), so the Windows Sigma rules see it. Items of the shipper
// that are no part of the event keep their own names under nxlog.*, azure.* or their path.

// winFlatShape says how one shipper names the items of a Windows event in flat JSON.
type winFlatShape struct {
	format string
	// system stores a top-level item of the System part, and reports whether it was one.
	system func(r *winRecord, key, v string) bool
	// meta lists the shipper's own items, kept under prefix+key.
	meta   map[string]bool
	prefix string
	// data is the key of an object or text holding the EventData items; "" when they are at
	// the top level.
	data string
	// userData is the key of an object holding the UserData items; "" when there is none.
	userData string
	// times are the keys that may hold the event's time, best first.
	times []string
	// skipEmpty drops empty items: Azure exports hold every column of the table.
	skipEmpty bool
	// columns says the other top-level items are EventData items even though the shape has
	// a data key: SecurityEvent's columns (TargetUserName, ...) are.
	columns bool
	// syslog: a record may come behind a syslog header, as NXLog's om_tcp sends it.
	syslog bool
}

var nxlogShape = &winFlatShape{
	format: "nxlog",
	system: func(r *winRecord, k, v string) bool {
		switch k {
		case "EventID":
			r.eventID = v
		case "Channel":
			r.channel = v
		case "SourceName":
			r.provider = v
		case "ProviderGuid":
			r.providerGUID = v
		case "Hostname":
			r.computer = v
		case "RecordNumber":
			r.recordID = v
		case "Task":
			r.task = v
		case "OpcodeValue":
			r.opcode = v
		case "Keywords":
			r.keywords = winKeywordsHex(v)
		case "Level":
			r.level = v
		case "Version":
			r.version = v
		case "ExecutionProcessID":
			r.pid = v
		case "ThreadID":
			r.tid = v
		case "UserID":
			r.userSID = v
		case "ActivityID":
			r.activityID = v
		case "RelatedActivityID":
			r.relatedID = v
		default:
			return false
		}
		return true
	},
	// NXLog's renderings of System items, and what NXLog and Logstash add.
	meta: winSet("EventTime", "EventReceivedTime", "SourceModuleName", "SourceModuleType",
		"Severity", "SeverityValue", "EventType", "Category", "Opcode", "Domain", "AccountName",
		"AccountType", "MessageSourceAddress", "@timestamp", "@version", "host", "port", "tags",
		"type", "beat", "fields", "log", "agent", "input", "ecs", "event"),
	prefix: "nxlog.",
	times:  []string{"EventTime", "@timestamp", "EventReceivedTime"},
	syslog: true,
}

var winlogbeat6Shape = &winFlatShape{
	format: "winlogbeat6",
	system: func(r *winRecord, k, v string) bool {
		switch k {
		case "event_id":
			r.eventID = v
		case "log_name":
			r.channel = v
		case "source_name":
			r.provider = v
		case "provider_guid":
			r.providerGUID = v
		case "computer_name":
			r.computer = v
		case "record_number":
			r.recordID = v
		case "process_id":
			r.pid = v
		case "thread_id":
			r.tid = v
		case "version":
			r.version = v
		case "activity_id":
			r.activityID = v
		case "related_activity_id":
			r.relatedID = v
		case "user.identifier":
			r.userSID = v
		default:
			return false
		}
		return true
	},
	data:     "event_data",
	userData: "user_data",
	times:    []string{"@timestamp"},
	prefix:   "winlogbeat.",
	meta: winSet("@timestamp", "@metadata", "@version", "beat", "host", "type", "level", "task",
		"opcode", "keywords", "message_error", "tags", "fields", "user", "xml"),
}

var logAnalyticsShape = &winFlatShape{
	format: "log-analytics",
	system: func(r *winRecord, k, v string) bool {
		switch k {
		case "EventID":
			r.eventID = v
		case "Channel", "EventLog":
			r.channel = v
		case "EventSourceName", "Source", "Provider":
			r.provider = v
		case "Computer":
			r.computer = v
		case "EventRecordId", "EventRecordID":
			r.recordID = v
		case "Task":
			r.task = v
		case "Level", "EventLevel":
			if r.level == "" {
				r.level = v
			}
		case "Keywords":
			r.keywords = winKeywordsHex(v)
		case "Version":
			r.version = v
		default:
			return false
		}
		return true
	},
	meta: winSet("TimeGenerated", "TimeCollected", "TenantId", "SourceSystem", "MG",
		"ManagementGroupName", "Type", "_ResourceId", "_SubscriptionId", "_ItemId",
		"_Internal_WorkspaceResourceId", "Activity", "EventOriginId", "EventLevelName",
		"EventCategory", "RenderedDescription", "ParameterXml", "UserName", "AzureDeploymentID",
		"Role", "EventData", "Data", "Opcode", "SystemUserId", "SystemProcessId",
		"SystemThreadId", "Correlation", "TimeCreated", "Hostname", "PartitionKey", "RowKey"),
	prefix:    "azure.",
	data:      "EventData",
	times:     []string{"TimeGenerated", "TimeCreated", "TimeCollected"},
	skipEmpty: true,
	columns:   true,
}

func winSet(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// winKeywordsHex writes keywords as Windows does, in hex: NXLog before version 6 writes them
// as a signed decimal, which the audit success and failure bits cannot be read from.
func winKeywordsHex(v string) string {
	if v == "" || strings.HasPrefix(v, "0x") {
		return v
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return v
	}
	return "0x" + strconv.FormatUint(uint64(n), 16)
}

// winFlatDecoder decodes one Windows event in one shipper's flat JSON.
type winFlatDecoder struct {
	opts  Options
	shape *winFlatShape
	f     jsonFlat
	data  jsonFlat // EventData held as JSON text
	x     winXML   // EventData held as XML text
	held  []event.Field
}

func newNXLogDecoder(opts Options) Decoder { return &winFlatDecoder{opts: opts, shape: nxlogShape} }
func newWinlogbeat6Decoder(opts Options) Decoder {
	return &winFlatDecoder{opts: opts, shape: winlogbeat6Shape}
}
func newLogAnalyticsDecoder(opts Options) Decoder {
	return &winFlatDecoder{opts: opts, shape: logAnalyticsShape}
}

func (d *winFlatDecoder) Decode(e *event.Event) error {
	s := d.shape
	raw := e.Raw
	if s.syslog {
		raw = winSyslogBody(raw)
	}
	if err := d.f.parse(raw); err != nil {
		return jsonSyntax(s.format, err)
	}
	e.Format = s.format
	var r winRecord
	f := &d.f
	f.fields = f.fields[:0]
	d.held = d.held[:0]
	var times [3]string
	var timeKinds [3]jsonKind
	for i := range f.leaves {
		l := &f.leaves[i]
		if l.kind == jsonNull || s.skipEmpty && l.val == "" {
			continue
		}
		path := f.keyOf(l)
		top, rest, nested := bytes.Cut(path, []byte{'.'})
		for j, tk := range s.times {
			if string(path) == tk && times[j] == "" {
				times[j], timeKinds[j] = l.val, l.kind
			}
		}
		switch {
		case s.data != "" && string(top) == s.data:
			if !nested {
				d.dataText(l.val)
				continue
			}
			f.fields = append(f.fields, event.Field{Key: f.intern("winlog.event_data.", rest), Value: l.val})
		case s.userData != "" && string(top) == s.userData && nested:
			if string(rest) != "xml_name" {
				f.fields = append(f.fields, event.Field{Key: f.intern("winlog.user_data.", rest), Value: l.val})
			}
		case s.system(&r, string(path), l.val):
		case s.meta[string(top)]: // no allocation: a map index
			if string(path) == "message" || string(path) == "Message" {
				e.Message = l.val
				continue
			}
			d.held = append(d.held, event.Field{Key: f.intern(s.prefix, path), Value: l.val})
		case string(path) == "Message" || string(path) == "message":
			e.Message = l.val
		case s.data == "" && !nested:
			f.fields = append(f.fields, event.Field{Key: f.intern("winlog.event_data.", path), Value: l.val})
		case s.columns && !nested:
			// EventData's own items come first and win (winAppendUnique).
			f.fields = append(f.fields, event.Field{Key: f.intern("winlog.event_data.", path), Value: l.val})
		default:
			prefix := ""
			if jsonReserved(path) {
				prefix = "json."
			}
			d.held = append(d.held, event.Field{Key: f.intern(prefix, path), Value: l.val})
		}
	}
	if r.eventID == "" {
		return &Error{Format: s.format, Reason: ReasonField, Detail: "no event ID: not a Windows event in " + s.format + "'s shape"}
	}
	// The first time that parses and has a zone; else the first without one (NXLog's
	// EventTime is the agent's local time, taken in Options.Location).
	var zoneless time.Time
	for j, v := range times {
		if v == "" {
			continue
		}
		t, err := jsonTime(v, timeKinds[j], d.opts)
		switch {
		case err != nil:
		case !winZoneless(v):
			e.Time = t
		case zoneless.IsZero():
			zoneless = t
		}
		if !e.Time.IsZero() {
			break
		}
	}
	if e.Time.IsZero() {
		e.Time = zoneless
	}
	if e.Time.IsZero() {
		return &Error{Format: s.format, Reason: ReasonTimestamp, Detail: "no time in " + strings.Join(s.times, ", ")}
	}
	r.winFields(e)
	e.Fields = winAppendUnique(e.Fields, f.fields)
	e.Fields = append(e.Fields, d.held...)
	clear(f.fields)
	clear(d.held)
	r.winCommon(e)
	return nil
}

// winZoneless reports whether a time in text carries no zone ("2015-10-16 00:39:58").
func winZoneless(v string) bool {
	if len(v) < len("2006-01-02T15:04:05") || jsonIsEpoch(v) {
		return false
	}
	t := v[len("2006-01-02T15:04:05"):]
	return !strings.ContainsAny(t, "Z+-")
}

// winAppendUnique appends the fields of add whose keys are not already in add before them:
// an Azure record holds an EventData item both in EventData and in a column.
func winAppendUnique(dst, add []event.Field) []event.Field {
	for i, fl := range add {
		dup := false
		for j := range i {
			if add[j].Key == fl.Key {
				dup = true
				break
			}
		}
		if !dup {
			dst = append(dst, fl)
		}
	}
	return dst
}

// dataText reads EventData held as text: the XML of <EventData><Data Name=...> (SecurityEvent,
// Event) or a JSON object (exports of WindowsEvent). Its items come before the columns'.
func (d *winFlatDecoder) dataText(v string) {
	t := strings.TrimSpace(v)
	var items []event.Field
	switch {
	case strings.HasPrefix(t, "<"):
		items = d.x.eventData(items, t, &d.f)
	case strings.HasPrefix(t, "{"):
		if d.data.parse([]byte(t)) != nil {
			return
		}
		for i := range d.data.leaves {
			l := &d.data.leaves[i]
			if l.kind != jsonNull {
				items = append(items, event.Field{Key: d.f.intern("winlog.event_data.", d.data.keyOf(l)), Value: l.val})
			}
		}
	default:
		return
	}
	d.f.fields = append(items, d.f.fields...)
}

// winSyslogBody returns the JSON of an NXLog record sent framed as syslog
// ("<14>Dec  8 00:00:00 host Microsoft-Windows-Security-Auditing[4]: {...}"), or the record
// as it is.
func winSyslogBody(raw []byte) []byte {
	if len(raw) > 0 && raw[0] == '<' {
		if i := bytes.IndexByte(raw, '{'); i > 0 {
			return raw[i:]
		}
	}
	return raw
}

// winSniffHead returns the part of head that a sniffer reads: the first object of a JSON
// array or stream, one-line or pretty-printed, and the JSON of a syslog-framed record.
func winSniffHead(head []byte) []byte {
	head = bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n[")
	if len(head) > 0 && head[0] == '<' {
		line, _, _ := bytes.Cut(head, []byte{'\n'})
		return winSyslogBody(line)
	}
	if len(head) == 0 || head[0] != '{' {
		return nil
	}
	if line, _ := jsonFirstLine(head); len(line) > 1 && line[len(line)-1] == '}' {
		return line
	}
	return head
}

func sniffNXLog(head []byte) bool {
	h := winSniffHead(head)
	return jsonHasKey(h, "EventID") && (jsonHasKey(h, "SourceName") || jsonHasKey(h, "SourceModuleType")) &&
		(jsonHasKey(h, "Hostname") || jsonHasKey(h, "EventTime") || jsonHasKey(h, "Channel"))
}

func sniffWinlogbeat6(head []byte) bool {
	h := winSniffHead(head)
	return len(h) > 0 && h[0] == '{' && jsonHasKey(h, "event_id") && jsonHasKey(h, "log_name") &&
		(jsonHasKey(h, "source_name") || jsonHasKey(h, "computer_name")) && !jsonHasKey(h, "winlog")
}

func sniffLogAnalytics(head []byte) bool {
	h := winSniffHead(head)
	return len(h) > 0 && h[0] == '{' && jsonHasKey(h, "TimeGenerated") && jsonHasKey(h, "EventID") && jsonHasKey(h, "Computer")
}

// openWinJSON returns an Open for a stream of Windows events in the JSON of newDec: one per
// line, pretty-printed, or in a JSON array (as Log Analytics exports them).
func openWinJSON(format string, newDec func(Options) Decoder) func(io.Reader, Options) (Reader, error) {
	return func(r io.Reader, opts Options) (Reader, error) {
		return newWinJSONStream(r, format, newDec(opts)), nil
	}
}

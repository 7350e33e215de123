package decode

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

// Windows events arrive in three shapes: the JSON rendering of the event XML ("evtx-json",
// as evtx_dump writes it: {"Event":{"System":{...},"EventData":{...}}}), Winlogbeat's ECS
// JSON ("winlogbeat"), and binary .evtx files ("evtx"). All three come out the same:
// winlog.event_id, winlog.channel, winlog.provider_name, ..., and every EventData item as
// winlog.event_data.<Name>, so a Sigma rule sees one shape whatever the source.

// winRecord is what the three shapes have in common, collected before the event is built.
type winRecord struct {
	eventID, version, level, task, opcode, keywords string
	systemTime, recordID, activityID, relatedID     string
	pid, tid, channel, computer, userSID            string
	provider, providerGUID                          string
	params                                          int
}

var (
	winKeyEventID      = event.K("winlog.event_id")
	winKeyChannel      = event.K("winlog.channel")
	winKeyProvider     = event.K("winlog.provider_name")
	winKeyProviderGUID = event.K("winlog.provider_guid")
	winKeyRecordID     = event.K("winlog.record_id")
	winKeyComputer     = event.K("winlog.computer_name")
	winKeyPID          = event.K("winlog.process.pid")
	winKeyTID          = event.K("winlog.process.thread.id")
	winKeyUserSID      = event.K("winlog.user.identifier")
	winKeyVersion      = event.K("winlog.version")
	winKeyLevel        = event.K("winlog.level")
	winKeyTask         = event.K("winlog.task")
	winKeyOpcode       = event.K("winlog.opcode")
	winKeyKeywords     = event.K("winlog.keywords")
	winKeyActivity     = event.K("winlog.activity_id")
	winKeyRelated      = event.K("winlog.related_activity_id")
)

// winSystem stores the value of a System item, named by its path below System with the
// XML attribute marks taken out ("Provider.Name", "TimeCreated.SystemTime"), and reports
// whether it knew the name.
func (r *winRecord) winSystem(name []byte, v string) bool {
	switch string(name) {
	case "Provider.Name":
		r.provider = v
	case "Provider.Guid":
		r.providerGUID = v
	case "EventID":
		r.eventID = v
	case "Version":
		r.version = v
	case "Level":
		r.level = v
	case "Task":
		r.task = v
	case "Opcode":
		r.opcode = v
	case "Keywords":
		r.keywords = v
	case "TimeCreated.SystemTime":
		r.systemTime = v
	case "EventRecordID":
		r.recordID = v
	case "Correlation.ActivityID":
		r.activityID = v
	case "Correlation.RelatedActivityID":
		r.relatedID = v
	case "Execution.ProcessID":
		r.pid = v
	case "Execution.ThreadID":
		r.tid = v
	case "Channel":
		r.channel = v
	case "Computer":
		r.computer = v
	case "Security.UserID":
		r.userSID = v
	default:
		return false
	}
	return true
}

// winFields adds the System items as fields, in a fixed order. It comes before the event data,
// which the caller adds after.
func (r *winRecord) winFields(e *event.Event) {
	add := func(k event.Key, v string) {
		if v != "" {
			e.Add(k, v)
		}
	}
	add(winKeyEventID, r.eventID)
	add(winKeyChannel, r.channel)
	add(winKeyProvider, r.provider)
	add(winKeyProviderGUID, r.providerGUID)
	add(winKeyRecordID, r.recordID)
	add(winKeyComputer, r.computer)
	add(winKeyPID, r.pid)
	add(winKeyTID, r.tid)
	add(winKeyUserSID, r.userSID)
	add(winKeyVersion, r.version)
	add(winKeyLevel, r.level)
	add(winKeyTask, r.task)
	add(winKeyOpcode, r.opcode)
	add(winKeyKeywords, r.keywords)
	add(winKeyActivity, r.activityID)
	add(winKeyRelated, r.relatedID)
}

// winChannels are the channels whose datasets winDataset names, as Windows writes them.
var winChannels = []string{"Security", "System", "Application", "Microsoft-Windows-Sysmon/Operational",
	"Microsoft-Windows-PowerShell/Operational", "Windows PowerShell"}

// winDataset returns "windows.<channel>": windows.security, windows.sysmon, ...
func winDataset(channel string) string {
	switch channel {
	case "Security":
		return "windows.security"
	case "System":
		return "windows.system"
	case "Application":
		return "windows.application"
	case "Microsoft-Windows-Sysmon/Operational":
		return "windows.sysmon"
	case "Microsoft-Windows-PowerShell/Operational":
		return "windows.powershell"
	case "Windows PowerShell":
		return "windows.powershell_classic"
	case "":
		return "windows"
	}
	// Windows compares channel names without case; forwarders write "security" too.
	for _, c := range winChannels {
		if strings.EqualFold(channel, c) {
			return winDataset(c)
		}
	}
	c := strings.ToLower(channel)
	c = strings.TrimPrefix(c, "microsoft-windows-")
	c = strings.TrimSuffix(c, "/operational")
	return "windows." + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, c)
}

var (
	winKeyTargetUser  = event.K("winlog.event_data.TargetUserName")
	winKeySubjectUser = event.K("winlog.event_data.SubjectUserName")
	winKeyUser        = event.K("winlog.event_data.User")
	winKeyIPAddress   = event.K("winlog.event_data.IpAddress")
	winKeyIPPort      = event.K("winlog.event_data.IpPort")
	winKeyStatus      = event.K("winlog.event_data.Status")
	winKeySrcIP       = event.K("winlog.event_data.SourceIp")
	winKeySrcPort     = event.K("winlog.event_data.SourcePort")
	winKeyDstIP       = event.K("winlog.event_data.DestinationIp")
	winKeyDstPort     = event.K("winlog.event_data.DestinationPort")
	winKeyProtocol    = event.K("winlog.event_data.Protocol")
	winKeyImage       = event.K("winlog.event_data.Image")
)

// winSecurity gives the action, category and outcome of Security events about logons and
// credentials: the ones a detection of brute force or lateral movement reads.
func winSecurity(id string) (action, category string, outcome event.Outcome) {
	switch id {
	case "4624":
		return "logon", "authentication", event.OutcomeSuccess
	case "4625":
		return "logon", "authentication", event.OutcomeFailure
	case "4634", "4647":
		return "logoff", "authentication", event.OutcomeSuccess
	case "4648":
		return "explicit_credentials_logon", "authentication", event.OutcomeSuccess
	case "4672":
		return "special_privileges_logon", "authentication", event.OutcomeSuccess
	case "4768":
		return "kerberos_tgt_request", "authentication", event.OutcomeUnknown
	case "4769":
		return "kerberos_service_ticket_request", "authentication", event.OutcomeUnknown
	case "4771":
		return "kerberos_preauth_failed", "authentication", event.OutcomeFailure
	case "4776":
		return "credential_validation", "authentication", event.OutcomeUnknown
	case "4688":
		return "process_created", "process", event.OutcomeSuccess
	case "4720":
		return "user_account_created", "iam", event.OutcomeSuccess
	case "4732", "4728", "4756":
		return "group_member_added", "iam", event.OutcomeSuccess
	case "4698":
		return "scheduled_task_created", "configuration", event.OutcomeSuccess
	case "4699":
		return "scheduled_task_deleted", "configuration", event.OutcomeSuccess
	case "4701":
		return "scheduled_task_disabled", "configuration", event.OutcomeSuccess
	case "1102":
		return "audit_log_cleared", "configuration", event.OutcomeSuccess
	}
	return "", "", event.OutcomeUnknown
}

// winSysmon gives the action and category of Sysmon events by ID.
func winSysmon(id string) (action, category string) {
	switch id {
	case "1":
		return "process_created", "process"
	case "2":
		return "file_creation_time_changed", "file"
	case "3":
		return "network_connection", "network"
	case "5":
		return "process_terminated", "process"
	case "6":
		return "driver_loaded", "driver"
	case "7":
		return "image_loaded", "process"
	case "8":
		return "create_remote_thread", "process"
	case "9":
		return "raw_access_read", "file"
	case "10":
		return "process_access", "process"
	case "11":
		return "file_created", "file"
	case "12", "13", "14":
		return "registry_event", "registry"
	case "15":
		return "file_stream_created", "file"
	case "17", "18":
		return "pipe_event", "file"
	case "19", "20", "21":
		return "wmi_event", "host"
	case "22":
		return "dns_query", "network"
	case "23", "26":
		return "file_deleted", "file"
	case "25":
		return "process_tampering", "process"
	}
	return "", ""
}

// winCommon sets the common fields of e from r and from the event data already in e.Fields.
func (r *winRecord) winCommon(e *event.Event) {
	winTranslate(e)
	e.Host = r.computer
	e.Process = r.provider
	if n, err := strconv.ParseInt(r.pid, 10, 32); err == nil && n >= 0 {
		e.PID = int32(n)
	}
	e.Dataset = winDataset(r.channel)
	get := func(k event.Key) string {
		v, _ := e.Get(k)
		if v == "-" {
			return ""
		}
		return v
	}
	switch {
	case strings.EqualFold(r.channel, "Security"):
		e.Action, e.Category, e.Outcome = winSecurity(r.eventID)
		if e.Category == "authentication" {
			e.User = get(winKeyTargetUser)
		} else {
			e.User = get(winKeySubjectUser)
		}
		if ip := get(winKeyIPAddress); ip != "" {
			jsonAddr(&e.SrcIP, ip)
		}
		if p := get(winKeyIPPort); p != "" {
			jsonPort(&e.SrcPort, p)
		}
		switch r.eventID {
		case "4768", "4769", "4776":
			if s := get(winKeyStatus); s != "" {
				e.Outcome = event.OutcomeFailure
				if s == "0x0" || s == "0" {
					e.Outcome = event.OutcomeSuccess
				}
			}
		}
		if e.Outcome == event.OutcomeUnknown {
			// The audit keywords say success (0x0020...) or failure (0x0010...).
			if kw, err := strconv.ParseUint(strings.TrimPrefix(r.keywords, "0x"), 16, 64); err == nil {
				switch {
				case kw&0x0020000000000000 != 0:
					e.Outcome = event.OutcomeSuccess
				case kw&0x0010000000000000 != 0:
					e.Outcome = event.OutcomeFailure
				}
			}
		}
	case strings.EqualFold(r.provider, "Microsoft-Windows-Sysmon"):
		e.Action, e.Category = winSysmon(r.eventID)
		e.User = get(winKeyUser)
		if r.eventID == "3" {
			jsonAddr(&e.SrcIP, get(winKeySrcIP))
			jsonAddr(&e.DstIP, get(winKeyDstIP))
			jsonPort(&e.SrcPort, get(winKeySrcPort))
			jsonPort(&e.DstPort, get(winKeyDstPort))
			e.Protocol = jsonLower(get(winKeyProtocol))
		}
	}
}

// winFromFlat builds e from the flattened XML of a Windows event: the evtx-json rendering, or
// the EVTX reader's. format names the decoder in errors.
func winFromFlat(e *event.Event, f *jsonFlat, format string) error {
	var r winRecord
	e.Format = format
	f.fields = f.fields[:0]
	norm := f.norm[:0]
	defer func() { f.norm = norm }()
	leaves := f.leaves
	for i := 0; i < len(leaves); i++ {
		l := &leaves[i]
		norm = winNorm(norm[:0], f.keyOf(l))
		switch {
		case bytes.HasPrefix(norm, []byte("System.")):
			r.winSystem(norm[len("System."):], l.val)
		case bytes.Equal(norm, []byte("EventData.Data")) || bytes.Equal(norm, []byte("EventData.Data.Name")):
			// <Data Name="X">v</Data>: pair the name and the text of one element. Leaves of
			// one element share its object number; a list of unnamed Data shares the
			// number of EventData, and its items become param1, param2, ...
			j, name, names, text, texts := i, "", 0, "", 0
			for ; j < len(leaves) && leaves[j].obj == l.obj; j++ {
				f.scratch = winNorm(f.scratch[:0], f.keyOf(&leaves[j]))
				if string(f.scratch) == "EventData.Data.Name" {
					name, names = leaves[j].val, names+1
				} else if string(f.scratch) == "EventData.Data" {
					text, texts = leaves[j].val, texts+1
				} else {
					break
				}
			}
			if names == 1 && name != "" && texts <= 1 {
				f.fields = append(f.fields, event.Field{Key: f.intern("winlog.event_data.", []byte(name)), Value: text})
			} else {
				for k := i; k < j; k++ {
					f.scratch = winNorm(f.scratch[:0], f.keyOf(&leaves[k]))
					if string(f.scratch) == "EventData.Data" {
						r.params++
						var num [20]byte
						f.fields = append(f.fields, event.Field{
							Key:   f.intern("winlog.event_data.param", strconv.AppendInt(num[:0], int64(r.params), 10)),
							Value: leaves[k].val})
					}
				}
			}
			i = j - 1
		case bytes.HasPrefix(norm, []byte("EventData.")):
			f.fields = append(f.fields, event.Field{Key: f.intern("winlog.event_data.", norm[len("EventData."):]), Value: l.val})
		case bytes.HasPrefix(norm, []byte("UserData.")):
			name := norm[bytes.LastIndexByte(norm, '.')+1:]
			f.fields = append(f.fields, event.Field{Key: f.intern("winlog.user_data.", name), Value: l.val})
		case bytes.Equal(norm, []byte("RenderingInfo.Message")):
			e.Message = l.val
		}
	}
	if r.eventID == "" && r.channel == "" && r.provider == "" {
		return &Error{Format: format, Reason: ReasonField, Detail: "no Event.System: not a Windows event"}
	}
	t, err := time.Parse(time.RFC3339Nano, r.systemTime)
	if err != nil {
		return &Error{Format: format, Reason: ReasonTimestamp, Detail: fmt.Sprintf("TimeCreated SystemTime %q", r.systemTime)}
	}
	e.Time = t
	r.winFields(e) // System first, then the event data
	e.Fields = append(e.Fields, f.fields...)
	clear(f.fields)
	r.winCommon(e)
	return nil
}

// winNorm appends path without its leading "Event.", its "#attributes." marks and a
// trailing ".#text": the path of an item in the event's XML.
func winNorm(dst, path []byte) []byte {
	path = bytes.TrimPrefix(path, []byte("Event."))
	for len(path) > 0 {
		seg, rest, _ := bytes.Cut(path, []byte{'.'})
		if string(seg) != "#attributes" && string(seg) != "#text" {
			if len(dst) > 0 {
				dst = append(dst, '.')
			}
			dst = append(dst, seg...)
		}
		path = rest
	}
	return dst
}

// evtxJSONDecoder decodes one Windows event in its JSON rendering, on one line (as sent over
// HTTP); Open reads files of several pretty-printed ones.
type evtxJSONDecoder struct {
	opts Options
	f    jsonFlat
}

func newEVTXJSONDecoder(opts Options) Decoder { return &evtxJSONDecoder{opts: opts} }

func (d *evtxJSONDecoder) Decode(e *event.Event) error {
	if err := d.f.parse(e.Raw); err != nil {
		return jsonSyntax("evtx-json", err)
	}
	return winFromFlat(e, &d.f, "evtx-json")
}

func sniffEVTXJSON(head []byte) bool {
	head = bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
	return len(head) > 0 && head[0] == '{' && jsonHasKey(head, "Event") && jsonHasKey(head, "System")
}

// openEVTXJSON reads a stream of JSON values one after the other, each a Windows event,
// pretty-printed over many lines or not. A broken value is returned as an error and the
// reader goes on with the next value.
func openEVTXJSON(r io.Reader, opts Options) (Reader, error) {
	return newWinJSONStream(r, "evtx-json", &evtxJSONDecoder{opts: opts}), nil
}

// newWinJSONStream reads a stream of JSON objects, each a record for dec: one per line,
// pretty-printed, or the items of a JSON array.
func newWinJSONStream(r io.Reader, format string, dec Decoder) *winJSONStream {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &winJSONStream{r: br, dec: dec, format: format, max: DefaultMaxRecord * 4, line: 1}
}

type winJSONStream struct {
	r      *bufio.Reader
	dec    Decoder
	format string
	max    int
	line   int // line of the next byte
	err    error
}

func (s *winJSONStream) Next(e *event.Event) error {
	e.Reset()
	raw, start, tooLong, err := s.value()
	if err != nil {
		return err
	}
	e.Raw = raw
	return decodeRecord(s.dec, e, s.format, start, s.max, tooLong)
}

// decodeRecord decodes the record a multi-line stream read into e, starting at line start;
// one longer than max, cut short, is refused as too long with its start kept in e.Raw.
func decodeRecord(dec Decoder, e *event.Event, format string, start, max int, tooLong bool) error {
	if tooLong {
		return &Error{Format: format, Reason: ReasonTooLong, Line: start,
			Detail: fmt.Sprintf("record longer than %d bytes; its start is kept", max)}
	}
	if err := dec.Decode(e); err != nil {
		if de, ok := errors.AsType[*Error](err); ok {
			de.Line = start
		}
		return err
	}
	return nil
}

// value reads the next JSON object (or, when the stream holds something else, the rest of
// that line) into a new slice.
func (s *winJSONStream) value() (raw []byte, start int, tooLong bool, err error) {
	if s.err != nil {
		return nil, 0, false, s.err
	}
	var c byte
	for { // skip white space, a byte-order mark, and the brackets and commas of an array
		c, err = s.r.ReadByte()
		if err != nil {
			s.err = err
			return nil, 0, false, err
		}
		if c == '\n' {
			s.line++
		}
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != 0xef && c != 0xbb && c != 0xbf &&
			c != '[' && c != ']' && c != ',' {
			break
		}
	}
	start = s.line
	keep := func(b byte) {
		if len(raw) < s.max {
			raw = append(raw, b)
		} else {
			tooLong = true
		}
	}
	keep(c)
	if c != '{' {
		// Not an object: the rest of the line is one bad record.
		for {
			c, err := s.r.ReadByte()
			if err != nil || c == '\n' {
				if c == '\n' {
					s.line++
				}
				return raw, start, tooLong, nil
			}
			keep(c)
		}
	}
	depth, inStr, esc := 1, false, false
	for depth > 0 {
		c, err := s.r.ReadByte()
		if err != nil {
			s.err = err
			return raw, start, tooLong, nil // an object cut short: Decode reports it
		}
		keep(c)
		switch {
		case c == '\n':
			s.line++
		case inStr && esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case !inStr && (c == '{' || c == '['):
			depth++
		case !inStr && (c == '}' || c == ']'):
			depth--
		}
	}
	return raw, start, tooLong, nil
}

// winlogbeatDecoder decodes Winlogbeat's ECS JSON: the "winlog" object as for the other
// Windows shapes, the rest as generic JSON.
type winlogbeatDecoder struct {
	opts Options
	f    jsonFlat
}

func newWinlogbeatDecoder(opts Options) Decoder { return &winlogbeatDecoder{opts: opts} }

func (d *winlogbeatDecoder) Decode(e *event.Event) error {
	if err := d.f.parse(e.Raw); err != nil {
		return jsonSyntax("winlogbeat", err)
	}
	e.Format = "winlogbeat"
	var r winRecord
	f := &d.f
	f.fields = f.fields[:0]
	for i := range d.f.leaves {
		l := &d.f.leaves[i]
		if l.kind == jsonNull {
			continue
		}
		path := d.f.keyOf(l)
		if rest, ok := bytes.CutPrefix(path, []byte("winlog.")); ok {
			if name, ok := bytes.CutPrefix(rest, []byte("event_data.")); ok {
				f.fields = append(f.fields, event.Field{Key: f.intern("winlog.event_data.", name), Value: l.val})
				continue
			}
			if r.winbeat(rest, l.val) {
				continue
			}
			f.fields = append(f.fields, event.Field{Key: f.intern("", path), Value: l.val})
			continue
		}
		ok, err := jsonCommon(e, path, l, d.opts)
		if err != nil {
			return &Error{Format: "winlogbeat", Reason: ReasonTimestamp, Detail: err.Error()}
		}
		if !ok {
			prefix := ""
			if jsonReserved(path) {
				prefix = "json."
			}
			f.fields = append(f.fields, event.Field{Key: f.intern(prefix, path), Value: l.val})
		}
	}
	if r.eventID == "" {
		return &Error{Format: "winlogbeat", Reason: ReasonField, Detail: "no winlog.event_id"}
	}
	host, msg, t := e.Host, e.Message, e.Time
	r.winFields(e)
	e.Fields = append(e.Fields, f.fields...)
	clear(f.fields)
	action, category, outcome := e.Action, e.Category, e.Outcome
	r.winCommon(e)
	// What Winlogbeat said itself wins over what the event ID suggests.
	if host != "" {
		e.Host = host
	}
	if action != "" {
		e.Action = action
	}
	if category != "" {
		e.Category = category
	}
	if outcome != event.OutcomeUnknown {
		e.Outcome = outcome
	}
	e.Message, e.Time = msg, t
	if e.Time.IsZero() {
		return &Error{Format: "winlogbeat", Reason: ReasonTimestamp, Detail: "no @timestamp"}
	}
	return nil
}

// winbeat stores a winlog.* item of Winlogbeat, named without the "winlog." prefix.
func (r *winRecord) winbeat(name []byte, v string) bool {
	switch string(name) {
	case "event_id":
		r.eventID = v
	case "channel":
		r.channel = v
	case "provider_name":
		r.provider = v
	case "provider_guid":
		r.providerGUID = v
	case "record_id":
		r.recordID = v
	case "computer_name":
		r.computer = v
	case "process.pid":
		r.pid = v
	case "process.thread.id":
		r.tid = v
	case "user.identifier":
		r.userSID = v
	case "version":
		r.version = v
	case "activity_id":
		r.activityID = v
	case "related_activity_id":
		r.relatedID = v
	default:
		return false
	}
	return true
}

func sniffWinlogbeat(head []byte) bool {
	line, _ := jsonFirstLine(head)
	return len(line) > 0 && line[0] == '{' && jsonHasKey(line, "winlog") &&
		(jsonHasKey(line, "event_id") || jsonHasKey(line, "winlog.event_id"))
}

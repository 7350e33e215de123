package decode

import (
	"bytes"
	"strconv"

	"github.com/omamori-project/omamori/internal/event"
)

// Zeek logs, in Zeek's own tab-separated form (the "zeek" format: #separator, #fields and
// #types header lines, then one connection, query or request per line) and as JSON lines
// (the "zeek-json" format). Both give Dataset "zeek.<path>" (zeek.conn, zeek.dns) and keep
// every column as "zeek.<path>.<column>", except those that fill common fields (ts,
// id.orig_h, ...) and the few with ECS names (url.original, dns.question.name, ...).

// zeekRole says what a column means to the event.
type zeekRole uint8

const (
	zeekField zeekRole = iota // kept as a field
	zeekTS
	zeekOrigH
	zeekOrigP
	zeekRespH
	zeekRespP
	zeekProto
	zeekOrigBytes
	zeekRespBytes
	zeekAuthSuccess // ssh: the outcome, and kept as a field
)

// zeekColumn returns the role of column col of a log of the given path, and the key it is
// kept under when it is kept (prefix and name, for jsonFlat.intern). prefix is the log's
// own, zeekPrefix(path).
func zeekColumn(path, prefix string, col []byte) (zeekRole, string, []byte) {
	switch string(col) {
	case "ts":
		return zeekTS, "", nil
	case "id.orig_h":
		return zeekOrigH, "", nil
	case "id.orig_p":
		return zeekOrigP, "", nil
	case "id.resp_h":
		return zeekRespH, "", nil
	case "id.resp_p":
		return zeekRespP, "", nil
	case "proto":
		return zeekProto, "", nil
	case "orig_bytes":
		return zeekOrigBytes, "", nil
	case "resp_bytes":
		return zeekRespBytes, "", nil
	case "uid":
		return zeekField, "zeek.session_id", nil
	}
	var ecs string
	switch path {
	case "http", "open_http":
		switch string(col) {
		case "host":
			ecs = "url.domain"
		case "uri":
			ecs = "url.original"
		case "user_agent":
			ecs = "user_agent.original"
		case "method":
			ecs = "http.request.method"
		case "status_code":
			ecs = "http.response.status_code"
		}
	case "dns":
		switch string(col) {
		case "query":
			ecs = "dns.question.name"
		case "qtype_name":
			ecs = "dns.question.type"
		case "rcode_name":
			ecs = "dns.response_code"
		}
	case "ssl", "open_ssl":
		if string(col) == "server_name" {
			ecs = "tls.client.server_name"
		}
	case "ssh":
		if string(col) == "auth_success" {
			return zeekAuthSuccess, prefix, col
		}
	}
	if ecs != "" {
		return zeekField, ecs, nil
	}
	return zeekField, prefix, col
}

// zeekPrefix returns "zeek.<path>.", the prefix of the fields of a log, without allocating
// for the common logs.
func zeekPrefix(path string) string {
	switch path {
	case "":
		return "zeek."
	case "conn":
		return "zeek.conn."
	case "dns":
		return "zeek.dns."
	case "http":
		return "zeek.http."
	case "ssl":
		return "zeek.ssl."
	case "ssh":
		return "zeek.ssh."
	}
	return "zeek." + path + "."
}

// zeekAction gives the ECS category and action of a log path.
func zeekAction(path string) (category, action string) {
	switch path {
	case "conn", "open_conn":
		return "network", "connection"
	case "dns":
		return "network", "dns_query"
	case "http", "open_http":
		return "web", "http_request"
	case "ssl", "open_ssl":
		return "network", "tls_handshake"
	case "ssh":
		return "authentication", "ssh_login"
	case "files":
		return "file", "file_transfer"
	case "notice":
		return "intrusion_detection", "notice"
	case "weird":
		return "network", "weird"
	case "x509":
		return "network", "x509_certificate"
	}
	return "", ""
}

// zeekValue applies the value v of a column with role r to e, and reports whether it was
// taken into a common field (false: keep it as a field).
func zeekValue(e *event.Event, r zeekRole, v string, kind jsonKind, opts Options) (bool, error) {
	switch r {
	case zeekTS:
		t, err := jsonTime(v, kind, opts)
		if err != nil {
			return false, err
		}
		e.Time = t
		return true, nil
	case zeekOrigH:
		return jsonAddr(&e.SrcIP, v), nil
	case zeekRespH:
		return jsonAddr(&e.DstIP, v), nil
	case zeekOrigP:
		return jsonPort(&e.SrcPort, v), nil
	case zeekRespP:
		return jsonPort(&e.DstPort, v), nil
	case zeekProto:
		e.Protocol = jsonLower(v)
		return true, nil
	case zeekOrigBytes:
		return jsonUint(&e.BytesOut, v), nil
	case zeekRespBytes:
		return jsonUint(&e.BytesIn, v), nil
	case zeekAuthSuccess:
		switch v {
		case "T", "true":
			e.Outcome = event.OutcomeSuccess
		case "F", "false":
			e.Outcome = event.OutcomeFailure
		}
	}
	return false, nil
}

// zeekTSV decodes Zeek's tab-separated logs. The header lines set its columns and return
// ErrSkip; a stream may hold several logs one after the other, each with its header.
type zeekTSV struct {
	opts    Options
	sep     []byte
	setSep  string
	empty   string
	unset   string
	path    string
	dataset string
	cat     string
	action  string
	cols    []zeekCol
	keys    jsonFlat // for its key cache
	unesc   []byte
}

type zeekCol struct {
	role zeekRole
	key  event.Key // zero for columns that only fill common fields
}

func newZeekDecoder(opts Options) Decoder {
	return &zeekTSV{opts: opts, sep: []byte{'\t'}, setSep: ",", empty: "(empty)", unset: "-"}
}

func (d *zeekTSV) Decode(e *event.Event) error {
	line := e.Raw
	if len(line) > 0 && line[0] == '#' {
		return d.header(line)
	}
	if d.cols == nil {
		return &Error{Format: "zeek", Reason: ReasonSyntax, Detail: "data line before the #fields header"}
	}
	e.Format = "zeek"
	e.Dataset, e.Category, e.Action = d.dataset, d.cat, d.action
	rest := line
	for i := range d.cols {
		var v []byte
		var more bool
		v, rest, more = bytes.Cut(rest, d.sep)
		if !more && i < len(d.cols)-1 {
			return &Error{Format: "zeek", Reason: ReasonSyntax,
				Detail: "line has " + strconv.Itoa(i+1) + " columns, #fields names " + strconv.Itoa(len(d.cols))}
		}
		if more && i == len(d.cols)-1 {
			return &Error{Format: "zeek", Reason: ReasonSyntax,
				Detail: "line has more columns than #fields names (" + strconv.Itoa(len(d.cols)) + ")"}
		}
		s := event.String(v)
		if s == d.unset || s == d.empty || s == "" {
			continue
		}
		if bytes.Contains(v, []byte(`\x`)) {
			d.unesc = zeekUnescape(d.unesc[:0], v)
			s = string(d.unesc)
		}
		c := d.cols[i]
		taken, err := zeekValue(e, c.role, s, jsonString, d.opts)
		if err != nil {
			return &Error{Format: "zeek", Reason: ReasonTimestamp, Detail: err.Error()}
		}
		if !taken && c.key != (event.Key{}) {
			e.Add(c.key, s)
		}
	}
	return nil
}

// header reads one header line. Their values are separated by the separator, except in
// #separator itself, which is followed by a space.
func (d *zeekTSV) header(line []byte) error {
	if rest, ok := bytes.CutPrefix(line, []byte("#separator ")); ok {
		sep := zeekUnescape(nil, bytes.TrimSpace(rest))
		if len(sep) == 0 {
			return &Error{Format: "zeek", Reason: ReasonSyntax, Detail: "empty #separator"}
		}
		d.sep = sep
		return ErrSkip
	}
	name, val, _ := bytes.Cut(line, d.sep)
	switch string(name) {
	case "#set_separator":
		d.setSep = string(val)
	case "#empty_field":
		d.empty = string(val)
	case "#unset_field":
		d.unset = string(val)
	case "#path":
		d.path = string(val)
		d.dataset = "zeek." + d.path
		d.cat, d.action = zeekAction(d.path)
		d.cols = nil // a new log: its #fields follows
	case "#fields":
		d.cols = d.cols[:0]
		for col := range bytes.SplitSeq(val, d.sep) {
			role, prefix, name := zeekColumn(d.path, zeekPrefix(d.path), col)
			var key event.Key
			if prefix != "" {
				key = d.keys.intern(prefix, name)
			}
			d.cols = append(d.cols, zeekCol{role: role, key: key})
		}
		if d.dataset == "" {
			d.dataset = "zeek"
		}
	}
	// #open, #close, #types and any other header: nothing to do.
	return ErrSkip
}

// zeekUnescape appends b to dst with Zeek's \xNN escapes decoded.
func zeekUnescape(dst, b []byte) []byte {
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+3 < len(b) && b[i+1] == 'x' {
			h, l := jsonHex(b[i+2]), jsonHex(b[i+3])
			if h >= 0 && l >= 0 {
				dst = append(dst, byte(h<<4|l))
				i += 3
				continue
			}
		}
		dst = append(dst, b[i])
	}
	return dst
}

func sniffZeek(head []byte) bool {
	return bytes.HasPrefix(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), []byte("#separator "))
}

// zeekJSON decodes Zeek's JSON logs. The log's path comes from "_path" when Zeek wrote one,
// and is otherwise inferred from the columns a record has.
type zeekJSON struct {
	opts Options
	f    jsonFlat
}

func newZeekJSONDecoder(opts Options) Decoder { return &zeekJSON{opts: opts} }

func (d *zeekJSON) Decode(e *event.Event) error {
	if err := d.f.parse(e.Raw); err != nil {
		return jsonSyntax("zeek-json", err)
	}
	path := ""
	for i := range d.f.leaves {
		if string(d.f.keyOf(&d.f.leaves[i])) == "_path" {
			path = d.f.leaves[i].val
			break
		}
	}
	if path == "" {
		path = d.inferPath()
	}
	e.Format = "zeek-json"
	e.Dataset = zeekDataset(path)
	e.Category, e.Action = zeekAction(path)
	logPrefix := zeekPrefix(path)
	for i := range d.f.leaves {
		l := &d.f.leaves[i]
		col := d.f.keyOf(l)
		if l.kind == jsonNull || string(col) == "_path" || string(col) == "_write_ts" {
			continue
		}
		role, prefix, name := zeekColumn(path, logPrefix, col)
		taken, err := zeekValue(e, role, l.val, l.kind, d.opts)
		if err != nil {
			return &Error{Format: "zeek-json", Reason: ReasonTimestamp, Detail: err.Error()}
		}
		if !taken {
			if prefix == "" { // a common column whose value did not parse
				prefix, name = logPrefix, col
			}
			e.Add(d.f.intern(prefix, name), l.val)
		}
	}
	if e.Time.IsZero() {
		return &Error{Format: "zeek-json", Reason: ReasonTimestamp, Detail: "no ts"}
	}
	return nil
}

// inferPath guesses the log a record comes from by a column only that log has.
func (d *zeekJSON) inferPath() string {
	for i := range d.f.leaves {
		switch string(d.f.keyOf(&d.f.leaves[i])) {
		case "conn_state", "history", "orig_pkts":
			return "conn"
		case "query", "qtype_name", "rcode_name":
			return "dns"
		case "method", "status_code", "user_agent":
			return "http"
		case "server_name", "cipher", "ja3", "validation_status":
			return "ssl"
		case "auth_success", "auth_attempts", "host_key":
			return "ssh"
		case "mime_type", "analyzers", "seen_bytes":
			return "files"
		case "certificate.version", "certificate.subject":
			return "x509"
		case "note":
			return "notice"
		case "software_type":
			return "software"
		case "assigned_addr", "lease_time":
			return "dhcp"
		}
	}
	return ""
}

func zeekDataset(path string) string {
	switch path {
	case "":
		return "zeek"
	case "conn":
		return "zeek.conn"
	case "dns":
		return "zeek.dns"
	case "http":
		return "zeek.http"
	case "ssl":
		return "zeek.ssl"
	case "ssh":
		return "zeek.ssh"
	}
	return "zeek." + path
}

func sniffZeekJSON(head []byte) bool {
	return jsonSniffObject(head, "ts", "uid") || jsonSniffObject(head, "ts", "_path")
}

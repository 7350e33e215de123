package decode

// structuredFormats are the formats that arrive as JSON, tab-separated or binary records.
// Detect tries them before the syslog formats, most specific first: each Sniff looks for the
// marks of its own format, and generic JSON comes last.
var structuredFormats = []Format{
	{Name: "evtx", Doc: "Windows event log files (.evtx)", Open: openEVTX, Sniff: sniffEVTX},
	{Name: "zeek", Doc: "Zeek logs, tab-separated with #fields headers", New: newZeekDecoder, Sniff: sniffZeek},
	{Name: "zeek-json", Doc: "Zeek logs as JSON, one record per line", New: newZeekJSONDecoder, Sniff: sniffZeekJSON},
	{Name: "winlogbeat", Doc: "Winlogbeat JSON (Windows events in ECS), one per line", New: newWinlogbeatDecoder, Sniff: sniffWinlogbeat},
	{Name: "evtx-json", Doc: "Windows events as JSON (evtx_dump), one-line or pretty-printed", New: newEVTXJSONDecoder, Open: openEVTXJSON, Sniff: sniffEVTXJSON},
	{Name: "eve", Doc: "Suricata EVE JSON, one event per line", New: newEVEDecoder, Sniff: sniffEVE},
	{Name: "ehr", Doc: "EHR access logs in omamori's JSON schema, one per line", New: newEHRDecoder, Sniff: sniffEHR},
	{Name: "json", Doc: "JSON documents with ECS field names, one per line", New: newJSONDecoder, Sniff: sniffJSON},
}

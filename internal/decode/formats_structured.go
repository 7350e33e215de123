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
	{Name: "nxlog", Doc: "Windows events from NXLog's im_msvistalog as JSON, with or without Logstash's fields or a syslog header",
		New: newNXLogDecoder, Open: openWinJSON("nxlog", newNXLogDecoder), Sniff: sniffNXLog},
	{Name: "winlogbeat6", Doc: "Winlogbeat 6 JSON (event_id, log_name, event_data at the top level)",
		New: newWinlogbeat6Decoder, Open: openWinJSON("winlogbeat6", newWinlogbeat6Decoder), Sniff: sniffWinlogbeat6},
	{Name: "log-analytics", Doc: "Azure Log Analytics / Sentinel exports of SecurityEvent, Event and WindowsEvent as JSON",
		New: newLogAnalyticsDecoder, Open: openWinJSON("log-analytics", newLogAnalyticsDecoder), Sniff: sniffLogAnalytics},
	{Name: "wef-xml", Doc: "Windows events as rendered XML (Windows Event Forwarding, wevtutil /f:xml, Event Viewer)",
		New: newWEFDecoder, Open: openWEF, Sniff: sniffWEF},
	{Name: "windows", Doc: "Windows events in any of the shapes above, found per record (for live sources)", New: newWinAnyDecoder},
	{Name: "eve", Doc: "Suricata EVE JSON, one event per line", New: newEVEDecoder, Sniff: sniffEVE},
	{Name: "ehr", Doc: "EHR access logs in omamori's JSON schema, one per line", New: newEHRDecoder, Sniff: sniffEHR},
	{Name: "json", Doc: "JSON documents with ECS field names, one per line", New: newJSONDecoder, Sniff: sniffJSON},
}

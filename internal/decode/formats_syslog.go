package decode

// syslogFormats are the formats that arrive as lines of text, most often over syslog.
var syslogFormats = []Format{}

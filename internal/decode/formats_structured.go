package decode

// structuredFormats are the formats that arrive as JSON, tab-separated or binary records.
var structuredFormats = []Format{}

package decode

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Format describes one log format omamori understands.
type Format struct {
	Name string // as given to --format and in ingest.format
	Doc  string // one line for help text

	// New makes a decoder for one stream of records. Nil for formats that are not made of
	// separate records (EVTX files), which have Open instead.
	New func(Options) Decoder
	// Open reads a whole stream in a format that is not line-based. Nil for line formats.
	Open func(io.Reader, Options) (Reader, error)
	// Sniff reports whether a stream whose first bytes are head is in this format, for
	// auto-detection. Nil for formats that are never guessed.
	Sniff func(head []byte) bool
}

// Formats returns every format, in the order Detect tries them: the specific before the
// general, and syslog, which accepts almost any line, last.
func Formats() []Format {
	return slices.Concat(structuredFormats, syslogFormats)
}

// Lookup returns the format called name.
func Lookup(name string) (Format, error) {
	for _, f := range Formats() {
		if f.Name == name {
			return f, nil
		}
	}
	return Format{}, fmt.Errorf("decode: unknown format %q (known: %s)", name, strings.Join(Names(), ", "))
}

// Names returns the names of all formats.
func Names() []string {
	var names []string
	for _, f := range Formats() {
		names = append(names, f.Name)
	}
	return names
}

// New returns a decoder for the record format called name.
func New(name string, opts Options) (Decoder, error) {
	f, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	if f.New == nil {
		return nil, fmt.Errorf("decode: format %q is a file format, not one of records; read it with NewReader", name)
	}
	return f.New(opts), nil
}

// Detect returns the name of the format of a stream that starts with head (a few kilobytes
// are enough). It falls back to syslog, which takes any line of text.
func Detect(head []byte) string {
	for _, f := range Formats() {
		if f.Sniff != nil && f.Sniff(head) {
			return f.Name
		}
	}
	return "syslog"
}

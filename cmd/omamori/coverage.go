package main

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
)

// statusNoCoverage is scan's exit status when a file's events met no rule's log source: every
// rule was run, but none could have matched, so its zero alerts say nothing about the file.
const statusNoCoverage = 4

// coverage counts the events of one file that met at least one rule's log source, so that a
// file none met is said out loud instead of summed into a table of zeros.
type coverage struct {
	covers  func(*event.Event) bool
	met     int
	dataset string // of the first event
	first   []byte // the first event's record, to try the other formats on
}

func (c *coverage) observe(e *event.Event) {
	if c.covers(e) {
		c.met++
	}
	if c.first == nil {
		c.first, c.dataset = bytes.Clone(e.Raw), e.Dataset
	}
}

// warn writes, for a file of events none of which met a log source, a warning naming the
// format it was read as and the formats that would read its first record into an event that
// meets one. It reports whether it warned.
func (c *coverage) warn(w io.Writer, name, format string, events int) bool {
	if events == 0 || c.met > 0 {
		return false
	}
	ds := ""
	if c.dataset != "" {
		ds = fmt.Sprintf(" (dataset %s)", c.dataset)
	}
	fmt.Fprintf(w, "warning: %s: none of its %d events met a rule's log source, so no rule could match them: "+
		"they were read as format %s%s\n", name, events, format, ds)
	if fits := c.fits(format); len(fits) > 0 {
		fmt.Fprintf(w, "hint: its first record would be read as an event rules see with -format %s\n", strings.Join(fits, " or -format "))
	} else {
		fmt.Fprintf(w, "hint: no format omamori reads makes its first record an event a rule sees; Windows events are read by -format %s\n",
			strings.Join(decode.WindowsFormats(), ", "))
	}
	return true
}

// fits returns the record formats other than format that decode the first record into an
// event that meets a log source.
func (c *coverage) fits(format string) []string {
	var fits []string
	for _, f := range decode.Formats() {
		if f.New == nil || f.Name == format || f.Name == "windows" {
			continue
		}
		e := event.Event{Raw: c.first, Received: time.Now()}
		if f.New(decode.Options{}).Decode(&e) == nil && c.covers(&e) && !slices.Contains(fits, f.Name) {
			fits = append(fits, f.Name)
		}
	}
	return fits
}

package decode

import (
	"errors"
	"strings"
	"testing"

	"github.com/omamori-project/omamori/internal/event"
)

// TestReaderMaxRecord: a record of exactly the limit is whole, with or without its newline;
// one byte more is too long and keeps its start.
func TestReaderMaxRecord(t *testing.T) {
	const max = 1024
	rec := `{"message":"` + strings.Repeat("x", max-len(`{"message":""}`)) + `"}`
	for _, c := range []struct {
		name, in string
		tooLong  bool
	}{
		{"exactly the limit, newline", rec + "\n", false},
		{"exactly the limit, end of file", rec, false},
		{"one byte more", rec[:len(rec)-2] + `x"}` + "\n", true},
	} {
		rd, _, err := NewReader(strings.NewReader(c.in), "json", Options{}, max)
		if err != nil {
			t.Fatal(err)
		}
		var e event.Event
		err = rd.Next(&e)
		de, _ := errors.AsType[*Error](err)
		if got := de != nil && de.Reason == ReasonTooLong; got != c.tooLong || (!c.tooLong && err != nil) {
			t.Errorf("%s (%d bytes): %v, want too long %v", c.name, len(strings.TrimSuffix(c.in, "\n")), err, c.tooLong)
		}
		if c.tooLong && len(e.Raw) != max {
			t.Errorf("%s: kept %d bytes, want the first %d", c.name, len(e.Raw), max)
		}
	}
}

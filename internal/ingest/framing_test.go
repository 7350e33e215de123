package ingest

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

type frame struct {
	Msg     string
	TooLong bool
}

// frames reads every message of r with a framer keeping at most max bytes.
func frames(r io.Reader, max int) ([]frame, error) {
	f := newFramer(r, max)
	var got []frame
	for {
		msg, tooLong, err := f.next()
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil && !errors.Is(err, errTruncated) {
			return got, err
		}
		got = append(got, frame{string(msg), tooLong})
		if err != nil {
			return got, err
		}
	}
}

func TestFramer(t *testing.T) {
	tests := []struct {
		in   string
		want []frame
		err  error
	}{
		{"<13>a\n<13>b\n", []frame{{"<13>a", false}, {"<13>b", false}}, nil},
		{"<13>a\r\n\n\n<13>b", []frame{{"<13>a", false}, {"<13>b", false}}, nil},
		{"5 <13>a6 <13>bc", []frame{{"<13>a", false}, {"<13>bc", false}}, nil},
		// octet counting and newlines mixed, message with a newline inside a count
		{"6 <1>a\nb<2>line\n5 <3>c\n", []frame{{"<1>a\nb", false}, {"<2>line", false}, {"<3>c", false}}, nil},
		// digits not followed by " <" are a line, not a count
		{"12 Dec 10 06:55:46 host sshd[1]: x\n", []frame{{"12 Dec 10 06:55:46 host sshd[1]: x", false}}, nil},
		{"2024-05-01T10:00:00Z host x\n", []frame{{"2024-05-01T10:00:00Z host x", false}}, nil},
		{"1\n", []frame{{"1", false}}, nil},
		{"<13>nul trailer\x00", []frame{{"<13>nul trailer", false}}, nil},
		// too long: the start is kept, the rest skipped
		{"<13>" + strings.Repeat("x", 60) + "\n<13>ok\n", []frame{{"<13>" + strings.Repeat("x", 36), true}, {"<13>ok", false}}, nil},
		{"64 <13>" + strings.Repeat("y", 60) + "<13>ok\n", []frame{{"<13>" + strings.Repeat("y", 36), true}, {"<13>ok", false}}, nil},
		// the stream ends inside a counted message
		{"50 <13>short", []frame{{"<13>short", false}}, errTruncated},
		{"", nil, nil},
	}
	for _, tt := range tests {
		for _, r := range []struct {
			name string
			r    io.Reader
		}{{"whole", strings.NewReader(tt.in)}, {"bytewise", iotest.OneByteReader(strings.NewReader(tt.in))}} {
			got, err := frames(r.r, 40)
			if !errors.Is(err, tt.err) || !cmp.Equal(got, tt.want) {
				t.Errorf("frames(%q, %s) = %+v, %v; want %+v, %v", tt.in, r.name, got, err, tt.want, tt.err)
			}
		}
	}
}

// timeoutReader returns a timeout error before every other read, as a conn with a deadline that
// passes mid-message does.
type timeoutReader struct {
	r    io.Reader
	tick bool
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

func (t *timeoutReader) Read(p []byte) (int, error) {
	t.tick = !t.tick
	if t.tick {
		return 0, timeoutErr{}
	}
	return t.r.Read(p[:min(len(p), 3)])
}

// TestFramerTimeouts checks that a read deadline passing in the middle of a message loses no
// byte: the framer hands the timeout up and carries on at the next call.
func TestFramerTimeouts(t *testing.T) {
	in := "<13>first line\n11 <13>counted<13>" + strings.Repeat("z", 40) + "\n<13>last"
	want := []frame{{"<13>first line", false}, {"<13>counted", false}, {"<13>" + strings.Repeat("z", 12), true}, {"<13>last", false}}
	f := newFramer(&timeoutReader{r: strings.NewReader(in)}, 16)
	var got []frame
	timeouts := 0
	for {
		msg, tooLong, err := f.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if isTimeout(err) {
			timeouts++
			continue
		}
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		got = append(got, frame{string(msg), tooLong})
	}
	if !cmp.Equal(got, want) {
		t.Errorf("frames with timeouts = %+v, want %+v", got, want)
	}
	if timeouts == 0 {
		t.Error("the reader gave no timeout; the test tests nothing")
	}
}

// stalled is a connection whose sender has stopped in the middle of something: every read
// times out.
type stalled struct{}

func (stalled) Read([]byte) (int, error) { return 0, timeoutErr{} }

func TestFramerPending(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" for nil
	}{
		{"<13>a\n<13>unfinished", "<13>unfinished"},
		{"<13>a\n", ""},
		{"<13>a\n \r\n ", ""},
		{"50 <13>short", "50 <13>short"},       // a counted message, header and all
		{"<13>" + strings.Repeat("x", 60), ""}, // its start was returned as too long
		{"20 <13>" + strings.Repeat("y", 10), "20 <13>" + strings.Repeat("y", 9)}, // at most max bytes
	}
	for _, tt := range tests {
		f := newFramer(io.MultiReader(strings.NewReader(tt.in), stalled{}), 16)
		for {
			if _, _, err := f.next(); err != nil {
				if !isTimeout(err) {
					t.Fatalf("next on %q: %v, want a timeout", tt.in, err)
				}
				break
			}
		}
		if got := string(f.pending()); got != tt.want {
			t.Errorf("pending after %q = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzFramer(f *testing.F) {
	f.Add([]byte("5 <13>a<14>line\n\n12 Dec x\n"))
	f.Add([]byte("999999999 <"))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, _ := frames(strings.NewReader(string(in)), 32)
		total := 0
		for _, fr := range got {
			if len(fr.Msg) > 32 {
				t.Fatalf("frame of %d bytes, longer than the limit 32", len(fr.Msg))
			}
			total += len(fr.Msg)
		}
		if total > len(in) {
			t.Fatalf("frames hold %d bytes of an input of %d", total, len(in))
		}
	})
}

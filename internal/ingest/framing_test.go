package ingest

import (
	"errors"
	"fmt"
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
	f := newFramer(r, max, newReadPool(max))
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
// timeoutReader alternates a timeout and a read of at most chunk bytes (default 3).
type timeoutReader struct {
	r     io.Reader
	chunk int
	tick  bool
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

func (t *timeoutReader) Read(p []byte) (int, error) {
	t.tick = !t.tick
	if t.tick {
		return 0, timeoutErr{}
	}
	chunk := t.chunk
	if chunk == 0 {
		chunk = 3
	}
	return t.r.Read(p[:min(len(p), chunk)])
}

// TestFramerTimeouts checks that a read deadline passing in the middle of a message loses no
// byte: the framer hands the timeout up and carries on at the next call.
func TestFramerTimeouts(t *testing.T) {
	in := "<13>first line\n11 <13>counted<13>" + strings.Repeat("z", 40) + "\n<13>last"
	want := []frame{{"<13>first line", false}, {"<13>counted", false}, {"<13>" + strings.Repeat("z", 12), true}, {"<13>last", false}}
	f := newFramer(&timeoutReader{r: strings.NewReader(in)}, 16, newReadPool(16))
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

// TestFramerBuffers frames messages shorter and longer than the small read buffer, read in
// pieces of many sizes with a timeout after each, at which the framer gives its large buffer
// back as a quiet connection does: no byte is lost or repeated, and a framer that holds no more
// than the small buffer's worth holds no large buffer.
func TestFramerBuffers(t *testing.T) {
	const max = 8 << 10
	var in strings.Builder
	var want []frame
	for i, n := range []int{1, smallRead - 10, smallRead, smallRead + 1, 3 * smallRead, max - 4, max + 100, 5} {
		msg := "<13>" + strings.Repeat(string(rune('a'+i)), n)
		if i%2 == 0 {
			fmt.Fprintf(&in, "%d %s", len(msg), msg)
		} else {
			in.WriteString(msg + "\n")
		}
		if len(msg) > max {
			want = append(want, frame{msg[:max], true})
		} else {
			want = append(want, frame{msg, false})
		}
	}
	for _, chunk := range []int{1, 7, smallRead - 1, smallRead, smallRead + 1, 3 * smallRead, 64 << 10} {
		f := newFramer(&timeoutReader{r: strings.NewReader(in.String()), chunk: chunk}, max, newReadPool(max))
		var got []frame
		for {
			msg, tooLong, err := f.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if isTimeout(err) {
				f.release()
				if f.r.Buffered() <= smallRead && f.r.big != nil {
					t.Fatalf("read in pieces of %d: after release with %d bytes unread the framer keeps its large buffer", chunk, f.r.Buffered())
				}
				continue
			}
			if err != nil {
				t.Fatalf("read in pieces of %d: next: %v", chunk, err)
			}
			got = append(got, frame{string(msg), tooLong})
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("read in pieces of %d: frames differ (-want +got):\n%s", chunk, diff)
		}
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
		f := newFramer(io.MultiReader(strings.NewReader(tt.in), stalled{}), 16, newReadPool(16))
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

package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/tenant"
)

// Handler serves POST /api/v1/ingest: a body of records, one per line (NDJSON by default),
// optionally gzip-compressed (Content-Encoding: gzip), in the format named by the query
// parameter format ("json" when absent). It answers 200 with the counts
// {"accepted": n, "dead_letters": m} only after every batch of the request is acknowledged by
// the bus, and 4xx or 5xx with {"error": "..."} otherwise.
type Handler struct {
	Pipeline *Pipeline
	// Tenant authenticates the request and says whose records it carries and which source
	// (an API token's name) sent them. An error answers 401 with the error's text. Required.
	Tenant func(*http.Request) (tenant, source string, err error)
	// MaxBody bounds the request body as sent; default 64 MiB. MaxInflated bounds it after
	// gzip, as it inflates, against compression bombs: a gzip stream inflates up to a
	// thousandfold, so 64 MiB sent could be 64 GiB to read. Default DefaultMaxInflated.
	MaxBody     int64
	MaxInflated int64
	Decode      decode.Options
}

// DefaultMaxInflated is the default of Handler.MaxInflated: four times the default MaxBody,
// which real logs, compressing five- to tenfold, fill only when the compressed body is near
// its own limit; a sender with more splits it into requests.
const DefaultMaxInflated = 256 << 20

type httpError struct {
	Error    string `json:"error"`
	Accepted *int64 `json:"accepted,omitempty"`
	Dead     *int64 `json:"dead_letters,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *Handler) fail(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, httpError{Error: fmt.Sprintf(format, args...)})
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, http.StatusMethodNotAllowed, "method %s not allowed: POST records to this endpoint", r.Method)
		return
	}
	name, source, err := h.Tenant(r)
	if err != nil {
		h.fail(w, http.StatusUnauthorized, "%v", err)
		return
	}
	if _, err := tenant.Parse(name); err != nil {
		h.fail(w, http.StatusForbidden, "tenant %q cannot receive events: %v", name, err)
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "json"
	}
	f, err := decode.Lookup(format)
	if err != nil {
		h.fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	if f.New == nil {
		h.fail(w, http.StatusBadRequest, "format %q is a file format; import files with `omamori ingest`", format)
		return
	}
	maxBody := h.MaxBody
	if maxBody <= 0 {
		maxBody = 64 << 20
	}
	maxInflated := h.MaxInflated
	if maxInflated <= 0 {
		maxInflated = DefaultMaxInflated
	}
	if r.ContentLength > maxBody {
		h.fail(w, http.StatusRequestEntityTooLarge, "body of %d bytes is larger than the limit of %d; split it", r.ContentLength, maxBody)
		return
	}
	var body io.Reader = http.MaxBytesReader(w, r.Body, maxBody)
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			h.fail(w, http.StatusBadRequest, "body is not gzip: %v", err)
			return
		}
		defer zr.Close()
		body = &limitReader{r: zr, n: maxInflated, limit: maxInflated}
	default:
		h.fail(w, http.StatusUnsupportedMediaType, "content encoding %q not supported: send plain or gzip", enc)
		return
	}

	s, err := h.Pipeline.NewStream(name, source, format, h.Decode)
	if err != nil {
		h.fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	s.SetPeer(hostOf(r.RemoteAddr))
	readErr := h.read(s, body)
	counts, err := s.Wait(r.Context())
	switch {
	case err != nil:
		h.Pipeline.log.Warn("ingest request not acknowledged", "tenant", name, "source", source, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, httpError{Error: "the bus did not acknowledge every batch; send the request again",
			Accepted: &counts.Accepted, Dead: &counts.DeadLetters})
	case readErr != nil:
		// What was read before the error is durable, and the counts say how much.
		status := http.StatusBadRequest
		if _, ok := errors.AsType[*http.MaxBytesError](readErr); ok || errors.Is(readErr, errInflated) {
			status = http.StatusRequestEntityTooLarge
		}
		writeJSON(w, status, httpError{Error: fmt.Sprintf("read body: %v", readErr), Accepted: &counts.Accepted, Dead: &counts.DeadLetters})
	default:
		writeJSON(w, http.StatusOK, counts)
	}
}

// read feeds the lines of body to s.
func (h *Handler) read(s *Stream, body io.Reader) error {
	max := h.Pipeline.cfg.MaxRecord
	br := h.Pipeline.lineReader(body)
	defer func() { br.Reset(nil); h.Pipeline.lines.Put(br) }()
	var line []byte
	tooLong := false
	for {
		if len(line) == 0 && !tooLong {
			skipBlankLines(br)
		}
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > max+1 {
				line = append(line, chunk[:max-len(line)]...)
				tooLong = true
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		now := time.Now()
		if tooLong {
			s.AddBad(line, now, decode.ReasonTooLong, fmt.Sprintf("line longer than %d bytes; its start is kept", max))
		} else if rec := trimTrailer(line); len(bytes.TrimSpace(rec)) > 0 {
			s.Add(rec, now)
		}
		line, tooLong = line[:0], false
		if err != nil {
			return nil
		}
	}
}

// skipBlankLines skips the line endings at the start of what br holds, all at once: a body
// of nothing but newlines (which inflate two-thousandfold) is read as fast as it inflates,
// not one empty line at a time.
func skipBlankLines(br *bufio.Reader) {
	b, _ := br.Peek(br.Buffered())
	i := 0
	for i < len(b) && (b[i] == '\n' || b[i] == '\r') {
		i++
	}
	_, _ = br.Discard(i)
}

// lineReader returns a buffered reader of body from the pipeline's pool; put it back in
// p.lines when done.
func (p *Pipeline) lineReader(body io.Reader) *bufio.Reader {
	if br, ok := p.lines.Get().(*bufio.Reader); ok {
		br.Reset(body)
		return br
	}
	return bufio.NewReaderSize(body, 64<<10)
}

// errInflated is the error of a gzip body that inflates beyond Handler.MaxInflated.
var errInflated = errors.New("gzip body inflates beyond the limit")

// limitReader is io.LimitReader with an error at the limit instead of a silent EOF.
type limitReader struct {
	r     io.Reader
	n     int64 // what may still be read
	limit int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("%w of %d bytes; send it in smaller requests", errInflated, l.limit)
	}
	p = p[:min(int64(len(p)), l.n)]
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// Package httpapi is what every handler of omamori's JSON API speaks: a Route (its pattern,
// the token scope it needs and its handler), the one error body {"error": ..., "hint": ...},
// and strict JSON request bodies. It sits under the API, beside the data path: the domain
// packages (respond, incident, access) declare their routes and answer with it, and package
// api, the server, mounts those routes behind its authentication wrapper. Keeping this
// vocabulary apart from the server lets a domain package serve HTTP without importing the
// server that mounts it.
package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/omamori-project/omamori/internal/auth"
)

// Route is one route of the API and the scope a token needs for it. A domain package returns
// its routes with the scope declared beside each pattern; the server registers them in its
// one route table, which its tests walk to prove that every route refuses a token without
// the scope.
type Route struct {
	Pattern string     // as for http.ServeMux, with a method: "GET /api/v1/decisions/{id}"
	Scope   auth.Scope // what the caller's token must hold; empty only for the server's probes
	Handler http.Handler
	// MaxBody is the largest request body the server lets through; 0 takes the server's
	// default.
	MaxBody int64
	// Authn, when set, says the handler authenticates its callers itself, and how: the web
	// UI by session, the CrowdSec bouncer API by X-Api-Key. The server then checks no token.
	Authn string
}

// Error is a refusal for the client: the status to answer, what was wrong and what to do
// about it. A handler returns one where it decides the answer itself; WriteError sends it.
type Error struct {
	Status int
	Msg    string
	Hint   string
}

func (e *Error) Error() string { return e.Msg }

// Write answers the refusal on w.
func (e *Error) Write(w http.ResponseWriter) { WriteError(w, e.Status, e.Msg, e.Hint) }

// BadRequest is a 400 Error.
func BadRequest(msg, hint string) *Error {
	return &Error{Status: http.StatusBadRequest, Msg: msg, Hint: hint}
}

// ErrorBody is the body of every error response of the API.
type ErrorBody struct {
	Error string `json:"error"`
	Hint  string `json:"hint,omitempty"`
}

// WriteError answers as every API route does on an error: {"error": msg, "hint": hint}.
func WriteError(w http.ResponseWriter, code int, msg, hint string) {
	WriteJSON(w, code, ErrorBody{Error: msg, Hint: hint})
}

// WriteJSON answers with v as JSON (HTML characters escaped, one trailing newline). v is
// encoded before anything is written, so an error encoding it leaves w untouched for the
// caller to answer 500; the error returned otherwise is the client's connection failing.
func WriteJSON(w http.ResponseWriter, code int, v any) error {
	buf := answers.Get().(*bytes.Buffer)
	defer putAnswer(buf)
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		return fmt.Errorf("encode answer: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, err := w.Write(buf.Bytes())
	return err
}

// answers are the buffers answers are encoded in: a page of decisions is tens of kilobytes,
// which would otherwise be allocated afresh for every request.
var answers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putAnswer(b *bytes.Buffer) {
	if b.Cap() > 1<<20 {
		return // a rare large answer is not kept alive for the small ones
	}
	b.Reset()
	answers.Put(b)
}

// DecodeJSON reads one JSON value from body into v strictly: an unknown field or a second
// value is an error, and an empty body is io.EOF. The body's size is the server's to limit
// (Route.MaxBody); its *http.MaxBytesError comes back wrapped.
func DecodeJSON(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.Decode(new(json.RawMessage)) != io.EOF {
		return errors.New("more than one JSON value")
	}
	return nil
}

// ReadJSON reads r's body into v as DecodeJSON does, and words a failure for the client: an
// *Error of 413 for a body over the server's limit, or 400 showing example, the JSON the
// route expects.
func ReadJSON(r *http.Request, v any, example string) error {
	return refuseJSON(DecodeJSON(r.Body, v), example)
}

// ReadOptionalJSON is ReadJSON for a route whose body may be left out: an empty body leaves v
// as it is.
func ReadOptionalJSON(r *http.Request, v any, example string) error {
	err := DecodeJSON(r.Body, v)
	if err == io.EOF {
		return nil
	}
	return refuseJSON(err, example)
}

func refuseJSON(err error, example string) error {
	if err == nil {
		return nil
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &Error{Status: http.StatusRequestEntityTooLarge, Msg: "request body too large", Hint: fmt.Sprintf("at most %d bytes", tooBig.Limit)}
	}
	return BadRequest("invalid JSON body: "+err.Error(), "send a JSON object such as "+example)
}

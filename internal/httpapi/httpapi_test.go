package httpapi

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestReadJSON checks what a client is answered for each kind of body: strict fields, one
// value, a body over the server's limit, and an empty body where the route allows one.
func TestReadJSON(t *testing.T) {
	type body struct {
		Note string `json:"note"`
	}
	for _, tc := range []struct {
		name     string
		body     string
		limit    int64 // as the server's MaxBytesReader; 0: none
		optional bool
		status   int // 0: read
		msg      string
	}{
		{name: "object", body: `{"note": "seen"}`},
		{name: "unknown field", body: `{"note": "x", "other": 1}`, status: 400, msg: `invalid JSON body: json: unknown field "other"`},
		{name: "two values", body: `{"note": "a"} {"note": "b"}`, status: 400, msg: "invalid JSON body: more than one JSON value"},
		{name: "empty", body: "", status: 400, msg: "invalid JSON body: EOF"},
		{name: "empty, optional", body: "", optional: true},
		{name: "not JSON, optional", body: "note=x", optional: true, status: 400, msg: "invalid JSON body: invalid character 'o' in literal null (expecting 'u')"},
		{name: "over the limit", body: `{"note": "` + strings.Repeat("x", 100) + `"}`, limit: 64, status: 413, msg: "request body too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/api/v1/x", strings.NewReader(tc.body))
			if tc.limit > 0 {
				r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, tc.limit)
			}
			var v body
			read := ReadJSON
			if tc.optional {
				read = ReadOptionalJSON
			}
			err := read(r, &v, `{"note": "..."}`)
			var e *Error
			switch {
			case tc.status == 0 && err != nil:
				t.Fatalf("ReadJSON(%q) = %v, want read", tc.body, err)
			case tc.status == 0:
				return
			case !errors.As(err, &e):
				t.Fatalf("ReadJSON(%q) = %v, want an *Error", tc.body, err)
			case e.Status != tc.status || e.Msg != tc.msg || e.Hint == "":
				t.Errorf("ReadJSON(%q) = %d %q (hint %q), want %d %q with a hint", tc.body, e.Status, e.Msg, e.Hint, tc.status, tc.msg)
			}
		})
	}
}

// TestWriteError checks the one error body of the API, and that an answer that cannot be
// encoded leaves the response untouched for the caller to answer 500.
func TestWriteError(t *testing.T) {
	w := httptest.NewRecorder()
	BadRequest("a decision needs a target", "target is an address").Write(w)
	if got, want := w.Body.String(), `{"error":"a decision needs a target","hint":"target is an address"}`+"\n"; w.Code != 400 || got != want {
		t.Errorf("BadRequest(...).Write = %d %s, want 400 %s", w.Code, got, want)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	w = httptest.NewRecorder()
	if err := WriteJSON(w, 200, func() {}); err == nil || w.Body.Len() != 0 || w.Header().Get("Content-Type") != "" {
		t.Errorf("WriteJSON(a func) = %v, wrote %q; want an error and nothing written", err, w.Body)
	}
	if err := DecodeJSON(strings.NewReader(" "), new(any)); err != io.EOF {
		t.Errorf("DecodeJSON(blank) = %v, want io.EOF", err)
	}
}

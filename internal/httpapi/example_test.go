package httpapi_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/httpapi"
)

// A domain package declares its routes with the scope beside each, reads bodies strictly and
// refuses in the API's one error body; the server (package api) mounts the routes behind its
// token check with HandleRoutes. Here a plain mux stands in for the server.
func ExampleRoute() {
	note := func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Text string `json:"text"`
		}
		err := httpapi.ReadJSON(r, &in, `{"text": "called the ward"}`)
		if err == nil && in.Text == "" {
			err = httpapi.BadRequest("a note needs text", `send {"text": "..."}`)
		}
		var refused *httpapi.Error
		if errors.As(err, &refused) {
			refused.Write(w)
			return
		}
		httpapi.WriteJSON(w, http.StatusCreated, map[string]string{"note": in.Text})
	}
	routes := []httpapi.Route{
		{Pattern: "POST /api/v1/notes", Scope: auth.ScopeRespond, Handler: http.HandlerFunc(note)},
	}
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	for _, body := range []string{`{"text": "called the ward"}`, `{"txt": "typo"}`, `{}`} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("POST", "/api/v1/notes", strings.NewReader(body)))
		fmt.Print(w.Code, " ", w.Body)
	}
	// Output:
	// 201 {"note":"called the ward"}
	// 400 {"error":"invalid JSON body: json: unknown field \"txt\"","hint":"send a JSON object such as {\"text\": \"called the ward\"}"}
	// 400 {"error":"a note needs text","hint":"send {\"text\": \"...\"}"}
}

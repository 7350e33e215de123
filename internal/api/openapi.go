package api

import (
	_ "embed"
	"net/http"
)

// openAPI describes every route of the API. A test of package node, which mounts every route,
// checks that none is missing from it.
//
//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 description of the API, in YAML.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(openAPI)
}

package api

import (
	_ "embed"
	"net/http"
)

// openAPI describes every route of the API: it is the one description, served at
// /api/v1/openapi.yaml. A test of package node, which mounts every route, reads it from there
// and checks it against the route table: each route with its method and scope, and no
// operation that no route serves.
//
//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 description of the API, in YAML.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(openAPI)
}

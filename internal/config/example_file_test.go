package config

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite docs/omamori.example.yaml from Default and the doc comments in schema.go")

const exampleFile = "../../docs/omamori.example.yaml"

// The example config is rendered from Default() and the field comments in schema.go, so the
// documentation cannot drift from the code. Run `go test ./internal/config -update` after
// changing the schema.
func TestExampleFileInSync(t *testing.T) {
	got := renderExample(t)
	if *update {
		if err := os.MkdirAll(filepath.Dir(exampleFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(exampleFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatalf("read example: %v (run go test ./internal/config -update)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s is out of date (-file +rendered); run go test ./internal/config -update:\n%s", exampleFile, diff)
	}
	// The example must load to exactly the defaults.
	c, err := Load(Sources{File: exampleFile})
	if err != nil {
		t.Fatalf("Load(example) = %v", err)
	}
	d := Default()
	d.fill()
	if diff := cmp.Diff(&d, c, cmpopts.EquateEmpty(), cmpopts.IgnoreUnexported(Config{})); diff != "" { // "[]" loads as an empty list
		t.Errorf("Load(example) differs from Default (-default +example):\n%s", diff)
	}
}

func renderExample(t *testing.T) []byte {
	docs := fieldDocs(t, "schema.go")
	var root yaml.Node
	if err := root.Encode(Default()); err != nil {
		t.Fatal(err)
	}
	decorate(t, &root, reflect.TypeFor[Config](), docs, 0)
	var b bytes.Buffer
	b.WriteString(`# omamori configuration — every key with its default.
#
# Generated from internal/config/schema.go by "go test ./internal/config -update"; do not edit.
# Each key can be overridden by an environment variable, OMAMORI_ and its path in upper case
# joined by _ (http.listen: OMAMORI_HTTP_LISTEN), and on the command line with
# -set key=value (-set http.listen=0.0.0.0:8443). Check a file with "omamori validate".

`)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		t.Fatal(err)
	}
	enc.Close()
	return b.Bytes()
}

// fieldDocs maps "Type.Field" to the field's doc comment in file.
func fieldDocs(t *testing.T, file string) map[string]string {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return false
		}
		for _, fld := range st.Fields.List {
			for _, name := range fld.Names {
				docs[ts.Name.Name+"."+name.Name] = strings.TrimSpace(fld.Doc.Text())
			}
		}
		return false
	})
	return docs
}

// decorate puts each field's doc comment above its key and writes durations as people do.
func decorate(t *testing.T, n *yaml.Node, typ reflect.Type, docs map[string]string, depth int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fieldByTag(typ, k.Value)
			if !ok {
				t.Fatalf("encoded key %q has no field in %v", k.Value, typ)
			}
			doc := docs[typ.Name()+"."+f.Name]
			if doc == "" {
				t.Errorf("field %s.%s has no doc comment", typ.Name(), f.Name)
			}
			if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
				doc += "\nEach item has these keys:" + itemDocs(f.Type.Elem(), docs)
			}
			k.HeadComment = doc
			if i > 0 && depth == 0 && f.Type.Kind() == reflect.Struct {
				k.HeadComment = "\n" + doc // a blank line before each section
			}
			if f.Type == reflect.TypeFor[time.Duration]() {
				d, err := time.ParseDuration(v.Value)
				if err != nil {
					t.Fatal(err)
				}
				v.Value = shortDuration(d)
			}
			decorate(t, v, f.Type, docs, depth+1)
		}
	case yaml.DocumentNode:
		decorate(t, n.Content[0], typ, docs, depth)
	}
	// The items of a list are documented on the list's key (itemDocs), not one by one.
}

// itemDocs documents the keys of a list item, indented under the list's own comment.
func itemDocs(typ reflect.Type, docs map[string]string) string {
	var b strings.Builder
	for i := range typ.NumField() {
		f := typ.Field(i)
		fmt.Fprintf(&b, "\n  %s:", tagName(f))
		for line := range strings.SplitSeq(docs[typ.Name()+"."+f.Name], "\n") {
			b.WriteString("\n      " + line)
		}
	}
	return b.String()
}

// shortDuration writes 2160h rather than 2160h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

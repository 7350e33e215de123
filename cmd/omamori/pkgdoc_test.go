package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackageDocs checks that every package under internal/ and cmd/ has a package comment
// saying what it is for (CONVENTIONS.md), in the form "Package name ..." for libraries.
func TestPackageDocs(t *testing.T) {
	root := filepath.Join("..", "..")
	type pkg struct {
		name       string
		documented bool
	}
	pkgs := map[string]*pkg{} // by directory
	for _, top := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if name := d.Name(); name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				return err
			}
			dir := filepath.Dir(path)
			p := pkgs[dir]
			if p == nil {
				p = &pkg{name: f.Name.Name}
				pkgs[dir] = p
			}
			if f.Doc == nil {
				return nil
			}
			doc := f.Doc.Text()
			if p.name != "main" && !strings.HasPrefix(doc, "Package "+p.name+" ") {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s: package comment starts %q, want \"Package %s ...\"", rel, firstLine(doc), p.name)
			}
			p.documented = true
			return nil
		})
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(pkgs) == 0 {
		t.Fatal("no packages found under internal/ and cmd/: the test checks nothing")
	}
	for dir, p := range pkgs {
		if !p.documented {
			rel, _ := filepath.Rel(root, dir)
			t.Errorf("package %s (%s) has no package comment: say what it is for and where it sits on the data path", p.name, rel)
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestBinaryHasNoTestPackages checks that the omamori binary, which every hospital runs, does
// not link the test framework: testing brings its flags and harness, and net/http/httptest
// binds servers meant for tests. Benchmarks that omamori bench runs measure without them;
// conformance suites and test helpers stay in packages that only tests import.
func TestBinaryHasNoTestPackages(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}} {{join .Imports " "}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/omamori: %v", err)
	}
	importers := map[string][]string{} // package → the packages in the binary that import it
	for line := range strings.Lines(string(out)) {
		pkg, imports, _ := strings.Cut(strings.TrimSpace(line), " ")
		if _, ok := importers[pkg]; !ok {
			importers[pkg] = nil
		}
		for _, imp := range strings.Fields(imports) {
			importers[imp] = append(importers[imp], pkg)
		}
	}
	if _, ok := importers["github.com/omamori-project/omamori/internal/decode"]; !ok {
		t.Fatalf("go list -deps ./cmd/omamori does not list internal/decode: the test checks nothing (output %d bytes)", len(out))
	}
	for pkg, by := range importers {
		if pkg == "testing" || strings.HasPrefix(pkg, "testing/") || pkg == "net/http/httptest" {
			slices.Sort(by)
			t.Errorf("the omamori binary links %s, imported by %s: move the harness into a _test.go file or a package only tests import", pkg, strings.Join(by, ", "))
		}
	}
}

package sigma

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds rule files to the parser and compiler: whatever the bytes, they give rules or
// errors, and a compiled rule can be matched, without a panic.
func FuzzParse(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "rules", "*.yml"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds in testdata/rules: %v", err)
	}
	for _, p := range seeds {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	e := sysmon1("Image", `C:\Windows\System32\cmd.exe`, "CommandLine", "cmd /c whoami", "ParentImage", `C:\x.exe`)
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, err := Parse(data)
		if err != nil && len(rules) == 0 {
			return
		}
		rs, rep := Compile(rules, Options{})
		if rep.Compiled+len(rep.Failed) != len(rules) {
			t.Fatalf("Compile: %d compiled + %d failed != %d rules", rep.Compiled, len(rep.Failed), len(rules))
		}
		rs.NewMatcher().Match(e, nil)
	})
}

// FuzzCondition checks that any condition text parses or fails cleanly.
func FuzzCondition(f *testing.F) {
	for _, s := range []string{"selection", "all of selection_* and not 1 of filter_*", "(a or b) and not c", "1 of them", "not not (x)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseCondition(s)
		if err != nil {
			return
		}
		if _, err := expandOf(n, []string{"a", "b", "selection", "selection_1", "filter_x"}); err != nil {
			return
		}
		_ = n.String()
	})
}

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runAccessArgs(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr}
	err := accessCommand.run(context.Background(), e, newFlagSet(accessCommand, e), args)
	return stdout.String(), stderr.String(), err
}

const accessCases = "../../internal/access/testdata/hospital-cases.yaml"

func TestAccessTest(t *testing.T) {
	out, _, err := runAccessArgs(t, "test", "default", accessCases)
	if err != nil {
		t.Fatalf("access test default = %v\n%s", err, out)
	}
	if !strings.Contains(out, "0 failed") {
		t.Errorf("access test output lacks the summary:\n%s", out)
	}

	// A hospital's copy where night cover is removed fails the night cases, by name.
	dir := t.TempDir()
	if _, _, err := runAccessArgs(t, "policies", dir); err != nil {
		t.Fatal(err)
	}
	pol := filepath.Join(dir, "hospital.cedar")
	b, _ := os.ReadFile(pol)
	os.WriteFile(pol, bytes.Replace(b, []byte(`context.shift == "night" &&`), []byte(`context.shift == "never" &&`), 1), 0o644)
	out, _, err = runAccessArgs(t, "test", dir, accessCases)
	if err == nil || !strings.Contains(err.Error(), "cases failed") {
		t.Errorf("access test with night cover removed = %v, want failed cases", err)
	}
	if !strings.Contains(out, "FAIL  at night the duty doctor") {
		t.Errorf("output does not name the failed night case:\n%s", out)
	}
}

func TestAccessCheckAndMisuse(t *testing.T) {
	if out, _, err := runAccessArgs(t, "check", "default"); err != nil || !strings.Contains(out, "care-assigned") {
		t.Errorf("access check default = %q, %v", out, err)
	}
	for _, args := range [][]string{{}, {"test", "default"}, {"frobnicate"}, {"check"}} {
		if _, _, err := runAccessArgs(t, args...); err == nil {
			t.Errorf("access %q succeeded, want an error with a hint", args)
		}
	}
}

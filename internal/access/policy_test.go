package access

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const hospitalCases = "testdata/hospital-cases.yaml"

// TestHospitalCases runs the policy cases shipped with the default policies: every rule,
// and the edges (a consultation closed a minute ago, training overdue by a day, an
// unmanaged device at home, the night shift without assignment, break-glass with and
// without a reason).
func TestHospitalCases(t *testing.T) {
	rep, err := RunCases("", hospitalCases)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) < 40 {
		t.Fatalf("RunCases ran %d cases, want the whole file", len(rep.Results))
	}
	for _, r := range rep.Results {
		t.Run(r.Name, func(t *testing.T) {
			for _, p := range r.Problems {
				t.Errorf("Decide = %s %v (%s): %s", r.Decision.Decision, r.Decision.Policies, r.Decision.Reason, p)
			}
		})
	}
	if err := rep.Err(); err != nil && !t.Failed() {
		t.Errorf("Err() = %v with no failed case", err)
	}
}

// TestCasesCoverEveryPolicy holds the cases file to the policies: each policy must decide
// at least one case, or a rule could change unnoticed.
func TestCasesCoverEveryPolicy(t *testing.T) {
	rep, err := RunCases("", hospitalCases)
	if err != nil {
		t.Fatal(err)
	}
	decided := map[string]bool{}
	for _, r := range rep.Results {
		for _, p := range r.Decision.Policies {
			decided[p] = true
		}
	}
	for _, id := range DefaultPolicies().IDs() {
		if !decided[id] {
			t.Errorf("policy %q decides no case in %s", id, hospitalCases)
		}
	}
}

// writePolicies copies the embedded policies into a folder, with edit applied to the
// policy text, as a hospital would keep them.
func writePolicies(t *testing.T, edit func(string) string) string {
	t.Helper()
	dir := t.TempDir()
	pol, err := defaultPolicies.ReadFile("policies/hospital.cedar")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hospital.cedar"), []byte(edit(string(pol))), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hospital.cedarschema"), DefaultSchema(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestTrainingIntervalIsPolicy shows the hospital changing the training interval in its
// policy folder: with 400 days, training overdue by a day (366) no longer narrows access.
func TestTrainingIntervalIsPolicy(t *testing.T) {
	dir := writePolicies(t, func(s string) string {
		return strings.Replace(s, "context.today - principal.trainingDay > 365", "context.today - principal.trainingDay > 400", 1)
	})
	rep, err := RunCases(dir, hospitalCases)
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, r := range rep.Results {
		if len(r.Problems) > 0 {
			failed = append(failed, r.Name)
		}
	}
	want := []string{"training overdue by one day narrows to viewing"}
	if !slices.Equal(failed, want) {
		t.Errorf("with a 400-day interval, failed cases = %q, want %q", failed, want)
	}
}

func TestLoadPoliciesRefuses(t *testing.T) {
	tests := []struct {
		name string
		edit func(string) string
		want string
	}{
		{"attribute not in the schema", func(s string) string {
			return strings.Replace(s, "context.shift == \"night\"", "context.shiftName == \"night\"", 1)
		}, `policy "night-ward-cover" does not match the schema`},
		{"wrong type", func(s string) string {
			return strings.Replace(s, "context.today - principal.trainingDay > 365", "context.today - principal.trainingDay > \"365\"", 1)
		}, `policy "training-overdue" does not match the schema`},
		{"no id", func(s string) string { return strings.Replace(s, `@id("care-team-view")`, "", 1) }, "no @id"},
		{"duplicate id", func(s string) string {
			return strings.Replace(s, `@id("care-team-view")`, `@id("care-assigned")`, 1)
		}, `@id "care-assigned" is used twice`},
		{"unknown obligation", func(s string) string {
			return strings.Replace(s, "notify_privacy_officer,review", "notify_privacy_officer,email", 1)
		}, `unknown obligation "email"`},
		{"syntax", func(s string) string { return s + "\npermit (principal, action, resource) when { ;" }, "hospital.cedar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadPolicies(writePolicies(t, tt.edit))
			if err == nil || !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadPolicies = %v, want an ErrPolicy saying %q", err, tt.want)
			}
		})
	}
}

func TestLoadPoliciesWithoutSchemaUsesEmbedded(t *testing.T) {
	dir := writePolicies(t, func(s string) string { return s })
	os.Remove(filepath.Join(dir, "hospital.cedarschema"))
	p, err := LoadPolicies(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(p.IDs()), len(DefaultPolicies().IDs()); got != want {
		t.Errorf("LoadPolicies read %d policies, want %d", got, want)
	}
	if _, err := LoadPolicies(t.TempDir()); !errors.Is(err, ErrPolicy) {
		t.Errorf("LoadPolicies(empty folder) = %v, want ErrPolicy", err)
	}
}

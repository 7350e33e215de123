package auth

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// The permission table as people read it, kept as a golden file: a change to who may do what
// shows in review as a changed line of testdata/permissions.golden.
func TestPermissionTable(t *testing.T) {
	var b strings.Builder
	b.WriteString("action")
	for _, r := range Roles() {
		b.WriteString(" | " + string(r))
	}
	b.WriteString("\n")
	for _, a := range Actions() {
		b.WriteString(string(a))
		used := false
		for _, r := range Roles() {
			mark := "-"
			if r.Allows(a) {
				mark, used = "x", true
			}
			b.WriteString(" | " + mark)
		}
		b.WriteString("\n")
		if !used {
			t.Errorf("action %s is allowed to no role", a)
		}
	}
	path := filepath.Join("testdata", "permissions.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("permission table differs from %s (run with -update if intended):\n%s", path, b.String())
	}
	for r, as := range permissions {
		if _, err := ParseRole(string(r)); err != nil {
			t.Errorf("table has unknown role %s", r)
		}
		for _, a := range as {
			if !containsAction(a) {
				t.Errorf("role %s has unknown action %s", r, a)
			}
		}
	}
}

func containsAction(a Action) bool {
	for _, x := range Actions() {
		if x == a {
			return true
		}
	}
	return false
}

func TestIdentityCan(t *testing.T) {
	id := Identity{UserID: "u1", Roles: map[string][]Role{
		"tokyo": {RoleAnalystL1, RoleApprover},
		"osaka": {RoleViewer},
	}}
	for _, c := range []struct {
		tenant string
		action Action
		mfa    bool
		want   bool
	}{
		{"tokyo", ActionTriageAlerts, false, true},
		{"osaka", ActionTriageAlerts, false, false},
		{"osaka", ActionViewAlerts, false, true},
		{"nagoya", ActionViewAlerts, false, false},
		{"tokyo", ActionApproveDecisions, true, true},
		{"tokyo", ActionApproveDecisions, false, false}, // approver counts only with TOTP
		{"tokyo", ActionManageUsers, true, false},
	} {
		id.SecondFactor = c.mfa
		if got := id.Can(c.tenant, c.action); got != c.want {
			t.Errorf("Can(%s, %s) with TOTP=%v = %v, want %v", c.tenant, c.action, c.mfa, got, c.want)
		}
	}
	if got := strings.Join(id.Tenants(), ","); got != "osaka,tokyo" {
		t.Errorf("Tenants() = %s", got)
	}
}

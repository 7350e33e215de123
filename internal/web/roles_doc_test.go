package web

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omamori-project/omamori/internal/auth"
)

var updateDocs = flag.Bool("update", false, "rewrite docs/roles.md from the role table and the routes")

// TestRolesDoc holds docs/roles.md, the page a hospital's administrator reads before granting
// roles, to the role table in package auth and to the routes the guard checks.
func TestRolesDoc(t *testing.T) {
	f := newFixture(t, false)
	cat, err := loadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString("# Roles and what they may do / 役割とできること\n\n")
	b.WriteString("Generated from the code by `go test ./internal/web -run TestRolesDoc -update`; the test fails when\n")
	b.WriteString("this page and the code differ. A person holds roles per hospital (tenant); the roles marked\n")
	b.WriteString("TOTP count only in a session signed in with the second factor. API tokens do not hold roles:\n")
	b.WriteString("they have scopes (`omamori help token`), and no token may approve a held decision.\n\n")
	roles := auth.Roles()
	b.WriteString("| action |")
	for _, r := range roles {
		fmt.Fprintf(&b, " %s<br>%s |", cat["ja"]["role."+string(r)], r)
	}
	b.WriteString("\n|---|")
	b.WriteString(strings.Repeat("---|", len(roles)))
	b.WriteString("\n| TOTP required |")
	for _, r := range roles {
		b.WriteString(map[bool]string{true: " TOTP |", false: " |"}[r.RequiresTOTP()])
	}
	b.WriteString("\n")
	for _, a := range auth.Actions() {
		fmt.Fprintf(&b, "| `%s` |", a)
		for _, r := range roles {
			b.WriteString(map[bool]string{true: " ✓ |", false: " |"}[r.Allows(a)])
		}
		b.WriteString("\n")
	}
	b.WriteString("\n## The web UI's routes and the action each needs\n\n")
	b.WriteString("Every route is checked in one place (the guard of package web); a route of a hospital also\n")
	b.WriteString("needs a role in that hospital.\n\n| route | needs |\n|---|---|\n")
	for _, rt := range f.srv.Routes() {
		need := map[audience]string{public: "anyone", pending: "a password, before the second factor", signedIn: "a signed-in person"}[rt.Access]
		if rt.Access == tenant {
			need = "`" + string(rt.Action) + "`"
		}
		fmt.Fprintf(&b, "| `%s %s` | %s |\n", rt.Method, rt.Pattern, need)
	}
	path := filepath.Join("..", "..", "docs", "roles.md")
	if *updateDocs {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (make it with -update)", err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Errorf("%s differs from the code: run go test ./internal/web -run TestRolesDoc -update", path)
	}
}

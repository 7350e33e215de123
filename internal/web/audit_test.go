package web

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/store"
)

func TestAuditPage(t *testing.T) {
	f := newFixture(t, false)
	ctx := t.Context()
	tokyo := f.store.Tenant("tokyo")
	// Enough exports by the liaison for two pages, among what the fixture did.
	for i := range auditPerPage + 5 {
		if err := tokyo.Audit(ctx, store.AuditEntry{Actor: "user:" + f.ids["liaison"], Action: "archive.export",
			Object: fmt.Sprintf("extract-%03d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.store.Tenant("osaka").Audit(ctx, store.AuditEntry{Actor: "cli", Action: "archive.export", Object: "osaka-extract"}); err != nil {
		t.Fatal(err)
	}
	sato := f.signIn(t, "sato") // admin
	get := func(q string) (int, string) {
		resp, body := do(t, sato, "GET", f.ts.URL+"/t/tokyo/audit"+q, nil)
		return resp.StatusCode, body
	}

	code, body := get("?kind=archive&who=liaison")
	if code != 200 {
		t.Fatalf("audit by kind and person = %d", code)
	}
	contains(t, "first page", body, []string{"extract-104", "extract-005", `id="audit-older"`, "<td>liaison</td>"},
		"extract-004", "osaka-extract", "token.create", `id="audit-newest"`)
	older := strings.Split(strings.Split(body, `id="audit-older"`)[0], `href="`)
	next := strings.ReplaceAll(older[len(older)-1][:strings.Index(older[len(older)-1], `"`)], "&amp;", "&")
	_, body = get(next)
	contains(t, "second page", body, []string{"extract-004", "extract-000", `id="audit-newest"`}, "extract-005", `id="audit-older"`)

	// Other kinds and people: the fixture's tokens, issued by "test".
	_, body = get("?kind=token&who=test")
	contains(t, "tokens", body, []string{"token.create", "tokyo-firewall"}, "archive.export")
	_, body = get("?kind=bogus")
	contains(t, "an unknown kind means all", body, []string{"archive.export"})

	today := time.Now().In(JST).Format(time.DateOnly)
	_, body = get("?kind=archive&from=" + today + "&to=" + today)
	contains(t, "today", body, []string{"extract-104"})
	_, body = get("?kind=archive&to=2020-01-01")
	contains(t, "before any", body, []string{"該当する記録はありません"}, "extract-")
	if code, body := get("?from=" + today + "&to=2020-01-01"); code != http.StatusBadRequest || !strings.Contains(body, "期間が正しくありません") {
		t.Errorf("a period ending before it starts = %d", code)
	}
	// Not for a viewer.
	if resp, _ := do(t, f.signIn(t, "suzuki"), "GET", f.ts.URL+"/t/tokyo/audit", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer on the audit page = %d, want 403", resp.StatusCode)
	}
}

func FuzzAuditQuery(f *testing.F) {
	for _, s := range []string{"kind=archive&who=liaison", "before=-1&kind=%00", "from=2026-13-01", "from=2026-05-02&to=2026-05-01",
		"who=user:x&before=99999999999999999999", "kind=token&from=2026-01-01&to=2026-12-31"} {
		f.Add(s)
	}
	newFixture(f, false).fuzzQuery(f, "sato", "/t/tokyo/audit")
}

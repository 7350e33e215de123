package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzLocalPath: the language switch's return path never leaves the site.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/t/tokyo/alerts?level=high", "//evil.example", "/\\evil", "https://evil.example/", "/%2F%2Fevil", " /x", "\t//x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := localPath(next)
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.HasPrefix(got, "/\\") {
			t.Fatalf("localPath(%q) = %q, which leaves the site", next, got)
		}
		// What browsers do with the Location header: resolve it against the page.
		base, _ := url.Parse("https://omamori.example/t/x/")
		if r := base.ResolveReference(u); r.Host != "omamori.example" {
			t.Fatalf("localPath(%q) = %q resolves to host %q", next, got, r.Host)
		}
	})
}

// FuzzLocalQuery: what a form posts as the list to come back to stays a query string on the
// same list, never a path or another site.
func FuzzLocalQuery(f *testing.F) {
	for _, s := range []string{"status=held", "?alert=tokyo-vent&page=2", "//evil.example", "x=%2F%2Fevil", "a=1;b=2", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		got := localQuery(q)
		if got == "" {
			return
		}
		u, err := url.Parse("/t/tokyo/decisions" + got)
		if err != nil || !strings.HasPrefix(got, "?") || u.Path != "/t/tokyo/decisions" || u.Host != "" {
			t.Fatalf("localQuery(%q) = %q, which leaves the list", q, got)
		}
	})
}

// BenchmarkAlertsPage: one signed-in request for a page of alerts, through the guard
// (session lookup in SQLite, roles), reading the tenant's alerts from the embedded bus and
// rendering the page. The fixture holds 63 alerts.
func BenchmarkAlertsPage(b *testing.B) {
	f := newFixture(b, false)
	c := f.signIn(b, "suzuki")
	u, _ := url.Parse(f.ts.URL)
	cookies := c.Jar.Cookies(u)
	for b.Loop() {
		req := httptest.NewRequest("GET", "/t/tokyo/alerts?level=low&page=2", nil)
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// BenchmarkPages: one signed-in request for each page that issue 7's services feed, through
// the guard, the services' queries in SQLite and rendering. The fixture's tokyo has 2
// incidents (each with 3 to 5 clocks, read per incident shown), 2 decisions and 5 assets.
func BenchmarkPages(b *testing.B) {
	f := newFixture(b, false)
	c := f.signIn(b, "tanaka")
	u, _ := url.Parse(f.ts.URL)
	cookies := c.Jar.Cookies(u)
	for _, pg := range []struct{ name, path string }{
		{"dashboard", "/t/tokyo/"}, {"incidents", "/t/tokyo/incidents"}, {"incident", "/t/tokyo/incidents/" + f.incidents["tokyo"]},
		{"decisions", "/t/tokyo/decisions"}, {"assets", "/t/tokyo/assets"},
	} {
		path := pg.path
		b.Run(pg.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", path, nil)
				for _, ck := range cookies {
					req.AddCookie(ck)
				}
				rec := httptest.NewRecorder()
				f.srv.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}

// BenchmarkGuardRefusal: an anonymous request refused at the guard, the cheapest answer.
func BenchmarkGuardRefusal(b *testing.B) {
	f := newFixture(b, false)
	for b.Loop() {
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, httptest.NewRequest("GET", "/t/tokyo/alerts", nil))
		if rec.Code != http.StatusSeeOther {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

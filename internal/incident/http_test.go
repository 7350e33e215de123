package incident

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/store"
)

// TestHTTP drives the incident API as the web UI and the CLI would: over HTTP, as a tenant's
// analyst, with the answers and status codes a client branches on.
func TestHTTP(t *testing.T) {
	t0 := time.Date(2026, 4, 1, 9, 0, 0, 0, jst)
	e := newEnv(t, t0, Config{})
	if _, err := e.st.CreateTenant(t.Context(), "test", store.Tenant{ID: "other"}); err != nil {
		t.Fatal(err)
	}
	out, _ := e.svc.Ingest(t.Context(), alert("a1", "behavior.exfiltration", "high", t0, detect.Entities{Source: "10.0.0.1"}), 1)
	id := out.Incident
	h := &HTTP{Service: e.svc, Principal: func(r *http.Request) (string, string, error) {
		switch r.Header.Get("X-Test-Tenant") {
		case "":
			return "", "", errors.New("no token")
		default:
			return r.Header.Get("X-Test-Tenant"), "user:sato", nil
		}
	}}
	mux := http.NewServeMux()
	for _, rt := range h.Routes() {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	do := func(tenant, method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if tenant != "" {
			req.Header.Set("X-Test-Tenant", tenant)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	inc := "/api/v1/incidents/" + id
	for _, tc := range []struct {
		name, tenant, method, path, body string
		status                           int
		contains                         string
	}{
		{"list", tenant, "GET", "/api/v1/incidents?state=new", "", 200, id},
		{"list, bad state", tenant, "GET", "/api/v1/incidents?state=burning", "", 400, "unknown state"},
		{"not signed in", "", "GET", "/api/v1/incidents", "", 401, "not signed in"},
		{"another tenant sees nothing", "other", "GET", inc, "", 404, "no such incident"},
		{"another tenant lists nothing", "other", "GET", "/api/v1/incidents", "", 200, "[]"},
		{"another tenant cannot assign", "other", "POST", inc + "/assign", `{"assignee":"x"}`, 404, ""},
		{"assign", tenant, "POST", inc + "/assign", `{"assignee":"user:sato"}`, 200, `"assignee":"user:sato"`},
		{"skip a phase", tenant, "POST", inc + "/state", `{"state":"recovered"}`, 409, "from new it can go to triaged or closed"},
		{"unknown field", tenant, "POST", inc + "/state", `{"state":"triaged","colour":"red"}`, 400, "unknown field"},
		{"triage", tenant, "POST", inc + "/state", `{"state":"triaged"}`, 200, `"state":"triaged"`},
		{"note", tenant, "POST", inc + "/notes", `{"text":"USB memory found on the ward PC"}`, 200, id},
		{"empty note", tenant, "POST", inc + "/notes", `{"text":" "}`, 400, "an empty note"},
		{"facts from a stale version", tenant, "PUT", inc + "/facts?version=1", `{"patients_affected":99}`, 409, "changed meanwhile"},
		{"facts, bad version", tenant, "PUT", inc + "/facts?version=two", `{"patients_affected":99}`, 400, "version"},
		{"facts", tenant, "PUT", inc + "/facts", `{"personal_data":true,"patients_affected":12,"systems":["電子カルテ"]}`, 200, `"patients_affected":12`},
		{"tick a step", tenant, "POST", inc + "/steps/patient-data-leak/contain", `{"done":true}`, 200, id},
		{"unknown step", tenant, "POST", inc + "/steps/patient-data-leak/pray", `{"done":true}`, 404, ""},
		{"step without done", tenant, "POST", inc + "/steps/patient-data-leak/scope", `{}`, 400, "done"},
		{"stop a clock", tenant, "POST", inc + "/clocks/ppc-preliminary/stop", `{"note":"受付番号 R-1"}`, 200, id},
		{"severity", tenant, "POST", inc + "/severity", `{"severity":"critical","reason":"EHR data"}`, 200, `"severity":"critical"`},
		{"show", tenant, "GET", inc, "", 200, `"name":"ppc-final"`},
		{"report", tenant, "GET", inc + "/reports/ppc-final", "", 200, "# 個人データの漏えい等報告（確報）案"},
		{"unknown report", tenant, "GET", inc + "/reports/tax", "", 400, "no report"},
	} {
		status, body := do(tc.tenant, tc.method, tc.path, tc.body)
		if status != tc.status || !strings.Contains(body, tc.contains) {
			t.Errorf("%s: %s %s = %d %s, want %d containing %q", tc.name, tc.method, tc.path, status, body, tc.status, tc.contains)
		}
	}
	_, body := do(tenant, "GET", inc, "")
	var rec Record
	if err := json.Unmarshal([]byte(body), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Incident.Facts.PatientsAffected != 12 || countKind(rec.Timeline, "note") != 1 || rec.Timeline[len(rec.Timeline)-1].Actor != "user:sato" {
		t.Errorf("GET %s = %+v, want the facts, the note and user:sato's changes", inc, rec)
	}
	// Facts written from the version just read are saved.
	path := fmt.Sprintf("%s/facts?version=%d", inc, rec.Incident.Version)
	if status, body := do(tenant, "PUT", path, `{"patients_affected":13}`); status != 200 || !strings.Contains(body, `"patients_affected":13`) {
		t.Errorf("PUT %s = %d %s, want 200 and the facts saved", path, status, body)
	}
}

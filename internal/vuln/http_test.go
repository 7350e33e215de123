package vuln

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/omamori-project/omamori/internal/store"
)

func TestHTTPFindings(t *testing.T) {
	ctx := t.Context()
	st, err := store.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "omamori.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, id := range []string{"handa", "osaka"} {
		if _, err := st.CreateTenant(ctx, "test", store.Tenant{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	body, _ := json.Marshal(Finding{Asset: "203.0.113.1", CVE: "CVE-2018-13379", Exploited: true, Ransomware: true, Risk: 64})
	if _, _, err := st.Tenant("handa").RecordFindings(ctx, "test", nil, []store.Finding{{Asset: "203.0.113.1", CVE: "CVE-2018-13379", Risk: 64, Body: body}},
		func(store.Finding) string { return "" }); err != nil {
		t.Fatal(err)
	}
	h := &HTTP{Store: st, Principal: func(r *http.Request) (string, string, error) {
		if t := r.Header.Get("X-Tenant"); t != "" {
			return t, "token:x", nil
		}
		return "", "", errors.New("no")
	}}
	get := func(tenant, query string) (int, []Kept) {
		r := httptest.NewRequest("GET", "/api/v1/findings"+query, nil)
		if tenant != "" {
			r.Header.Set("X-Tenant", tenant)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var out []Kept
		json.Unmarshal(w.Body.Bytes(), &out)
		return w.Code, out
	}
	if code, out := get("handa", ""); code != 200 || len(out) != 1 || out[0].CVE != "CVE-2018-13379" || !out[0].Ransomware || out[0].State != store.FindingOpen {
		t.Errorf("GET findings (handa) = %d %+v, want the open CVE-2018-13379", code, out)
	}
	if code, out := get("osaka", ""); code != 200 || out == nil || len(out) != 0 {
		t.Errorf("GET findings (osaka) = %d %+v, want an empty list", code, out)
	}
	if code, out := get("handa", "?state=patched"); code != 200 || len(out) != 0 {
		t.Errorf("GET findings?state=patched = %d %+v, want none", code, out)
	}
	if code, _ := get("handa", "?state=fixed"); code != 400 {
		t.Errorf("GET findings?state=fixed = %d, want 400", code)
	}
	if code, _ := get("", ""); code != 401 {
		t.Errorf("GET findings unauthenticated = %d, want 401", code)
	}
}

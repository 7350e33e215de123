package access

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func serve(t *testing.T, d *Decider, token string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(Handler(func(r *http.Request) (*Decider, error) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			return nil, errors.New("unknown token")
		}
		return d, nil
	}, nil))
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url, token, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatalf("POST %.80s: answer is not JSON: %v", body, err)
	}
	return resp, raw
}

const assignedJSON = `{"subject":{"id":"D001"},"action":"view","resource":{"patient":"P001","data_type":"chart","department":"internal_medicine"},"device":{"managed":true,"compliant":true,"network":"ward"}}`

func TestHandler(t *testing.T) {
	d, _, rec := hospital(t)
	srv := serve(t, d, "omm_ok")

	resp, body := post(t, srv.URL, "omm_ok", assignedJSON)
	var one Decision
	if err := json.Unmarshal(body, &one); err != nil || resp.StatusCode != 200 || !one.Allowed() || one.Tenant != "tokyo-general" {
		t.Errorf("POST one = %d %s, want 200 and an allow for tokyo-general", resp.StatusCode, body)
	}

	// A batch, with a bad item and a break-glass: answers in order, the bad item denied.
	batch := `[` + assignedJSON + `,{"subject":{"id":"D001"},"action":"delete","resource":{"patient":"P001","data_type":"chart"},"device":{"network":"ward"}},` +
		`{"subject":{"id":"N002"},"action":"view","resource":{"patient":"P005","data_type":"chart"},"device":{"managed":true,"compliant":true,"network":"ward"},"purpose_of_use":"BTG","reason":"急変"}]`
	resp, body = post(t, srv.URL, "omm_ok", batch)
	var many []Decision
	if err := json.Unmarshal(body, &many); err != nil || resp.StatusCode != 200 || len(many) != 3 {
		t.Fatalf("POST batch = %d %s, want 200 and three decisions", resp.StatusCode, body)
	}
	if !many[0].Allowed() || many[1].Allowed() || !strings.Contains(many[1].Reason, `action "delete"`) || !many[2].BreakGlass {
		t.Errorf("batch decisions = %s / %s (%s) / break_glass=%v", many[0].Decision, many[1].Decision, many[1].Reason, many[2].BreakGlass)
	}
	if len(rec.lines) != 4 {
		t.Errorf("recorded %d decisions, want 4 (every one, the bad item too)", len(rec.lines))
	}

	// The body cannot choose the time: the consultation CON-2 was open before 09:59.
	resp, body = post(t, srv.URL, "omm_ok", `{"time":"2026-04-01T09:00:00+09:00","subject":{"id":"D002"},"action":"view","resource":{"patient":"P004","data_type":"chart"},"device":{"managed":true,"compliant":true,"network":"ward"}}`)
	if json.Unmarshal(body, &one); one.Allowed() {
		t.Errorf("a request carrying an old time was decided at that time: %s", body)
	}

	for _, tt := range []struct {
		name, token, body string
		status            int
	}{
		{"not JSON", "omm_ok", `{"subject":`, 400},
		{"unknown field", "omm_ok", `{"subjekt":{"id":"D001"}}`, 400},
		{"two values", "omm_ok", assignedJSON + assignedJSON, 400},
		{"batch too large", "omm_ok", "[" + strings.Repeat(assignedJSON+",", MaxBatch) + assignedJSON + "]", 400},
		{"unknown caller", "omm_bad", assignedJSON, 403},
	} {
		resp, body := post(t, srv.URL, tt.token, tt.body)
		if resp.StatusCode != tt.status || !strings.Contains(string(body), `"error"`) {
			t.Errorf("%s: POST = %d %s, want %d with an error", tt.name, resp.StatusCode, body, tt.status)
		}
	}
}

// FuzzHandler: whatever the body, the handler answers 200 with decisions or 400, and
// never allows what it could not read.
func FuzzHandler(f *testing.F) {
	f.Add(assignedJSON)
	f.Add("[" + assignedJSON + "]")
	f.Add(`{"subject":{"id":"N002"},"action":"view","resource":{"patient":"P005","data_type":"hiv"},"device":{"network":"home"},"purpose_of_use":"BTG","reason":"x"}`)
	f.Add(`[]`)
	f.Add(`null`)
	d, _, _ := hospital(f)
	h := Handler(func(*http.Request) (*Decider, error) { return d, nil }, nil)
	f.Fuzz(func(t *testing.T, body string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/api/v1/access/decide", strings.NewReader(body)))
		switch w.Code {
		case 200:
			var decs []Decision
			b := w.Body.Bytes()
			if len(b) > 0 && b[0] != '[' {
				var one Decision
				if err := json.Unmarshal(b, &one); err != nil {
					t.Fatalf("answer %q: %v", b, err)
				}
				decs = append(decs, one)
			} else if err := json.Unmarshal(b, &decs); err != nil {
				t.Fatalf("answer %q: %v", b, err)
			}
			for _, dec := range decs {
				if dec.Allowed() && len(dec.Policies) == 0 {
					t.Fatalf("allowed with no policy: %+v", dec)
				}
				if dec.Decision != "allow" && dec.Decision != "deny" {
					t.Fatalf("decision %q", dec.Decision)
				}
			}
		case 400:
		default:
			t.Fatalf("status %d for %q", w.Code, body)
		}
	})
}

package decode

import (
	"os"
	"strings"
	"testing"

	"github.com/omamori-project/omamori/internal/shareddata"
)

// TestDetectStructured checks that Detect names the right format for a sample of each.
func TestDetectStructured(t *testing.T) {
	tests := []struct{ path, want string }{ // under testdata, or else under the shared test data
		{"testdata/json/ecs.json", "json"},
		{"testdata/eve/suricata.json", "eve"},
		{"testdata/winlogbeat/winlogbeat.json", "winlogbeat"},
		{"testdata/ehr/access.json", "ehr"},
		{"testdata/evtxjson/oneline.json", "evtx-json"},
		{"testdata/zeek/written.log", "zeek"},
		{"zeek/stratosphere/004-zeek-scenario-ssh/ssh.log", "zeek-json"},
		{"zeek/stratosphere/005-zeek-scenario-malicious/http.log", "zeek"},
		{"zeek/rita/test_data/proxy/conn.log", "zeek"},
		{"zeek/rita/test_data/json_with_all_fields/conn.log", "zeek-json"},
		{"zeek/rita/test_data/json_with_all_fields/dns.log", "zeek-json"},
		{"sigma/regression_data/rules/windows/file/file_event/file_event_win_anydesk_artefact/0b9ad457-2554-44c1-82c2-d56a99c42377.json", "evtx-json"},
		{"sigma/regression_data/rules/windows/file/file_event/file_event_win_anydesk_artefact/0b9ad457-2554-44c1-82c2-d56a99c42377.evtx", "evtx"},
	}
	for _, tt := range tests {
		if !strings.HasPrefix(tt.path, "testdata/") {
			tt.path = shareddata.Path(t, tt.path)
		}
		data, err := os.ReadFile(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := Detect(data[:min(len(data), 8<<10)]); got != tt.want {
			t.Errorf("Detect(%s) = %q, want %q", tt.path, got, tt.want)
		}
	}
	// Every regression file is detected as its format.
	for _, ext := range []string{".json", ".evtx"} {
		for _, p := range winRegressionFiles(t, ext) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{".json": "evtx-json", ".evtx": "evtx"}[ext]
			if got := Detect(data[:min(len(data), 8<<10)]); got != want {
				t.Errorf("Detect(%s) = %q, want %q", p, got, want)
			}
		}
	}
}

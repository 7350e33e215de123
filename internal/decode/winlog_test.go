package decode

import (
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/shareddata"
)

// winRegressionFiles returns the files with extension ext under Sigma's regression_data.
func winRegressionFiles(t testing.TB, ext string) []string {
	t.Helper()
	root := shareddata.Path(t, "sigma", "regression_data")
	var files []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ext) {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no %s files under %s", ext, root)
	}
	return files
}

// TestEVTXJSONRegression decodes every JSON file of Sigma's regression data, detecting the
// format, and wants no errors and at least one event each.
func TestEVTXJSONRegression(t *testing.T) {
	total := 0
	for _, p := range winRegressionFiles(t, ".json") {
		out, events, errs := jsonRender(t, p, "")
		if errs != 0 || events == 0 {
			t.Errorf("decode %s: %d events, %d errors:\n%s", p, events, errs, out)
		}
		total += events
	}
	t.Logf("%d events", total)
}

// TestEVTXJSONGolden compares a few regression files, chosen for variety (the one Security
// event, network connections, process creation), with golden files.
func TestEVTXJSONGolden(t *testing.T) {
	want := []string{
		"win_security_susp_scheduled_task_delete_or_disable",
		"proc_creation_win_exploit_cve_2026_33829",
		"file_event_win_anydesk_artefact",
		"registry_set/",
		"registry_delete/",
		"image_load_side_load_cpl",
		"proc_access_win_werfaultsecure",
	}
	files := winRegressionFiles(t, ".json")
	for _, w := range want {
		var p string
		for _, f := range files {
			if strings.Contains(f, w) {
				p = f
				break
			}
		}
		if p == "" {
			t.Errorf("no regression file matching %q", w)
			continue
		}
		rule := filepath.Base(filepath.Dir(p))
		t.Run(rule, func(t *testing.T) {
			got, _, _ := jsonRender(t, p, "evtx-json")
			jsonGolden(t, filepath.Join("testdata", "evtxjson", "real", rule+".golden"), got)
		})
	}
}

func TestEVTXJSONOneLine(t *testing.T) {
	in := `{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Security-Auditing"}},` +
		`"EventID":4625,"TimeCreated":{"#attributes":{"SystemTime":"2024-05-13T01:00:00.5Z"}},"EventRecordID":7,` +
		`"Channel":"Security","Computer":"dc01.hospital.local","Keywords":"0x8010000000000000"},` +
		`"EventData":{"Data":[{"#attributes":{"Name":"TargetUserName"},"#text":"suzuki"},` +
		`{"#attributes":{"Name":"IpAddress"},"#text":"::ffff:192.0.2.9"},{"#attributes":{"Name":"IpPort"},"#text":"50122"},` +
		`{"#attributes":{"Name":"LogonType"},"#text":"3"}]}}}`
	d := newEVTXJSONDecoder(Options{})
	e := event.Event{Raw: []byte(in)}
	if err := d.Decode(&e); err != nil {
		t.Fatalf("Decode = %v", err)
	}
	got := []string{e.User, e.SrcIP.String(), e.Host, e.Action, e.Category, e.Outcome.String(), e.Dataset}
	want := []string{"suzuki", "192.0.2.9", "dc01.hospital.local", "logon", "authentication", "failure", "windows.security"}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("Decode(4625) = %q, want %q", got, want)
			break
		}
	}
	if e.SrcPort != 50122 {
		t.Errorf("Decode(4625).SrcPort = %d, want 50122", e.SrcPort)
	}
	if v, _ := e.Get(event.K("winlog.event_data.LogonType")); v != "3" {
		t.Errorf("Decode(4625) LogonType = %q, want 3", v)
	}
	for in, want := range map[string]Reason{
		`{"Event":{"System":`:                ReasonSyntax,
		`[1,2]`:                              ReasonSyntax,
		`{"foo":1}`:                          ReasonField,
		`{"Event":{"System":{"EventID":1}}}`: ReasonTimestamp,
	} {
		e := event.Event{Raw: []byte(in)}
		if err := d.Decode(&e); ReasonOf(err) != want {
			t.Errorf("Decode(%q) = %v, want reason %s", in, err, want)
		}
	}
}

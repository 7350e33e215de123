package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/detect"
)

// TestWindowsShapesServed sends the same four attack events (internal/decode/testdata/windows)
// to a running node in every shape Windows events are shipped in — NXLog's JSON as syslog over
// TCP, and over HTTP NXLog (with Logstash's fields), Winlogbeat 6 and 8, Log Analytics and
// rendered XML, some named and some found per record by the "windows" format — and checks
// that each shape raises the same SigmaHQ alerts. Each shape's events get hosts of their own
// (DC01.<shape>), so that their alerts stay apart.
func TestWindowsShapesServed(t *testing.T) {
	rules := filepath.Join("..", "..", "..", "shared", "data", "sigma", "rules", "windows")
	if _, err := os.Stat(rules); err != nil {
		t.Skipf("SigmaHQ rules not found at %s (the shared test data): %v", rules, err)
	}
	cfg := testConfig(t, "ingest.batch_wait=10ms", "detect.sigma_rules=["+rules+"]",
		"ingest.syslog=[{name: nxlog, protocol: tcp, listen: '127.0.0.1:0', format: nxlog}]")
	n := startNode(t, cfg)
	defer n.Shutdown(t.Context())
	token := issue(t, n, cfg.Ingest.DefaultTenant, "windows", auth.ScopeIngest)

	samples := filepath.Join("..", "decode", "testdata", "windows")
	read := func(file, shape string) []byte {
		data, err := os.ReadFile(filepath.Join(samples, file))
		if err != nil {
			t.Fatal(err)
		}
		return bytes.ReplaceAll(data, []byte(".contoso.local"), []byte("."+shape))
	}
	// Over HTTP: shape → file and the format the client names.
	posts := []struct{ shape, file, format string }{
		{"nxlog", "nxlog.json", "nxlog"},
		{"logstash", "nxlog-logstash.json", "windows"},
		{"winlogbeat6", "winlogbeat6.json", "winlogbeat6"},
		{"winlogbeat8", "winlogbeat8.json", "windows"},
		{"loganalytics", "log-analytics-windowsevent.json", "log-analytics"},
		{"evtxjson", "evtx.json", "windows"},
	}
	for _, p := range posts {
		resp := request(t, n, "POST", "/api/v1/ingest?format="+p.format, token, string(read(p.file, p.shape)))
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST %s as %s: %s", p.file, p.format, resp.Status)
		}
	}
	// Rendered XML, one event a line, as a WEF relay posts it: the line ends inside a value
	// (5145's AccessList) written as character references.
	var wef []string
	xml := string(read("wef.xml", "wef"))
	for _, ev := range strings.SplitAfter(xml[strings.Index(xml, "<Event "):], "</Event>") {
		if ev = strings.TrimSpace(ev); strings.HasPrefix(ev, "<Event ") {
			wef = append(wef, strings.NewReplacer("\n", "&#10;", "\t", "&#9;").Replace(ev)+"\n")
		}
	}
	resp := request(t, n, "POST", "/api/v1/ingest?format=windows", token, strings.Join(wef, ""))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST rendered XML: %s", resp.Status)
	}
	// NXLog's JSON behind a syslog header, over TCP.
	c, err := net.Dial("tcp", n.Syslog["nxlog"].String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(read("nxlog-syslog.log", "syslog")); err != nil {
		t.Fatal(err)
	}
	c.Close()

	want := []string{
		"Account Tampering - Suspicious Failed Logon Reasons",
		"Security Eventlog Cleared",
		"Shadow Copies Deletion Using Operating Systems Utilities",
		"Windows Network Access Suspicious desktop.ini Action",
	}
	shapes := []string{"syslog", "wef"}
	for _, p := range posts {
		shapes = append(shapes, p.shape)
	}
	var got map[string][]string
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		got = alertsByShape(t, n.Bus)
		done := true
		for _, s := range shapes {
			done = done && slices.Equal(got[s], want)
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			break
		}
	}
	for _, s := range shapes {
		if !slices.Equal(got[s], want) {
			t.Errorf("alerts on the %s events: %q, want %q", s, got[s], want)
		}
	}
}

// alertsByShape returns the titles of the Sigma alerts on the bus, sorted, by the last label of
// their host (DC01.<shape>).
func alertsByShape(t *testing.T, b *bus.Bus) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := b.ReadAlerts(t.Context(), func(m bus.Msg) error {
		var a detect.Alert
		if err := json.Unmarshal(m.Data, &a); err != nil {
			return fmt.Errorf("alert %d: %w", m.Seq, err)
		}
		if a.Detector != "sigma" {
			return nil // the ransomware detector's "backups deleted" is not what this is about
		}
		_, shape, _ := strings.Cut(a.Entities.Host, ".")
		if !slices.Contains(out[shape], a.Title) {
			out[shape] = append(out[shape], a.Title)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, titles := range out {
		slices.Sort(titles)
	}
	return out
}

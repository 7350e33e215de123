package decode

import (
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/shareddata"
)

// The loghub samples (github.com/logpai/loghub) come with a CSV that its authors made from
// each line with their own parser: timestamp, host, component, pid and content. These tests
// decode the raw lines and compare every event with its row, and check that the user and
// source address that the content shows were extracted. The expectations come from the CSV
// and from regular expressions written here, not from the decoder.

// loghubCSV returns the rows of a loghub structured CSV as maps from column to value.
func loghubCSV(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var rows []map[string]string
	for _, rec := range recs[1:] {
		row := map[string]string{}
		for i, col := range recs[0] {
			row[col] = rec[i]
		}
		rows = append(rows, row)
	}
	return rows
}

// loghubDecode decodes every line of path as syslog and fails on any error.
func loghubDecode(t *testing.T, path string, opts Options) []*event.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, _, err := NewReader(f, "syslog", opts, 0)
	if err != nil {
		t.Fatal(err)
	}
	var evs []*event.Event
	for {
		var e event.Event
		err := r.Next(&e)
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			t.Errorf("Next() = %v for %q", err, e.Raw)
			continue
		}
		evs = append(evs, e.Clone())
	}
}

// loghubExpect is a pattern whose first group, where it matches a message, must be found in
// the event by get.
type loghubExpect struct {
	name string
	re   *regexp.Regexp
	get  func(e *event.Event) string
}

var (
	lhAddr = func(e *event.Event) string {
		if e.SrcIP.IsValid() {
			return e.SrcIP.String()
		}
		v, _ := e.Get(event.K("source.domain"))
		return v
	}
	lhPort = func(e *event.Event) string { return strconv.Itoa(int(e.SrcPort)) }
	lhUser = func(e *event.Event) string { return e.User }
)

var sshExpect = []loghubExpect{
	{"address", regexp.MustCompile(`from (\d+\.\d+\.\d+\.\d+)`), lhAddr},
	{"address", regexp.MustCompile(`rhost=(\S+)`), lhAddr},
	{"address", regexp.MustCompile(`getaddrinfo for \S+ \[(\d+\.\d+\.\d+\.\d+)\]`), lhAddr},
	{"address", regexp.MustCompile(`^Connection closed by (\S+)`), lhAddr},
	{"port", regexp.MustCompile(` port (\d+)`), lhPort},
	{"user", regexp.MustCompile(`^(?:Accepted|Failed) \S+ for (?:invalid user )?(.*) from \S+ port`), lhUser},
	{"user", regexp.MustCompile(`^message repeated \d+ times: \[ Failed \S+ for (?:invalid user )?(.*) from`), lhUser},
	{"user", regexp.MustCompile(`^Invalid user (.*) from \S+$`), lhUser},
	{"user", regexp.MustCompile(`^input_userauth_request: invalid user (.*) \[preauth\]$`), lhUser},
	{"user", regexp.MustCompile(`(?:^|\s)user=(\S+)`), lhUser},
	{"user", regexp.MustCompile(`session (?:opened|closed) for user (\S+)`), lhUser},
	{"user", regexp.MustCompile(`Too many authentication failures for (\S+)`), lhUser},
}

var linuxExpect = []loghubExpect{
	{"address", regexp.MustCompile(`rhost=(\S+)`), lhAddr},
	{"address", regexp.MustCompile(`^Authentication failed from (\S+) \(`), lhAddr},
	{"address", regexp.MustCompile(`^connection from (\S+) \(`), lhAddr},
	{"address", regexp.MustCompile(`LOGIN FROM (\d+\.\d+\.\d+\.\d+),`), lhAddr},
	{"user", regexp.MustCompile(`(?:^|\s)user=(\S+)`), lhUser},
	{"user", regexp.MustCompile(`session (?:opened|closed) for user (\S+)`), lhUser},
	{"user", regexp.MustCompile(`^ROOT LOGIN`), func(e *event.Event) string {
		if e.User == "root" {
			return ""
		}
		return "not root: " + e.User
	}},
}

// loghubCheck applies exps to msg and reports each mismatch; it returns how many it
// checked.
func loghubCheck(t *testing.T, line string, msg string, e *event.Event, exps []loghubExpect) int {
	t.Helper()
	n := 0
	for _, x := range exps {
		m := x.re.FindStringSubmatch(msg)
		if m == nil {
			continue
		}
		want := ""
		if len(m) > 1 {
			want = m[1]
		}
		if got := x.get(e); got != want {
			t.Errorf("line %s: %s = %q, want %q (message %q)", line, x.name, got, want, msg)
		}
		n++
	}
	return n
}

func TestOpenSSHLoghub(t *testing.T) {
	dir := shareddata.Path(t, "syslog/loghub/OpenSSH")
	evs := loghubDecode(t, filepath.Join(dir, "OpenSSH_2k.log"), Options{Location: time.UTC, Year: 2016})
	rows := loghubCSV(t, filepath.Join(dir, "OpenSSH_2k.log_structured.csv"))
	if len(evs) != 2000 || len(rows) != 2000 {
		t.Fatalf("decoded %d events from %d CSV rows, want 2000 of each", len(evs), len(rows))
	}
	checked, logins := 0, 0
	for i, row := range rows {
		e := evs[i]
		line := row["LineId"]
		ts := row["Date"] + " " + row["Day"] + " " + row["Time"]
		if got := e.Time.Format("Jan 2 15:04:05"); got != ts {
			t.Errorf("line %s: time %s, want %s", line, got, ts)
		}
		if e.Host != row["Component"] {
			t.Errorf("line %s: host %q, want %q", line, e.Host, row["Component"])
		}
		if e.Process != "sshd" || e.Dataset != "sshd" {
			t.Errorf("line %s: process %q dataset %q, want sshd", line, e.Process, e.Dataset)
		}
		if got := strconv.Itoa(int(e.PID)); got != row["Pid"] {
			t.Errorf("line %s: pid %s, want %s", line, got, row["Pid"])
		}
		if e.Message != row["Content"] {
			t.Errorf("line %s: message %q, want %q", line, e.Message, row["Content"])
		}
		checked += loghubCheck(t, line, row["Content"], e, sshExpect)
		if e.Action == "ssh_login" {
			logins++
			if e.Category != "authentication" || e.Outcome == event.OutcomeUnknown {
				t.Errorf("line %s: ssh_login with category %q outcome %v", line, e.Category, e.Outcome)
			}
		}
	}
	// Most lines carry an address or a user; make sure the checks ran.
	if checked < 2000 || logins < 500 {
		t.Errorf("checked %d addresses, ports and users and saw %d logins; the expectations did not run", checked, logins)
	}
	t.Logf("checked %d addresses, ports and users; %d ssh_login events", checked, logins)
}

func TestLinuxLoghub(t *testing.T) {
	dir := shareddata.Path(t, "syslog/loghub/Linux")
	evs := loghubDecode(t, filepath.Join(dir, "Linux_2k.log"), Options{Location: time.UTC, Year: 2005})
	rows := loghubCSV(t, filepath.Join(dir, "Linux_2k.log_structured.csv"))
	if len(evs) != 2000 || len(rows) != 2000 {
		t.Fatalf("decoded %d events from %d CSV rows, want 2000 of each", len(evs), len(rows))
	}
	appname := event.K("log.syslog.appname")
	checked := 0
	for i, row := range rows {
		e := evs[i]
		line := row["LineId"]
		day, _ := strconv.Atoi(row["Date"])
		ts := row["Month"] + " " + strconv.Itoa(day) + " " + row["Time"]
		if got := e.Time.Format("Jan 2 15:04:05"); got != ts {
			t.Errorf("line %s: time %s, want %s", line, got, ts)
		}
		if e.Host != row["Level"] { // loghub calls the host column Level here
			t.Errorf("line %s: host %q, want %q", line, e.Host, row["Level"])
		}
		tag := e.Process
		if v, ok := e.Get(appname); ok {
			tag = v
		}
		if tag != row["Component"] {
			t.Errorf("line %s: tag %q, want %q", line, tag, row["Component"])
		}
		pid := ""
		if e.PID != 0 {
			pid = strconv.Itoa(int(e.PID))
		}
		if pid != row["PID"] {
			t.Errorf("line %s: pid %q, want %q", line, pid, row["PID"])
		}
		if e.Message != row["Content"] {
			t.Errorf("line %s: message %q, want %q", line, e.Message, row["Content"])
		}
		checked += loghubCheck(t, line, row["Content"], e, linuxExpect)
	}
	if checked < 1500 {
		t.Errorf("checked %d addresses and users; the expectations did not run", checked)
	}
	t.Logf("checked %d addresses and users", checked)
}

package sigma

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/omamori-project/omamori/internal/event"
)

// sysmon1 builds a Sysmon process-creation event with the given event data.
func sysmon1(data ...string) *event.Event {
	e := &event.Event{Dataset: "windows.sysmon", Format: "evtx"}
	e.Add(event.K("winlog.event_id"), "1")
	e.Add(event.K("winlog.channel"), "Microsoft-Windows-Sysmon/Operational")
	e.Add(event.K("winlog.provider_name"), "Microsoft-Windows-Sysmon")
	for i := 0; i+1 < len(data); i += 2 {
		e.Add(event.K("winlog.event_data."+data[i]), data[i+1])
	}
	return e
}

// compileOne compiles a process-creation rule with the given detection.
func compileOne(t *testing.T, detection string, opts Options) *Ruleset {
	t.Helper()
	src := "title: t\nid: r\nlevel: high\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n" + detection
	rules, err := Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse(%q) = %v", detection, err)
	}
	rs, rep := Compile(rules, opts)
	if len(rep.Failed) > 0 {
		t.Fatalf("Compile(%q) = %v", detection, rep.Failed)
	}
	return rs
}

func matches(rs *Ruleset, e *event.Event) bool {
	return len(rs.NewMatcher().Match(e, nil)) > 0
}

func TestModifiers(t *testing.T) {
	b64 := b64std
	tests := []struct {
		detection string
		event     *event.Event
		want      bool
	}{
		{"  sel:\n    Image: 'C:\\Windows\\System32\\cmd.exe'\n  condition: sel", sysmon1("Image", `c:\windows\system32\CMD.EXE`), true},
		{"  sel:\n    Image|cased: 'C:\\Windows\\System32\\cmd.exe'\n  condition: sel", sysmon1("Image", `c:\windows\system32\CMD.EXE`), false},
		{"  sel:\n    Image|endswith: '\\cmd.exe'\n  condition: sel", sysmon1("Image", `C:\x\CMD.exe`), true},
		{"  sel:\n    Image|startswith: 'C:\\Users\\'\n  condition: sel", sysmon1("Image", `C:\Windows\cmd.exe`), false},
		{"  sel:\n    CommandLine|contains|all: [' -w hidden', 'bypass']\n  condition: sel", sysmon1("CommandLine", `powershell -W Hidden -ep Bypass`), true},
		{"  sel:\n    CommandLine|contains|all: [' -w hidden', 'nop']\n  condition: sel", sysmon1("CommandLine", `powershell -W Hidden -ep Bypass`), false},
		{"  sel:\n    CommandLine|contains|windash: ' -enc '\n  condition: sel", sysmon1("CommandLine", `powershell /enc SQBFAFgA`), true},
		{"  sel:\n    CommandLine|contains|windash: ' -enc '\n  condition: sel", sysmon1("CommandLine", "powershell \u2013enc SQBFAFgA"), true},
		{"  sel:\n    CommandLine|contains|windash: ' -enc '\n  condition: sel", sysmon1("CommandLine", `powershell enc`), false},
		{"  sel:\n    CommandLine|re: '\\s-[eE]nc\\s'\n  condition: sel", sysmon1("CommandLine", `powershell -Enc x`), true},
		{"  sel:\n    CommandLine|re: 'ENC'\n  condition: sel", sysmon1("CommandLine", `powershell -enc x`), false},
		{"  sel:\n    CommandLine|re|i: 'ENC'\n  condition: sel", sysmon1("CommandLine", `powershell -enc x`), true},
		{"  sel:\n    DestinationIp|cidr: '10.0.0.0/8'\n  condition: sel", sysmon1("DestinationIp", `10.1.2.3`), true},
		{"  sel:\n    DestinationIp|cidr: ['192.168.0.0/16', 'fe80::/10']\n  condition: sel", sysmon1("DestinationIp", `fe80::1`), true},
		{"  sel:\n    DestinationIp|cidr: '10.0.0.0/8'\n  condition: sel", sysmon1("DestinationIp", `11.1.2.3`), false},
		{"  sel:\n    CommandLine|base64|contains: 'IEX('\n  condition: sel", sysmon1("CommandLine", "-e "+b64("IEX(")), true},
		{"  sel:\n    CommandLine|base64offset|contains: 'Invoke-Mimikatz'\n  condition: sel", sysmon1("CommandLine", "-e "+b64("xyInvoke-Mimikatz -dump")), true},
		{"  sel:\n    CommandLine|base64offset|contains: 'Invoke-Mimikatz'\n  condition: sel", sysmon1("CommandLine", "-e "+b64("x Invoke-Mimikatz")), true},
		{"  sel:\n    CommandLine|wide|base64offset|contains: 'ping'\n  condition: sel", sysmon1("CommandLine", "-enc "+b64(utf16le("cmd /c ping 1.2.3.4"))), true},
		{"  sel:\n    CommandLine|utf16le|base64offset|contains: 'ping'\n  condition: sel", sysmon1("CommandLine", "-enc "+b64("cmd /c ping")), false},
		{"  sel:\n    ParentImage|fieldref: Image\n  condition: sel", sysmon1("Image", `C:\a.exe`, "ParentImage", `c:\A.exe`), true},
		{"  sel:\n    ParentImage|fieldref: Image\n  condition: sel", sysmon1("Image", `C:\a.exe`, "ParentImage", `C:\b.exe`), false},
		{"  sel:\n    ParentUser|exists: true\n  condition: sel", sysmon1("ParentUser", `x`), true},
		{"  sel:\n    ParentUser|exists: false\n  condition: sel", sysmon1("ParentUser", `x`), false},
		{"  sel:\n    ParentUser: null\n  condition: sel", sysmon1("Image", `x`), true},
		{"  sel:\n    ParentUser: null\n  condition: sel", sysmon1("ParentUser", `x`), false},
		{"  sel:\n    TerminalSessionId|gt: 1\n  condition: sel", sysmon1("TerminalSessionId", `2`), true},
		{"  sel:\n    TerminalSessionId|lte: 1\n  condition: sel", sysmon1("TerminalSessionId", `2`), false},
		{"  sel:\n    TerminalSessionId|gte: 2\n  condition: sel", sysmon1("TerminalSessionId", `2`), true},
		{"  sel:\n    TerminalSessionId|lt: 2\n  condition: sel", sysmon1("TerminalSessionId", `1`), true},
		{"  sel:\n    Image|expand: '%admin_tools%'\n  condition: sel", sysmon1("Image", `C:\tools\psexec.exe`), true},
		{"  sel:\n    Image|expand: '%unset%'\n  condition: sel", sysmon1("Image", `C:\tools\psexec.exe`), false},
		{"  sel:\n    Image: 'C:\\\\*\\cmd.ex?'\n  condition: sel", sysmon1("Image", `C:\Windows\cmd.exe`), true},
		{"  sel:\n    Image: 'C:\\\\*\\cmd.ex?'\n  condition: sel", sysmon1("Image", `C:\Windows\cmd.exe2`), false},
		{"  sel:\n    CommandLine: 'a\\*b'\n  condition: sel", sysmon1("CommandLine", `a*b`), true},
		{"  sel:\n    CommandLine: 'a\\*b'\n  condition: sel", sysmon1("CommandLine", `axxb`), false},
		{"  sel:\n    - 'mimikatz'\n  condition: sel", sysmon1("CommandLine", `run MimiKatz.exe`), true},
		{"  sel:\n    EventID: 1\n    Channel: 'Microsoft-Windows-Sysmon/Operational'\n  condition: sel", sysmon1(), true},
		{"  sel:\n    - Image|endswith: '\\a.exe'\n    - Image|endswith: '\\b.exe'\n  condition: sel", sysmon1("Image", `C:\b.exe`), true},
		{"  a:\n    Image|endswith: '\\a.exe'\n  b:\n    CommandLine|contains: x\n  condition: a or b and not b", sysmon1("Image", `C:\a.exe`, "CommandLine", "x"), true},
		{"  a:\n    Image|endswith: '\\a.exe'\n  b:\n    CommandLine|contains: x\n  condition: (a or b) and not b", sysmon1("Image", `C:\a.exe`, "CommandLine", "x"), false},
		{"  sel_1:\n    Image|endswith: '\\a.exe'\n  sel_2:\n    CommandLine|contains: y\n  condition: 1 of sel_*", sysmon1("Image", `C:\a.exe`, "CommandLine", "x"), true},
		{"  sel_1:\n    Image|endswith: '\\a.exe'\n  sel_2:\n    CommandLine|contains: y\n  condition: all of sel_*", sysmon1("Image", `C:\a.exe`, "CommandLine", "x"), false},
		{"  sel_1:\n    Image|endswith: '\\a.exe'\n  sel_2:\n    CommandLine|contains: x\n  condition: all of them", sysmon1("Image", `C:\a.exe`, "CommandLine", "x"), true},
		{"  sel:\n    Image|endswith: '\\a.exe'\n  condition: not sel", sysmon1("Image", `C:\b.exe`), true},
	}
	opts := Options{Placeholders: map[string][]string{"admin_tools": {`*\psexec.exe`, `*\paexec.exe`}}}
	for _, tt := range tests {
		rs := compileOne(t, tt.detection, opts)
		if got := matches(rs, tt.event); got != tt.want {
			t.Errorf("rule\n%s\nMatch(%v) = %v, want %v", tt.detection, tt.event.Fields, got, tt.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ detection, want string }{
		{"  sel:\n    Image|nosuch: x\n  condition: sel", `unknown modifier "nosuch"`},
		{"  sel:\n    Image|re: '(?<=x)y'\n  condition: sel", "regular expression"},
		{"  sel:\n    Image|cidr: '10.0.0/8'\n  condition: sel", "cidr"},
		{"  sel:\n    Image: x\n  condition: sel and other", `"other", which is not a search`},
		{"  sel:\n    Image: x\n  condition: 1 of filter_*", "matches no search"},
		{"  sel:\n    Image: x\n  condition: sel | count() > 5", "aggregation"},
		{"  sel:\n    Image: x\n  condition: (sel", "missing )"},
		{"  sel:\n    Image|base64: 'a*'\n  condition: sel", "wildcards"},
	}
	for _, tt := range tests {
		src := "title: t\nid: r\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n" + tt.detection
		rules, err := Parse([]byte(src))
		if err != nil {
			t.Fatalf("Parse(%q) = %v", tt.detection, err)
		}
		_, rep := Compile(rules, Options{})
		if len(rep.Failed) != 1 || !strings.Contains(rep.Failed[0].Err.Error(), tt.want) {
			t.Errorf("Compile(%q) failures = %v, want one containing %q", tt.detection, rep.Failed, tt.want)
		}
	}
}

func TestRuleFiles(t *testing.T) {
	rs, rep, err := Load(os.DirFS("testdata"), Options{}, "rules")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failed) > 0 || rep.Compiled != 3 {
		t.Fatalf("Load(testdata/rules) = %d compiled, failed %v; want 3 and none", rep.Compiled, rep.Failed)
	}
	cmd := "powershell.exe -nop /enc " + b64std("IEX (New-Object Net.WebClient)")
	e := sysmon1("Image", `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, "OriginalFileName", "PowerShell.EXE",
		"CommandLine", cmd, "ParentImage", `C:\Windows\explorer.exe`)
	got := rs.NewMatcher().Match(e, nil)
	if len(got) != 1 || got[0].Rule.ID != "00000000-0000-4000-8000-000000000001" {
		t.Fatalf("Match(%q) = %v, want the modifiers rule", cmd, got)
	}
	if tech := got[0].Rule.Techniques(); !slices.Equal(tech, []string{"T1059.001"}) {
		t.Errorf("Techniques() = %v, want [T1059.001]", tech)
	}
	e = sysmon1("Image", `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, "OriginalFileName", "PowerShell.EXE",
		"CommandLine", cmd, "ParentImage", `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`)
	if got := rs.NewMatcher().Match(e, nil); len(got) != 0 {
		t.Errorf("Match(parent = image) = %v, want none (the fieldref filter)", got)
	}
}

// TestThorMapping checks that the Windows log sources of logsources.yml say what SigmaHQ's
// tests/thor.yml says: the same channels for each service, the same event IDs for each
// category.
func TestThorMapping(t *testing.T) {
	dir := sigmaData(t)
	data, err := os.ReadFile(filepath.Join(dir, "tests", "thor.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var thor struct {
		Logsources map[string]struct {
			Category   string         `yaml:"category"`
			Product    string         `yaml:"product"`
			Service    string         `yaml:"service"`
			Conditions map[string]any `yaml:"conditions"`
			Rewrite    struct {
				Service string `yaml:"service"`
			} `yaml:"rewrite"`
			Sources []string `yaml:"sources"`
		} `yaml:"logsources"`
	}
	if err := yamlUnmarshal(data, &thor); err != nil {
		t.Fatal(err)
	}
	m := DefaultMapping()
	checked := 0
	for name, ls := range thor.Logsources {
		switch {
		case ls.Product == "windows" && ls.Service != "":
			var want []string
			for _, s := range ls.Sources {
				want = append(want, strings.TrimPrefix(s, "WinEventLog:"))
			}
			if got := m.Windows.Services[ls.Service]; !slices.Equal(got, want) {
				t.Errorf("%s: service %s channels = %q, thor.yml says %q", name, ls.Service, got, want)
			}
			checked++
		case ls.Category != "" && ls.Rewrite.Service != "":
			var want []string
			switch id := ls.Conditions["EventID"].(type) {
			case int:
				want = []string{fmt.Sprint(id)}
			case []any:
				for _, x := range id {
					want = append(want, fmt.Sprint(x))
				}
			}
			found := false
			for _, c := range m.Windows.Categories {
				if c.Category != ls.Category || c.Service != ls.Rewrite.Service {
					continue
				}
				et, _ := ls.Conditions["EventType"].(string)
				// logsources.yml joins thor's entries of one category and service into one
				has := len(want) > 0
				for _, id := range want {
					has = has && slices.Contains(c.EventIDs, id)
				}
				if has && c.Conditions["EventType"] == et {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: category %s service %s event IDs %v: not in logsources.yml", name, ls.Category, ls.Rewrite.Service, want)
			}
			checked++
		}
	}
	if checked < 50 {
		t.Errorf("checked %d thor.yml log sources, want more than 50", checked)
	}
}

func ExampleCompile() {
	rules, err := Parse([]byte(`
title: Whoami Execution
id: e28a5a99-da44-436d-b7a0-2afc20a5f413
level: low
tags: [attack.discovery, attack.t1033]
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        Image|endswith: '\whoami.exe'
    condition: selection
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	rs, rep := Compile(rules, Options{})
	fmt.Println("compiled", rep.Compiled, "failed", len(rep.Failed))

	e := &event.Event{}
	e.Add(event.K("winlog.event_id"), "4688")
	e.Add(event.K("winlog.channel"), "Security")
	e.Add(event.K("winlog.event_data.NewProcessName"), `C:\Windows\System32\whoami.exe`)
	for _, m := range rs.NewMatcher().Match(e, nil) {
		fmt.Println(m.Rule.Title, m.Rule.Level, m.Rule.Techniques())
	}
	// Output:
	// compiled 1 failed 0
	// Whoami Execution low [T1033]
}

package incident

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestReports drafts every report for the replayed attack, after the analyst has recorded
// the facts and ticked off the first steps, and holds each draft to its golden file.
func TestReports(t *testing.T) {
	start := scenarioStart.Add(20 * time.Minute)
	cfg := Config{Hosts: inventory, Hospital: map[string]Hospital{tenant: {
		Name: "つるぎ町立半田病院", Address: "徳島県美馬郡つるぎ町", Manager: "病院長 山田 太郎", Contact: "医療情報管理室 0883-00-0000"}}}
	e := newEnv(t, start, cfg)
	e.ingestAll(t, scenarioAlerts(t))
	list, _ := e.svc.List(t.Context(), tenant)
	i := slices.IndexFunc(list, func(inc Incident) bool { return slices.Contains(inc.Kinds, "ransomware") })
	id := list[i].ID
	ctx := t.Context()
	e.clock.Add(25 * time.Minute)
	for _, step := range []string{"isolate", "paper-charts", "headquarters"} {
		e.clock.Add(5 * time.Minute)
		if _, err := e.svc.CheckStep(ctx, tenant, id, "user:sato", "ransomware", step, true); err != nil {
			t.Fatal(err)
		}
	}
	facts := Facts{
		AwareAt:          time.Date(2021, 10, 31, 1, 10, 0, 0, jst),
		PersonalData:     true,
		Unauthorized:     true,
		PatientsAffected: 85000,
		DataItems:        []string{"氏名", "生年月日", "診療録（電子カルテ）"},
		Systems:          []string{"電子カルテシステム", "ファイルサーバ FS01", "EHR-DB01"},
		Summary:          "VPN機器の脆弱性を悪用した不正アクセスにより、院内サーバがランサムウェアに感染し、電子カルテが暗号化された。",
		Cause:            "VPN機器の既知の脆弱性（CVE-2018-13379）の悪用と、保守用アカウントへの総当たり攻撃",
		CareImpact:       "新規患者の受入れと予定手術を停止し、紙カルテで診療を継続",
		Measures:         []string{"VPN機器のファームウェア更新と多要素認証の導入", "バックアップのオフライン保管"},
		PoliceCase:       "徳島県警察 サイバー犯罪対策課に相談（2021年10月31日）",
	}
	if _, err := e.svc.SetFacts(ctx, tenant, id, "user:sato", facts); err != nil {
		t.Fatal(err)
	}
	for _, o := range e.svc.cfg.Obligations {
		t.Run(o.ID, func(t *testing.T) {
			got, err := e.svc.Report(ctx, tenant, id, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			got = bytes.ReplaceAll(got, []byte(id), []byte("INC-20211031-XXXXXX"))
			for _, want := range []string{"つるぎ町立半田病院", "電子カルテシステム", "2021年10月31日 01時10分"} {
				if !bytes.Contains(got, []byte(want)) {
					t.Errorf("the %s draft does not say %q", o.ID, want)
				}
			}
			golden := filepath.Join("testdata", "reports", o.ID+".md")
			if *update {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s draft differs from %s (-want +got):\n%s", o.ID, golden, diff)
			}
		})
	}
	// The final report's facts match the incident: 60 days for unauthorised access, counted
	// from the day of awareness (31 October 2021 is day 1; day 60 is Wednesday 29 December, in
	// the year-end closure, so 4 January 2022).
	got, _ := e.svc.Report(ctx, tenant, id, "ppc-final")
	for _, want := range []string{"報告期限: 2022年1月4日", "85,000名", "氏名、生年月日、診療録（電子カルテ）", "60日以内"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("ppc-final draft lacks %q", want)
		}
	}
	if _, err := e.svc.Report(ctx, tenant, id, "tax-office"); err == nil {
		t.Error("Report(unknown obligation) = nil error, want refusal")
	}
}

func TestParseObligations(t *testing.T) {
	for _, tc := range []struct{ name, yaml string }{
		{"unknown field", "- {id: x, name: X, template: mhlw.md.tmpl, when: {severity: high}, due: {hours: 1}, colour: red}"},
		{"no condition", "- {id: x, name: X, template: mhlw.md.tmpl, due: {hours: 1}}"},
		{"hours and days", "- {id: x, name: X, template: mhlw.md.tmpl, when: {severity: high}, due: {hours: 1, days: 2}}"},
		{"no deadline", "- {id: x, name: X, template: mhlw.md.tmpl, when: {severity: high}}"},
		{"unknown template", "- {id: x, name: X, template: nope.tmpl, when: {severity: high}, due: {hours: 1}}"},
		{"unknown severity", "- {id: x, name: X, template: mhlw.md.tmpl, when: {severity: dire}, due: {hours: 1}}"},
		{"ID twice", "- {id: x, name: X, template: mhlw.md.tmpl, when: {severity: high}, due: {hours: 1}}\n- {id: x, name: Y, template: mhlw.md.tmpl, when: {severity: high}, due: {hours: 1}}"},
	} {
		if _, err := ParseObligations([]byte(tc.yaml)); err == nil {
			t.Errorf("%s: ParseObligations = nil error, want refusal", tc.name)
		}
	}
}

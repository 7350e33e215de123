package incident

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omamori-project/omamori/internal/decision"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestReports drafts every report for the replayed attack, after the policies have blocked
// and isolated, the analyst has recorded the facts and ticked off the first steps, and holds
// each draft to its golden file.
func TestReports(t *testing.T) {
	start := scenarioStart.Add(20 * time.Minute)
	cfg := Config{Hosts: inventory, Hospital: map[string]Hospital{tenant: {
		Name: "つるぎ町立半田病院", Address: "徳島県美馬郡つるぎ町", Phone: "0883-00-0000", Administrator: "病院長 山田 太郎",
		SecurityManager: "医療情報管理室長 佐藤 花子", SecurityContact: "内線 201", Reporter: "医療情報管理室 佐藤 花子",
		ReporterPhone: "0883-00-0201", ReporterEmail: "johokanri@handa.example.jp"}}}
	e := newEnv(t, start, cfg)
	e.ingestAll(t, scenarioAlerts(t))
	list, _ := e.svc.List(t.Context(), tenant)
	i := slices.IndexFunc(list, func(inc Incident) bool { return slices.Contains(inc.Kinds, "ransomware") })
	id := list[i].ID
	ctx := t.Context()
	rec, err := e.svc.Show(ctx, tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	// What the response policies did on the incident's alerts, as package respond records it;
	// a dry run did nothing and is not a measure.
	alertOf := func(rule string) string {
		i := slices.IndexFunc(rec.Alerts, func(a AlertRef) bool { return strings.Contains(a.RuleID, rule) })
		if i < 0 {
			t.Fatalf("no %s alert on the incident", rule)
		}
		return rec.Alerts[i].ID
	}
	at := func(min int) time.Time { return scenarioStart.Add(time.Duration(min) * time.Minute) }
	for _, d := range []decision.Decision{
		{Action: "block", Scope: "ip", Value: "198.51.100.77", Reason: "brute force (policy block-attackers)", Origin: decision.Origin{Kind: "rule",
			Name: "behavior.brute_force"}, AlertID: alertOf("brute_force"), Status: "active", Created: at(1), Expires: at(1).Add(24 * time.Hour)},
		{Action: "isolate", Scope: "ip", Value: "192.168.20.15", Reason: "lateral movement (policy isolate-lateral-movement)",
			Origin: decision.Origin{Kind: "rule", Name: "behavior.lateral_movement"}, AlertID: alertOf("lateral"), Status: "active", Created: at(12), Expires: at(12).Add(4 * time.Hour)},
		{Action: "isolate", Scope: "ip", Value: "192.168.10.21", Reason: "ransomware (policy isolate-encrypting-hosts)",
			Origin: decision.Origin{Kind: "rule", Name: "behavior.ransomware_burst"}, AlertID: alertOf("ransomware_burst"), Status: "active", Created: at(14), Expires: at(14).Add(4 * time.Hour)},
		{Action: "block", Scope: "range", Value: "198.51.100.0/24", Reason: "dry run", Origin: decision.Origin{Kind: "rule", Name: "behavior.brute_force"},
			AlertID: alertOf("brute_force"), Status: "active", DryRun: true, Created: at(1), Expires: at(1).Add(time.Hour)},
		// Held by a guardrail (the EHR server) and lifted before anyone approved it: never in force.
		{Action: "isolate", Scope: "ip", Value: "192.168.10.5", Reason: "ransomware (policy isolate-encrypting-hosts)",
			Origin: decision.Origin{Kind: "rule", Name: "behavior.ransomware_burst"}, AlertID: alertOf("ransomware_burst"), Status: "revoked",
			Guardrail: "protected-service: EHR-DB01", Created: at(15), Expires: at(15).Add(4 * time.Hour)},
		// A responder's block of the C2 server the analyst found, answering no alert: the
		// incident's because its reason names it.
		{Action: "block", Scope: "domain", Value: "c2.attacker.example", Reason: id + " の調査で判明した C2 サーバ", Origin: decision.Origin{Kind: "person", Name: "tanaka"}, Status: "active", Created: at(16), Expires: at(16).Add(24 * time.Hour)},
		// Another incident's manual decision is not this one's.
		{Action: "block", Scope: "ip", Value: "203.0.113.99", Reason: "INC-20211030-ZZZZZZ の送信元", Origin: decision.Origin{Kind: "person", Name: "tanaka"}, Status: "active", Created: at(17), Expires: at(17).Add(24 * time.Hour)},
	} {
		if _, err := e.st.Tenant(tenant).CreateDecision(ctx, "rule:"+d.Origin.Name, d); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Add(25 * time.Minute)
	for _, step := range []string{"isolate", "paper-charts", "headquarters"} {
		e.clock.Add(5 * time.Minute)
		if _, err := e.svc.CheckStep(ctx, tenant, id, "user:sato", "ransomware", step, true); err != nil {
			t.Fatal(err)
		}
	}
	facts := Facts{
		AwareAt:          time.Date(2021, 10, 31, 1, 10, 0, 0, jst),
		PersonalData:     Yes,
		Unauthorized:     Yes,
		PatientsAffected: 85000,
		DataItems:        []string{"氏名", "生年月日", "診療録（電子カルテ）"},
		Systems:          []string{"電子カルテシステム", "ファイルサーバ FS01", "EHR-DB01"},
		Summary:          "VPN機器の脆弱性を悪用した不正アクセスにより、院内サーバがランサムウェアに感染し、電子カルテが暗号化された。",
		Cause:            "VPN機器の既知の脆弱性（CVE-2018-13379）の悪用と、保守用アカウントへの総当たり攻撃",
		CareImpact:       "新規患者の受入れと予定手術を停止し、紙カルテで診療を継続",
		Measures:         []string{"VPN機器のファームウェア更新と多要素認証の導入", "バックアップのオフライン保管"},
		PoliceCase:       "徳島県警察 サイバー犯罪対策課に相談（2021年10月31日）",
	}
	if _, err := e.svc.SetFacts(ctx, tenant, id, "user:sato", facts, 0); err != nil {
		t.Fatal(err)
	}
	for _, o := range e.svc.cfg.Obligations {
		t.Run(o.ID, func(t *testing.T) {
			got, err := e.svc.Report(ctx, tenant, id, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			got = bytes.ReplaceAll(got, []byte(id), []byte("INC-20211031-XXXXXX"))
			for _, want := range []string{"つるぎ町立半田病院", "病院長 山田 太郎", "医療情報管理室長 佐藤 花子", "0883-00-0201",
				"電子カルテシステム", "2021年10月31日 01時10分", "事案の種別（omamori の判定）: VPN機器の侵害対応、ランサムウェア初動対応",
				"2021年10月31日 00時31分 通信の遮断: IPアドレス 198.51.100.77（実施中、2021年11月1日 00時31分まで） — 自動対応（アラート「brute force from 198.51.100.77: 10 failed logins in 10m0s (fortigate.vpn)」、ポリシー block-attackers）",
				"端末のネットワーク隔離: IPアドレス 192.168.10.21", "自動対応（アラート「ransomware on FS01: 25 files written as *.lockbit in 1m0s」、ポリシー isolate-encrypting-hosts）",
				"2021年10月31日 01時25分 影響を受ける病棟・部門を紙運用（紙カルテ・紙伝票）に切り替える — 実施者: user:sato",
				"端末のネットワーク隔離: IPアドレス 192.168.10.5（承認されず取消（未実施））",
				"2021年10月31日 00時46分 通信の遮断: ドメイン c2.attacker.example（実施中、2021年11月1日 00時46分まで） — 指示者: tanaka"} {
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
	for _, o := range e.svc.cfg.Obligations {
		got, _ := e.svc.Report(ctx, tenant, id, o.ID)
		for _, not := range []string{"198.51.100.0/24", "（未設定）", "[high]", "[critical]", "203.0.113.99", "が解除"} {
			if strings.Contains(string(got), not) {
				t.Errorf("%s draft says %q: a slug, a dry run, another incident's decision, a profile field that is set, or a decision never in force as lifted", o.ID, not)
			}
		}
	}
	if _, err := e.svc.Report(ctx, tenant, id, "tax-office"); err == nil {
		t.Error("Report(unknown obligation) = nil error, want refusal")
	}
}

func TestParseObligationsRefuses(t *testing.T) {
	for _, tc := range []struct{ name, yaml string }{
		{"unknown field", "- {id: x, name: X, template: mhlw.md.tmpl, when: {severity: high}, due: {hours: 1}, colour: red}"},
		{"no condition", "- {id: x, name: X, template: mhlw.md.tmpl, due: {hours: 1}}"},
		{"hours and days", "- {id: x, name: X, template: mhlw.md.tmpl, when: {severity: high}, due: {hours: 1, days: 2}}"},
		{"no deadline", "- {id: x, name: X, template: mhlw.md.tmpl, when: {severity: high}}"},
		{"unknown template", "- {id: x, name: X, template: nope.tmpl, when: {severity: high}, due: {hours: 1}}"},
		{"unknown severity", "- {id: x, name: X, template: mhlw.md.tmpl, when: {severity: dire}, due: {hours: 1}}"},
		{"ID twice", "- {id: x, name: X, template: mhlw.md.tmpl, when: {severity: high}, due: {hours: 1}}\n- {id: x, name: Y, template: mhlw.md.tmpl, when: {severity: high}, due: {hours: 1}}"},
	} {
		obs, err := decodeObligations([]byte(tc.yaml))
		if err == nil {
			err = checkObligations(obs)
		}
		if err == nil {
			t.Errorf("%s: obligations accepted, want refusal", tc.name)
		}
	}
}

// TestReportUnconfirmed drafts every report for an incident nobody has recorded a fact about,
// for a hospital that has not filled in its profile: every yes-or-no fact says （未確認）,
// never なし; the profile's fields say （未設定） and where to set them; and once the
// administrator saves the profile, the drafts name the hospital from it.
func TestReportUnconfirmed(t *testing.T) {
	e := newEnv(t, scenarioStart.Add(20*time.Minute), Config{Hosts: inventory})
	e.ingestAll(t, scenarioAlerts(t))
	list, _ := e.svc.List(t.Context(), tenant)
	id := list[0].ID
	ctx := t.Context()
	for _, o := range e.svc.cfg.Obligations {
		got, err := e.svc.Report(ctx, tenant, id, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		md := string(got)
		for _, bad := range []string{": なし", ": あり", "医療機関名: " + tenant, "（調査中）"} {
			if strings.Contains(md, bad) {
				t.Errorf("%s draft with no facts says %q:\n%s", o.ID, bad, md)
			}
		}
		for _, want := range []string{"医療機関名: （未設定）", "管理者: （未設定）", "/t/" + tenant + "/settings/hospital", "incidents.hospitals",
			"（未確認。期限はインシデントを登録した"} {
			if !strings.Contains(md, want) {
				t.Errorf("%s draft with no profile lacks %q:\n%s", o.ID, want, md)
			}
		}
		if o.ID != "police" && !strings.Contains(md, "のおそれ: （未確認）") {
			t.Errorf("%s draft does not say the leak is unconfirmed:\n%s", o.ID, md)
		}
	}
	got, _ := e.svc.Report(ctx, tenant, id, "ppc-final")
	if !strings.Contains(string(got), "30日以内。不正の目的のおそれが確認された場合は60日以内") {
		t.Errorf("ppc-final with unauthorised access unconfirmed does not give both periods:\n%s", got)
	}

	if _, err := e.svc.SaveProfile(ctx, tenant, "user:admin", Hospital{Name: "半田\n病院"}); err == nil {
		t.Error("SaveProfile(a name of two lines) = nil error, want refusal")
	}
	saved, err := e.svc.SaveProfile(ctx, tenant, "user:admin", Hospital{Name: "  つるぎ町立半田病院 ", Administrator: "病院長 山田 太郎"})
	if err != nil || saved.Name != "つるぎ町立半田病院" {
		t.Fatalf("SaveProfile = %+v, %v; want the name trimmed", saved, err)
	}
	got, _ = e.svc.Report(ctx, tenant, id, "mhlw")
	for _, want := range []string{"医療機関名: つるぎ町立半田病院", "管理者: 病院長 山田 太郎", "所在地: （未設定）", "設定 › 病院情報"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("mhlw draft after the profile was saved lacks %q:\n%s", want, got)
		}
	}
}

func TestAnswerJSON(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Answer
		out  string
	}{
		{`{"personal_data":true}`, Yes, `{"personal_data":true}`},
		{`{"personal_data":false}`, No, `{"personal_data":false}`},
		{`{"personal_data":null}`, Unconfirmed, `{}`},
		{`{}`, Unconfirmed, `{}`},
		{`{"personal_data":"unconfirmed"}`, Unconfirmed, `{}`},
		{`{"personal_data":"yes"}`, Yes, `{"personal_data":true}`},
	} {
		var f Facts
		if err := json.Unmarshal([]byte(tc.in), &f); err != nil || f.PersonalData != tc.want {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", tc.in, f.PersonalData, err, tc.want)
			continue
		}
		if b, _ := json.Marshal(Facts{PersonalData: f.PersonalData}); string(b) != tc.out {
			t.Errorf("Marshal(%v) = %s, want %s", f.PersonalData, b, tc.out)
		}
	}
	var f Facts
	if err := json.Unmarshal([]byte(`{"personal_data":"maybe"}`), &f); err == nil {
		t.Error(`Unmarshal("maybe") = nil error, want refusal`)
	}
}

// TestDecisionMeasure: a measure is dated when it took effect, and a decision a guardrail held
// and nobody approved is said never to have been in force, however it ended.
func TestDecisionMeasure(t *testing.T) {
	created := time.Date(2021, 10, 31, 0, 40, 0, 0, jst)
	approved := created.Add(25 * time.Minute)
	held := decision.Decision{Action: "isolate", Scope: "ip", Value: "192.168.10.5", Origin: decision.Origin{Kind: "person", Name: "tanaka"}, Reason: "r",
		Created: created, Expires: created.Add(4 * time.Hour), Updated: created.Add(time.Hour), UpdatedBy: "person:mori"}
	with := func(status decision.Status, activated time.Time) decision.Decision {
		d := held
		d.Status, d.Activated = status, activated
		return d
	}
	tests := []struct {
		name string
		d    decision.Decision
		at   time.Time
		what string
	}{
		{"revoked while held", with("revoked", time.Time{}), created, "承認されず取消（未実施）"},
		{"expired while held", with("expired", time.Time{}), created, "承認されないまま期限切れ（未実施）"},
		{"approved, then revoked", with("revoked", approved), approved, "2021年10月31日 01時40分 に person:mori が解除"},
		{"approved, then expired", with("expired", approved), approved, "期限切れにより 2021年10月31日 04時40分 に終了"},
		{"approved", with("active", approved), approved, "実施中"},
		{"held", with("held", time.Time{}), created, "承認待ち、未実施"},
	}
	for _, tt := range tests {
		m := decisionMeasure(tt.d, "")
		if !m.At.Equal(tt.at) || !strings.Contains(m.What, tt.what) {
			t.Errorf("%s: decisionMeasure() = %v %q, want %v and %q", tt.name, m.At, m.What, tt.at, tt.what)
		}
	}
}

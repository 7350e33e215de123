package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/incident"
	"github.com/omamori-project/omamori/internal/journal"
	"github.com/omamori-project/omamori/internal/node"
	"github.com/omamori-project/omamori/internal/respond"
	"github.com/omamori-project/omamori/internal/scenario"
	"github.com/omamori-project/omamori/internal/severity"
	"github.com/omamori-project/omamori/internal/store"
)

var demoCommand = command{
	name:    "demo",
	summary: "run omamori with a replayed attack on a hospital",
	usage: `usage: omamori demo [-listen ADDR] [-exit]

Demo starts omamori with everything embedded, in a temporary data directory that it
removes when it stops, and replays an attack modelled on the ransomware that stopped
Handa Hospital (2021) and Osaka General Medical Center (2022): the FortiGate SSL-VPN
exploit, a brute force on the VPN, the maintenance account taken over, RDP into the
catering server, the antivirus stopped, RDP and SMB to the EHR servers, files
encrypted, and a ventilator reached for — among a gateway's routine logs. It then
shows what omamori received, and keeps running, with an API token printed, until
Ctrl-C.

Flags:

	-listen ADDR
		where the API listens (default 127.0.0.1:8443; port 0 picks a free one).
	-exit
		stop after showing what arrived, instead of running until Ctrl-C.
`,
	run: runDemo,
}

func runDemo(ctx context.Context, e env, fs *flag.FlagSet, args []string) error {
	listen := fs.String("listen", "127.0.0.1:8443", "")
	exit := fs.Bool("exit", false, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "omamori-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// The demo hospital's own files: its device inventory and a rule for its networks.
	own := filepath.Join(dir, "hospital")
	if err := os.CopyFS(own, scenario.Hospital()); err != nil {
		return err
	}
	cfg, err := demoConfig(dir, *listen, own)
	if err != nil {
		return hint(err, "-listen takes host:port, such as 127.0.0.1:8443")
	}
	// A careless policy a hospital might write: isolate both ends of any connection to the
	// life-support network. The guardrails hold it for the ventilator and the EHR server.
	cfg.Respond.Policies = append([]config.ResponsePolicy{
		{Name: "isolate-life-support-intruder", Rules: []string{scenario.LifeSupportRule}, Action: "isolate", Target: "destination", TTL: 4 * time.Hour, Continue: true},
		{Name: "isolate-life-support-intruder-source", Rules: []string{scenario.LifeSupportRule}, Action: "isolate", Target: "source", TTL: 4 * time.Hour},
	}, cfg.Respond.Policies...)
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	if _, err := st.EnsureTenant(ctx, "demo", store.Tenant{ID: cfg.Ingest.DefaultTenant, Name: demoHospital.Name}); err != nil {
		return err
	}
	_, token, err := auth.Issue(ctx, st.Tenant(cfg.Ingest.DefaultTenant), "demo", auth.Request{
		Name: "demo", Scopes: []auth.Scope{auth.ScopeIngest, auth.ScopeRead, auth.ScopeMetrics, auth.ScopeAdmin},
	})
	st.Close()
	if err != nil {
		return err
	}

	n, err := node.Start(ctx, cfg, newLogger(cfg, e))
	if err != nil {
		return hint(err, "another program may be using the port: try omamori demo -listen 127.0.0.1:0")
	}
	defer n.Shutdown(context.WithoutCancel(ctx))
	api := "http://" + n.HTTPAddr.String()
	password := auth.NewPassword()
	_, totpKey, err := n.Accounts.CreateUser(ctx, "demo", auth.NewUser{Tenant: cfg.Ingest.DefaultTenant, Name: "demo",
		DisplayName: "デモ管理者", Password: password, Roles: []auth.Role{auth.RoleAdmin, auth.RoleApprover, auth.RoleIncidentLead, auth.RoleAuthorityLiaison}, TOTP: true})
	if err != nil {
		return fmt.Errorf("create the demo account: %w", err)
	}
	fmt.Fprintf(e.stdout, "omamori is running in %s\n  API:    %s (token below)\n  syslog: %s (TCP), %s (UDP)\n"+
		"  for:    %s, a made-up hospital (its profile for the report drafts: incidents.hospitals)\n\n",
		dir, api, n.Syslog["syslog-tcp"], n.Syslog["syslog-udp"], demoHospital.Name)

	// Half an hour of the gateway's routine logs, then the attack in its last minutes.
	start := time.Now().Add(-30 * time.Minute)
	attack := scenario.Ransomware(time.Now().Add(-15 * time.Minute))
	var records []scenario.Record
	for line := range bytes.Lines(scenario.Routine(5000)) {
		records = append(records, scenario.Record{At: start, Format: "syslog", Data: bytes.TrimSuffix(line, []byte("\n"))})
	}
	records = append(records, attack...)
	fmt.Fprintf(e.stdout, "replaying %d records of the ransomware scenario among 5000 routine ones...\n", len(attack))
	target := scenario.Target{Syslog: n.Syslog["syslog-tcp"].String(), API: api, Token: token.Reveal()}
	if _, err := scenario.Replay(ctx, target, records); err != nil {
		return err
	}
	total, err := showArrivals(ctx, e, n.Bus)
	if err != nil {
		return err
	}
	if err := showArchive(ctx, e, n, cfg.Ingest.DefaultTenant, total); err != nil {
		return err
	}
	alerts, err := showAlerts(ctx, e, n.Bus)
	if err != nil {
		return err
	}
	if err := showResponse(ctx, e, n, cfg.Ingest.DefaultTenant, alerts); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nSign in at %s/ as demo (administrator, approver, incident lead, authority liaison):\n"+
		"  password   %s\n  TOTP key   %s (add it to an authenticator app; the code now is %s)\n",
		api, password, totpKey.Base32(), auth.TOTP(totpKey, time.Now()))
	fmt.Fprintf(e.stdout, "\nTry:\n  curl -H 'Authorization: Bearer %s' %s/api/v1/incidents\n", token.Reveal(), api)
	if *exit {
		return nil
	}
	fmt.Fprintln(e.stdout, "\nPress Ctrl-C to stop; the demo's data directory is removed then.")
	select {
	case <-ctx.Done():
	case <-n.Done():
	}
	return nil
}

// demoHospital is the hospital the demo plays: it does not exist, nor do its city, its people
// or its numbers (the e-mail domain is one reserved for examples). The report drafts name it,
// as they name a real hospital from its profile.
var demoHospital = config.Hospital{
	Name:            "御守市立総合病院",
	Address:         "〒000-0000 御守県御守市本町一丁目2番3号",
	Phone:           "000-000-0000",
	Administrator:   "病院長 山田 太郎",
	SecurityManager: "医療情報管理室長 鈴木 花子",
	SecurityContact: "内線 2101",
	Reporter:        "医療情報管理室 鈴木 花子",
	ReporterPhone:   "000-000-2101",
	ReporterEmail:   "johokanri@omamori-hospital.example",
}

// demoConfig is the demo's configuration: everything in dir, the API on listen, the demo
// hospital's rules and inventory from own, and its profile under incidents.hospitals, set as
// a hospital's administrator would set it, so it is validated like theirs.
func demoConfig(dir, listen, own string) (*config.Config, error) {
	h := demoHospital
	h.Tenant = config.Default().Ingest.DefaultTenant
	profile, err := yaml.Marshal([]config.Hospital{h})
	if err != nil {
		return nil, fmt.Errorf("the demo hospital's profile: %w", err)
	}
	return config.Load(config.Sources{Set: []string{
		"data_dir=" + dir, "http.listen=" + listen, "log.level=warn",
		"ingest.syslog.0.listen=127.0.0.1:0", "ingest.syslog.1.listen=127.0.0.1:0", "ingest.syslog.2.listen=127.0.0.1:0",
		"detect.sigma_rules=[" + filepath.Join(own, "rules") + "]", "respond.assets=" + filepath.Join(own, "assets.csv"),
		"incidents.hospitals=" + string(profile),
	}})
}

// showArrivals prints what is on the bus: events by dataset, and the steps of the attack as a
// person would look for them.
func showArrivals(ctx context.Context, e env, b *bus.Bus) (int, error) {
	byDataset := map[string]int{}
	var vpnFailures, rdpLogons, encrypted, ventilator, total int
	err := b.ReadEvents(ctx, func(m bus.Msg) error {
		return event.DecodeBatch(m.Data, func(ev *event.Event) error {
			if ev.Source == journal.Source {
				return nil // omamori's own records: the audit log, decisions
			}
			total++
			byDataset[cmp.Or(ev.Dataset, ev.Format)]++
			switch {
			case ev.Action == "vpn_login" && ev.Outcome == event.OutcomeFailure && ev.SrcIP.String() == scenario.Attacker:
				vpnFailures++
			case ev.DstIP.String() == scenario.Ventilator:
				ventilator++
			}
			if lt, _ := ev.Get(logonType); lt == "10" && ev.Outcome == event.OutcomeSuccess {
				rdpLogons++
			}
			if f, _ := ev.Get(targetFilename); len(f) > 8 && f[len(f)-8:] == ".lockbit" {
				encrypted++
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("read the bus: %w", err)
	}
	fmt.Fprintf(e.stdout, "\n%d events are durably on the bus:\n", total)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for _, ds := range slices.Sorted(maps.Keys(byDataset)) {
		fmt.Fprintf(tw, "  %s\t%d\n", ds, byDataset[ds])
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "\nIn them, the attack:\n"+
		"  %d failed SSL-VPN logins from %s\n"+
		"  %d RDP logons (event 4624, type 10) with the shared administrator account\n"+
		"  %d files renamed to .lockbit\n"+
		"  %d connection to the ventilator at %s\n",
		vpnFailures, scenario.Attacker, rdpLogons, encrypted, ventilator, scenario.Ventilator)
	return total, nil
}

// showArchive waits until the archive, which reads the bus on its own, holds all total events,
// and shows the signed checkpoint that an authority can verify an export against.
func showArchive(ctx context.Context, e env, n *node.Node, tenant string, total int) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := n.Archive.WaitSynced(ctx, tenant, uint64(total)); err != nil {
		return err
	}
	cp, err := n.Archive.Checkpoint(ctx, tenant)
	if err != nil {
		return err
	}
	// The checkpoint may cover more: omamori's own records of what it decided go there too.
	own := ""
	if cp.Size > uint64(total) {
		own = fmt.Sprintf(" (its %d records are those and %d of omamori's own, of what it decided)", cp.Size, cp.Size-uint64(total))
	}
	fmt.Fprintf(e.stdout, "\nThe archive holds all %d, compressed, encrypted and in a Merkle tree; its signed checkpoint%s:\n\n%s\n"+
		"An export for an authority proves each record against it offline: omamori archive export, verify-bundle.\n",
		total, own, indent(string(cp.Note)))
	return nil
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ")
}

// massEncryption is the id of the shipped correlation rule "Mass Encryption of Files".
const massEncryption = "527a0ba7-b014-4f1c-927a-70fdaf6b402c"

var (
	logonType      = event.K("winlog.event_data.LogonType")
	targetFilename = event.K("winlog.event_data.TargetFilename")
)

// showAlerts waits for detection, which follows the bus with a consumer of its own, to raise
// the alerts of the attack's steps, and lists them, most severe first.
func showAlerts(ctx context.Context, e env, b *bus.Bus) (int, error) {
	// The mass encryption and the reach for the ventilator are the attack's last steps.
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var alerts []detect.Alert
	seen := func(id string) bool {
		return slices.ContainsFunc(alerts, func(a detect.Alert) bool { return a.RuleID == id })
	}
	for !seen(massEncryption) || !seen(scenario.LifeSupportRule) {
		alerts = alerts[:0]
		err := b.ReadAlerts(ctx, func(m bus.Msg) error {
			var a detect.Alert
			if err := json.Unmarshal(m.Data, &a); err != nil {
				return err
			}
			alerts = append(alerts, a)
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("read alerts: %w", err)
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("detection raised %d alerts in a minute, without the mass encryption or the reach for the ventilator", len(alerts))
		case <-time.After(20 * time.Millisecond):
		}
	}
	slices.SortStableFunc(alerts, func(a, b detect.Alert) int {
		return cmp.Or(severity.Compare(b.Level, a.Level), a.First.Compare(b.First))
	})
	fmt.Fprintf(e.stdout, "\nDetection raised %d alerts:\n", len(alerts))
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for _, a := range alerts {
		var who []string
		for _, s := range []string{a.Entities.Source, a.Entities.User, a.Entities.Host} {
			if s != "" {
				who = append(who, s)
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", a.Level, a.Title, strings.Join(who, " "))
	}
	return len(alerts), tw.Flush()
}

// showResponse waits for response and incidents, which follow the alerts on their own, and
// lists the decisions (the held ones first: they wait for a person) and the incidents.
func showResponse(ctx context.Context, e env, n *node.Node, tenant string, alerts int) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var ds []decision.Decision
	var incs []incident.Incident
	for {
		var err error
		if ds, err = n.Respond.List(ctx, tenant, store.DecisionFilter{}); err != nil {
			return err
		}
		if incs, err = n.Incidents.List(ctx, tenant); err != nil {
			return err
		}
		incs = slices.DeleteFunc(incs, func(in incident.Incident) bool { return in.MergedInto != "" })
		held := slices.ContainsFunc(ds, func(d decision.Decision) bool { return d.Value == scenario.Ventilator })
		grouped := 0
		for _, in := range incs {
			grouped += in.Alerts
		}
		// Response has decided on every alert (the ventilator's may come before others).
		left, err := n.Bus.AlertsPending(ctx, respond.ConsumerName)
		if err != nil {
			return err
		}
		if held && grouped >= alerts && left == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after a minute: %d decisions, %d incidents, none about the ventilator", len(ds), len(incs))
		case <-time.After(50 * time.Millisecond):
		}
	}
	order := map[decision.Status]int{decision.StatusHeld: 0, decision.StatusActive: 1}
	slices.SortStableFunc(ds, func(a, b decision.Decision) int {
		return cmp.Compare(cmp.Or(order[a.Status], 2), cmp.Or(order[b.Status], 2))
	})
	fmt.Fprintf(e.stdout, "\nResponse made %d decisions:\n", len(ds))
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for _, d := range ds {
		why := d.Reason
		if d.Guardrail != "" {
			why = d.Guardrail
		}
		fmt.Fprintf(tw, "  %s\t%s %s\t%s\n", d.Status, d.Action, d.Value, why)
	}
	tw.Flush()
	if len(incs) == 1 {
		fmt.Fprintln(e.stdout, "\nand the alerts became one incident:")
	} else {
		fmt.Fprintf(e.stdout, "\nand the alerts became %d incidents:\n", len(incs))
	}
	tw = tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for _, in := range incs {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d alerts\n", in.ID, in.Severity, in.Title, in.Alerts)
	}
	return tw.Flush()
}

package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/asset"
	"github.com/omamori-project/omamori/internal/store"
	"github.com/omamori-project/omamori/internal/vuln"
)

var vulnCommand = command{
	name:    "vuln",
	summary: "import vulnerability data; list and work the findings on the inventory",
	usage: `usage: omamori vuln import FILE...
       omamori vuln findings [-inventory FILE] [-tenant T] [-state S[,S]] [-json]
       omamori vuln state [-tenant T] [-reason TEXT] [-until TIME] ASSET CVE STATE

Vuln knows which of the hospital's appliances are exploitable: it keeps public
vulnerability data in the metadata store, matches it against the asset inventory's
products (the cpe or vendor/product, version and exposure columns; see
docs/vulnerabilities.md) and keeps the findings, with their state, per hospital.
Like 'omamori token' it works on the store directly: no server and no token.

The commands:

	import    read each FILE and keep its records, replacing what the same source
	          said before about the same CVE. The format is told from the content:
	          the CISA KEV catalogue (known_exploited_vulnerabilities.json), NVD
	          CVE API 2.0 JSON (a response, or one cve object per file), or a
	          MyJVN getVulnDetailInfo response (VULDEF XML). Nothing is fetched.
	findings  match the inventory against the kept data, record the result (new
	          findings open; those that no longer match are patched, saying what
	          the asset runs now) and list the findings, highest risk first. The
	          inventory is -inventory FILE, or else the one kept for the hospital
	          (PUT /api/v1/assets). Risk is exploited × exposure × asset class.
	state     put a finding in a state: open, patched, mitigated (with -reason),
	          or accepted (with -reason and -until); recorded with who did it.

Flags:

	-inventory FILE
		findings: the asset inventory CSV to match (default: the kept one).
	-tenant T
		the hospital (default: ingest.default_tenant).
	-state S[,S]
		findings: list only these states, or all (default: open, mitigated and
		accepted, the work left; patched ones are kept but not listed).
	-json
		findings: print JSON instead of a table.
	-reason TEXT
		state: why; required for mitigated and accepted.
	-until TIME
		state accepted: until when, as a duration (720h) or a day (2027-03-31).
` + configFlagsUsage,
	run: runVuln,
}

func runVuln(ctx context.Context, e env, fs *flag.FlagSet, args []string) error {
	sub, args, err := subcommand(fs, "vuln", args, "omamori vuln import|findings|state")
	if err != nil {
		return err
	}
	var cf configFlags
	cf.register(fs)
	tenant := fs.String("tenant", "", "")
	invFile := fs.String("inventory", "", "")
	states := fs.String("state", "", "")
	asJSON := fs.Bool("json", false, "")
	reason := fs.String("reason", "", "")
	until := fs.String("until", "", "")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	if *tenant == "" {
		*tenant = cfg.Ingest.DefaultTenant
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	actor := "cli:" + osUser()

	switch sub {
	case "import":
		if len(pos) == 0 {
			return hint(errors.New("vuln import: no files given"), "omamori vuln import known_exploited_vulnerabilities.json nvd/*.json")
		}
		return vulnImport(ctx, e, st, pos)
	case "findings":
		if len(pos) != 0 {
			return hint(fmt.Errorf("vuln findings: unexpected argument %q", pos[0]), "give the inventory as -inventory FILE")
		}
		want := []store.FindingState{store.FindingOpen, store.FindingMitigated, store.FindingAccepted}
		switch *states {
		case "":
		case "all":
			want = nil
		default:
			want = nil
			for _, s := range strings.Split(*states, ",") {
				st := store.FindingState(strings.TrimSpace(s))
				if !slices.Contains(store.FindingStates(), st) {
					return hint(fmt.Errorf("vuln findings: unknown state %q", st), "the states are open, patched, mitigated, accepted, or all")
				}
				want = append(want, st)
			}
		}
		return vulnFindings(ctx, e, st, actor, *tenant, *invFile, want, *asJSON)
	case "state":
		if len(pos) != 3 {
			return hint(errors.New("vuln state: want ASSET CVE STATE"), "omamori vuln state -reason 'SSL-VPN off' -until 720h 203.0.113.1 CVE-2018-13379 accepted")
		}
		var t time.Time
		if *until != "" {
			if t, err = parseUntil(*until, cfg.Location()); err != nil {
				return hint(err, "write -until as a duration (720h) or a day (2027-03-31)")
			}
		}
		if err := st.Tenant(*tenant).SetFindingState(ctx, actor, pos[0], pos[1], store.FindingState(pos[2]), *reason, t); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return hint(err, "'omamori vuln findings' lists the findings by asset and CVE")
			}
			return err
		}
		fmt.Fprintf(e.stdout, "finding %s %s: %s\n", pos[0], pos[1], pos[2])
		return nil
	}
	return hint(fmt.Errorf("vuln: unknown subcommand %q", sub), "omamori vuln import|findings|state")
}

func parseUntil(s string, loc *time.Location) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(d), nil
	}
	t, err := time.ParseInLocation("2006-01-02", s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("-until %q is neither a duration nor a day", s)
	}
	return t.AddDate(0, 0, 1), nil // to the end of that day
}

func vulnImport(ctx context.Context, e env, st *store.Store, files []string) error {
	var all []vuln.Record
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("vuln import: %w", err)
		}
		recs, format, err := vuln.Parse(f)
		f.Close()
		if err != nil {
			return hint(fmt.Errorf("vuln import %s: %w", name, err), "import reads the KEV catalogue JSON, NVD CVE API 2.0 JSON and MyJVN VULDEF XML")
		}
		fmt.Fprintf(e.stderr, "%s: %s, %d records\n", name, format, len(recs))
		all = append(all, recs...)
	}
	added, err := vuln.Keep(ctx, st, all)
	if err != nil {
		return fmt.Errorf("vuln import: %w", err)
	}
	fmt.Fprintf(e.stdout, "%d records kept (%d new, %d replaced) from %d files\n", len(all), added, len(all)-added, len(files))
	return nil
}

func vulnFindings(ctx context.Context, e env, st *store.Store, actor, tenant, invFile string, states []store.FindingState, asJSON bool) error {
	sc := st.Tenant(tenant)
	inv, err := inventory(ctx, sc, invFile)
	if err != nil {
		return err
	}
	if inv != nil {
		cat, err := vuln.Load(ctx, st)
		if err != nil {
			return err
		}
		if cat.Len() == 0 {
			return hint(errors.New("vuln findings: no vulnerability data kept"), "import some first: omamori vuln import known_exploited_vulnerabilities.json nvd/*.json")
		}
		if _, err := st.EnsureTenant(ctx, actor, store.Tenant{ID: tenant, Name: tenant}); err != nil {
			return fmt.Errorf("vuln findings: tenant %q: %w", tenant, err)
		}
		a, err := vuln.Assess(ctx, sc, actor, cat, inv)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "%d assets matched against %d CVEs (%d with product configurations): %d findings, %d new, %d patched\n",
			inv.Len(), cat.Len(), cat.Configured(), len(a.Findings), a.Opened, a.Patched)
		for _, u := range a.Unmatched {
			fmt.Fprintf(e.stderr, "not assessed: %s (%s): %s\n", u.Asset, u.AssetName, u.Why)
		}
	}
	out, err := vuln.Findings(ctx, sc, states...)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(e.stdout, out)
	}
	var t table
	t.row("RISK", "STATE", "ASSET", "NAME", "CVE", "KEV", "RANSOMWARE", "DUE", "EXPOSURE", "WHY")
	yn := func(b bool) string {
		if b {
			return "yes"
		}
		return "-"
	}
	for _, s := range out {
		why := s.Why
		if !s.Certain {
			why = "possible: " + why
		}
		if s.State != store.FindingOpen {
			why = string(s.State) + " (" + s.StateReason + ", " + s.StateBy + "); " + why
		}
		exp := string(s.Exposure)
		if exp == "" {
			exp = "?"
		}
		t.row(strconv.Itoa(s.Risk), string(s.State), s.Asset, s.AssetName, s.CVE, yn(s.Exploited), yn(s.Ransomware), orDash(s.Due), exp, why)
	}
	if len(out) == 0 {
		fmt.Fprintln(e.stdout, "no findings")
		return nil
	}
	return t.write(e.stdout)
}

// inventory is -inventory FILE, or else the tenant's kept inventory, or nil if it has none.
func inventory(ctx context.Context, sc store.Scope, file string) (*asset.Inventory, error) {
	if file != "" {
		inv, err := asset.LoadCSV(file)
		if err != nil {
			return nil, hint(fmt.Errorf("vuln findings: %w", err), "the columns are in docs/vulnerabilities.md")
		}
		return inv, nil
	}
	d, err := sc.Document(ctx, store.DocAssets)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	assets, err := asset.ParseCSV(bytes.NewReader(d.Body))
	if err != nil {
		return nil, fmt.Errorf("vuln findings: the kept inventory: %w", err)
	}
	return asset.New(assets)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

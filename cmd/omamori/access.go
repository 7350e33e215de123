package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/omamori-project/omamori/internal/access"
)

var accessCommand = command{
	name:    "access",
	summary: "test and measure the EHR access policies",
	usage: `usage: omamori access test [-v] POLICY_DIR CASES
       omamori access check POLICY_DIR
       omamori access policies DIR
       omamori access bench [-n N] [-http]

Access works on the policies that decide who may open which patient record in the
electronic health record (EHR). They are Cedar policies (https://www.cedarpolicy.com):
*.cedar files and one *.cedarschema file in a folder the hospital edits. The policies
omamori ships for a Japanese hospital are used when POLICY_DIR is "default".

	test      decide every case of the CASES file (YAML or JSON: a directory of staff,
	          assignments, care teams and consultations, and the decisions expected; see
	          internal/access/testdata/hospital-cases.yaml) under the policies in
	          POLICY_DIR, print PASS or FAIL for each, and fail if any case failed.
	check     load POLICY_DIR and check every policy against the schema, without cases.
	policies  write the default policies and their schema into DIR, as a start for the
	          hospital's own; existing files are not overwritten.
	bench     decisions per second and latency (p50, p99) on a synthetic hospital of
	          2,000 staff and 20,000 patients, in process and, with -http, over HTTP.

Flags:

	-v
		print every decision, not only the failed ones (test).
	-n N
		decisions to measure in process (bench; default 200000).
	-http
		measure over loopback HTTP too (bench).

See docs/ehr-access-policy.md for the policies, the cases format and the CSV files.
`,
	run: runAccess,
}

func runAccess(ctx context.Context, e env, fs *flag.FlagSet, args []string) error {
	verbose := fs.Bool("v", false, "")
	n := fs.Int("n", 200_000, "")
	overHTTP := fs.Bool("http", false, "")
	if len(args) == 0 {
		return hint(errors.New("access: no subcommand"), "omamori access test POLICY_DIR CASES")
	}
	sub := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	rest := fs.Args()
	policyDir := func(s string) string {
		if s == "default" {
			return ""
		}
		return s
	}
	switch sub {
	case "test":
		if len(rest) != 2 {
			return hint(errors.New("access test: want POLICY_DIR and CASES"), "omamori access test default internal/access/testdata/hospital-cases.yaml")
		}
		rep, err := access.RunCases(policyDir(rest[0]), rest[1])
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
		for _, r := range rep.Results {
			d := r.Decision
			if len(r.Problems) > 0 {
				fmt.Fprintf(tw, "FAIL\t%s\t%s\t[%s]\n", r.Name, d.Decision, strings.Join(d.Policies, " "))
				for _, p := range r.Problems {
					fmt.Fprintf(tw, "\t  %s\n", p)
				}
			} else if *verbose {
				fmt.Fprintf(tw, "PASS\t%s\t%s\t[%s]\n", r.Name, d.Decision, strings.Join(d.Policies, " "))
			}
		}
		tw.Flush()
		fmt.Fprintf(e.stdout, "%d cases, %d passed, %d failed (policies: %s)\n", len(rep.Results), len(rep.Results)-rep.Failed, rep.Failed, rep.Policies)
		if rep.Failed > 0 {
			return fmt.Errorf("access test: %d of %d cases failed", rep.Failed, len(rep.Results))
		}
		return nil
	case "check":
		if len(rest) != 1 {
			return hint(errors.New("access check: want POLICY_DIR"), "omamori access check /etc/omamori/access")
		}
		p := access.DefaultPolicies()
		if dir := policyDir(rest[0]); dir != "" {
			var err error
			if p, err = access.LoadPolicies(dir); err != nil {
				return err
			}
		}
		fmt.Fprintf(e.stdout, "%d policies match the schema: %s\n", len(p.IDs()), strings.Join(p.IDs(), ", "))
		return nil
	case "policies":
		if len(rest) != 1 {
			return hint(errors.New("access policies: want DIR"), "omamori access policies /etc/omamori/access")
		}
		return writeDefaultPolicies(e, rest[0])
	case "bench":
		return benchAccess(ctx, e, *n, *overHTTP)
	}
	return hint(fmt.Errorf("access: unknown subcommand %q", sub), "one of: test, check, policies, bench")
}

func writeDefaultPolicies(e env, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("access policies: %w", err)
	}
	files := map[string][]byte{"hospital.cedar": access.DefaultPolicyText(), "hospital.cedarschema": access.DefaultSchema()}
	for _, name := range []string{"hospital.cedar", "hospital.cedarschema"} {
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			fmt.Fprintf(e.stderr, "kept %s: it exists\n", path)
			continue
		}
		if err != nil {
			return fmt.Errorf("access policies: %w", err)
		}
		_, err = f.Write(files[name])
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("access policies: %w", err)
		}
		fmt.Fprintf(e.stdout, "wrote %s\n", path)
	}
	return nil
}

// benchAccess measures access decisions on a synthetic hospital, in process and, with
// overHTTP, through the real HTTP handler; omamori bench access runs it too.
func benchAccess(ctx context.Context, e env, n int, overHTTP bool) error {
	r, err := access.Bench(ctx, access.BenchOptions{N: n, HTTP: overHTTP})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "WHERE\tDECISIONS/S\tP50\tP99\tMAX\tCPU/DECISION\tALLOCS\tALLOWED")
	fmt.Fprintf(tw, "in process\t%.0f\t%v\t%v\t%v\t%v\t%.0f\t%d of %d\n", r.PerSecond, r.P50, r.P99, r.Max, r.CPUPerOp, r.AllocsPerOp, r.Allowed, r.N)
	if overHTTP {
		fmt.Fprintf(tw, "HTTP, one per request\t%.0f\t%v\t%v\t\t\t\t%d decisions\n", r.HTTPPerSecond, r.HTTPP50, r.HTTPP99, r.HTTPN)
		fmt.Fprintf(tw, "HTTP, batches of 100\t%.0f\t\t\t\t\t\t\n", r.BatchPerSecond)
	}
	return tw.Flush()
}

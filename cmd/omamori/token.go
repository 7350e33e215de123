package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/store"
)

var tokenCommand = command{
	name:    "token",
	summary: "create, list and revoke API tokens",
	usage: `usage: omamori token create -name NAME -scope SCOPE[,SCOPE] [-tenant T] [-expires DURATION]
       omamori token list [-tenant T]
       omamori token revoke [-tenant T] ID

Token manages the API tokens that machines use: a log forwarder posting to
/api/v1/ingest, Prometheus reading /metrics, a script of the administrator's.
It works on the metadata store directly, so it needs no running server and no
token of its own: whoever can read the data directory is the administrator.

create prints the new token once; omamori keeps only its hash, so copy it now.
The scopes are: ` + scopeNames() + `.
Every change is recorded in the audit log with the operating-system user who made it.

Flags:

	-tenant T
		the hospital the token belongs to (default: ingest.default_tenant).
	-name NAME
		for people: what uses the token, such as fortigate-main.
	-scope SCOPES
		comma-separated scopes, such as ingest or read,metrics.
	-expires DURATION
		how long the token is valid, such as 8760h; default: until revoked.
` + configFlagsUsage,
	run: runToken,
}

func scopeNames() string {
	var names []string
	for _, s := range auth.Scopes() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}

func runToken(ctx context.Context, e env, fs *flag.FlagSet, args []string) error {
	sub, args, err := subcommand(fs, "token", args, "omamori token create|list|revoke")
	if err != nil {
		return err
	}
	var cf configFlags
	cf.register(fs)
	tenant := fs.String("tenant", "", "")
	name := fs.String("name", "", "")
	scopes := fs.String("scope", "", "")
	expires := fs.Duration("expires", 0, "")
	if err := fs.Parse(args); err != nil {
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
	case "create":
		if *name == "" || *scopes == "" {
			return hint(errors.New("token create: -name and -scope are required"), "omamori token create -name fortigate-main -scope ingest")
		}
		sc, err := auth.ParseScopes(strings.Split(*scopes, ","))
		if err != nil {
			return hint(err, "scopes are "+scopeNames())
		}
		if _, err := st.EnsureTenant(ctx, actor, store.Tenant{ID: *tenant, Name: *tenant}); err != nil {
			return fmt.Errorf("token create: tenant %q: %w", *tenant, err)
		}
		req := auth.Request{Name: *name, Scopes: sc}
		if *expires > 0 {
			req.Expires = time.Now().Add(*expires)
		}
		tok, secret, err := auth.Issue(ctx, st.Tenant(*tenant), actor, req)
		if err != nil {
			return fmt.Errorf("token create: %w", err)
		}
		fmt.Fprintf(e.stderr, "token %s (%s) for tenant %s, scopes %s; it is shown only now:\n",
			tok.ID, tok.Name, *tenant, strings.Join(tok.Scopes, ","))
		fmt.Fprintln(e.stdout, secret.Reveal())
		return nil

	case "list":
		toks, err := st.Tenant(*tenant).Tokens(ctx)
		if err != nil {
			return fmt.Errorf("token list: %w", err)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCREATED\tLAST USED\tSTATE")
		for _, t := range toks {
			state := "active"
			switch {
			case !t.Revoked.IsZero():
				state = "revoked " + day(t.Revoked, cfg)
			case !t.Expires.IsZero() && time.Now().After(t.Expires):
				state = "expired " + day(t.Expires, cfg)
			case !t.Expires.IsZero():
				state = "expires " + day(t.Expires, cfg)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, strings.Join(t.Scopes, ","),
				day(t.Created, cfg), day(t.LastUsed, cfg), state)
		}
		return tw.Flush()

	case "revoke":
		if fs.NArg() != 1 {
			return hint(errors.New("token revoke: want one token ID"), "'omamori token list' shows the IDs")
		}
		if err := st.Tenant(*tenant).RevokeToken(ctx, actor, fs.Arg(0)); err != nil {
			return fmt.Errorf("token revoke %s: %w", fs.Arg(0), err)
		}
		fmt.Fprintf(e.stdout, "token %s revoked\n", fs.Arg(0))
		return nil
	}
	return hint(fmt.Errorf("token: unknown subcommand %q", sub), "omamori token create|list|revoke")
}

// openStore opens the metadata store the configuration names, creating the data directory.
func openStore(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	st, err := store.Open(ctx, cfg.Store.Driver, cfg.Store.DSN)
	if err != nil {
		return nil, fmt.Errorf("open metadata store: %w", err)
	}
	return st, nil
}

func osUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

func day(t time.Time, cfg *config.Config) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(cfg.Location()).Format("2006-01-02 15:04")
}

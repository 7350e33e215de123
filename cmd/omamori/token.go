package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
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
	usage: `usage: omamori token create -name NAME -scope SCOPE[,SCOPE] [-tenant T] [-expires DURATION] [-init]
       omamori token list [-tenant T]
       omamori token revoke [-tenant T] ID

Token manages the API tokens that machines use: a log forwarder posting to
/api/v1/ingest, Prometheus reading /metrics, a script of the administrator's.
It works on the metadata store directly, so it needs no running server and no
token of its own: whoever can read the data directory is the administrator.

Token finds the data directory as 'omamori serve' does: -data-dir, else
OMAMORI_DATA_DIR, else data_dir in the configuration file (-config or
$OMAMORI_CONFIG), else ./omamori-data in the current directory. Give it the same
-config or -data-dir as the server (which logs its data_dir when it starts): a
token made in another data directory is one the server does not know. Token says
which data directory it uses, and refuses one that does not exist unless -init
asks it to create a new omamori there.

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
	-init
		create the data directory when it does not exist: a new, empty omamori,
		for a token made before the server's first start.
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
	initDir := fs.Bool("init", false, "")
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
	if err := checkDataDir(e, cf, cfg, sub == "create" && *initDir); err != nil {
		return err
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

// checkDataDir says on standard error which data directory a token command works on and where
// that was named (config.Origin), and refuses one that does not exist unless create is set: a
// token made in a new, empty data directory is one the running server does not know. When the
// configuration file names another data directory than the one a flag or the environment
// chose, it says so. A store other than SQLite keeps the tokens outside the data directory,
// so then only the store is named.
func checkDataDir(e env, cf configFlags, cfg *config.Config, create bool) error {
	if cfg.Store.Driver != "sqlite" {
		fmt.Fprintf(e.stderr, "metadata store %s (store.driver)\n", cfg.Store.Driver)
		return nil
	}
	dir := cfg.DataDir
	origin := cfg.Origin("data_dir")
	if origin == "" {
		wd, _ := os.Getwd()
		origin = "the default " + config.Default().DataDir + " in the current directory " + wd
	}
	var fileDir string // what the file alone names, when a flag or the environment overrode it
	if cf.file != "" {
		if fc, err := config.Load(config.Sources{File: cf.file}); err == nil && fc.Origin("data_dir") != "" && fc.DataDir != dir {
			fileDir = fc.DataDir
			fmt.Fprintf(e.stderr, "note: %s names data_dir %s; %s overrides it\n", cf.file, fileDir, origin)
		}
	}
	_, err := os.Stat(dir)
	switch {
	case err == nil:
		fmt.Fprintf(e.stderr, "data directory %s (%s)\n", dir, origin)
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("data directory %s: %w", dir, err)
	case create:
		fmt.Fprintf(e.stderr, "data directory %s (%s) does not exist: creating a new, empty one (-init)\n", dir, origin)
		return nil
	}
	h := "give token the -config or -data-dir that 'omamori serve' runs with (it logs its data_dir when it starts)"
	if fileDir != "" {
		h = fmt.Sprintf("%s names %s; leave out %s to use it", cf.file, fileDir, origin)
	}
	return hint(fmt.Errorf("token: no data directory at %s (%s)", dir, origin),
		h+"; -init creates a new, empty omamori there")
}

// openStore opens the metadata store the configuration names, creating the data directory
// that holds a SQLite store.
func openStore(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	if cfg.Store.Driver == "sqlite" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
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

package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/keyring"
	"github.com/omamori-project/omamori/internal/store"
)

var archiveCommand = command{
	name:    "archive",
	summary: "search, export and verify the tamper-evident archive",
	usage: `usage: omamori archive <command> [flags] [arguments]

The archive keeps every event for years, compressed, encrypted (AES-256-GCM, data keys
wrapped by a master key) and tamper-evident: each record is a leaf of a Merkle tree
(RFC 6962) per hospital, whose root is signed in checkpoints (Ed25519, C2SP signed notes).
'omamori serve' fills it from the bus; these commands read it. They work beside a running
server (read-only, up to its last checkpoint) or on their own.

The commands are:

	pubkey          print the public key that checkpoints and bundles are signed with
	verify          re-read every segment, block and record and check every hash,
	                tag and checkpoint; name exactly what is wrong
	search          find records by time, address, host, user and field
	export          write a bundle for an authority: records as ECS NDJSON, their
	                inclusion proofs, the signed checkpoint, a README (ja/en)
	verify-bundle   check a bundle offline, without the data directory or any secret
	checkpoint      print a hospital's latest signed checkpoint
	consistency     print the consistency proof between two checkpoints
	keys            create, list or rotate the master keys
	retain          delete what is past archive.retention now (serve does it daily)

Flags of every command but verify-bundle:

` + configFlagsUsage + `
Run 'omamori archive <command> -h' for a command's own flags. The master keys are read
from $OMAMORI_MASTER_KEY when it is set, else from archive.key_file
(default data_dir/keys/archive-master.keys).
`,
	run: runArchive,
}

func runArchive(ctx context.Context, e env, fs *flag.FlagSet, args []string) error {
	sub, args, err := subcommand(fs, "archive", args, "omamori archive verify, search, export, ...")
	if err != nil {
		return err
	}
	sfs := flag.NewFlagSet("archive "+sub, flag.ContinueOnError)
	sfs.SetOutput(e.stderr)
	var cf configFlags
	if sub != "verify-bundle" {
		cf.register(sfs)
	}
	switch sub {
	case "pubkey":
		return archivePubkey(ctx, e, sfs, &cf, args)
	case "verify":
		return archiveVerify(ctx, e, sfs, &cf, args)
	case "search":
		return archiveSearch(ctx, e, sfs, &cf, args)
	case "export":
		return archiveExport(ctx, e, sfs, &cf, args)
	case "verify-bundle":
		return archiveVerifyBundle(e, sfs, args)
	case "checkpoint":
		return archiveCheckpoint(ctx, e, sfs, &cf, args)
	case "consistency":
		return archiveConsistency(ctx, e, sfs, &cf, args)
	case "keys":
		return archiveKeys(e, sfs, &cf, args)
	case "retain":
		return archiveRetain(ctx, e, sfs, &cf, args)
	}
	return hint(fmt.Errorf("archive: unknown command %q", sub), "run 'omamori archive -h' for the list")
}

func subUsage(fs *flag.FlagSet, e env, text string) {
	fs.Usage = func() { fmt.Fprint(e.stderr, text) }
}

// ArchivePaths returns where the archive and its key file are under cfg.
func loadKeys(keyFile string) (*keyring.Ring, error) {
	r, err := keyring.Load(keyFile, os.Getenv("OMAMORI_MASTER_KEY"))
	if err != nil {
		return nil, hint(err, "set OMAMORI_MASTER_KEY, or archive.key_file to the key file kept with your backups; 'omamori archive keys init' makes a new one")
	}
	return r, nil
}

// cliArchive is the archive as a command opens it, with the store whose witness keeps the
// checkpoints it signs.
type cliArchive struct {
	*archive.Archive
	store *store.Store
}

// Close closes the archive, giving its last checkpoints to the store, then the store.
func (a *cliArchive) Close() error {
	err := a.Archive.Close()
	if a.store != nil {
		err = errors.Join(err, a.store.Close())
	}
	return err
}

// openArchive opens the archive for reading: writable when no server holds it (so that a fresh
// checkpoint can be signed, and kept by the store's witness as serve would), read-only beside
// a running server.
func openArchive(ctx context.Context, cf *configFlags, e env) (*cliArchive, error) {
	return openArchiveBeside(ctx, cf, e, nil)
}

// openArchiveBeside is openArchive that, when a server holds the archive, first calls
// beside: to ask the server for a checkpoint of everything, which the read-only archive then
// reads.
func openArchiveBeside(ctx context.Context, cf *configFlags, e env, beside func()) (*cliArchive, error) {
	cfg, err := cf.load()
	if err != nil {
		return nil, err
	}
	dir, keyFile := cfg.Archive.Dir, cfg.Archive.KeyFile
	if _, err := os.Stat(filepath.Join(dir, "signing.pub")); err != nil {
		return nil, hint(fmt.Errorf("archive: no archive in %s", dir), "'omamori serve' creates it; check -data-dir or archive.dir")
	}
	keys, err := loadKeys(keyFile)
	if err != nil {
		return nil, err
	}
	opts := archive.Options{Dir: dir, Keys: keys, SegmentBytes: cfg.Archive.SegmentSize,
		CheckpointEvery: cfg.Archive.CheckpointInterval, Logger: newLogger(cfg, e)}
	a, err := archive.Open(ctx, opts)
	if errors.Is(err, archive.ErrLocked) {
		if beside != nil {
			beside()
		}
		opts.ReadOnly = true
		a, err = archive.Open(ctx, opts)
		if err == nil {
			fmt.Fprintln(e.stderr, "note: omamori serve holds the archive; reading up to its last checkpoint")
			return &cliArchive{Archive: a}, nil
		}
	}
	if err != nil {
		if errors.Is(err, keyring.ErrUnknownKey) || errors.Is(err, keyring.ErrWrongKey) {
			return nil, hint(err, "the master key given does not open this archive: use the key file it was created with (and keep every rotated key in it)")
		}
		return nil, err
	}
	return &cliArchive{Archive: a, store: witnessInStore(ctx, cfg, e, a)}, nil
}

// witnessInStore gives the checkpoints a signs to the store of cfg, as serve does, and returns
// the store, to close after the archive; nil, after a note, if it cannot be opened.
func witnessInStore(ctx context.Context, cfg *config.Config, e env, a *archive.Archive) *store.Store {
	st, err := store.Open(ctx, cfg.Store.Driver, cfg.Store.DSN)
	if err != nil {
		fmt.Fprintf(e.stderr, "note: the checkpoints signed now are not kept in the store (until the server next starts): %v\n", err)
		return nil
	}
	a.AddStoreWitness(st)
	return st
}

func newBar(e env, total int64, desc string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetDescription(desc), progressbar.OptionSetWriter(e.stderr),
		progressbar.OptionShowBytes(true), progressbar.OptionClearOnFinish(),
		progressbar.OptionSetVisibility(isTerminal(e.stderr)))
}

func archivePubkey(ctx context.Context, e env, fs *flag.FlagSet, cf *configFlags, args []string) error {
	subUsage(fs, e, `usage: omamori archive pubkey [-fingerprint] [-config FILE] [-data-dir DIR]

Pubkey prints the archive's public key in the form of a signed-note verifier key
(<name>+<key id>+<base64 Ed25519 key>). Give it to authorities apart from any bundle,
on paper or by phone: with it they can check checkpoints and bundles offline.
-fingerprint prints its SHA-256 instead (64 hex digits), for
'omamori archive verify-bundle -fingerprint'.
`)
	fingerprint := fs.Bool("fingerprint", false, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	dir := cfg.Archive.Dir
	b, err := os.ReadFile(filepath.Join(dir, "signing.pub"))
	if err != nil {
		return hint(fmt.Errorf("archive pubkey: %w", err), "the key is made when 'omamori serve' first opens the archive")
	}
	if *fingerprint {
		_, err = fmt.Fprintln(e.stdout, archive.KeyFingerprint(string(b)))
		return err
	}
	_, err = fmt.Fprint(e.stdout, string(b))
	return err
}

// checkpointFiles collects repeated -checkpoint files.
type checkpointFiles []string

func (c *checkpointFiles) String() string     { return strings.Join(*c, ",") }
func (c *checkpointFiles) Set(v string) error { *c = append(*c, v); return nil }

func archiveVerify(ctx context.Context, e env, fs *flag.FlagSet, cf *configFlags, args []string) error {
	subUsage(fs, e, `usage: omamori archive verify [-checkpoint FILE]... [-no-store] [-no-bus] [-server URL]
	[-config FILE] [-data-dir DIR]

Verify re-reads every segment of every hospital and checks every checksum, sequence
number, authentication tag and record, recomputes each Merkle tree from its records and
compares it with the stored subtree hashes and every signed checkpoint. It prints each
problem with its hospital, segment, block and record, and fails if there is any.
It then compares the archive with the bus: every message still on the EVENTS stream up
to the last one the archive holds must be in it, and each gap is printed by hospital and
bus sequence range, and fails verify. It needs the master keys, and runs beside a server:
the server holds the bus then, so verify asks it to compare (GET /api/v1/archive/complete,
with the token of $OMAMORI_TOKEN, scope read: the token's hospital, or every hospital for
a token with scope operator), or else reads the bus through bus.listen. If it can do
neither, it says so and exits with status 3, not 0.

A rollback — the last segments removed together with the checkpoints and tree hashes
that cover them — leaves an archive that is consistent in itself, so verify also holds
it to checkpoints kept apart from it:

  - the newest checkpoint of each hospital that the metadata store keeps ('omamori
    serve' gives it every checkpoint it signs). The archive must hold at least as many
    records, with the same root there. With SQLite in the data directory the store is
    on the same disk: a store on another machine (PostgreSQL) is worth more.
  - each -checkpoint FILE: a signed checkpoint as 'omamori archive checkpoint' prints
    it, or the checkpoint file of an export bundle, kept by an authority or a backup.

And it fails when a hospital's checkpoints file is missing while its log holds records,
or when a segment other than the last holds records no checkpoint covers (a checkpoint
is signed when the batch that begins a new segment ends). Records after the newest checkpoint, in the
last segment, are normal: they are counted, and the server signs a checkpoint of them
within archive.checkpoint_interval.

Flags:

	-checkpoint FILE
		also check against this checkpoint (repeatable).
	-no-store
		do not read the metadata store (an archive copied elsewhere): verify says that
		it was not checked against the store's checkpoints. Without it, a store that
		cannot be read fails the verification.
	-no-bus
		do not compare the archive with the bus: verify says that it was not checked.
	-server URL
		the running server's API, asked to compare beside it (default `+defaultServer+`).

Exit status:

	0   the archive verifies, and every message on the bus up to its position is in it.
	1   a problem or a gap was found (or the archive cannot be read).
	3   the archive verifies in itself, but beside a running server it could not be
	    compared with the bus: set $OMAMORI_TOKEN and -server, or bus.listen, or give
	    -no-bus to verify the archive alone.

`+configFlagsUsage)
	var cpFiles checkpointFiles
	fs.Var(&cpFiles, "checkpoint", "")
	noStore := fs.Bool("no-store", false, "")
	noBus := fs.Bool("no-bus", false, "")
	server := fs.String("server", defaultServer, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	dir, keyFile := cfg.Archive.Dir, cfg.Archive.KeyFile
	keys, err := loadKeys(keyFile)
	if err != nil {
		return err
	}
	var known []archive.KnownCheckpoint
	for _, name := range cpFiles {
		b, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("archive verify: -checkpoint: %w", err)
		}
		known = append(known, archive.KnownCheckpoint{Source: "the checkpoint in " + name, Note: b})
	}
	var others []string
	if !*noStore {
		kept, o, err := storeCheckpoints(ctx, cfg)
		if err != nil {
			return hint(fmt.Errorf("archive verify: the store's checkpoints: %w", err),
				"check store.driver and store.dsn; for an archive copied without its store, run with -no-store")
		}
		known, others = append(known, kept...), o
	}
	var total int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(fi.Name(), ".oms") {
			total += fi.Size()
		}
		return nil
	})
	bar := newBar(e, total, "verify")
	start := time.Now()
	rep, err := archive.VerifyKnown(ctx, dir, keys, known, func(n int64) { bar.Add64(n) })
	bar.Finish()
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(e.stdout, "%d tenants, %d segments, %d blocks, %d records, %d checkpoints; %.1f MB read in %.2fs (%.0f MB/s)\n",
		rep.Tenants, rep.Segments, rep.Blocks, rep.Records, rep.Checkpoints, float64(rep.Bytes)/1e6, secs, float64(rep.Bytes)/1e6/secs)
	switch {
	case *noStore:
		fmt.Fprintf(e.stdout, "not checked against the store's checkpoints (-no-store); against %d of %d given by -checkpoint\n", rep.Known, len(cpFiles))
	default:
		fmt.Fprintf(e.stdout, "checked against %d checkpoints kept apart from the archive (the store's, and %d given by -checkpoint)\n", rep.Known, len(cpFiles))
	}
	if len(others) > 0 {
		fmt.Fprintf(e.stdout, "note: the store also keeps checkpoints of other archives, not held against this one: %s\n", strings.Join(others, ", "))
	}
	if rep.Unsigned > 0 {
		fmt.Fprintf(e.stdout, "%d records at the end are not yet under a checkpoint (the server signs one every %v)\n", rep.Unsigned, cfg.Archive.CheckpointInterval)
	}
	for _, d := range rep.Retention {
		fmt.Fprintln(e.stdout, "deleted by retention (accounted for in the log):", d)
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(e.stdout, "FAIL", p)
	}
	if !rep.OK() {
		return hint(fmt.Errorf("archive verify: %d problems", len(rep.Problems)), "keep the archive as it is for investigation; restore the named segments from a backup and verify again")
	}
	if *noBus {
		fmt.Fprintln(e.stdout, "completeness against the bus: not checked (-no-bus)")
		fmt.Fprintln(e.stdout, "ok")
		return nil
	}
	gaps, compared, err := verifyComplete(ctx, e, cfg, keys, *server)
	if err != nil {
		return err
	}
	if gaps > 0 {
		return hint(fmt.Errorf("archive verify: %d gaps against the bus", gaps), "the named bus messages are not archived: keep the bus's data (data_dir/jetstream) until they are, and report it")
	}
	if !compared {
		return exitStatus{hint(errors.New("archive verify: the archive verifies in itself, but its completeness against the bus was not checked"),
			"set $OMAMORI_TOKEN (scope read; operator for every hospital) and -server to let the server compare, or bus.listen; or give -no-bus to verify the archive alone"), statusNotCompared}
	}
	fmt.Fprintln(e.stdout, "ok")
	return nil
}

// storeCheckpoints returns the checkpoints of this archive (of cfg) that the metadata store of
// cfg keeps, and the origins of the others it keeps: a store shared by several nodes, or one
// that outlived an archive re-created after its key was lost, holds other archives' too, which
// say nothing of this one. A SQLite store that does not exist is an error, not an empty one:
// opening it would create it, and a deleted store would pass for one that never knew a
// checkpoint.
func storeCheckpoints(ctx context.Context, cfg *config.Config) ([]archive.KnownCheckpoint, []string, error) {
	pub, err := os.ReadFile(filepath.Join(cfg.Archive.Dir, "signing.pub"))
	if err != nil {
		return nil, nil, fmt.Errorf("the archive's public key: %w", err)
	}
	name, _, _ := strings.Cut(strings.TrimSpace(string(pub)), "+")
	if cfg.Store.Driver == "sqlite" && !strings.HasPrefix(cfg.Store.DSN, "file:") {
		path, _, _ := strings.Cut(cfg.Store.DSN, "?")
		if _, err := os.Stat(path); err != nil {
			return nil, nil, err
		}
	}
	st, err := store.Open(ctx, cfg.Store.Driver, cfg.Store.DSN)
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()
	cps, err := st.ArchiveCheckpoints(ctx)
	if err != nil {
		return nil, nil, err
	}
	var out []archive.KnownCheckpoint
	var others []string
	for _, c := range cps {
		if i := strings.LastIndexByte(c.Origin, '/'); i < 0 || c.Origin[:i] != name {
			others = append(others, c.Origin)
			continue
		}
		out = append(out, archive.KnownCheckpoint{Source: "the store's checkpoint", Note: c.Note})
	}
	return out, others, nil
}

// queryFlags are the flags that select records.
type queryFlags struct {
	tenant, from, to, ip, host, user string
	where                            condFlags
	limit                            int
}

// condFlags collects repeated -where conditions.
type condFlags []archive.Cond

func (c *condFlags) String() string { return fmt.Sprint(*c) }

func (c *condFlags) Set(v string) error {
	cond, err := archive.ParseCond(v)
	if err != nil {
		return err
	}
	*c = append(*c, cond)
	return nil
}

const queryUsage = `	-tenant T
		the hospital (required).
	-from TIME, -to TIME
		the time range [from, to), as RFC 3339 (2026-01-02T15:04:05+09:00) or a date
		(2026-01-02, midnight in the configured time zone).
	-ip ADDR
		records with this source or destination address.
	-host NAME, -user NAME
		records of this host.name, or user.name (case-insensitive).
	-where FIELD=VALUE, -where FIELD~TEXT
		records whose field (ECS name, as 'omamori decode' prints) equals VALUE, or
		contains TEXT (repeatable).
	-limit N
		at most N records.
`

func (q *queryFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&q.tenant, "tenant", "", "")
	fs.StringVar(&q.from, "from", "", "")
	fs.StringVar(&q.to, "to", "", "")
	fs.StringVar(&q.ip, "ip", "", "")
	fs.StringVar(&q.host, "host", "", "")
	fs.StringVar(&q.user, "user", "", "")
	fs.Var(&q.where, "where", "")
	fs.IntVar(&q.limit, "limit", 0, "")
}

func (q *queryFlags) query(loc *time.Location) (archive.Query, error) {
	aq := archive.Query{Tenant: q.tenant, Host: q.host, User: q.user, Limit: q.limit}
	if q.tenant == "" {
		return aq, hint(errors.New("no -tenant given"), "name the hospital, such as -tenant default")
	}
	var err error
	if aq.From, err = parseWhen(q.from, loc); err != nil {
		return aq, err
	}
	if aq.To, err = parseWhen(q.to, loc); err != nil {
		return aq, err
	}
	if q.ip != "" {
		if aq.IP, err = netip.ParseAddr(q.ip); err != nil {
			return aq, hint(fmt.Errorf("-ip %q: %w", q.ip, err), "give one address, such as 192.0.2.10")
		}
	}
	aq.Where = q.where
	return aq, nil
}

func parseWhen(s string, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05", s, loc); err == nil {
		return t, nil
	}
	return time.Time{}, hint(fmt.Errorf("time %q", s), "write 2026-01-02, 2026-01-02T15:04:05 or 2026-01-02T15:04:05+09:00")
}

func archiveSearch(ctx context.Context, e env, fs *flag.FlagSet, cf *configFlags, args []string) error {
	subUsage(fs, e, `usage: omamori archive search -tenant T [-from TIME] [-to TIME] [-ip ADDR] [-host NAME]
	[-user NAME] [-where FIELD=VALUE]... [-limit N] [-table]

Search prints the archived records of a hospital that match, oldest first, as ECS NDJSON
(one JSON object per line, as 'omamori decode' prints) or as a table. It reads only the
blocks whose time range and address/host/user filters may hold a match.

Flags:

`+queryUsage+`	-table
		print a table (time, host, user, source, destination, action, outcome,
		message) instead of NDJSON.
`+configFlagsUsage)
	var qf queryFlags
	qf.register(fs)
	table := fs.Bool("table", false, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	q, err := qf.query(cfg.Location())
	if err != nil {
		return err
	}
	a, err := openArchive(ctx, cf, e)
	if err != nil {
		return err
	}
	defer a.Close()
	bar := newBar(e, a.TenantBytes(q.Tenant), "search")
	out := bufio.NewWriterSize(e.stdout, 256<<10)
	defer out.Flush()
	var tw *tabwriter.Writer
	if *table {
		tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tHOST\tUSER\tSOURCE\tDESTINATION\tACTION\tOUTCOME\tMESSAGE")
	}
	var line []byte
	n := 0
	err = a.Search(ctx, q, func(b int64) { bar.Add64(b) }, func(r *archive.Record) error {
		n++
		if tw != nil {
			ev := &r.Event
			msg := ev.Message
			if msg == "" {
				msg = string(ev.Raw)
			}
			if len(msg) > 80 {
				msg = msg[:80] + "…"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", eventTime(ev).In(cfg.Location()).Format("2006-01-02 15:04:05"),
				ev.Host, ev.User, endpoint(ev.SrcIP, ev.SrcPort), endpoint(ev.DstIP, ev.DstPort), ev.Action, ev.Outcome, strings.ReplaceAll(msg, "\t", " "))
			return nil
		}
		line = event.AppendECS(line[:0], &r.Event)
		_, err := out.Write(line)
		return err
	})
	bar.Finish()
	if tw != nil {
		tw.Flush()
	}
	if err != nil {
		return fmt.Errorf("archive search: %w", err)
	}
	fmt.Fprintf(e.stderr, "%d records\n", n)
	return out.Flush()
}

func eventTime(e *event.Event) time.Time {
	if !e.Time.IsZero() {
		return e.Time
	}
	return e.Received
}

func endpoint(a netip.Addr, port uint16) string {
	if !a.IsValid() {
		return "-"
	}
	if port == 0 {
		return a.String()
	}
	return netip.AddrPortFrom(a, port).String()
}

func archiveExport(ctx context.Context, e env, fs *flag.FlagSet, cf *configFlags, args []string) error {
	subUsage(fs, e, `usage: omamori archive export -tenant T [-from TIME] [-to TIME] [-ip ADDR] [-host NAME]
	[-user NAME] [-where FIELD=VALUE]... [-server URL] [-partial] -out FILE

Export writes, for an authority, one bundle (a tar file) of the records that match: the
records as ECS NDJSON, each with its inclusion proof, the signed checkpoint the proofs lead
to, a signed manifest binding every file, the public key, the query, and a README in
Japanese and English saying how to verify it. 'omamori archive verify-bundle FILE' checks
it offline; docs/archive-verification.md gives the steps with other tools.

A record can be proven only under a checkpoint that covers it. Without a server, export
signs one of everything. Beside a running server, which holds the archive, export asks it
for one (POST /api/v1/archive/checkpoint, with the token of $OMAMORI_TOKEN, scope read);
matching records archived after the server signed it are newer than the export: they are
left out, and the bundle's signed query.json counts them (newer_omitted). If the server
cannot be asked, and matching records are newer than the last checkpoint, export says how
many and writes nothing, unless -partial.

Flags:

`+queryUsage+`	-out FILE
		the bundle to write (required; it must not exist).
	-server URL
		the running server's API (default `+defaultServer+`).
	-partial
		beside a server that cannot be asked, export what the last checkpoint covers;
		the bundle's signed query.json says how many newer matches it left out.
`+configFlagsUsage)
	var qf queryFlags
	qf.register(fs)
	outName := fs.String("out", "", "")
	server := fs.String("server", defaultServer, "")
	partial := fs.Bool("partial", false, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *outName == "" {
		return hint(errors.New("archive export: no -out given"), "-out host-x-2026-01.tar")
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	q, err := qf.query(cfg.Location())
	if err != nil {
		return err
	}
	var signed uint64 // the size of the checkpoint the server signed for the export, 0 if none
	a, err := openArchiveBeside(ctx, cf, e, func() {
		c, err := (&clientFlags{server: *server}).client()
		signed = askCheckpoint(ctx, e, c, err, q.Tenant)
	})
	if err != nil {
		return err
	}
	defer a.Close()
	f, err := os.OpenFile(*outName, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return hint(fmt.Errorf("archive export: %w", err), "choose a new file name")
	}
	bar := newBar(e, a.TenantBytes(q.Tenant), "export")
	export := a.Export
	switch {
	case *partial:
		export = a.ExportPartial
	case signed > 0:
		// What was appended after the server signed is newer than this export.
		export = func(ctx context.Context, q archive.Query, w io.Writer, progress func(int64)) (*archive.ExportStats, error) {
			return a.ExportCovering(ctx, q, w, progress, signed)
		}
	}
	st, err := export(ctx, q, f, func(b int64) { bar.Add64(b) })
	bar.Finish()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(*outName)
		var inc *archive.IncompleteError
		if errors.As(err, &inc) {
			return hint(fmt.Errorf("archive %w", err), "let the server sign a checkpoint: set $OMAMORI_TOKEN (scope read) and -server, or wait archive.checkpoint_interval; or export what the last checkpoint covers with -partial")
		}
		return fmt.Errorf("archive export: %w", err)
	}
	fmt.Fprintf(e.stdout, "%s: %d records, proven under checkpoint %s at size %d\npublic key: %s\n",
		*outName, st.Records, st.Checkpoint.Origin, st.Checkpoint.Size, a.PublicKey())
	switch {
	case st.Newer > 0 && signed > 0 && !*partial:
		fmt.Fprintf(e.stdout, "%d matching records were archived after the server signed the checkpoint, and are not in the bundle (it says so)\n", st.Newer)
	case st.Newer > 0:
		fmt.Fprintf(e.stdout, "partial: %d matching records newer than the checkpoint were left out (the bundle says so)\n", st.Newer)
	}
	return nil
}

// askCheckpoint asks the running server, through c (or, if c could not be made, cerr says
// why), to sign a checkpoint of everything tenant's archive holds, for an export that reads
// the archive read-only beside it, and returns the size of the checkpoint it signed. A failure
// is a note, and 0: the export then counts what the last checkpoint leaves out.
func askCheckpoint(ctx context.Context, e env, c *apiClient, cerr error, tenant string) uint64 {
	var got struct {
		Tenant string
		Size   uint64
	}
	err := cerr
	if err == nil {
		err = c.call(ctx, "POST", "/api/v1/archive/checkpoint", nil, nil, &got)
	}
	if err == nil && got.Tenant != tenant {
		err = fmt.Errorf("the token is of tenant %s, not %s", got.Tenant, tenant)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "note: could not ask the server for a checkpoint of everything: %v\n", err)
		return 0
	}
	fmt.Fprintf(e.stderr, "note: the server signed a checkpoint of %d records of %s\n", got.Size, tenant)
	return got.Size
}

// statusUntrustedKey is verify-bundle's exit status for a bundle that verifies only under its
// own key: whole, but of unproven origin.
const statusUntrustedKey = 3

func archiveVerifyBundle(e env, fs *flag.FlagSet, args []string) error {
	subUsage(fs, e, `usage: omamori archive verify-bundle [-key PUBKEY | -fingerprint SHA256] FILE

Verify-bundle checks an export bundle offline, needing neither a data directory nor any
secret: the signatures of its checkpoint and manifest, that the bundle holds exactly the
files the signed manifest lists (README.md included) with their digests, every record's
inclusion proof, and that each ECS line is what its record holds.

Flags:

	-key PUBKEY
		the archive's public key as 'omamori archive pubkey' prints it, obtained apart
		from the bundle (on paper, by phone).
	-fingerprint SHA256
		instead of the key, its fingerprint as 'omamori archive pubkey -fingerprint'
		prints it (64 hex digits).

Exit status:

	0   the bundle verifies under the key given: it is the archive's, whole and unaltered.
	1   the bundle does not verify (or cannot be read): do not rely on it.
	3   no key was given: the bundle verifies under its own pubkey.txt, which proves it
	    whole and self-consistent but not whose it is (anyone can sign a bundle). The key
	    and its fingerprint are printed to compare with the hospital's.
`)
	key := fs.String("key", "", "")
	fp := fs.String("fingerprint", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return hint(errors.New("archive verify-bundle: give one bundle file"), "omamori archive verify-bundle -key 'omamori.archive/…+…+…' bundle.tar")
	}
	if *key != "" && *fp != "" {
		return hint(errors.New("archive verify-bundle: -key and -fingerprint both given"), "give one of them")
	}
	pin := strings.ToLower(strings.TrimSpace(*fp))
	if pin != "" {
		if b, err := hex.DecodeString(pin); err != nil || len(b) != sha256.Size {
			return hint(fmt.Errorf("archive verify-bundle: -fingerprint %q is not 64 hex digits", *fp), "'omamori archive pubkey -fingerprint' prints it")
		}
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("archive verify-bundle: %w", err)
	}
	defer f.Close()
	rep, err := archive.VerifyBundle(bufio.NewReaderSize(f, 1<<20), strings.TrimSpace(*key))
	if err != nil {
		return hint(fmt.Errorf("archive verify-bundle: %w", err), "the bundle is not what the archive signed: ask the hospital for a new export")
	}
	keyFP := archive.KeyFingerprint(rep.PublicKey)
	if pin != "" && keyFP != pin {
		return hint(fmt.Errorf("archive verify-bundle: %w: the bundle's key %s has fingerprint %s, not the expected %s", archive.ErrBundle, rep.PublicKey, keyFP, pin),
			"the bundle was not signed by the archive whose fingerprint you hold: ask the hospital for a new export")
	}
	trusted := rep.KeyTrusted || pin != ""
	fmt.Fprintf(e.stdout, "proven: the bundle holds exactly the files its signed manifest lists, unaltered (README.md included)\n")
	fmt.Fprintf(e.stdout, "proven: %d records are in the log %s of tree size %d, root %s, each at its index\n", rep.Records, rep.Checkpoint.Origin,
		rep.Checkpoint.Size, base64.StdEncoding.EncodeToString(rep.Checkpoint.Root))
	fmt.Fprintf(e.stdout, "not proven: that no other record matched the query (the signed count and query.json are the archive's statement)\n")
	if rep.NewerOmitted > 0 {
		fmt.Fprintf(e.stdout, "partial: the export left out %d matching records newer than the checkpoint\n", rep.NewerOmitted)
	}
	fmt.Fprintf(e.stdout, "query: %s", rep.Query)
	if !trusted {
		fmt.Fprintf(e.stdout, "NOT PROVEN: whose bundle this is. It was checked only against its own key\n  %s\n  fingerprint %s\n", rep.PublicKey, keyFP)
		return exitStatus{hint(errors.New("archive verify-bundle: no -key or -fingerprint given: the bundle is whole, but its signer is not proven"),
			"compare the key above with the one the hospital gave you apart from the bundle, then run again with -key or -fingerprint"), statusUntrustedKey}
	}
	fmt.Fprintf(e.stdout, "ok: signed by %s (fingerprint %s), the key given\n", rep.PublicKey, keyFP)
	return nil
}

func archiveCheckpoint(ctx context.Context, e env, fs *flag.FlagSet, cf *configFlags, args []string) error {
	subUsage(fs, e, `usage: omamori archive checkpoint -tenant T [-all]

Checkpoint prints the hospital's latest signed checkpoint (a C2SP signed note), signing a
new one first if records were added since and no server holds the archive. -all prints the
whole history, oldest first.

`+configFlagsUsage)
	tenant := fs.String("tenant", "", "")
	all := fs.Bool("all", false, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tenant == "" {
		return hint(errors.New("archive checkpoint: no -tenant given"), "-tenant default")
	}
	a, err := openArchive(ctx, cf, e)
	if err != nil {
		return err
	}
	defer a.Close()
	if *all {
		for _, c := range a.Checkpoints(*tenant) {
			fmt.Fprintf(e.stdout, "%s\n", c.Note)
		}
		return nil
	}
	c, err := a.Checkpoint(ctx, *tenant)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(c.Note)
	return err
}

func archiveConsistency(ctx context.Context, e env, fs *flag.FlagSet, cf *configFlags, args []string) error {
	subUsage(fs, e, `usage: omamori archive consistency -tenant T -old SIZE -new SIZE

Consistency prints the RFC 6962 consistency proof (base64 hashes, one per line) that the
hospital's tree of -old records is a prefix of its tree of -new records: with the two
signed checkpoints, it shows nothing recorded before was changed or removed.

`+configFlagsUsage)
	tenant := fs.String("tenant", "", "")
	oldSize := fs.Uint64("old", 0, "")
	newSize := fs.Uint64("new", 0, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := openArchive(ctx, cf, e)
	if err != nil {
		return err
	}
	defer a.Close()
	p, err := a.ConsistencyProof(*tenant, *oldSize, *newSize)
	if err != nil {
		return err
	}
	for _, h := range p {
		fmt.Fprintln(e.stdout, base64.StdEncoding.EncodeToString(h))
	}
	return nil
}

func archiveKeys(e env, fs *flag.FlagSet, cf *configFlags, args []string) error {
	subUsage(fs, e, `usage: omamori archive keys init|list|rotate

Keys manages the master keys in archive.key_file.

	init     create the key file with a new key (it must not exist).
	list     print the keys' identifiers, oldest first; the last is current.
	rotate   add a new key: segments begun from now on use it, older ones keep
	         theirs, nothing is rewritten. A running server uses it after a restart.

Back the key file up apart from the data after every change.

`+configFlagsUsage)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	keyFile := cfg.Archive.KeyFile
	switch fs.Arg(0) {
	case "init":
		r, err := keyring.Create(keyFile)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "created %s with key %s\n", keyFile, r.Current())
	case "list":
		r, err := loadKeys(keyFile)
		if err != nil {
			return err
		}
		for _, id := range r.IDs() {
			fmt.Fprintln(e.stdout, id)
		}
	case "rotate":
		_, id, err := keyring.Rotate(keyFile)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added key %s to %s; new segments use it\n", id, keyFile)
	default:
		return hint(fmt.Errorf("archive keys: unknown command %q", fs.Arg(0)), "omamori archive keys init|list|rotate")
	}
	return nil
}

func archiveRetain(ctx context.Context, e env, fs *flag.FlagSet, cf *configFlags, args []string) error {
	subUsage(fs, e, `usage: omamori archive retain [-dry-run] [-config FILE] [-data-dir DIR]

Retain deletes the segments whose records are all older than archive.retention (ten
years by default), per hospital. Each deletion is first recorded in the hospital's log and
signed, so verify and every earlier checkpoint still hold; the deleted records are then
reported as deleted by retention, not as missing. 'omamori serve' does this once a day;
this command is for an archive whose server is stopped.

	-dry-run   list what would be deleted, and change nothing (works beside a server)
`)
	dry := fs.Bool("dry-run", false, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	keys, err := loadKeys(cfg.Archive.KeyFile)
	if err != nil {
		return err
	}
	ar, err := archive.Open(ctx, archive.Options{Dir: cfg.Archive.Dir, Keys: keys, ReadOnly: *dry, CheckpointEvery: -1})
	if err != nil {
		return hint(fmt.Errorf("archive retain: %w", err), "stop 'omamori serve' first (it retains daily on its own), or use -dry-run beside it")
	}
	a := &cliArchive{Archive: ar}
	if !*dry {
		a.store = witnessInStore(ctx, cfg, e, ar)
	}
	defer a.Close()
	rep, err := a.Retain(ctx, time.Now(), archive.RetainPolicy{Default: cfg.Archive.Retention, DryRun: *dry})
	if err != nil {
		return fmt.Errorf("archive retain: %w", err)
	}
	verb := "deleted"
	if *dry {
		verb = "would delete"
	}
	for _, d := range rep.Deleted {
		fmt.Fprintln(e.stdout, verb, d)
	}
	fmt.Fprintf(e.stdout, "%s %d segments, %d records, %.1f MB (retention %v; %d finished from an earlier run)\n",
		verb, len(rep.Deleted), rep.Records, float64(rep.Bytes)/1e6, cfg.Archive.Retention, rep.Resumed)
	return nil
}

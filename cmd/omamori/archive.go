package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/keyring"
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

// openArchive opens the archive for reading: writable when no server holds it (so that a fresh
// checkpoint can be signed), read-only beside a running server.
func openArchive(ctx context.Context, cf *configFlags, e env) (*archive.Archive, error) {
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
		opts.ReadOnly = true
		a, err = archive.Open(ctx, opts)
		if err == nil {
			fmt.Fprintln(e.stderr, "note: omamori serve holds the archive; reading up to its last checkpoint")
		}
	}
	if err != nil {
		if errors.Is(err, keyring.ErrUnknownKey) || errors.Is(err, keyring.ErrWrongKey) {
			return nil, hint(err, "the master key given does not open this archive: use the key file it was created with (and keep every rotated key in it)")
		}
		return nil, err
	}
	return a, nil
}

func newBar(e env, total int64, desc string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetDescription(desc), progressbar.OptionSetWriter(e.stderr),
		progressbar.OptionShowBytes(true), progressbar.OptionClearOnFinish(),
		progressbar.OptionSetVisibility(isTerminal(e.stderr)))
}

func archivePubkey(ctx context.Context, e env, fs *flag.FlagSet, cf *configFlags, args []string) error {
	subUsage(fs, e, `usage: omamori archive pubkey [-config FILE] [-data-dir DIR]

Pubkey prints the archive's public key in the form of a signed-note verifier key
(<name>+<key id>+<base64 Ed25519 key>). Give it to authorities apart from any bundle,
on paper or by phone: with it they can check checkpoints and bundles offline.
`)
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
	_, err = fmt.Fprint(e.stdout, string(b))
	return err
}

func archiveVerify(ctx context.Context, e env, fs *flag.FlagSet, cf *configFlags, args []string) error {
	subUsage(fs, e, `usage: omamori archive verify [-config FILE] [-data-dir DIR]

Verify re-reads every segment of every hospital and checks every checksum, sequence
number, authentication tag and record, recomputes each Merkle tree from its records and
compares it with the stored subtree hashes and every signed checkpoint. It prints each
problem with its hospital, segment, block and record, and fails if there is any.
It then compares the archive with the bus: every message still on the EVENTS stream up
to the last one the archive holds must be in it, and each gap is printed by hospital and
bus sequence range, and fails verify. It needs the master keys, and runs beside a server
(the bus is compared there only through bus.listen).
`)
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
	var total int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(fi.Name(), ".oms") {
			total += fi.Size()
		}
		return nil
	})
	bar := newBar(e, total, "verify")
	start := time.Now()
	rep, err := archive.Verify(ctx, dir, keys, func(n int64) { bar.Add64(n) })
	bar.Finish()
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(e.stdout, "%d tenants, %d segments, %d blocks, %d records, %d checkpoints; %.1f MB read in %.2fs (%.0f MB/s)\n",
		rep.Tenants, rep.Segments, rep.Blocks, rep.Records, rep.Checkpoints, float64(rep.Bytes)/1e6, secs, float64(rep.Bytes)/1e6/secs)
	for _, d := range rep.Retention {
		fmt.Fprintln(e.stdout, "deleted by retention (accounted for in the log):", d)
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(e.stdout, "FAIL", p)
	}
	if !rep.OK() {
		return hint(fmt.Errorf("archive verify: %d problems", len(rep.Problems)), "keep the archive as it is for investigation; restore the named segments from a backup and verify again")
	}
	gaps, err := verifyComplete(ctx, e, cfg, keys)
	if err != nil {
		return err
	}
	if gaps > 0 {
		return hint(fmt.Errorf("archive verify: %d gaps against the bus", gaps), "the named bus messages are not archived: keep the bus's data (data_dir/jetstream) until they are, and report it")
	}
	fmt.Fprintln(e.stdout, "ok")
	return nil
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
	[-user NAME] [-where FIELD=VALUE]... -out FILE

Export writes, for an authority, one bundle (a tar file) of the records that match: the
records as ECS NDJSON, each with its inclusion proof, the signed checkpoint the proofs lead
to, a signed manifest binding them, the public key, the query, and a README in Japanese and
English saying how to verify it. 'omamori archive verify-bundle FILE' checks it offline;
docs/archive-verification.md gives the steps with other tools.

Flags:

`+queryUsage+`	-out FILE
		the bundle to write (required; it must not exist).
`+configFlagsUsage)
	var qf queryFlags
	qf.register(fs)
	outName := fs.String("out", "", "")
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
	a, err := openArchive(ctx, cf, e)
	if err != nil {
		return err
	}
	defer a.Close()
	f, err := os.OpenFile(*outName, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return hint(fmt.Errorf("archive export: %w", err), "choose a new file name")
	}
	bar := newBar(e, a.TenantBytes(q.Tenant), "export")
	st, err := a.Export(ctx, q, f, func(b int64) { bar.Add64(b) })
	bar.Finish()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(*outName)
		return fmt.Errorf("archive export: %w", err)
	}
	fmt.Fprintf(e.stdout, "%s: %d records, proven under checkpoint %s at size %d\npublic key: %s\n",
		*outName, st.Records, st.Checkpoint.Origin, st.Checkpoint.Size, a.PublicKey())
	return nil
}

func archiveVerifyBundle(e env, fs *flag.FlagSet, args []string) error {
	subUsage(fs, e, `usage: omamori archive verify-bundle [-key PUBKEY] FILE

Verify-bundle checks an export bundle offline, needing neither a data directory nor any
secret: the signatures of its checkpoint and manifest, the digests of its files, every
record's inclusion proof, and that each ECS line is what its record holds.

Flags:

	-key PUBKEY
		the archive's public key as 'omamori archive pubkey' prints it, obtained apart
		from the bundle. Without it the bundle's own key is used and printed, to be
		compared by hand.
`)
	key := fs.String("key", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return hint(errors.New("archive verify-bundle: give one bundle file"), "omamori archive verify-bundle -key 'omamori.archive/…+…+…' bundle.tar")
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
	fmt.Fprintf(e.stdout, "ok: %d records proven in %s, tree size %d, root %s\n", rep.Records, rep.Checkpoint.Origin,
		rep.Checkpoint.Size, base64.StdEncoding.EncodeToString(rep.Checkpoint.Root))
	if *key == "" {
		fmt.Fprintf(e.stdout, "signed by the bundle's own key %s: compare it with the hospital's published key\n", rep.PublicKey)
	}
	fmt.Fprintf(e.stdout, "query: %s", rep.Query)
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
	a, err := archive.Open(ctx, archive.Options{Dir: cfg.Archive.Dir, Keys: keys, ReadOnly: *dry, CheckpointEvery: -1})
	if err != nil {
		return hint(fmt.Errorf("archive retain: %w", err), "stop 'omamori serve' first (it retains daily on its own), or use -dry-run beside it")
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

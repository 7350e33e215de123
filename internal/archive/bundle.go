package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"

	"github.com/omamori-project/omamori/internal/event"
)

// An export bundle is a tar file for an authority, verifiable offline with nothing but the
// bundle (and, to be sure of whose it is, the archive's public key obtained separately):
//
//	README.md        how to verify, in Japanese and English
//	query.json       the query that selected the records
//	records.ndjson   the records, one ECS JSON object per line (event.AppendECS)
//	proofs.ndjson    line i proves line i of records.ndjson: {"index", "salt", "record",
//	                 "leaf_hash", "proof"} (base64), an RFC 6962 inclusion proof of the record
//	                 in the tenant's tree of the checkpoint's size
//	checkpoint       the signed checkpoint (C2SP signed note) the proofs lead to
//	pubkey.txt       the archive's note verifier key
//	manifest         a signed note by the same key binding every other file, README.md
//	                 included, by SHA-256, to the checkpoint: no line can be removed or added,
//	                 no instruction changed and no file added unseen
//
// See docs/archive-verification.md for the steps with other tools.

// ExportStats says what an export wrote.
type ExportStats struct {
	Records    int
	Checkpoint Checkpoint
	// Newer counts the matching records that were left out because they are newer than the
	// checkpoint (only ExportPartial and ExportCovering leave any out).
	Newer int
}

// IncompleteError says an export was refused because matching records are newer than the
// archive's last checkpoint: beside a running server, which alone may sign a new one, the
// bundle would silently miss them.
type IncompleteError struct {
	Tenant     string
	Checkpoint uint64 // the size of the last checkpoint
	Synced     uint64 // the records on disk
	Newer      int    // how many of those past the checkpoint match
}

func (e *IncompleteError) Error() string {
	return fmt.Sprintf("export: %d matching records of tenant %s are newer than its last checkpoint (%d of %d records): the bundle would miss them",
		e.Newer, e.Tenant, e.Checkpoint, e.Synced)
}

// proofLine is one line of proofs.ndjson.
type proofLine struct {
	Index    uint64   `json:"index"`
	Salt     []byte   `json:"salt"`
	Record   []byte   `json:"record"`
	LeafHash []byte   `json:"leaf_hash"`
	Proof    [][]byte `json:"proof"`
}

// queryJSON is query.json.
type queryJSON struct {
	Tenant     string   `json:"tenant"`
	From       string   `json:"from,omitempty"`
	To         string   `json:"to,omitempty"`
	IP         string   `json:"ip,omitempty"`
	Host       string   `json:"host,omitempty"`
	User       string   `json:"user,omitempty"`
	Where      []string `json:"where,omitempty"`
	Limit      int      `json:"limit,omitempty"`
	ExportedAt string   `json:"exported_at"`
	TreeSize   uint64   `json:"tree_size"`
	Records    int      `json:"records"`
	// NewerOmitted counts the matching records newer than the checkpoint that the export left
	// out: a partial one, or one beside a server of records appended after it signed the
	// checkpoint; an export of everything has none.
	NewerOmitted int `json:"newer_omitted,omitempty"`
}

// Version 2 lists every file of the bundle; version 1 left README.md and checkpoint out and
// let files be added, so it is no longer accepted.
const manifestHeader = "omamori export bundle v2"

// bundleFiles are the files of a bundle besides the manifest, in the order written and listed.
var bundleFiles = []string{"README.md", "query.json", "records.ndjson", "proofs.ndjson", "checkpoint", "pubkey.txt"}

// Export writes a bundle of the records that match q to w. It proves them under a checkpoint
// of everything synced, signing a new one. An archive opened read-only (beside a running
// server) can prove records only up to its latest stored checkpoint: if matching records are
// newer, Export refuses with an *IncompleteError rather than write a bundle that misses them.
func (a *Archive) Export(ctx context.Context, q Query, w io.Writer, progress func(int64)) (*ExportStats, error) {
	return a.export(ctx, q, w, progress, math.MaxUint64)
}

// ExportPartial is Export that, instead of refusing, leaves out the matching records newer
// than the checkpoint and says how many in the bundle's signed query.json and in the stats.
func (a *Archive) ExportPartial(ctx context.Context, q Query, w io.Writer, progress func(int64)) (*ExportStats, error) {
	return a.export(ctx, q, w, progress, 0)
}

// ExportCovering is Export beside a running server that signed, for this export, a checkpoint
// of size records: what it held when asked. The matching records appended after it are newer
// than the request, not missed by the bundle: they are left out and counted, as ExportPartial
// does, without a refusal. It refuses only if the latest checkpoint is older than size.
func (a *Archive) ExportCovering(ctx context.Context, q Query, w io.Writer, progress func(int64), size uint64) (*ExportStats, error) {
	return a.export(ctx, q, w, progress, size)
}

// export writes the bundle; matching records newer than the checkpoint are a refusal when the
// checkpoint is of fewer than covered records, and are left out and counted otherwise.
func (a *Archive) export(ctx context.Context, q Query, w io.Writer, progress func(int64), covered uint64) (*ExportStats, error) {
	if a.signer == nil {
		return nil, errors.New("export: the archive's signing key is not available")
	}
	cp, err := a.Checkpoint(ctx, q.Tenant)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	recs, err := os.CreateTemp("", "omamori-export-records-*")
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	defer os.Remove(recs.Name())
	defer recs.Close()
	proofs, err := os.CreateTemp("", "omamori-export-proofs-*")
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	defer os.Remove(proofs.Name())
	defer proofs.Close()
	rw, pw := bufio.NewWriterSize(recs, 1<<20), bufio.NewWriterSize(proofs, 1<<20)
	rh, ph := sha256.New(), sha256.New()
	rout, pout := io.MultiWriter(rw, rh), io.MultiWriter(pw, ph)
	n := 0
	var line []byte
	err = a.search(ctx, q, 0, cp.Size, progress, func(r *Record) error {
		p, err := a.InclusionProof(q.Tenant, r.Index, cp.Size)
		if err != nil {
			return fmt.Errorf("prove record %d: %w", r.Index, err)
		}
		line = event.AppendECS(line[:0], &r.Event)
		if _, err := rout.Write(line); err != nil {
			return err
		}
		pl, err := json.Marshal(proofLine{Index: r.Index, Salt: r.Salt, Record: r.Data, LeafHash: r.LeafHash(), Proof: p})
		if err != nil {
			return err
		}
		if _, err := pout.Write(append(pl, '\n')); err != nil {
			return err
		}
		n++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := rw.Flush(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := pw.Flush(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	newer := 0
	if _, synced := a.Size(q.Tenant); synced > cp.Size && (q.Limit == 0 || n < q.Limit) {
		nq := q
		nq.Limit = 0
		err := a.search(ctx, nq, cp.Size, synced, nil, func(*Record) error { newer++; return nil })
		if err != nil {
			return nil, fmt.Errorf("export: count the records newer than the checkpoint: %w", err)
		}
		if q.Limit > 0 {
			newer = min(newer, q.Limit-n)
		}
		if newer > 0 && cp.Size < covered {
			return nil, &IncompleteError{Tenant: q.Tenant, Checkpoint: cp.Size, Synced: synced, Newer: newer}
		}
	}
	qj := queryJSON{Tenant: q.Tenant, Host: q.Host, User: q.User, Limit: q.Limit,
		ExportedAt: a.opts.Now().UTC().Format(time.RFC3339), TreeSize: cp.Size, Records: n, NewerOmitted: newer}
	if !q.From.IsZero() {
		qj.From = q.From.UTC().Format(time.RFC3339Nano)
	}
	if !q.To.IsZero() {
		qj.To = q.To.UTC().Format(time.RFC3339Nano)
	}
	if q.IP.IsValid() {
		qj.IP = q.IP.String()
	}
	for _, c := range q.Where {
		qj.Where = append(qj.Where, c.String())
	}
	query, _ := json.MarshalIndent(qj, "", "  ")
	query = append(query, '\n')
	readme, pubkey := []byte(bundleReadme), []byte(a.vkey+"\n")
	sums := map[string][]byte{"records.ndjson": rh.Sum(nil), "proofs.ndjson": ph.Sum(nil)}
	for name, b := range map[string][]byte{"README.md": readme, "query.json": query, "checkpoint": cp.Note, "pubkey.txt": pubkey} {
		sum := sha256.Sum256(b)
		sums[name] = sum[:]
	}
	manifest := fmt.Sprintf("%s\n%s\n%d\n%d\n", manifestHeader, cp.Origin, cp.Size, n)
	for _, name := range bundleFiles {
		manifest += name + " " + hex.EncodeToString(sums[name]) + "\n"
	}
	signed, err := note.Sign(&note.Note{Text: manifest}, a.signer)
	if err != nil {
		return nil, fmt.Errorf("export: sign manifest: %w", err)
	}

	tw := tar.NewWriter(w)
	now := a.opts.Now()
	add := func(name string, r io.Reader, size int64) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: now, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	addBytes := func(name string, b []byte) error { return add(name, bytes.NewReader(b), int64(len(b))) }
	addFile := func(name string, f *os.File) error {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		return add(name, f, fi.Size())
	}
	for _, err := range []error{
		addBytes("README.md", readme),
		addBytes("query.json", query),
		addFile("records.ndjson", recs),
		addFile("proofs.ndjson", proofs),
		addBytes("checkpoint", cp.Note),
		addBytes("pubkey.txt", pubkey),
		addBytes("manifest", signed),
		tw.Close(),
	} {
		if err != nil {
			return nil, fmt.Errorf("export: write bundle: %w", err)
		}
	}
	return &ExportStats{Records: n, Checkpoint: *cp, Newer: newer}, nil
}

// BundleReport is what VerifyBundle established.
type BundleReport struct {
	PublicKey  string
	Checkpoint Checkpoint
	Records    int
	Query      json.RawMessage
	// KeyTrusted says the signatures were checked against a key given by the caller. When it
	// is false they were checked against the bundle's own pubkey.txt, which proves the bundle
	// is whole and self-consistent but not whose it is: anyone can sign a bundle of their own.
	KeyTrusted bool
	// NewerOmitted is what the signed query.json says a partial export left out.
	NewerOmitted int
}

// ErrBundle is wrapped by every error of VerifyBundle that says the bundle does not verify.
var ErrBundle = errors.New("bundle does not verify")

// VerifyBundle checks an export bundle offline: the checkpoint's and the manifest's signatures
// by vkey (the archive's public key, obtained apart from the bundle) or, when vkey is empty,
// by the bundle's own key (and then the report says the key is not trusted); that the bundle
// holds exactly the files the signed manifest lists, README.md included, each with its
// digest; every record's leaf hash and inclusion proof against the checkpoint; and that each
// ECS line is what its record says.
func VerifyBundle(r io.Reader, vkey string) (*BundleReport, error) {
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: not a readable tar file: %v", ErrBundle, err)
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%w: %s is not a regular file (tar type %q)", ErrBundle, h.Name, h.Typeflag)
		}
		if _, dup := files[h.Name]; dup {
			return nil, fmt.Errorf("%w: %s appears twice", ErrBundle, h.Name)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("%w: read %s: %v", ErrBundle, h.Name, err)
		}
		files[h.Name] = b
	}
	for _, name := range append([]string{"manifest"}, bundleFiles...) {
		if _, ok := files[name]; !ok {
			return nil, fmt.Errorf("%w: %s is missing", ErrBundle, name)
		}
	}
	trusted := vkey != ""
	bundleKey := strings.TrimSpace(string(files["pubkey.txt"]))
	if vkey == "" {
		vkey = bundleKey
	} else if vkey != bundleKey {
		return nil, fmt.Errorf("%w: the bundle's public key %s is not the expected %s", ErrBundle, bundleKey, vkey)
	}
	cp, err := ParseCheckpoint(files["checkpoint"], vkey)
	if err != nil {
		return nil, fmt.Errorf("%w: checkpoint: %v", ErrBundle, err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %v", ErrBundle, err)
	}
	m, err := openNote(files["manifest"], v)
	if err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrBundle, err)
	}
	ml := strings.Split(strings.TrimSuffix(m.Text, "\n"), "\n")
	if len(ml) > 0 && strings.HasPrefix(ml[0], "omamori export bundle v") && ml[0] != manifestHeader {
		return nil, fmt.Errorf("%w: manifest: %q, an older format whose signature does not cover every file: ask for a new export", ErrBundle, ml[0])
	}
	if len(ml) < 4 || ml[0] != manifestHeader {
		return nil, fmt.Errorf("%w: manifest: unknown format", ErrBundle)
	}
	if ml[1] != cp.Origin || ml[2] != strconv.FormatUint(cp.Size, 10) {
		return nil, fmt.Errorf("%w: manifest is for %s at size %s, the checkpoint for %s at size %d", ErrBundle, ml[1], ml[2], cp.Origin, cp.Size)
	}
	count, err := strconv.Atoi(ml[3])
	if err != nil {
		return nil, fmt.Errorf("%w: manifest: record count %q", ErrBundle, ml[3])
	}
	listed := map[string]bool{"manifest": true}
	for _, l := range ml[4:] {
		name, sum, _ := strings.Cut(l, " ")
		if listed[name] {
			return nil, fmt.Errorf("%w: manifest lists %s twice", ErrBundle, name)
		}
		listed[name] = true
		b, ok := files[name]
		if !ok {
			return nil, fmt.Errorf("%w: %s, which the signed manifest lists, is missing", ErrBundle, name)
		}
		got := sha256.Sum256(b)
		if hex.EncodeToString(got[:]) != sum {
			return nil, fmt.Errorf("%w: %s was changed: its SHA-256 is not the one the signed manifest gives (a line was altered, added or removed)", ErrBundle, name)
		}
	}
	for _, name := range bundleFiles {
		if !listed[name] {
			return nil, fmt.Errorf("%w: the signed manifest does not list %s", ErrBundle, name)
		}
	}
	for name := range files {
		if !listed[name] {
			return nil, fmt.Errorf("%w: %s is not in the signed manifest: a file was added", ErrBundle, name)
		}
	}
	recs := splitLines(files["records.ndjson"])
	proofs := splitLines(files["proofs.ndjson"])
	if len(recs) != count || len(proofs) != count {
		return nil, fmt.Errorf("%w: %d records and %d proofs, the manifest says %d", ErrBundle, len(recs), len(proofs), count)
	}
	var ecs []byte
	for i := range recs {
		var pl proofLine
		if err := json.Unmarshal(proofs[i], &pl); err != nil {
			return nil, fmt.Errorf("%w: proofs.ndjson line %d: %v", ErrBundle, i+1, err)
		}
		leaf := leafHash(pl.Salt, pl.Record)
		if !bytes.Equal(leaf, pl.LeafHash) {
			return nil, fmt.Errorf("%w: record %d (line %d): leaf hash does not match salt and record", ErrBundle, pl.Index, i+1)
		}
		if err := proof.VerifyInclusion(hasher, pl.Index, cp.Size, leaf, pl.Proof, cp.Root); err != nil {
			return nil, fmt.Errorf("%w: record %d (line %d): inclusion proof: %v", ErrBundle, pl.Index, i+1, err)
		}
		rec := Record{Data: pl.Record}
		if err := decodeRecord(&rec); err != nil {
			return nil, fmt.Errorf("%w: record %d (line %d): %v", ErrBundle, pl.Index, i+1, err)
		}
		ecs = event.AppendECS(ecs[:0], &rec.Event)
		if !bytes.Equal(bytes.TrimSuffix(ecs, []byte("\n")), recs[i]) {
			return nil, fmt.Errorf("%w: records.ndjson line %d is not what record %d holds", ErrBundle, i+1, pl.Index)
		}
	}
	var qj queryJSON
	if err := json.Unmarshal(files["query.json"], &qj); err != nil {
		return nil, fmt.Errorf("%w: query.json: %v", ErrBundle, err)
	}
	return &BundleReport{PublicKey: vkey, Checkpoint: *cp, Records: count, Query: files["query.json"],
		KeyTrusted: trusted, NewerOmitted: qj.NewerOmitted}, nil
}

func splitLines(b []byte) [][]byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	if len(b) == 0 {
		return nil
	}
	return bytes.Split(b, []byte("\n"))
}

const bundleReadme = `# omamori ログ提出バンドル / omamori log export bundle

## 日本語

このファイルは、病院のセキュリティ基盤 omamori のアーカイブから、query.json の条件で取り出した
ログです。改ざんされていないこと、アーカイブに記録されていたことを、第三者が独自に確認できます。

1. 公開鍵の確認: pubkey.txt の公開鍵が、病院から別途（文書・電話など）受け取った公開鍵と
   一致することを確認してください。バンドル内の鍵だけを信頼しないでください。
2. omamori がある場合: ` + "`omamori archive verify-bundle -key '<公開鍵>' このファイル`" + `
   データディレクトリも秘密鍵も不要です。
3. 他のツールで確かめる場合（すべて公開標準です）:
   - checkpoint と manifest は C2SP signed-note 形式（Ed25519 署名）、checkpoint の本文は
     C2SP tlog-checkpoint 形式（origin、木のサイズ、ルートハッシュ）です。
   - manifest には、manifest 以外のすべてのファイル（この README.md を含む）の SHA-256 が
     書かれています。一致することを確認し（sha256sum）、manifest にないファイルがあれば
     そのバンドルは受け付けないでください。
   - proofs.ndjson の各行について、leaf_hash = SHA-256(0x00 || salt || record) を計算し、
     RFC 6962（RFC 9162 2.1.3）の包含証明 proof で checkpoint のルートに至ることを確認します。
   - record は omamori のイベント符号化（1 件のバッチ）で、元のログ行（raw）を含みます。
     records.ndjson の同じ行の event.original と比べてください。
   詳しくは omamori の docs/archive-verification.md を参照してください。

salt はレコードごとの乱数で、証明に含まれる他の患者のレコードのハッシュから内容を推測することは
できません。このバンドルは、含まれる各レコードが署名済みのログに存在することを証明します。
条件に合うレコードがほかにないこと（完全性）は、署名された manifest の件数と query.json が
omamori の回答であることを示すにとどまります。query.json に newer_omitted があれば、
checkpoint より新しい該当レコードがその件数だけ含まれていません（部分的な抽出）。

## English

This file holds the logs that omamori, a hospital security platform, found in its archive for
the query in query.json. Anyone can check on their own that they are unaltered and were in the
archive.

1. Check the public key: pubkey.txt must equal the public key the hospital gave you separately
   (on paper, by phone). Do not trust the key inside the bundle alone.
2. With omamori: ` + "`omamori archive verify-bundle -key '<public key>' THIS-FILE`" + `
   It needs neither a data directory nor any secret.
3. With other tools (all formats are public standards):
   - checkpoint and manifest are C2SP signed notes (Ed25519); the checkpoint's text is a C2SP
     tlog-checkpoint (origin, tree size, root hash).
   - manifest lists every other file of the bundle, this README.md included, with its SHA-256:
     each must match (sha256sum), and a file the manifest does not list must be refused.
   - For each line of proofs.ndjson compute leaf_hash = SHA-256(0x00 || salt || record) and check
     that the RFC 6962 (RFC 9162 section 2.1.3) inclusion proof leads to the checkpoint's root.
   - record is omamori's event encoding (a batch of one) and holds the original log line (raw);
     compare it with event.original on the same line of records.ndjson.
   See docs/archive-verification.md in omamori for the details.

Salts are random per record, so the hashes of other patients' records in the proofs reveal
nothing of them. The bundle proves each record it holds is in the signed log; that no other
record matched rests on the signed manifest's count and query, which are omamori's answer.
If query.json has newer_omitted, that many matching records newer than the checkpoint were
left out (a partial export).
`

package archive

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// A checkpoint is a C2SP signed note (https://c2sp.org/signed-note) whose text is a C2SP
// checkpoint (https://c2sp.org/tlog-checkpoint):
//
//	<origin>\n<tree size, decimal>\n<root hash, base64>\n
//
// followed by a blank line and the Ed25519 signature line "— <key name> <base64>". The origin
// is "<archive name>/<tenant>". Each tenant's checkpoints are kept, oldest first, in the file
// <tenant>/checkpoints as a 4-byte big-endian length followed by the signed note.

// Checkpoint is a signed checkpoint of one tenant's tree.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte
	Note   []byte // the signed note, as published
}

type checkpoint struct {
	Checkpoint
	time time.Time
}

// ParseCheckpoint opens a signed checkpoint with the verifier key vkey (as `omamori archive
// pubkey` prints it) and returns its fields. It fails unless the note carries a valid
// signature by that key.
func ParseCheckpoint(msg []byte, vkey string) (*Checkpoint, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: public key: %w", err)
	}
	n, err := openNote(msg, v)
	if err != nil {
		var unk *note.UnverifiedNoteError
		if errors.As(err, &unk) {
			return nil, fmt.Errorf("checkpoint: not signed by %s: %w", v.Name(), err)
		}
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	c, err := parseCheckpointText(n.Text)
	if err != nil {
		return nil, err
	}
	c.Note = msg
	return c, nil
}

// openNote opens a signed note with v, and refuses one whose signatures are not written as
// they were made: base64 leaves the low bits of a padded last digit free, and a digit changed
// there decodes to the same signature, yet it is a change to what was signed and kept.
func openNote(msg []byte, v note.Verifier) (*note.Note, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return nil, err
	}
	for _, s := range n.Sigs {
		if sig, err := base64.StdEncoding.DecodeString(s.Base64); err != nil || base64.StdEncoding.EncodeToString(sig) != s.Base64 {
			return nil, fmt.Errorf("the signature of %s is not in canonical base64: it was altered", s.Name)
		}
	}
	return n, nil
}

func parseCheckpointText(text string) (*Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return nil, errors.New("checkpoint: fewer than three lines")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: size %q: %w", lines[1], err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return nil, fmt.Errorf("checkpoint: root hash %q is not 32 bytes of base64", lines[2])
	}
	return &Checkpoint{Origin: lines[0], Size: size, Root: root}, nil
}

func checkpointText(origin string, size uint64, root []byte) string {
	return fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root))
}

// PublicKey returns the archive's note verifier key, "<name>+<key id>+<base64 Ed25519 key>".
func (a *Archive) PublicKey() string { return a.vkey }

// KeyFingerprint returns the SHA-256, in hex, of a verifier key as PublicKey gives it: a
// shorter form to pin, or to read out over the phone, than the key itself.
func KeyFingerprint(vkey string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(vkey)))
	return hex.EncodeToString(sum[:])
}

// Origin returns the checkpoint origin of tenant.
func (a *Archive) Origin(tenant string) string { return a.signerName() + "/" + tenant }

func (a *Archive) signerName() string {
	name, _, _ := strings.Cut(a.vkey, "+")
	return name
}

const (
	signingKeyFile = "signing.key"
	publicKeyFile  = "signing.pub"
	signingContext = "omamori archive signing key"
)

// openSigner loads the signing key (wrapped by the master key) or, in a new archive, makes one.
func (a *Archive) openSigner() error {
	path := filepath.Join(a.opts.Dir, signingKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if a.opts.ReadOnly {
			// A read-only archive without a key has nothing signed; the public key file may
			// still be there for verification.
			if pub, err := os.ReadFile(filepath.Join(a.opts.Dir, publicKeyFile)); err == nil {
				a.vkey = strings.TrimSpace(string(pub))
			}
			return nil
		}
		return a.newSigner(path)
	}
	if err != nil {
		return fmt.Errorf("open signing key: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 4 || lines[0] != "omamori archive signing key v1" {
		return fmt.Errorf("open signing key %s: %w: unknown format", path, ErrCorrupt)
	}
	wrapped, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil {
		return fmt.Errorf("open signing key %s: %w", path, err)
	}
	skey, err := a.opts.Keys.Unwrap(lines[1], wrapped, []byte(signingContext))
	if err != nil {
		return fmt.Errorf("open signing key %s: %w", path, err)
	}
	s, err := note.NewSigner(string(skey))
	if err != nil {
		return fmt.Errorf("open signing key %s: %w", path, err)
	}
	a.signer, a.vkey = s, lines[3]
	return nil
}

func (a *Archive) newSigner(path string) error {
	name := a.opts.Name
	if name == "" {
		var r [4]byte
		rand.Read(r[:])
		name = "omamori.archive/" + hex.EncodeToString(r[:])
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return fmt.Errorf("create signing key: %w", err)
	}
	id, wrapped, err := a.opts.Keys.Wrap([]byte(skey), []byte(signingContext))
	if err != nil {
		return fmt.Errorf("create signing key: %w", err)
	}
	text := fmt.Sprintf("omamori archive signing key v1\n%s\n%s\n%s\n", id, base64.StdEncoding.EncodeToString(wrapped), vkey)
	if err := writeFileSynced(path, []byte(text)); err != nil {
		return fmt.Errorf("create signing key: %w", err)
	}
	if err := writeFileSynced(filepath.Join(a.opts.Dir, publicKeyFile), []byte(vkey+"\n")); err != nil {
		return fmt.Errorf("create signing key: %w", err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		return fmt.Errorf("create signing key: %w", err)
	}
	a.signer, a.vkey = s, vkey
	return nil
}

func writeFileSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// openCheckpoints reads the tenant's checkpoint history, dropping a torn last entry.
func (t *tenantLog) openCheckpoints() error {
	path := filepath.Join(t.dir, "checkpoints")
	flag := os.O_RDWR | os.O_CREATE
	if t.a.opts.ReadOnly {
		flag = os.O_RDONLY
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && t.synced > 0 {
		// Only someone's hand removes it; the history is lost, and verify says so.
		t.a.log.Error("the checkpoints file is missing though the log holds records: its history of signed checkpoints is lost",
			"tenant", t.name, "records", t.synced)
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		if t.a.opts.ReadOnly && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("open checkpoints: %w", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("read checkpoints: %w", err)
	}
	cps, good, err := parseCheckpointLog(b, t.a.vkey)
	if err != nil {
		f.Close()
		return fmt.Errorf("read checkpoints: %w", err)
	}
	if good < len(b) && !t.a.opts.ReadOnly {
		t.a.log.Warn("discarded torn checkpoint", "tenant", t.name, "offset", good, "bytes", len(b)-good)
		if err := f.Truncate(int64(good)); err != nil {
			f.Close()
			return fmt.Errorf("cut torn checkpoint: %w", err)
		}
	}
	// The interval to the next checkpoint counts from opening.
	for i := range cps {
		cps[i].time = t.a.opts.Now()
	}
	t.cps = cps
	if t.a.opts.ReadOnly {
		f.Close()
		return nil
	}
	t.cpFile = f
	return nil
}

// parseCheckpointLog splits a checkpoint history, verifying each note when vkey is set. It
// returns how many bytes hold whole entries: a torn last entry is not an error.
func parseCheckpointLog(b []byte, vkey string) ([]checkpoint, int, error) {
	var cps []checkpoint
	off := 0
	for off+4 <= len(b) {
		n := int(binary.BigEndian.Uint32(b[off:]))
		if off+4+n > len(b) {
			break
		}
		msg := b[off+4 : off+4+n]
		var c *Checkpoint
		var err error
		if vkey != "" {
			c, err = ParseCheckpoint(msg, vkey)
		} else {
			text, _, _ := bytes.Cut(msg, []byte("\n\n"))
			c, err = parseCheckpointText(string(text) + "\n")
		}
		if err != nil {
			return nil, 0, fmt.Errorf("checkpoint %d at offset %d: %w", len(cps), off, err)
		}
		c.Note = bytes.Clone(msg)
		cps = append(cps, checkpoint{Checkpoint: *c})
		off += 4 + n
	}
	return cps, off, nil
}

func (t *tenantLog) cpSize() uint64 {
	if len(t.cps) == 0 {
		return 0
	}
	return t.cps[len(t.cps)-1].Size
}

func (t *tenantLog) cpTime() time.Time {
	if len(t.cps) == 0 {
		return time.Time{}
	}
	return t.cps[len(t.cps)-1].time
}

// checkpoint signs and stores a checkpoint of the synced records, unless the last one covers
// them already.
func (t *tenantLog) checkpoint() (*Checkpoint, error) {
	if len(t.cps) > 0 && t.cps[len(t.cps)-1].Size == t.synced {
		c := t.cps[len(t.cps)-1].Checkpoint
		return &c, nil
	}
	if t.a.signer == nil || t.cpFile == nil {
		return nil, ErrReadOnly
	}
	root, err := t.tree.root(t.synced)
	if err != nil {
		return nil, err
	}
	origin := t.a.Origin(t.name)
	msg, err := note.Sign(&note.Note{Text: checkpointText(origin, t.synced, root)}, t.a.signer)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	entry := binary.BigEndian.AppendUint32(nil, uint32(len(msg)))
	entry = append(entry, msg...)
	fi, err := t.cpFile.Stat()
	if err != nil {
		return nil, err
	}
	if _, err := t.cpFile.WriteAt(entry, fi.Size()); err != nil {
		return nil, fmt.Errorf("write checkpoint: %w", err)
	}
	if err := t.cpFile.Sync(); err != nil {
		return nil, fmt.Errorf("sync checkpoint: %w", err)
	}
	c := Checkpoint{Origin: origin, Size: t.synced, Root: root, Note: msg}
	t.cps = append(t.cps, checkpoint{Checkpoint: c, time: t.a.opts.Now()})
	t.cpDue = false
	if t.a.witnessed.Load() {
		t.a.unwitnessed = append(t.a.unwitnessed, witnessJob{tenant: t.name, cp: c})
	}
	return &c, nil
}

// Checkpoint syncs tenant's log and returns a checkpoint of everything in it, signing a new one
// (and giving it to the witnesses in the background) if the last does not cover it. A read-only archive returns
// its latest stored checkpoint.
func (a *Archive) Checkpoint(ctx context.Context, tenant string) (*Checkpoint, error) {
	if !a.opts.ReadOnly {
		if err := a.Sync(ctx); err != nil {
			return nil, err
		}
		defer a.witnessLater()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.tenants[tenant]
	if t == nil {
		return nil, fmt.Errorf("checkpoint: no tenant %q in the archive", tenant)
	}
	if a.opts.ReadOnly {
		if len(t.cps) == 0 {
			return nil, fmt.Errorf("checkpoint: tenant %s has no checkpoint yet", tenant)
		}
		c := t.cps[len(t.cps)-1].Checkpoint
		return &c, nil
	}
	return t.checkpoint()
}

// Checkpoints returns tenant's checkpoint history, oldest first.
func (a *Archive) Checkpoints(tenant string) []Checkpoint {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.tenants[tenant]
	if t == nil {
		return nil
	}
	out := make([]Checkpoint, len(t.cps))
	for i, c := range t.cps {
		out[i] = c.Checkpoint
	}
	return out
}

// ConsistencyProof returns the proof that the tree of size1 records is a prefix of the tree of
// size2 records (RFC 6962 section 2.1.2), for two checkpoints of tenant.
func (a *Archive) ConsistencyProof(tenant string, size1, size2 uint64) ([][]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.tenants[tenant]
	if t == nil {
		return nil, fmt.Errorf("consistency proof: no tenant %q in the archive", tenant)
	}
	if size2 > t.synced {
		return nil, fmt.Errorf("consistency proof: tenant %s has %d records, not %d", tenant, t.synced, size2)
	}
	return t.tree.consistency(size1, size2)
}

// InclusionProof returns the proof that record index is in tenant's tree of size records.
func (a *Archive) InclusionProof(tenant string, index, size uint64) ([][]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.tenants[tenant]
	if t == nil {
		return nil, fmt.Errorf("inclusion proof: no tenant %q in the archive", tenant)
	}
	if size > t.synced {
		return nil, fmt.Errorf("inclusion proof: tenant %s has %d records, not %d", tenant, t.synced, size)
	}
	return t.tree.inclusion(index, size)
}

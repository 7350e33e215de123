// Package keyring holds the master keys that protect the archive's data keys. It sits beside
// the archive on the data path: every archive segment is encrypted with a data key of its own,
// and the archive asks a Wrapper to seal that data key before writing it into the segment's
// header, and to open it again when the segment is read.
//
// A Ring is the Wrapper kept in a key file or an environment variable. A hardware security
// module or a cloud KMS can stand in its place later by implementing Wrapper: the archive never
// sees a master key, only wrapped data keys and key identifiers.
//
// # Rotation
//
// A Ring holds several master keys; the last one is current. Wrap always uses the current key,
// and Unwrap finds the key a data key was wrapped with by its identifier, so adding a key
// (Ring.Rotate) makes new segments use it while old segments stay readable, and nothing is
// rewritten. Removing an old key from the file makes the segments it wrapped unreadable.
package keyring

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Wrapper seals and opens data keys with master keys it keeps to itself. Implementations are
// safe for concurrent use.
type Wrapper interface {
	// Wrap seals key with the current master key, bound to context (the same context must be
	// given to Unwrap), and returns the master key's identifier with the sealed key.
	Wrap(key, context []byte) (keyID string, wrapped []byte, err error)
	// Unwrap opens a key that Wrap sealed with the master key keyID. Its error wraps
	// ErrUnknownKey when no such master key is held, and ErrWrongKey when the key does not
	// open (another key of the same identifier, a changed context, or tampering).
	Unwrap(keyID string, wrapped, context []byte) ([]byte, error)
}

var (
	// ErrUnknownKey says a data key was wrapped by a master key the ring does not hold.
	ErrUnknownKey = errors.New("keyring: master key not found")
	// ErrWrongKey says a wrapped data key did not open.
	ErrWrongKey = errors.New("keyring: wrapped key does not open")
	// ErrNoKey says the ring holds no master key.
	ErrNoKey = errors.New("keyring: no master key")
)

// KeySize is the size of a master key: AES-256.
const KeySize = 32

// Ring is a list of master keys, the last one current. The zero Ring holds none.
type Ring struct {
	keys []masterKey
}

type masterKey struct {
	id   string
	aead cipher.AEAD
}

// ID returns the identifier of a master key: the first 8 bytes of a SHA-256 over a label and
// the key, in hex. It names the key in segment headers without revealing it, and an operator
// can compare it with `omamori archive keys list`.
func ID(key []byte) string {
	h := sha256.New()
	h.Write([]byte("omamori master key id\x00"))
	h.Write(key)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// New returns a ring of the given keys, the last current.
func New(keys ...[]byte) (*Ring, error) {
	r := &Ring{}
	for _, k := range keys {
		if err := r.add(k); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *Ring) add(k []byte) error {
	if len(k) != KeySize {
		return fmt.Errorf("keyring: master key of %d bytes, want %d", len(k), KeySize)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	r.keys = append(r.keys, masterKey{id: ID(k), aead: aead})
	return nil
}

// Current returns the identifier of the key Wrap uses, or "" for an empty ring.
func (r *Ring) Current() string {
	if len(r.keys) == 0 {
		return ""
	}
	return r.keys[len(r.keys)-1].id
}

// IDs returns the identifiers of the keys, oldest first.
func (r *Ring) IDs() []string {
	ids := make([]string, len(r.keys))
	for i, k := range r.keys {
		ids[i] = k.id
	}
	return ids
}

const wrapLabel = "omamori wrapped data key v1\x00"

func aad(keyID string, context []byte) []byte {
	return append([]byte(wrapLabel+keyID+"\x00"), context...)
}

// Wrap implements Wrapper with AES-256-GCM under the current key and a random nonce; the
// result is nonce || ciphertext || tag.
func (r *Ring) Wrap(key, context []byte) (string, []byte, error) {
	if len(r.keys) == 0 {
		return "", nil, ErrNoKey
	}
	k := r.keys[len(r.keys)-1]
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(key)+k.aead.Overhead())
	rand.Read(nonce)
	return k.id, k.aead.Seal(nonce, nonce, key, aad(k.id, context)), nil
}

// Unwrap implements Wrapper.
func (r *Ring) Unwrap(keyID string, wrapped, context []byte) ([]byte, error) {
	for _, k := range r.keys {
		if k.id != keyID {
			continue
		}
		n := k.aead.NonceSize()
		if len(wrapped) < n+k.aead.Overhead() {
			return nil, fmt.Errorf("unwrap with master key %s: %w: too short", keyID, ErrWrongKey)
		}
		key, err := k.aead.Open(nil, wrapped[:n], wrapped[n:], aad(keyID, context))
		if err != nil {
			return nil, fmt.Errorf("unwrap with master key %s: %w", keyID, ErrWrongKey)
		}
		return key, nil
	}
	return nil, fmt.Errorf("%w: %s (the ring holds %s)", ErrUnknownKey, keyID, strings.Join(r.IDs(), ", "))
}

// Generate returns a new random master key.
func Generate() []byte {
	k := make([]byte, KeySize)
	rand.Read(k)
	return k
}

// Encode returns the text form of a key: standard base64.
func Encode(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// Parse reads keys in text form: base64 keys separated by newlines or commas; blank lines and
// lines starting with '#' are ignored. It is the form of both the key file and the environment
// variable.
func Parse(text string) (*Ring, error) {
	r := &Ring{}
	sc := bufio.NewScanner(strings.NewReader(text))
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		for f := range strings.SplitSeq(s, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			k, err := base64.StdEncoding.DecodeString(f)
			if err != nil {
				return nil, fmt.Errorf("keyring: line %d: not base64: %w", line, err)
			}
			if err := r.add(k); err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
		}
	}
	return r, nil
}

// Load reads the ring from the environment value env if it is not empty, and from the key
// file otherwise. It returns ErrNoKey, wrapped, when neither holds a key.
func Load(file, env string) (*Ring, error) {
	if env != "" {
		r, err := Parse(env)
		if err != nil {
			return nil, fmt.Errorf("load master keys from the environment: %w", err)
		}
		if len(r.keys) == 0 {
			return nil, fmt.Errorf("load master keys from the environment: %w", ErrNoKey)
		}
		return r, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("load master keys: %w: %s does not exist", ErrNoKey, file)
		}
		return nil, fmt.Errorf("load master keys: %w", err)
	}
	r, err := Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("load master keys from %s: %w", file, err)
	}
	if len(r.keys) == 0 {
		return nil, fmt.Errorf("load master keys from %s: %w", file, ErrNoKey)
	}
	return r, nil
}

// Create writes a key file holding one new key, readable by its owner only. It fails if the
// file exists: a master key is never overwritten, since the segments it wraps would be lost.
func Create(file string) (*Ring, error) {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, fmt.Errorf("create key file: %w", err)
	}
	k := Generate()
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create key file: %w", err)
	}
	if _, err := fmt.Fprintf(f, "%s%s\n", fileHeader, Encode(k)); err != nil {
		f.Close()
		return nil, fmt.Errorf("create key file: %w", err)
	}
	if err := closeSynced(f); err != nil {
		return nil, fmt.Errorf("create key file: %w", err)
	}
	return New(k)
}

const fileHeader = `# omamori archive master keys, oldest first; the last one wraps new segments.
# Keep a copy of this file somewhere safe and apart from the data: without it the
# archive cannot be read. Never delete a line while segments it wrapped remain.
`

// Rotate appends a new key to the key file and returns the ring with it current. Segments
// written from now on use the new key; older ones keep theirs.
func Rotate(file string) (*Ring, string, error) {
	r, err := Load(file, "")
	if err != nil {
		return nil, "", err
	}
	k := Generate()
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("rotate master key: %w", err)
	}
	if _, err := fmt.Fprintf(f, "%s\n", Encode(k)); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("rotate master key: %w", err)
	}
	if err := closeSynced(f); err != nil {
		return nil, "", fmt.Errorf("rotate master key: %w", err)
	}
	if err := r.add(k); err != nil {
		return nil, "", err
	}
	return r, r.Current(), nil
}

func closeSynced(f *os.File) error {
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// LoadOrCreate is Load, except that with no environment value and no key file it creates the
// file with a new key (reporting created), as a first start does.
func LoadOrCreate(file, env string) (r *Ring, created bool, err error) {
	if env == "" {
		if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
			r, err := Create(file)
			return r, err == nil, err
		}
	}
	r, err = Load(file, env)
	return r, false, err
}

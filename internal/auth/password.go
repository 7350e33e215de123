package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/omamori-project/omamori/internal/store"
)

// Argon2Params are the cost of hashing one password with argon2id.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultArgon2 is RFC 9106 §4's second recommended option (argon2id, 64 MiB, 3 passes,
// 4 lanes, 128-bit salt, 256-bit tag), which is also well above OWASP's Password Storage
// Cheat Sheet minimum (19 MiB, 2 passes, 1 lane). RFC 9106's first option (2 GiB) does not
// fit a clinic's small server. Measured with BenchmarkHashPassword on the shared 2-core
// development VM under a load average of 18 (so an upper bound): 0.75–1.06 s per hash, against
// 0.19 s for OWASP's minimum; on an idle core it is a fraction of that. Accounts lets at most
// two run at once, so sign-in never holds more than 128 MiB for hashing however many requests
// arrive, and a locked-out name or address is refused before any hash is computed.
var DefaultArgon2 = Argon2Params{Memory: 64 * 1024, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32}

// Password length bounds. NIST SP 800-63B asks for at least 15 characters where a password
// is the only factor and allows 8 with a second; 12 is a middle that a busy ward can live
// with, and TOTP is required for the roles that can change things most. The upper bound
// keeps a megabyte "password" from being hashed.
const (
	MinPasswordLen = 12  // characters
	MaxPasswordLen = 256 // bytes
)

// ErrWeakPassword is wrapped by ValidatePassword's errors.
var ErrWeakPassword = errors.New("password not acceptable")

// ValidatePassword checks a new password for user name against the length bounds and
// against being the name itself.
func ValidatePassword(name, password string) error {
	if n := utf8.RuneCountInString(password); n < MinPasswordLen {
		return fmt.Errorf("%w: it has %d characters, at least %d are needed", ErrWeakPassword, n, MinPasswordLen)
	}
	if len(password) > MaxPasswordLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrWeakPassword, MaxPasswordLen)
	}
	if strings.EqualFold(password, name) {
		return fmt.Errorf("%w: it is the user name", ErrWeakPassword)
	}
	return nil
}

var b64 = base64.RawStdEncoding

// HashPassword hashes password with argon2id under p and returns it in the PHC string format
// that other tools read: $argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>.
func HashPassword(password string, p Argon2Params) store.PasswordHash {
	salt := make([]byte, p.SaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return store.PasswordHash(fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)))
}

// CheckPassword reports whether password matches hash, and whether hash was made with
// weaker parameters than want, so that the caller re-hashes the password it now knows.
// An error means the hash itself is not one this package reads.
func CheckPassword(hash store.PasswordHash, password string, want Argon2Params) (ok, rehash bool, err error) {
	p, salt, key, err := parseHash(string(hash))
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	ok = subtle.ConstantTimeCompare(got, key) == 1
	rehash = p.Memory < want.Memory || p.Time < want.Time || uint32(len(key)) < want.KeyLen
	return ok, rehash, nil
}

// ErrBadHash is wrapped by the error for a stored hash that is not argon2id in PHC format.
var ErrBadHash = errors.New("auth: unreadable password hash")

func parseHash(s string) (p Argon2Params, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: not $argon2id$…", ErrBadHash)
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, fmt.Errorf("%w: version %q", ErrBadHash, parts[2])
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, fmt.Errorf("%w: parameters %q", ErrBadHash, parts[3])
	}
	if p.Memory < 8*uint32(p.Threads) || p.Time == 0 || p.Threads == 0 || p.Memory > 4<<20 {
		return p, nil, nil, fmt.Errorf("%w: parameters out of range %q", ErrBadHash, parts[3])
	}
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, fmt.Errorf("%w: salt", ErrBadHash)
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 {
		return p, nil, nil, fmt.Errorf("%w: hash", ErrBadHash)
	}
	return p, salt, key, nil
}

// NewPassword returns a random password for a new account (the demo's, or one an admin
// hands over to be changed): 20 characters from an alphabet without look-alikes.
func NewPassword() string {
	return rand.Text()[:20]
}

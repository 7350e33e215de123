package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/omamori-project/omamori/internal/store"
)

// cheap keeps tests fast; the format and comparison are the same as with DefaultArgon2.
var cheap = Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestPassword(t *testing.T) {
	h := HashPassword("correct horse battery", cheap)
	if !strings.HasPrefix(string(h), "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("HashPassword = %s", h)
	}
	if h2 := HashPassword("correct horse battery", cheap); h2 == h {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, c := range []struct {
		pw         string
		want       Argon2Params
		ok, rehash bool
	}{
		{"correct horse battery", cheap, true, false},
		{"correct horse batterY", cheap, false, false},
		{"correct horse battery", DefaultArgon2, true, true},
	} {
		ok, rehash, err := CheckPassword(h, c.pw, c.want)
		if ok != c.ok || rehash != c.rehash || err != nil {
			t.Errorf("CheckPassword(%q) = %v, %v, %v; want %v, %v", c.pw, ok, rehash, err, c.ok, c.rehash)
		}
	}
	for _, bad := range []string{"", "$2a$10$bcrypt", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$", "$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"} {
		if _, _, err := CheckPassword(storeHash(bad), "x", cheap); !errors.Is(err, ErrBadHash) {
			t.Errorf("CheckPassword(hash %q) = %v, want ErrBadHash", bad, err)
		}
	}
}

func TestValidatePassword(t *testing.T) {
	for _, c := range []struct {
		name, pw string
		ok       bool
	}{
		{"sato", "short", false},
		{"sato", "とても長い日本語のパスワードです", true}, // 16 characters, 48 bytes
		{"administrator", "Administrator", false},
		{"sato", strings.Repeat("x", 300), false},
		{"sato", "twelve chars", true},
	} {
		if err := ValidatePassword(c.name, c.pw); (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrWeakPassword)) {
			t.Errorf("ValidatePassword(%q, %q) = %v, want ok=%v", c.name, c.pw, err, c.ok)
		}
	}
}

func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		HashPassword("correct horse battery staple", DefaultArgon2)
	}
}

func storeHash(s string) store.PasswordHash { return store.PasswordHash(s) }

package auth

import (
	"testing"
	"time"
)

// FuzzCheckPassword feeds the PHC hash reader anything: it must never panic, never accept
// a password against a hash it cannot read, and never ask argon2 for absurd memory.
func FuzzCheckPassword(f *testing.F) {
	f.Add(string(HashPassword("correct horse battery", cheap)), "correct horse battery")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "x")
	f.Add("$argon2id$v=19$m=0,t=0,p=0$$", "")
	f.Add("$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "x")
	f.Fuzz(func(t *testing.T, hash, password string) {
		p, _, _, err := parseHash(hash)
		if err != nil {
			if ok, _, _ := CheckPassword(storeHash(hash), password, cheap); ok {
				t.Fatalf("accepted a password against unreadable hash %q", hash)
			}
			return
		}
		if p.Memory > 1<<16 || p.Time > 4 { // keep the fuzzer fast; the bounds are tested elsewhere
			return
		}
		CheckPassword(storeHash(hash), password, cheap)
	})
}

// FuzzTOTP: codes of any shape are refused unless they are the key's code of a nearby step.
func FuzzTOTP(f *testing.F) {
	key := TOTPKey("12345678901234567890")
	now := time.Unix(1111111111, 0)
	f.Add(TOTP(key, now))
	f.Add("")
	f.Add("050471")
	f.Add("０５０４７１") // full-width digits, as a Japanese IME may type them
	f.Fuzz(func(t *testing.T, code string) {
		step, ok := checkTOTP(key, code, now)
		if ok && hotp(key, uint64(step), totpDigits) != code && hotp(key, uint64(step), totpDigits) != removeSpaces(code) {
			t.Fatalf("checkTOTP(%q) accepted step %d whose code is %s", code, step, hotp(key, uint64(step), totpDigits))
		}
	})
}

func removeSpaces(s string) string {
	out := []byte{}
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' {
			out = append(out, s[i])
		}
	}
	return string(out)
}

// FuzzParseTOTPKey: any text either fails cleanly or round-trips.
func FuzzParseTOTPKey(f *testing.F) {
	f.Add("JBSWY3DPEHPK3PXP")
	f.Add("jbsw y3dp ehpk 3pxp")
	f.Add("!!!")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseTOTPKey(s)
		if err != nil {
			return
		}
		back, err := ParseTOTPKey(k.Base32())
		if err != nil || string(back) != string(k) {
			t.Fatalf("ParseTOTPKey(%q) does not round-trip: %v", s, err)
		}
	})
}

package auth

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// RFC 6238 Appendix B, SHA-1 column: the reference key and 8-digit codes.
func TestTOTPVectors(t *testing.T) {
	key := []byte("12345678901234567890")
	for _, c := range []struct {
		unix int64
		want string
	}{
		{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"},
		{1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
	} {
		if got := hotp(key, uint64(c.unix/30), 8); got != c.want {
			t.Errorf("TOTP(t=%d) = %s, want %s", c.unix, got, c.want)
		}
	}
	// RFC 4226 Appendix D: the 6-digit HOTP values the 6-digit TOTP truncates the same way.
	for i, want := range []string{"755224", "287082", "359152", "969429", "338314"} {
		if got := hotp(key, uint64(i), 6); got != want {
			t.Errorf("HOTP(%d) = %s, want %s", i, got, want)
		}
	}
}

func TestCheckTOTP(t *testing.T) {
	key := NewTOTPKey()
	now := time.Date(2026, 4, 1, 9, 0, 15, 0, time.UTC)
	for _, c := range []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"now", now, true},
		{"one step early", now.Add(-30 * time.Second), true},
		{"one step late", now.Add(30 * time.Second), true},
		{"two steps early", now.Add(-60 * time.Second), false},
		{"two steps late", now.Add(61 * time.Second), false},
	} {
		step, ok := checkTOTP(key, TOTP(key, c.at), now)
		if ok != c.ok || (ok && step != totpStep(c.at)) {
			t.Errorf("%s: checkTOTP = %d, %v; want %d, %v", c.name, step, ok, totpStep(c.at), c.ok)
		}
	}
	for _, code := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := checkTOTP(key, code, now); ok {
			t.Errorf("checkTOTP(%q) accepted", code)
		}
	}
	spaced := TOTP(key, now)
	if _, ok := checkTOTP(key, spaced[:3]+" "+spaced[3:], now); !ok {
		t.Error("checkTOTP refused a code typed with a space")
	}
}

func TestTOTPKey(t *testing.T) {
	k := NewTOTPKey()
	back, err := ParseTOTPKey(strings.ToLower(k.Base32()))
	if err != nil || !bytes.Equal(back, k) {
		t.Errorf("ParseTOTPKey(Base32()) = %x, %v; want %x", back, err, []byte(k))
	}
	if _, err := ParseTOTPKey("not base32!"); err == nil {
		t.Error("ParseTOTPKey accepted junk")
	}
	uri := k.URI("omamori", "sato@tokyo")
	if !strings.HasPrefix(uri, "otpauth://totp/omamori:sato@tokyo?") || !strings.Contains(uri, "secret="+k.Base32()) {
		t.Errorf("URI = %s", uri)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "key", k)
	fmt.Fprintf(&buf, "%v %s %#v %x", k, k, k, k)
	if strings.Contains(buf.String(), k.Base32()) || strings.Contains(buf.String(), fmt.Sprintf("%x", []byte(k))) {
		t.Errorf("key leaks into output: %s", buf.String())
	}
}

func TestSealTOTP(t *testing.T) {
	key := NewTOTPKey()
	seal := bytes.Repeat([]byte{7}, 32)
	sealed, err := sealTOTP(seal, "u_1", key)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, key) {
		t.Error("sealed secret contains the key")
	}
	if got, err := openTOTP(seal, "u_1", sealed); err != nil || !bytes.Equal(got, key) {
		t.Errorf("openTOTP = %x, %v", got, err)
	}
	for name, f := range map[string]func() error{
		"other user": func() error { _, err := openTOTP(seal, "u_2", sealed); return err },
		"other key":  func() error { _, err := openTOTP(bytes.Repeat([]byte{8}, 32), "u_1", sealed); return err },
		"no key":     func() error { _, err := openTOTP(nil, "u_1", sealed); return err },
		"short":      func() error { _, err := openTOTP(seal, "u_1", sealed[:10]); return err },
	} {
		if err := f(); err == nil {
			t.Errorf("openTOTP(%s) succeeded", name)
		}
	}
	plain, _ := sealTOTP(nil, "u_1", key)
	if got, err := openTOTP(nil, "u_1", plain); err != nil || !bytes.Equal(got, key) {
		t.Errorf("openTOTP(unsealed) = %x, %v", got, err)
	}
}

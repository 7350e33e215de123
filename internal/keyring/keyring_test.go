package keyring

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrapUnwrapRoundTrip(t *testing.T) {
	r, err := New(Generate())
	if err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{0xab}, 32)
	id, wrapped, err := r.Wrap(key, []byte("segment a 0"))
	if err != nil {
		t.Fatal(err)
	}
	if id != r.Current() {
		t.Errorf("Wrap used key %s, want the current %s", id, r.Current())
	}
	if bytes.Contains(wrapped, key) {
		t.Error("the wrapped key holds the key in the clear")
	}
	got, err := r.Unwrap(id, wrapped, []byte("segment a 0"))
	if err != nil || !bytes.Equal(got, key) {
		t.Errorf("Unwrap = %x, %v, want %x", got, err, key)
	}
	// Two wraps of one key differ: the nonce is random.
	if _, again, _ := r.Wrap(key, []byte("segment a 0")); bytes.Equal(again, wrapped) {
		t.Error("two wraps of the same key are equal")
	}
}

func TestUnwrapRefuses(t *testing.T) {
	r, _ := New(Generate())
	other, _ := New(Generate())
	ctx := []byte("omamori segment a 256")
	id, wrapped, err := r.Wrap(Generate(), ctx)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(wrapped)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name    string
		ring    *Ring
		id      string
		wrapped []byte
		ctx     []byte
		want    error
	}{
		{"another context", r, id, wrapped, []byte("omamori segment b 256"), ErrWrongKey},
		{"a flipped bit", r, id, flipped, ctx, ErrWrongKey},
		{"cut short", r, id, wrapped[:10], ctx, ErrWrongKey},
		{"a ring without the key", other, id, wrapped, ctx, ErrUnknownKey},
		{"the id of another key", other, other.Current(), wrapped, ctx, ErrWrongKey},
		{"an empty ring", &Ring{}, id, wrapped, ctx, ErrUnknownKey},
	}
	for _, tt := range tests {
		got, err := tt.ring.Unwrap(tt.id, tt.wrapped, tt.ctx)
		if !errors.Is(err, tt.want) || got != nil {
			t.Errorf("%s: Unwrap = %x, %v, want nil, %v", tt.name, got, err, tt.want)
		}
	}
	if _, _, err := (&Ring{}).Wrap(Generate(), ctx); !errors.Is(err, ErrNoKey) {
		t.Errorf("Wrap with an empty ring = %v, want %v", err, ErrNoKey)
	}
}

func TestIDStableAndDistinct(t *testing.T) {
	k := bytes.Repeat([]byte{1}, KeySize)
	if ID(k) != ID(bytes.Clone(k)) {
		t.Error("ID of the same key differs")
	}
	if ID(k) == ID(Generate()) {
		t.Error("two keys have one ID")
	}
	if got := ID(k); len(got) != 16 || strings.Contains(got, Encode(k)) {
		t.Errorf("ID(%x) = %q, want 16 hex digits revealing nothing", k, got)
	}
}

func TestParse(t *testing.T) {
	k1, k2 := Generate(), Generate()
	tests := []struct {
		text    string
		ids     []string
		wantErr bool
	}{
		{"", nil, false},
		{"# comment\n\n" + Encode(k1) + "\n", []string{ID(k1)}, false},
		{Encode(k1) + "," + Encode(k2), []string{ID(k1), ID(k2)}, false},
		{" " + Encode(k1) + " ,\n  " + Encode(k2) + "\n", []string{ID(k1), ID(k2)}, false},
		{"not base64!", nil, true},
		{Encode([]byte("short")), nil, true},
	}
	for _, tt := range tests {
		r, err := Parse(tt.text)
		if (err != nil) != tt.wantErr {
			t.Errorf("Parse(%q) error = %v, want error %v", tt.text, err, tt.wantErr)
			continue
		}
		if err == nil && fmt.Sprint(r.IDs()) != fmt.Sprint(tt.ids) {
			t.Errorf("Parse(%q) IDs = %v, want %v", tt.text, r.IDs(), tt.ids)
		}
	}
}

func TestCreateLoadRotate(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys", "master.keys")
	if _, err := Load(file, ""); !errors.Is(err, ErrNoKey) {
		t.Errorf("Load of a missing file = %v, want %v", err, ErrNoKey)
	}
	r, err := Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if _, err := Create(file); err == nil {
		t.Error("Create over an existing key file succeeded: a master key would be lost")
	}
	ctx := []byte("c")
	oldID, wrapped, _ := r.Wrap([]byte("data key of an old segment......"), ctx)

	r2, newID, err := Rotate(file)
	if err != nil {
		t.Fatal(err)
	}
	if newID == oldID || r2.Current() != newID {
		t.Errorf("Rotate: current %s, new %s, old %s; want a new current key", r2.Current(), newID, oldID)
	}
	loaded, err := Load(file, "")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(loaded.IDs()) != fmt.Sprint([]string{oldID, newID}) {
		t.Errorf("after Rotate the file holds %v, want [%s %s]", loaded.IDs(), oldID, newID)
	}
	// Old segments stay readable; new ones use the new key.
	if got, err := loaded.Unwrap(oldID, wrapped, ctx); err != nil || string(got) != "data key of an old segment......" {
		t.Errorf("Unwrap with the rotated ring = %q, %v", got, err)
	}
	if id, _, _ := loaded.Wrap(Generate(), ctx); id != newID {
		t.Errorf("Wrap after Rotate used %s, want %s", id, newID)
	}
}

func TestLoadPrefersEnvironment(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "master.keys")
	fromFile, err := Create(file)
	if err != nil {
		t.Fatal(err)
	}
	k := Generate()
	r, err := Load(file, Encode(k))
	if err != nil || r.Current() != ID(k) {
		t.Errorf("Load with an environment key = %v, %v; want key %s, not the file's %s", r.IDs(), err, ID(k), fromFile.Current())
	}
	if _, err := Load(file, "# nothing"); !errors.Is(err, ErrNoKey) {
		t.Errorf("Load with an environment value holding no key = %v, want %v", err, ErrNoKey)
	}

	r, created, err := LoadOrCreate(filepath.Join(dir, "new", "master.keys"), "")
	if err != nil || !created || r.Current() == "" {
		t.Errorf("LoadOrCreate of a missing file = %v, created %v, %v; want a new key", r, created, err)
	}
	r, created, err = LoadOrCreate(file, "")
	if err != nil || created || r.Current() != fromFile.Current() {
		t.Errorf("LoadOrCreate of an existing file = %v, created %v, %v; want its key", r, created, err)
	}
}

func ExampleRing_Wrap() {
	r, _ := New(bytes.Repeat([]byte{7}, KeySize))
	id, wrapped, _ := r.Wrap([]byte("a segment's data key, 32 bytes.."), []byte("omamori segment t 0"))
	key, _ := r.Unwrap(id, wrapped, []byte("omamori segment t 0"))
	fmt.Println(id, string(key))
	// Output: 1bd794b7d4b32708 a segment's data key, 32 bytes..
}

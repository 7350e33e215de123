package ahocorasick

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// naive counts the occurrences of every pattern by brute force.
func naive(patterns []string, text string, fold bool) []int {
	if fold {
		text = asciiLower(text)
	}
	var got []int
	for i, p := range patterns {
		if p == "" {
			continue
		}
		if fold {
			p = asciiLower(p)
		}
		for j := 0; j+len(p) <= len(text); j++ {
			if text[j:j+len(p)] == p {
				got = append(got, i)
			}
		}
	}
	slices.Sort(got)
	return got
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func scan(m *Matcher, text string) []int {
	var got []int
	m.Each(text, func(p int) { got = append(got, p) })
	slices.Sort(got)
	return got
}

func TestEach(t *testing.T) {
	tests := []struct {
		patterns []string
		text     string
		fold     bool
	}{
		{[]string{"he", "she", "his", "hers"}, "ushers", false},
		{[]string{"a", "aa", "aaa"}, "aaaa", false},
		{[]string{"cmd.exe", "/c ", "powershell"}, `C:\Windows\System32\CMD.EXE /C whoami`, true},
		{[]string{"cmd.exe"}, `C:\Windows\System32\CMD.EXE`, false},
		{[]string{"", "x"}, "xx", false},
		{[]string{"\xff\x00", "\x00"}, "a\xff\x00b\x00", false},
	}
	for _, tt := range tests {
		m := New(tt.patterns, Options{Fold: tt.fold})
		got, want := scan(m, tt.text), naive(tt.patterns, tt.text, tt.fold)
		if !slices.Equal(got, want) {
			t.Errorf("New(%q, fold=%v).Each(%q) = %v, want %v", tt.patterns, tt.fold, tt.text, got, want)
		}
		app := m.Append(nil, tt.text)
		got2 := make([]int, len(app))
		for i, p := range app {
			got2[i] = int(p)
		}
		slices.Sort(got2)
		if !slices.Equal(got2, want) {
			t.Errorf("New(%q).Append(%q) = %v, want %v", tt.patterns, tt.text, got2, want)
		}
		if m.Contains(tt.text) != (len(want) > 0) {
			t.Errorf("New(%q).Contains(%q) = %v, want %v", tt.patterns, tt.text, !(len(want) > 0), len(want) > 0)
		}
	}
}

func TestRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte("abAB-c"[r.IntN(6)])
		}
		return b.String()
	}
	for i := range 200 {
		var patterns []string
		for range 1 + r.IntN(20) {
			patterns = append(patterns, word(1+r.IntN(5)))
		}
		text := word(r.IntN(60))
		fold := i%2 == 0
		got, want := scan(New(patterns, Options{Fold: fold}), text), naive(patterns, text, fold)
		if !slices.Equal(got, want) {
			t.Fatalf("New(%q, fold=%v).Each(%q) = %v, want %v", patterns, fold, text, got, want)
		}
	}
}

func TestAllBytes(t *testing.T) {
	var patterns []string
	for b := range 256 {
		patterns = append(patterns, string([]byte{byte(b), byte(255 - b)}))
	}
	text := "\x00\xff\x10\xef"
	got, want := scan(New(patterns, Options{}), text), naive(patterns, text, false)
	if !slices.Equal(got, want) {
		t.Errorf("Each(%q) = %v, want %v", text, got, want)
	}
}

func TestLarge(t *testing.T) {
	// More than 65536 states: the int32 table.
	r := rand.New(rand.NewPCG(5, 6))
	var patterns []string
	for range 8000 {
		var sb strings.Builder
		for range 12 {
			sb.WriteByte(byte('a' + r.IntN(26)))
		}
		patterns = append(patterns, sb.String())
	}
	m := New(patterns, Options{})
	if m.States() <= 1<<16 {
		t.Fatalf("States() = %d, want more than 65536", m.States())
	}
	text := "xx" + patterns[17] + patterns[4000][:5] + patterns[7999]
	if got, want := scan(m, text), naive(patterns, text, false); !slices.Equal(got, want) {
		t.Errorf("Each(%q) = %v, want %v", text, got, want)
	}
}

func FuzzEach(f *testing.F) {
	f.Add("he\x00she\x00hers", "ushers", true)
	f.Add("cmd.exe\x00/c", `C:\CMD.EXE /c`, false)
	f.Fuzz(func(t *testing.T, pats, text string, fold bool) {
		patterns := strings.Split(pats, "\x00")
		if len(patterns) > 50 || len(text) > 1000 {
			return
		}
		got, want := scan(New(patterns, Options{Fold: fold}), text), naive(patterns, text, fold)
		if !slices.Equal(got, want) {
			t.Fatalf("New(%q, fold=%v).Each(%q) = %v, want %v", patterns, fold, text, got, want)
		}
	})
}

func BenchmarkEach(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	var patterns []string
	for range 5000 {
		var sb strings.Builder
		for range 4 + r.IntN(12) {
			sb.WriteByte(byte('a' + r.IntN(26)))
		}
		patterns = append(patterns, sb.String())
	}
	m := New(patterns, Options{Fold: true})
	text := `"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" -NoProfile -ExecutionPolicy Bypass -Command "Get-Process | Where-Object {$_.CPU -gt 100}"`
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		m.Each(text, func(int) { n++ })
	}
}

func ExampleMatcher_Each() {
	m := New([]string{"powershell", "-enc", "bypass"}, Options{Fold: true})
	m.Each(`PowerShell.exe -ExecutionPolicy Bypass -Enc SQBFAFgA`, func(p int) {
		fmt.Println(p)
	})
	// Output:
	// 0
	// 2
	// 1
}

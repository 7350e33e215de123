package tenant

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"tokyo-general", true},
		{"hospital_a", true},
		{"0", true},
		{strings.Repeat("x", 63), true},
		{"", false},
		{strings.Repeat("x", 64), false},
		{"Tokyo", false},
		{"Tokyo General", false},
		{"-tokyo", false},
		{"_tokyo", false},
		{"a.b", false},
		{"a*", false},
		{">", false},
		{"a b", false},
		{"東京", false},
	} {
		id, err := Parse(tt.in)
		switch {
		case tt.ok && (err != nil || string(id) != tt.in):
			t.Errorf("Parse(%q) = %q, %v; want %q, nil", tt.in, id, err, tt.in)
		case !tt.ok && !errors.Is(err, ErrInvalid):
			t.Errorf("Parse(%q) = %q, %v; want an error wrapping %v", tt.in, id, err, ErrInvalid)
		}
	}
}

func ExampleParse() {
	_, err := Parse("Tokyo")
	fmt.Println(err)
	// Output: tenant: invalid ID "Tokyo": want 1 to 63 lower-case letters, digits, - or _, starting with a letter or digit
}

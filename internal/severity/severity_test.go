package severity

import (
	"fmt"
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Level
		ok   bool
	}{
		{"informational", Informational, true},
		{"low", Low, true},
		{"medium", Medium, true},
		{"high", High, true},
		{"critical", Critical, true},
		{"", "", false},
		{"severe", "", false},
		{"High", "", false},
	} {
		got, err := Parse(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("Parse(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestOrder(t *testing.T) {
	all := All()
	for i := 1; i < len(all); i++ {
		if Compare(all[i-1], all[i]) >= 0 || !all[i].AtLeast(all[i-1]) || all[i-1].AtLeast(all[i]) {
			t.Errorf("%s is not below %s", all[i-1], all[i])
		}
	}
	if Level("severe").AtLeast(Informational) {
		t.Errorf("an unknown level is at least informational")
	}
	all[0] = Critical // the caller's copy
	if All()[0] != Informational {
		t.Errorf("All()[0] = %s after a caller changed its copy, want informational", All()[0])
	}
	byRank := []Level{High, Informational, Critical, Low, Medium}
	slices.SortFunc(byRank, Compare)
	if !slices.Equal(byRank, All()) {
		t.Errorf("sorted by Compare = %v, want %v", byRank, All())
	}
}

func ExampleLevel_AtLeast() {
	min, _ := Parse("medium")
	for _, l := range All() {
		fmt.Println(l, l.AtLeast(min))
	}
	// Output:
	// informational false
	// low false
	// medium true
	// high true
	// critical true
}

package decode

import (
	"slices"
	"testing"
)

// TestExplain checks that Explain names the pairs a field comes from as the decoder reads
// them, directly or derived, and that a record with no key=value pairs gets none.
func TestExplain(t *testing.T) {
	fg := `<188>date=2024-05-01 time=08:31:05 devname="FGT60F" tz="+0900" logid="0102043009" type="event" subtype="user" srcip=192.0.2.46 user="dr.sato" action="authentication" status="failure"`
	tests := []struct {
		name, format, raw string
		field             string
		want              []string // pairs the field must list
		not               []string // pairs it must not
	}{
		{"direct", "syslog", fg, "source.ip", []string{"srcip=192.0.2.46"}, []string{`user="dr.sato"`, `status="failure"`}},
		{"derived", "syslog", fg, "event.outcome", []string{`status="failure"`, `action="authentication"`}, []string{"srcip=192.0.2.46"}},
		{"time", "syslog", fg, "@timestamp", []string{"date=2024-05-01", "time=08:31:05", `tz="+0900"`}, []string{`user="dr.sato"`}},
		{"no pairs", "syslog", "<13>May  1 10:00:00 host sshd[1]: Failed password for root from 192.0.2.9 port 22 ssh2", "source.ip", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields, _, err := Explain(tt.format, []byte(tt.raw), Options{})
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(fields, func(o Origin) bool { return o.Field == tt.field })
			if i < 0 {
				t.Fatalf("no %s in %+v", tt.field, fields)
			}
			got := fields[i].Pairs
			for _, p := range tt.want {
				if !slices.Contains(got, p) {
					t.Errorf("%s comes from %q, want %s among them", tt.field, got, p)
				}
			}
			for _, p := range tt.not {
				if slices.Contains(got, p) {
					t.Errorf("%s comes from %q, want not %s", tt.field, got, p)
				}
			}
			if tt.want == nil && len(got) != 0 {
				t.Errorf("%s comes from %q in a record with no pairs", tt.field, got)
			}
		})
	}
}

package decode

import "testing"

func TestWinRender(t *testing.T) {
	tests := []struct{ in, want string }{
		{"%%4417\n\t\t\t\t", "%%4417 WriteData (or AddFile)"},
		{"%%1537\n\t\t\t\t%%4418\n\t\t\t\t", "%%1537 DELETE\n%%4418 AppendData (or AddSubdirectory or CreatePipeInstance)"},
		{"%%9999 %%4416", "%%9999\n%%4416 ReadData (or ListDirectory)"}, // a code not in the table stays
		{"%%8449, %%8451", "%%8449 Success added,\n%%8451 Failure added"},
	}
	for _, tt := range tests {
		if got := winRender(tt.in); got != tt.want {
			t.Errorf("winRender(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

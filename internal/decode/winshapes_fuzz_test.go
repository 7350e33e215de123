package decode

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzWindowsShapes reads whole files in each Windows shape (streams, arrays, <Events>) and
// single records through each record decoder and through the per-record "windows" decoder,
// seeded with testdata/windows.
func FuzzWindowsShapes(f *testing.F) {
	files, _ := filepath.Glob("testdata/windows/*")
	n := 0
	for _, p := range files {
		if filepath.Ext(p) == ".golden" || filepath.Base(p) == "README.md" {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		n++
	}
	if n == 0 {
		f.Fatal("no seed files in testdata/windows")
	}
	jsonSeedLines(f, "testdata/windows/*.json")
	decs := []Decoder{newNXLogDecoder(Options{}), newWinlogbeat6Decoder(Options{}),
		newLogAnalyticsDecoder(Options{}), newWEFDecoder(Options{}), newWinAnyDecoder(Options{})}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, format := range []string{"nxlog", "winlogbeat6", "log-analytics", "wef-xml"} {
			jsonFuzzStream(t, format, data)
		}
		for _, d := range decs {
			jsonFuzzDecode(t, d, data)
		}
	})
}

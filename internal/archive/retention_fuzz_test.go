package archive

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzRetentionFile feeds arbitrary bytes to the reader of a tenant's retention file, which
// Open and Verify trust no more than any other file: it must not panic, must keep only whole
// lines, and the gaps it accounts for must agree with those it does not.
func FuzzRetentionFile(f *testing.F) {
	d := Deletion{Tenant: "clinic-a", Segment: segName(256), First: 256, End: 512, Latest: time.Unix(1e9, 0).UTC(),
		Bytes: 13000, Root: make([]byte, 32), Subtrees: []HexBytes{make([]byte, 32)}, Reason: "retention period 87600h0m0s",
		Deleted: time.Unix(2e9, 0).UTC(), Record: 2000, Nodes: []Node{{Level: 3, Index: 40, Hash: make([]byte, 32)}}}
	line, _ := json.Marshal(d)
	d.First, d.End, d.Segment, d.Record = 0, 256, segName(0), 2001
	line0, _ := json.Marshal(d)
	f.Add(append(line, '\n'), uint64(0), uint64(512))
	f.Add(append(append(append(line0, '\n'), line...), '\n'), uint64(0), uint64(512))
	f.Add(append(append(line0, '\n'), line[:40]...), uint64(0), uint64(300))
	f.Add([]byte("\n\n{}\n"), uint64(7), uint64(3))
	f.Add([]byte(`{"first":5,"end":1}`+"\n"), uint64(0), uint64(9))
	f.Fuzz(func(t *testing.T, b []byte, begin, end uint64) {
		ds, good, err := parseRetention(b)
		if good < 0 || good > int64(len(b)) || (good > 0 && b[good-1] != '\n') {
			t.Fatalf("parseRetention says %d bytes of %d hold whole lines", good, len(b))
		}
		if err != nil {
			return
		}
		for _, d := range ds {
			if _, err := json.Marshal(d); err != nil {
				t.Fatalf("line %+v does not marshal: %v", d, err)
			}
		}
		begin, end = begin%4096, end%4096
		_, ok := retentionCovers(ds, begin, end)
		gaps := retentionGaps(ds, begin, end)
		if ok && len(gaps) != 0 {
			t.Fatalf("retentionCovers(%d, %d) = true, but gaps %v remain", begin, end, gaps)
		}
		if !ok && begin < end && len(gaps) == 0 {
			t.Logf("[%d, %d) covered only by overlapping lines", begin, end)
		}
		keptNodes(ds)
	})
}

package archive

import (
	"bytes"
	"slices"

	"github.com/transparency-dev/merkle/compact"
)

// How Verify follows a tenant's tree through records deleted by retention (see retention.go).

// fillGap follows the tree through deletions ds, which account for the records between the
// last segment verified and the next one: from the stored hashes of their 256-record
// subtrees, checking the stored hashes above them and the checkpoints signed inside them.
// The root reached at the end of each deletion is checked later against its retention record.
func (v *verifier) fillGap(ds []Deletion) {
	for _, d := range ds {
		c := &retCheck{d: d}
		c.d.Nodes = nil
		v.retChecks[d.Record] = c
		v.rep.Retention = append(v.rep.Retention, c.d)
		if v.broken {
			continue
		}
		visit := v.visit(d.Segment, -1, -1)
		for i := d.First; i < d.End && !v.broken; i += tileSize {
			for v.nextCP < len(v.cps) && v.cps[v.nextCP].Size > i && v.cps[v.nextCP].Size < i+tileSize {
				v.checkpointInGap(d, i)
				v.nextCP++
			}
			k := i / tileSize
			if uint64(len(v.levels[0])) < (k+1)*32 {
				v.problem("tree", -1, int64(i), -1, "tree/L08 lacks the hash of records %d to %d, deleted by retention with %s: the tree cannot be followed past them",
					i, i+tileSize-1, d.Segment)
				v.broken = true
				break
			}
			r, err := v.fact.NewRange(i, i+tileSize, [][]byte{v.levels[0][k*32 : (k+1)*32 : (k+1)*32]})
			if err == nil {
				err = v.rng.AppendRange(r, visit)
			}
			if err != nil {
				v.problem(d.Segment, -1, int64(i), -1, "follow the tree through records deleted by retention: %v", err)
				v.broken = true
				break
			}
			v.checkpoints(d.Segment, -1, -1)
		}
		if !v.broken {
			c.root, _ = v.rng.GetRootHash(nil)
		}
	}
}

// checkpointInGap checks the next checkpoint, whose size lies inside the 256-record subtree
// at start, among records deleted by retention with d: the nodes kept for it must make its
// root with the tree before start, and the stored hash of the subtree.
func (v *verifier) checkpointInGap(d Deletion, start uint64) {
	cp := v.cps[v.nextCP]
	ids := checkpointNodes(cp.Size)
	nLeft := len(compact.RangeNodes(start, cp.Size, nil))
	left, err := v.fact.NewRange(v.rng.Begin(), v.rng.End(), slices.Clone(v.rng.Hashes()))
	if err != nil {
		v.problem(d.Segment, -1, int64(cp.Size-1), -1, "check %s: %v", cp.name, err)
		return
	}
	tile := v.fact.NewEmptyRange(start)
	for k, id := range ids {
		h, ok := v.nodes[id]
		if !ok {
			v.problem(retentionFile, -1, int64(cp.Size-1), -1, "%s, of %d records, lies among the records deleted by retention with %s, and the retention file lacks the hashes to check it",
				cp.name, cp.Size, d.Segment)
			return
		}
		begin, end := id.Coverage()
		for _, r := range []*compact.Range{tile, left} {
			if r == left && k >= nLeft {
				continue
			}
			n, err := v.fact.NewRange(begin, end, [][]byte{h})
			if err == nil {
				err = r.AppendRange(n, nil)
			}
			if err != nil {
				v.problem(retentionFile, -1, int64(cp.Size-1), -1, "hashes kept for %s: %v", cp.name, err)
				return
			}
		}
	}
	if hs := tile.Hashes(); len(hs) != 1 || !bytes.Equal(hs[0], v.levels[0][start/tileSize*32:(start/tileSize+1)*32]) {
		v.problem(retentionFile, -1, int64(start), -1, "the hashes kept for %s do not make the stored hash of records %d to %d (tree/L08 #%d): the retention file or the tree was altered",
			cp.name, start, start+tileSize-1, start/tileSize)
		return
	}
	if root, _ := left.GetRootHash(nil); !bytes.Equal(root, cp.Root) {
		v.problem(d.Segment, -1, int64(cp.Size-1), -1, "the tree of %d records, through the records deleted by retention, does not match %s: the stored hashes or the retention file were altered",
			cp.Size, cp.name)
	}
}

// checkRetention checks record i, found in block seq of segment name, if it is the retention
// record of a deletion that accounts for missing records.
func (v *verifier) checkRetention(name string, seq int, off int64, i uint64, rec []byte) {
	c := v.retChecks[i]
	if c == nil {
		return
	}
	c.seen = true
	if err := checkRetentionRecord(rec, c.d); err != nil {
		v.problem(name, seq, int64(i), off, "records %d to %d are missing, and the retention file says %s was deleted by retention, but %v",
			c.d.First, c.d.End-1, c.d.Segment, err)
		return
	}
	if i >= v.lastCPSize() {
		v.problem(name, seq, int64(i), off, "the retention record of %s is not covered by a signed checkpoint: nothing proves that the archive wrote it", c.d.Segment)
	}
	if c.root != nil && !bytes.Equal(c.root, c.d.Root) {
		v.problem(c.d.Segment, -1, int64(c.d.End-1), -1, "the stored subtree hashes of the records deleted by retention give root %x for %d records, but retention record %d states %x: the tree was altered",
			c.root, c.d.End, i, []byte(c.d.Root))
	}
}

// unseenRetention reports the deletions that account for missing records but whose retention
// record was not found.
func (v *verifier) unseenRetention() {
	var idx []uint64
	for i, c := range v.retChecks {
		if !c.seen {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	for _, i := range idx {
		d := v.retChecks[i].d
		v.problem(retentionFile, -1, int64(i), -1, "records %d to %d are missing; the retention file says %s was deleted by retention, noted by record %d, but the log holds no such record",
			d.First, d.End-1, d.Segment, i)
	}
}

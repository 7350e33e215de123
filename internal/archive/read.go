package archive

import (
	"context"
	"fmt"
	"os"

	"github.com/omamori-project/omamori/internal/event"
)

// Record is one archived record as read back.
type Record struct {
	Tenant string
	Index  uint64 // its leaf index in the tenant's tree
	Salt   []byte // its salt (16 bytes)
	Data   []byte // the stored bytes: a one-event batch (event.AppendBatch)
	Event  event.Event
}

// LeafHash returns the record's RFC 6962 leaf hash, SHA-256(0x00 || salt || data).
func (r *Record) LeafHash() []byte { return leafHash(r.Salt, r.Data) }

// decodeRecord fills r.Event from r.Data.
func decodeRecord(r *Record) error {
	n := 0
	err := event.DecodeBatch(r.Data, func(e *event.Event) error {
		n++
		r.Event = *e.Clone()
		return nil
	})
	if err == nil && n != 1 {
		err = fmt.Errorf("%w: record holds %d events", ErrCorrupt, n)
	}
	return err
}

// blockFilter says whether a block may hold what a reader looks for.
type blockFilter func(s *segInfo, k *segKeys, fr *frame) bool

// Records calls fn with every synced record of tenant whose index is in [begin, end), in order.
// The Record passed to fn is reused: fn copies what it keeps.
func (a *Archive) Records(ctx context.Context, tenant string, begin, end uint64, fn func(*Record) error) error {
	return a.scan(ctx, tenant, begin, end, nil, nil, fn)
}

// scan reads the blocks of tenant that overlap [begin, end) and pass filter, and calls fn with
// their records in that range. progress, if set, is called with the bytes of each block read or
// skipped.
func (a *Archive) scan(ctx context.Context, tenant string, begin, end uint64, filter blockFilter, progress func(int64), fn func(*Record) error) error {
	a.mu.Lock()
	t := a.tenants[tenant]
	if t == nil {
		a.mu.Unlock()
		return fmt.Errorf("read: no tenant %q in the archive", tenant)
	}
	end = min(end, t.synced)
	// The segments and frames written so far do not change; copy the lists and read unlocked.
	var segs []segInfo
	for _, s := range t.segs {
		if s.end <= begin || s.head.First >= end {
			continue
		}
		c := *s
		c.frames = c.frames[:len(c.frames):len(c.frames)]
		if _, err := t.keys(s); err != nil {
			a.mu.Unlock()
			return err
		}
		c.keys = s.keys
		segs = append(segs, c)
	}
	a.mu.Unlock()
	var r Record
	r.Tenant = tenant
	var salt [saltSize]byte
	var buf []byte
	for si := range segs {
		s := &segs[si]
		f, err := os.Open(s.path)
		if err != nil {
			return fmt.Errorf("read segment %s: %w", s.name(), err)
		}
		for bi := range s.frames {
			fr := &s.frames[bi]
			if err := ctx.Err(); err != nil {
				f.Close()
				return err
			}
			first, last := fr.Head.First, fr.Head.First+uint64(fr.Head.Count)
			if last <= begin || first >= end || fr.Head.First >= s.end {
				if progress != nil {
					progress(fr.Len)
				}
				continue
			}
			if filter != nil && !filter(s, s.keys, fr) {
				if progress != nil {
					progress(fr.Len)
				}
				continue
			}
			f2, b2, body, err := readFrame(f, fr.Off, buf)
			buf = b2
			if err != nil {
				f.Close()
				return fmt.Errorf("segment %s block %d: %w", s.name(), bi, err)
			}
			compressed, err := openBlock(nil, s.keys, &f2, body)
			if err != nil {
				f.Close()
				return fmt.Errorf("segment %s block %d: %w", s.name(), bi, err)
			}
			plain, err := a.decodeAll(compressed)
			if err != nil {
				f.Close()
				return fmt.Errorf("segment %s block %d: %w", s.name(), bi, err)
			}
			err = splitRecords(plain, fr.Head.Count, func(i int, rec []byte) error {
				idx := first + uint64(i)
				if idx < begin || idx >= end {
					return nil
				}
				s.keys.saltOf(&salt, idx)
				r.Index, r.Salt, r.Data = idx, salt[:], rec
				if err := decodeRecord(&r); err != nil {
					return fmt.Errorf("record %d: %w", idx, err)
				}
				return fn(&r)
			})
			if progress != nil {
				progress(fr.Len)
			}
			if err != nil {
				f.Close()
				return fmt.Errorf("segment %s block %d: %w", s.name(), bi, err)
			}
		}
		f.Close()
	}
	return nil
}

// decodeAll decompresses a block; the decoder is safe for concurrent DecodeAll.
func (a *Archive) decodeAll(compressed []byte) ([]byte, error) {
	plain, err := a.dec.DecodeAll(compressed, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: decompress: %v", ErrCorrupt, err)
	}
	return plain, nil
}

package store

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestArchiveCheckpoints(t *testing.T) {
	each(t, func(t *testing.T, s *Store, reopen func() *Store) {
		ctx := t.Context()
		const origin = "omamori.archive/0123abcd/clinic-a"
		if n, err := s.ArchiveCheckpoint(ctx, origin); n != nil || err != nil {
			t.Fatalf("ArchiveCheckpoint(none kept) = %q, %v; want nil, nil", n, err)
		}
		steps := []struct {
			old, size uint64
			note      string
			want      bool
		}{
			{5, 10, "ten", false},     // none is kept: only old 0 may begin
			{0, 10, "ten", true},      // the first
			{0, 20, "twenty", false},  // a second writer that read "none"
			{5, 20, "twenty", false},  // a writer that read another size
			{10, 20, "twenty", true},  // from the one kept
			{10, 30, "thirty", false}, // from the one replaced
		}
		for _, st := range steps {
			ok, err := s.AdvanceArchiveCheckpoint(ctx, origin, st.old, st.size, []byte(st.note))
			if err != nil || ok != st.want {
				t.Errorf("AdvanceArchiveCheckpoint(old %d, size %d) = %v, %v; want %v", st.old, st.size, ok, err, st.want)
			}
		}
		if _, err := s.AdvanceArchiveCheckpoint(ctx, "omamori.archive/0123abcd/clinic-b", 0, 3, []byte("three")); err != nil {
			t.Fatal(err)
		}
		s = reopen()
		if n, err := s.ArchiveCheckpoint(ctx, origin); string(n) != "twenty" || err != nil {
			t.Errorf("ArchiveCheckpoint = %q, %v; want twenty", n, err)
		}
		all, err := s.ArchiveCheckpoints(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []ArchiveCheckpoint{
			{Origin: "omamori.archive/0123abcd/clinic-a", Size: 20, Note: []byte("twenty")},
			{Origin: "omamori.archive/0123abcd/clinic-b", Size: 3, Note: []byte("three")},
		}
		if d := cmp.Diff(want, all, cmpopts.IgnoreFields(ArchiveCheckpoint{}, "Updated")); d != "" {
			t.Errorf("ArchiveCheckpoints (-want +got):\n%s", d)
		}
	})
}

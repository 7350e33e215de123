package store

import (
	"errors"
	"testing"
	"time"
)

func TestDocuments(t *testing.T) {
	each(t, func(t *testing.T, s *Store, reopen func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "tokyo")
		mustTenant(t, s, "osaka")
		tokyo := s.Tenant("tokyo")
		if _, err := tokyo.Document(ctx, DocAccessDirectory); !errors.Is(err, ErrNotFound) {
			t.Errorf("Document before any = %v, want ErrNotFound", err)
		}
		before := time.Now().Add(-time.Second)
		for _, body := range []string{`{"staff":[{"id":"D001"}]}`, `{"staff":[{"id":"D001"},{"id":"N002"}]}`} {
			if err := tokyo.PutDocument(ctx, "token:hr", DocAccessDirectory, []byte(body), "2 staff"); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Tenant("osaka").PutDocument(ctx, "token:it", DocAssets, []byte("address,name\n"), "0 assets"); err != nil {
			t.Fatal(err)
		}
		s = reopen()
		d, err := s.Tenant("tokyo").Document(ctx, DocAccessDirectory)
		if err != nil || string(d.Body) != `{"staff":[{"id":"D001"},{"id":"N002"}]}` || d.Updated.Before(before) || d.Updated.After(time.Now()) {
			t.Errorf("Document = %+v, %v; want the second, and when it was kept", d, err)
		}
		if _, err := s.Tenant("osaka").Document(ctx, DocAccessDirectory); !errors.Is(err, ErrNotFound) {
			t.Errorf("osaka's directory = %v, want ErrNotFound: tokyo's is not osaka's", err)
		}
		if _, err := s.Tenant("tokyo").Document(ctx, DocAssets); !errors.Is(err, ErrNotFound) {
			t.Errorf("tokyo's assets = %v, want ErrNotFound: osaka's are not tokyo's", err)
		}
		if err := s.Tenant("nowhere").PutDocument(ctx, "x", DocAssets, []byte("{}"), ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("PutDocument(unknown tenant) = %v, want ErrNotFound", err)
		}
		log, _ := s.Tenant("tokyo").AuditLog(ctx, 1)
		if len(log) != 1 || log[0].Action != "access.directory.replace" || log[0].Actor != "token:hr" || log[0].Detail != "2 staff" {
			t.Errorf("audit = %+v, want the replacement by token:hr", log)
		}
		// What another node sees when it looks for news.
		all, err := s.DocumentsSince(ctx, DocAccessDirectory, before)
		if err != nil || len(all) != 1 || all[0].Tenant != "tokyo" {
			t.Errorf("DocumentsSince(directories, before) = %+v, %v; want tokyo's", all, err)
		}
		if none, _ := s.DocumentsSince(ctx, DocAccessDirectory, d.Updated); len(none) != 0 {
			t.Errorf("DocumentsSince(the last update) = %+v; want nothing newer", none)
		}
		if as, _ := s.DocumentsSince(ctx, DocAssets, time.Time{}); len(as) != 1 || as[0].Tenant != "osaka" {
			t.Errorf("DocumentsSince(assets) = %+v; want osaka's", as)
		}
	})
}

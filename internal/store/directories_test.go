package store

import (
	"errors"
	"testing"
	"time"
)

func TestAccessDirectory(t *testing.T) {
	each(t, func(t *testing.T, s *Store, reopen func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "tokyo")
		mustTenant(t, s, "osaka")
		tokyo := s.Tenant("tokyo")
		if _, _, err := tokyo.AccessDirectory(ctx); !errors.Is(err, ErrNotFound) {
			t.Errorf("AccessDirectory before any = %v, want ErrNotFound", err)
		}
		for _, body := range []string{`{"staff":[{"id":"D001"}]}`, `{"staff":[{"id":"D001"},{"id":"N002"}]}`} {
			if err := tokyo.SetAccessDirectory(ctx, "token:hr", []byte(body), "2 staff"); err != nil {
				t.Fatal(err)
			}
		}
		s = reopen()
		body, updated, err := s.Tenant("tokyo").AccessDirectory(ctx)
		if err != nil || string(body) != `{"staff":[{"id":"D001"},{"id":"N002"}]}` || updated.IsZero() || updated.After(time.Now()) {
			t.Errorf("AccessDirectory = %s, %v, %v; want the second, and when it was kept", body, updated, err)
		}
		if _, _, err := s.Tenant("osaka").AccessDirectory(ctx); !errors.Is(err, ErrNotFound) {
			t.Errorf("osaka's AccessDirectory = %v, want ErrNotFound: tokyo's is not osaka's", err)
		}
		if err := s.Tenant("nowhere").SetAccessDirectory(ctx, "x", []byte("{}"), ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetAccessDirectory(unknown tenant) = %v, want ErrNotFound", err)
		}
		log, _ := s.Tenant("tokyo").AuditLog(ctx, 1)
		if len(log) != 1 || log[0].Action != "access.directory.replace" || log[0].Actor != "token:hr" {
			t.Errorf("audit = %+v, want the replacement by token:hr", log)
		}
	})
}

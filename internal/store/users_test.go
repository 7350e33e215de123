package store

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func newUser(name string) User {
	return User{ID: "u-" + name, Name: name, DisplayName: "Dr. " + name, PasswordHash: PasswordHash("$argon2id$fake$" + name), Created: t0}
}

func TestUsers(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "tokyo")
		mustTenant(t, s, "osaka")
		tokyo, osaka := s.Tenant("tokyo"), s.Tenant("osaka")

		u := newUser("sato")
		u.TOTPSecret = SealedSecret("sealed")
		got, err := tokyo.CreateUser(ctx, "cli", u)
		if err != nil {
			t.Fatalf("CreateUser = %v", err)
		}
		if got.Tenant != "tokyo" || !got.Created.Equal(dbTime(t0)) {
			t.Errorf("CreateUser = %+v", got)
		}
		if _, err := osaka.CreateUser(ctx, "cli", User{ID: "u-other", Name: "sato", PasswordHash: "x"}); !errors.Is(err, ErrExists) {
			t.Errorf("CreateUser(same name, other tenant) = %v, want ErrExists: names are global", err)
		}
		if _, err := s.Tenant("nowhere").CreateUser(ctx, "cli", newUser("x")); !errors.Is(err, ErrNotFound) {
			t.Errorf("CreateUser(unknown tenant) = %v, want ErrNotFound", err)
		}
		if _, err := tokyo.CreateUser(ctx, "cli", User{ID: "u-y", Name: "y"}); err == nil {
			t.Error("CreateUser(no hash) succeeded")
		}

		// Isolation: osaka cannot see or change tokyo's user.
		if _, err := osaka.User(ctx, u.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("osaka.User(tokyo's) = %v, want ErrNotFound", err)
		}
		if err := osaka.DisableUser(ctx, "x", u.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("osaka.DisableUser(tokyo's) = %v, want ErrNotFound", err)
		}
		if err := osaka.SetPassword(ctx, "x", u.ID, "h", false); !errors.Is(err, ErrNotFound) {
			t.Errorf("osaka.SetPassword(tokyo's) = %v, want ErrNotFound", err)
		}
		if us, _ := osaka.Users(ctx); len(us) != 0 {
			t.Errorf("osaka.Users = %v, want none", us)
		}
		if us, _ := tokyo.Users(ctx); len(us) != 1 || us[0].Name != "sato" || string(us[0].TOTPSecret) != "sealed" {
			t.Errorf("tokyo.Users = %+v", us)
		}

		// Sign-in reads across tenants.
		byName, err := s.LookupUser(ctx, "sato")
		if err != nil || byName.ID != u.ID || byName.PasswordHash != u.PasswordHash {
			t.Errorf("LookupUser = %+v, %v", byName, err)
		}
		if _, err := s.LookupUser(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
			t.Errorf("LookupUser(nobody) = %v, want ErrNotFound", err)
		}

		// A regional SOC analyst holds roles in both hospitals.
		for _, g := range []struct {
			sc   Scope
			role string
		}{{tokyo, "analyst_l1"}, {tokyo, "approver"}, {osaka, "analyst_l2"}, {tokyo, "approver"}} {
			if err := g.sc.Grant(ctx, "user:admin", u.ID, g.role); err != nil {
				t.Fatalf("Grant(%s, %s) = %v", g.sc.ID(), g.role, err)
			}
		}
		gs, err := s.UserGrants(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		var have []string
		for _, g := range gs {
			have = append(have, g.Tenant+"/"+g.Role)
		}
		if want := "osaka/analyst_l2 tokyo/analyst_l1 tokyo/approver"; strings.Join(have, " ") != want {
			t.Errorf("UserGrants = %v, want %s", have, want)
		}
		if og, _ := osaka.Grants(ctx); len(og) != 1 || og[0].Role != "analyst_l2" || og[0].GrantedBy != "user:admin" {
			t.Errorf("osaka.Grants = %+v", og)
		}
		if err := osaka.Revoke(ctx, "user:admin", u.ID, "approver"); !errors.Is(err, ErrNotFound) {
			t.Errorf("osaka.Revoke(role held in tokyo) = %v, want ErrNotFound", err)
		}
		if err := tokyo.Revoke(ctx, "user:admin", u.ID, "approver"); err != nil {
			t.Errorf("Revoke = %v", err)
		}
		if err := s.Tenant("nowhere").Grant(ctx, "x", u.ID, "viewer"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Grant(unknown tenant) = %v, want ErrNotFound", err)
		}
		if err := tokyo.Grant(ctx, "x", "no-such-user", "viewer"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Grant(unknown user) = %v, want ErrNotFound", err)
		}

		// TOTP steps are used once.
		for _, c := range []struct {
			step int64
			want bool
		}{{100, true}, {100, false}, {99, false}, {101, true}} {
			if ok, err := s.UseTOTPStep(ctx, u.ID, c.step); ok != c.want || err != nil {
				t.Errorf("UseTOTPStep(%d) = %v, %v; want %v", c.step, ok, err, c.want)
			}
		}
		if err := tokyo.SetTOTP(ctx, "user:admin", u.ID, nil); err != nil {
			t.Fatal(err)
		}
		if got, _ := tokyo.User(ctx, u.ID); len(got.TOTPSecret) != 0 || got.TOTPStep != 0 {
			t.Errorf("after SetTOTP(nil): secret %q step %d", got.TOTPSecret, got.TOTPStep)
		}

		// Every admin action is in the tenant's audit log.
		var actions []string
		log, _ := tokyo.AuditLog(ctx, 100)
		for _, e := range log {
			actions = append(actions, e.Action)
		}
		if want := "user.totp role.revoke role.grant role.grant user.create tenant.create"; strings.Join(actions, " ") != want {
			t.Errorf("tokyo audit = %v, want %s", actions, want)
		}
	})
}

func TestSessions(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "tokyo")
		sc := s.Tenant("tokyo")
		u, err := sc.CreateUser(ctx, "cli", newUser("ito"))
		if err != nil {
			t.Fatal(err)
		}
		sess := Session{IDHash: []byte("hash-1"), User: u.ID, Stage: 2, CSRF: "csrf", Addr: "192.0.2.7",
			Created: t0, LastSeen: t0, Expires: t0.Add(12 * time.Hour)}
		if err := s.CreateSession(ctx, sess, true); err != nil {
			t.Fatalf("CreateSession = %v", err)
		}
		if err := s.CreateSession(ctx, sess, false); !errors.Is(err, ErrExists) {
			t.Errorf("CreateSession(same ID) = %v, want ErrExists", err)
		}
		got, err := s.SessionByHash(ctx, sess.IDHash)
		if err != nil || got.User != u.ID || got.Stage != 2 || got.CSRF != "csrf" || !got.Expires.Equal(dbTime(sess.Expires)) {
			t.Errorf("SessionByHash = %+v, %v", got, err)
		}
		if err := s.TouchSession(ctx, sess.IDHash, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchSession(ctx, sess.IDHash, t0); err != nil { // never backwards
			t.Fatal(err)
		}
		if got, _ := s.SessionByHash(ctx, sess.IDHash); !got.LastSeen.Equal(dbTime(t0.Add(time.Minute))) {
			t.Errorf("LastSeen = %v, want %v", got.LastSeen, t0.Add(time.Minute))
		}

		// A password change ends every session. One set by an administrator is temporary
		// until its holder sets their own.
		if err := sc.SetPassword(ctx, "user:admin", u.ID, "new", true); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionByHash(ctx, sess.IDHash); !errors.Is(err, ErrNotFound) {
			t.Errorf("session after password change: %v, want ErrNotFound", err)
		}
		if got, err := s.UserByID(ctx, u.ID); err != nil || got.PasswordHash != "new" || !got.TemporaryPassword {
			t.Errorf("after an administrator's reset: %+v, %v; want hash new, temporary", got, err)
		}
		if err := sc.SetPassword(ctx, "user:"+u.ID, u.ID, "own", false); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.UserByID(ctx, u.ID); got.PasswordHash != "own" || got.TemporaryPassword {
			t.Errorf("after the holder's change: %+v; want hash own, not temporary", got)
		}

		// Expiry sweeps: absolute and idle.
		for i, c := range []struct{ last, expires time.Time }{
			{t0, t0.Add(time.Hour)},                    // idle too long
			{t0.Add(2 * time.Hour), t0.Add(time.Hour)}, // past its absolute end
			{t0.Add(2 * time.Hour), t0.Add(9 * time.Hour)},
		} {
			if err := s.CreateSession(ctx, Session{IDHash: fmt.Appendf(nil, "s%d", i), User: u.ID, Stage: 2,
				Created: t0, LastSeen: c.last, Expires: c.expires}, false); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.DeleteSessions(ctx, t0.Add(90*time.Minute), t0.Add(30*time.Minute))
		if err != nil || n != 2 {
			t.Errorf("DeleteSessions = %d, %v; want 2", n, err)
		}
		if err := s.DeleteSession(ctx, []byte("s2"), true); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteSession(ctx, []byte("s2"), true); err != nil {
			t.Errorf("DeleteSession(gone) = %v, want nil", err)
		}
		log, _ := sc.AuditLog(ctx, 1)
		if len(log) != 1 || log[0].Action != "session.delete" || log[0].Actor != "user:"+u.ID {
			t.Errorf("last audit entry = %+v, want the sign-out", log)
		}
	})
}

func TestSigninFailures(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ func() *Store) {
		ctx := t.Context()
		lock := func(prev Failures) Failures {
			n := prev.Count + 1
			f := Failures{Count: n}
			if n >= 3 {
				f.LockedUntil = t0.Add(time.Duration(n) * time.Minute)
			}
			return f
		}
		var wg sync.WaitGroup
		for range 4 { // at once: each is counted
			wg.Go(func() {
				if _, err := s.RecordSigninFailure(ctx, "user:sato", t0, lock); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		f, err := s.SigninFailures(ctx, "user:sato")
		if err != nil || f.Count != 4 || !f.LockedUntil.Equal(dbTime(t0.Add(4*time.Minute))) {
			t.Errorf("SigninFailures = %+v, %v; want 4 failures, locked 4 minutes", f, err)
		}
		if f, _ := s.SigninFailures(ctx, "addr:192.0.2.1"); f.Count != 0 || !f.LockedUntil.IsZero() {
			t.Errorf("SigninFailures(unknown) = %+v", f)
		}
		if err := s.ClearSigninFailures(ctx, "user:sato"); err != nil {
			t.Fatal(err)
		}
		if f, _ := s.SigninFailures(ctx, "user:sato"); f.Count != 0 {
			t.Errorf("after Clear: %+v", f)
		}
	})
}

func TestUserSecretsNotLogged(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	u := newUser("kato")
	u.TOTPSecret = SealedSecret("very-secret-key")
	log.Info("x", "user", u, "hash", u.PasswordHash, "secret", u.TOTPSecret)
	if s := buf.String(); strings.Contains(s, "very-secret-key") || strings.Contains(s, "argon2id") {
		t.Errorf("log line leaks a secret: %s", s)
	}
}

func TestTemporaryPassword(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "tokyo")
		u := newUser("kato")
		u.TemporaryPassword = true
		if _, err := s.Tenant("tokyo").CreateUser(ctx, "user:admin", u); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Tenant("tokyo").User(ctx, u.ID); err != nil || !got.TemporaryPassword {
			t.Errorf("User(kato) = %+v, %v; want a temporary password", got, err)
		}
		if got, _ := s.Tenant("tokyo").AuditLog(ctx, 1); len(got) != 1 || got[0].Action != "user.create" ||
			!strings.Contains(got[0].Detail, "password=temporary") {
			t.Errorf("audit of the creation = %+v; want it to say the password is temporary", got)
		}
	})
}

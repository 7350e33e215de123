package auth

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/store"
)

// clock is a settable time for the sign-in tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newAccounts(t *testing.T) (*Accounts, *store.Store, *clock) {
	s := openStore(t)
	c := &clock{t: time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)}
	a := NewAccounts(AccountsConfig{Store: s, Argon2: cheap, Now: c.now, SealKey: make([]byte, 32)})
	return a, s, c
}

func TestCreateUser(t *testing.T) {
	a, s, _ := newAccounts(t)
	ctx := t.Context()
	for _, c := range []struct {
		name string
		nu   NewUser
	}{
		{"bad name", NewUser{Tenant: "a", Name: "Sato San", Password: "long enough pw"}},
		{"short password", NewUser{Tenant: "a", Name: "sato", Password: "short"}},
		{"unknown role", NewUser{Tenant: "a", Name: "sato", Password: "long enough pw", Roles: []Role{"root"}}},
		{"admin without TOTP", NewUser{Tenant: "a", Name: "sato", Password: "long enough pw", Roles: []Role{RoleAdmin}}},
	} {
		if _, _, err := a.CreateUser(ctx, "cli", c.nu); !errors.Is(err, ErrInvalidUser) {
			t.Errorf("CreateUser(%s) = %v, want ErrInvalidUser", c.name, err)
		}
	}
	u, key, err := a.CreateUser(ctx, "cli", NewUser{Tenant: "a", Name: "sato", Password: "long enough pw", Roles: []Role{RoleAdmin}, TOTP: true})
	if err != nil || len(key) != 20 {
		t.Fatalf("CreateUser = %v, %v", u, err)
	}
	if strings.Contains(string(u.TOTPSecret), string(key)) {
		t.Error("stored TOTP secret is not sealed")
	}
	if got, err := a.TOTPKey(u); err != nil || string(got) != string(key) {
		t.Errorf("TOTPKey = %v", err)
	}
	gs, _ := s.UserGrants(ctx, u.ID)
	if len(gs) != 1 || gs[0].Role != "admin" || gs[0].Tenant != "a" {
		t.Errorf("grants = %+v", gs)
	}
}

func TestSignIn(t *testing.T) {
	a, s, clk := newAccounts(t)
	ctx := t.Context()
	_, key, err := a.CreateUser(ctx, "cli", NewUser{Tenant: "a", Name: "sato", Password: "long enough pw", Roles: []Role{RoleApprover}, TOTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.CreateUser(ctx, "cli", NewUser{Tenant: "b", Name: "ito", Password: "another long pw", Roles: []Role{RoleViewer}}); err != nil {
		t.Fatal(err)
	}

	// No TOTP enrolled: one step.
	c, need, err := a.SignIn(ctx, "ito", "another long pw", "192.0.2.1")
	if err != nil || need {
		t.Fatalf("SignIn(ito) = %v, %v", need, err)
	}
	cur, err := a.Session(ctx, c)
	if err != nil || cur.Name != "ito" || !cur.Can("b", ActionViewAlerts) || cur.Can("a", ActionViewAlerts) || cur.CSRF == "" {
		t.Errorf("Session = %+v, %v", cur, err)
	}

	// With TOTP: the half-way session opens nothing.
	half, need, err := a.SignIn(ctx, "SATO ", "long enough pw", "192.0.2.1")
	if err != nil || !need {
		t.Fatalf("SignIn(sato) = %v, %v; want a TOTP step", need, err)
	}
	if _, err := a.Session(ctx, half); !errors.Is(err, ErrNoSession) {
		t.Errorf("Session(half-way) = %v, want ErrNoSession", err)
	}
	if _, err := a.PendingCSRF(ctx, half); err != nil {
		t.Errorf("PendingCSRF = %v", err)
	}
	if _, err := a.SecondFactor(ctx, half, "000000", "192.0.2.1"); !errors.Is(err, ErrCode) && TOTP(key, clk.now()) != "000000" {
		t.Errorf("SecondFactor(wrong code) = %v, want ErrCode", err)
	}
	code := TOTP(key, clk.now())
	full, err := a.SecondFactor(ctx, half, code, "192.0.2.1")
	if err != nil || full == half {
		t.Fatalf("SecondFactor = %q, %v", full, err)
	}
	cur, err = a.Session(ctx, full)
	if err != nil || !cur.Can("a", ActionApproveDecisions) {
		t.Errorf("Session after TOTP = %+v, %v", cur, err)
	}
	if _, err := a.SecondFactor(ctx, half, code, "192.0.2.1"); !errors.Is(err, ErrNoSession) {
		t.Errorf("SecondFactor(half-way session reused) = %v, want ErrNoSession", err)
	}
	// The same code again, in a new sign-in, is a replay.
	half2, _, _ := a.SignIn(ctx, "sato", "long enough pw", "192.0.2.1")
	if _, err := a.SecondFactor(ctx, half2, code, "192.0.2.1"); !errors.Is(err, ErrCode) {
		t.Errorf("SecondFactor(replayed code) = %v, want ErrCode", err)
	}

	// Idle and absolute timeouts.
	clk.add(29 * time.Minute)
	if _, err := a.Session(ctx, full); err != nil {
		t.Errorf("Session after 29 idle minutes = %v", err)
	}
	clk.add(31 * time.Minute)
	if _, err := a.Session(ctx, full); !errors.Is(err, ErrNoSession) {
		t.Errorf("Session after 31 idle minutes = %v, want ErrNoSession", err)
	}
	c, _, _ = a.SignIn(ctx, "ito", "another long pw", "192.0.2.1")
	for range 12 * 3 { // active every 20 minutes for 12 hours
		clk.add(20 * time.Minute)
		a.Session(ctx, c)
	}
	if _, err := a.Session(ctx, c); !errors.Is(err, ErrNoSession) {
		t.Errorf("Session after 12 busy hours = %v, want ErrNoSession", err)
	}

	// The sweep removes what has ended.
	if n, err := a.Sweep(ctx); err != nil || n == 0 {
		t.Errorf("Sweep = %d, %v; want the ended sessions removed", n, err)
	}

	// Sign-out is audited.
	c, _, _ = a.SignIn(ctx, "ito", "another long pw", "192.0.2.1")
	if err := a.SignOut(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Session(ctx, c); !errors.Is(err, ErrNoSession) {
		t.Errorf("Session after sign-out = %v", err)
	}
	log, _ := s.Tenant("b").AuditLog(ctx, 1)
	if len(log) != 1 || log[0].Action != "session.delete" {
		t.Errorf("audit after sign-out = %+v", log)
	}
}

func TestTOTPRequired(t *testing.T) {
	a, s, _ := newAccounts(t)
	ctx := t.Context()
	u, _, err := a.CreateUser(ctx, "cli", NewUser{Tenant: "a", Name: "kato", Password: "long enough pw", Roles: []Role{RoleViewer}})
	if err != nil {
		t.Fatal(err)
	}
	// Granted admin later, by someone who did not enrol TOTP: sign-in must refuse.
	if err := s.Tenant("b").Grant(ctx, "cli", u.ID, string(RoleAdmin)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.SignIn(ctx, "kato", "long enough pw", "192.0.2.9"); !errors.Is(err, ErrTOTPRequired) {
		t.Errorf("SignIn(admin without TOTP) = %v, want ErrTOTPRequired", err)
	}
}

func TestLockout(t *testing.T) {
	a, _, clk := newAccounts(t)
	ctx := t.Context()
	if _, _, err := a.CreateUser(ctx, "cli", NewUser{Tenant: "a", Name: "sato", Password: "long enough pw", Roles: []Role{RoleViewer}}); err != nil {
		t.Fatal(err)
	}
	var locked *LockedError
	// Five free failures, then 30 s, 60 s, 120 s...
	for i := 1; i <= 5; i++ {
		if _, _, err := a.SignIn(ctx, "sato", "wrong", "192.0.2.1"); !errors.Is(err, ErrSignIn) {
			t.Fatalf("failure %d: %v, want ErrSignIn", i, err)
		}
	}
	for i, want := range []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute} {
		_, _, err := a.SignIn(ctx, "sato", "wrong", "192.0.2.1")
		if !errors.As(err, &locked) || locked.Until.Sub(clk.now()) != want {
			t.Fatalf("failure %d: %v, want locked for %v", 6+i, err, want)
		}
		// While locked, even the right password is refused, without a hash being computed.
		if _, _, err := a.SignIn(ctx, "sato", "long enough pw", "192.0.2.1"); !errors.As(err, &locked) {
			t.Fatalf("right password while locked: %v, want LockedError", err)
		}
		clk.add(want)
	}
	// Unknown names lock the same way, so a lock says nothing about which names exist.
	for range 6 {
		a.SignIn(ctx, "nobody", "wrong", "192.0.2.2")
	}
	if _, _, err := a.SignIn(ctx, "nobody", "wrong", "192.0.2.2"); !errors.As(err, &locked) {
		t.Errorf("unknown name after 7 failures: %v, want LockedError", err)
	}
	// The back-off ends; success clears the account's counter.
	if _, _, err := a.SignIn(ctx, "sato", "long enough pw", "192.0.2.1"); err != nil {
		t.Errorf("SignIn after back-off = %v", err)
	}
	if _, _, err := a.SignIn(ctx, "sato", "wrong", "192.0.2.1"); !errors.Is(err, ErrSignIn) {
		t.Errorf("first failure after success = %v, want ErrSignIn", err)
	}

	// One address spraying many names is locked after 20 failures.
	for i := range 20 {
		if _, _, err := a.SignIn(ctx, "user"+string(rune('a'+i)), "wrong", "2001:db8::1"); errors.As(err, &locked) {
			t.Fatalf("address locked after %d failures", i+1)
		}
	}
	if _, _, err := a.SignIn(ctx, "userz", "wrong", "2001:db8::1"); !errors.As(err, &locked) {
		t.Errorf("21st failure from one address: %v, want LockedError", err)
	}
	if _, _, err := a.SignIn(ctx, "sato", "long enough pw", "2001:db8::2"); !errors.As(err, &locked) {
		t.Errorf("same /64 after 21 failures: %v, want LockedError", err)
	}
}

// An account made with a password the administrator saw: its holder is told to change it,
// must prove the current one to do so, and afterwards only the new one signs in.
func TestChangePassword(t *testing.T) {
	a, _, _ := newAccounts(t)
	ctx := t.Context()
	const initial, chosen = "initial password 1", "my own passphrase 2"
	if _, _, err := a.CreateUser(ctx, "user:admin", NewUser{Tenant: "a", Name: "kato", Password: initial,
		Roles: []Role{RoleViewer}, TemporaryPassword: true}); err != nil {
		t.Fatal(err)
	}
	cookie, _, err := a.SignIn(ctx, "kato", initial, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if cur, err := a.Session(ctx, cookie); err != nil || !cur.MustChangePassword {
		t.Fatalf("Session = %+v, %v; want one that must change its password", cur, err)
	}
	for _, c := range []struct {
		what, current, next string
		want                error
	}{
		{"wrong current password", "guess guess guess", chosen, ErrSignIn},
		{"too short", initial, "short", ErrWeakPassword},
		{"the same", initial, initial, ErrSamePassword},
	} {
		if _, err := a.ChangePassword(ctx, cookie, c.current, c.next, "192.0.2.1"); !errors.Is(err, c.want) {
			t.Errorf("ChangePassword(%s) = %v; want %v", c.what, err, c.want)
		}
	}
	if _, err := a.ChangePassword(ctx, "no-such-session", initial, chosen, "192.0.2.1"); !errors.Is(err, ErrNoSession) {
		t.Errorf("ChangePassword(no session) = %v; want ErrNoSession", err)
	}
	fresh, err := a.ChangePassword(ctx, cookie, initial, chosen, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Session(ctx, cookie); !errors.Is(err, ErrNoSession) {
		t.Errorf("the old session after the change: %v; want ErrNoSession", err)
	}
	if cur, err := a.Session(ctx, fresh); err != nil || cur.MustChangePassword {
		t.Errorf("the new session = %+v, %v; want one free to work", cur, err)
	}
	if _, _, err := a.SignIn(ctx, "kato", initial, "192.0.2.1"); !errors.Is(err, ErrSignIn) {
		t.Errorf("SignIn(old password) = %v; want ErrSignIn", err)
	}
	if _, _, err := a.SignIn(ctx, "kato", chosen, "192.0.2.1"); err != nil {
		t.Errorf("SignIn(new password) = %v", err)
	}
}

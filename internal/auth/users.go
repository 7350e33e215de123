package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/store"
)

// Accounts signs people in: local users with argon2id password hashes, a TOTP second factor
// (required for admin and approver), sessions, and lockout with exponential back-off per
// account and per source address. It is safe for concurrent use.
type Accounts struct {
	store    *store.Store
	log      *slog.Logger
	now      func() time.Time
	sealKey  []byte
	argon    Argon2Params
	idle     time.Duration
	absolute time.Duration
	lockout  Lockout
	hashing  chan struct{} // bounds concurrent argon2 runs, and so their memory
	dummy    store.PasswordHash
}

// AccountsConfig configures Accounts; zero fields take the defaults.
type AccountsConfig struct {
	Store  *store.Store
	Logger *slog.Logger
	// SealKey, 32 bytes, encrypts TOTP secrets in the store (AES-256-GCM). Without one they
	// are stored as they are, which the integrator should only accept for a demo.
	SealKey  []byte
	Argon2   Argon2Params  // default DefaultArgon2
	Idle     time.Duration // default DefaultIdle
	Absolute time.Duration // default DefaultAbsolute
	Lockout  Lockout       // default DefaultLockout
	Now      func() time.Time
}

// NewAccounts returns Accounts over cfg.Store.
func NewAccounts(cfg AccountsConfig) *Accounts {
	a := &Accounts{store: cfg.Store, log: cfg.Logger, now: cfg.Now, sealKey: cfg.SealKey, argon: cfg.Argon2,
		idle: cfg.Idle, absolute: cfg.Absolute, lockout: cfg.Lockout, hashing: make(chan struct{}, 2)}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.argon == (Argon2Params{}) {
		a.argon = DefaultArgon2
	}
	if a.idle == 0 {
		a.idle = DefaultIdle
	}
	if a.absolute == 0 {
		a.absolute = DefaultAbsolute
	}
	if a.lockout == (Lockout{}) {
		a.lockout = DefaultLockout
	}
	// A hash to check unknown names against, so that "no such user" takes as long as "wrong
	// password" and timing does not tell which names exist.
	a.dummy = HashPassword(NewPassword(), a.argon)
	return a
}

// NewUser describes an account to create.
type NewUser struct {
	Tenant      string // home tenant
	Name        string // sign-in name: 1 to 64 of a-z 0-9 . _ @ -
	DisplayName string
	Password    string
	Roles       []Role // in the home tenant
	// TOTP enrols a second factor; required when any role requires it.
	TOTP bool
	// TemporaryPassword: someone else chose the password (an administrator, who saw it), so
	// the person must choose their own at first sign-in before anything else.
	TemporaryPassword bool
}

// ErrInvalidUser is wrapped by CreateUser's errors about its NewUser.
var ErrInvalidUser = errors.New("invalid user")

// CreateUser creates an account in nu.Tenant and grants it nu.Roles there, recording actor for
// each. With nu.TOTP it returns the new TOTP key, to be shown to the person this once.
func (a *Accounts) CreateUser(ctx context.Context, actor string, nu NewUser) (store.User, TOTPKey, error) {
	if err := validUserName(nu.Name); err != nil {
		return store.User{}, nil, fmt.Errorf("create user: %w: %v", ErrInvalidUser, err)
	}
	if err := ValidatePassword(nu.Name, nu.Password); err != nil {
		return store.User{}, nil, fmt.Errorf("create user %s: %w: %w", nu.Name, ErrInvalidUser, err)
	}
	for _, r := range nu.Roles {
		if _, err := ParseRole(string(r)); err != nil {
			return store.User{}, nil, fmt.Errorf("create user %s: %w: %v", nu.Name, ErrInvalidUser, err)
		}
		if r.RequiresTOTP() && !nu.TOTP {
			return store.User{}, nil, fmt.Errorf("create user %s: %w: role %s requires a TOTP second factor", nu.Name, ErrInvalidUser, r)
		}
	}
	id, _ := newSessionID() // 256 random bits, URL-safe; only its first 16 characters are kept
	u := store.User{ID: "u_" + id[:16], Name: nu.Name, DisplayName: nu.DisplayName, TemporaryPassword: nu.TemporaryPassword}
	a.hashing <- struct{}{}
	u.PasswordHash = HashPassword(nu.Password, a.argon)
	<-a.hashing
	var key TOTPKey
	if nu.TOTP {
		key = NewTOTPKey()
		sealed, err := sealTOTP(a.sealKey, u.ID, key)
		if err != nil {
			return store.User{}, nil, fmt.Errorf("create user %s: %w", nu.Name, err)
		}
		u.TOTPSecret = sealed
	}
	sc := a.store.Tenant(nu.Tenant)
	u, err := sc.CreateUser(ctx, actor, u)
	if err != nil {
		return store.User{}, nil, err
	}
	for _, r := range nu.Roles {
		if err := sc.Grant(ctx, actor, u.ID, string(r)); err != nil {
			return store.User{}, nil, err
		}
	}
	return u, key, nil
}

func validUserName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("name must be 1 to 64 characters, got %d", len(name))
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("._@-", r)) {
			return fmt.Errorf("name %q may hold only a-z, 0-9, '.', '_', '@' and '-'", name)
		}
	}
	return nil
}

// Sign-in errors. What the person is told is deliberately vague (ErrSignIn covers a wrong
// name and a wrong password alike); the log says which.
var (
	ErrSignIn       = errors.New("auth: wrong user name or password")
	ErrCode         = errors.New("auth: wrong or used one-time code")
	ErrTOTPRequired = errors.New("auth: this account's roles require a second factor, and none is enrolled")
)

// LockedError is returned while a user name or address is locked out after failures.
type LockedError struct{ Until time.Time }

func (e *LockedError) Error() string {
	return "auth: too many failed sign-ins; try again after " + e.Until.UTC().Format(time.RFC3339)
}

// SignIn checks a user name and password from addr. On success it returns the cookie of a
// new session: complete when the user has no second factor, half-way (StagePassword) when a
// TOTP code must follow, which needTOTP reports.
func (a *Accounts) SignIn(ctx context.Context, name, password, addr string) (cookie string, needTOTP bool, err error) {
	name = strings.ToLower(strings.TrimSpace(name))
	keys := a.lockKeys(name, addr)
	if err := a.checkLocks(ctx, keys); err != nil {
		return "", false, err
	}
	u, err := a.store.LookupUser(ctx, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", false, err
	}
	hash := u.PasswordHash
	if err != nil {
		hash = a.dummy
	}
	a.hashing <- struct{}{}
	ok, rehash, cerr := CheckPassword(hash, password, a.argon)
	<-a.hashing
	switch {
	case cerr != nil:
		a.log.Error("unreadable password hash", "user", u, "err", cerr)
		return "", false, a.fail(ctx, keys, ErrSignIn)
	case u.ID == "" || !ok:
		a.log.Info("sign-in refused", "name", name, "addr", addr, "known", u.ID != "")
		return "", false, a.fail(ctx, keys, ErrSignIn)
	case !u.Disabled.IsZero():
		a.log.Info("sign-in refused: account disabled", "user", u, "addr", addr)
		return "", false, a.fail(ctx, keys, ErrSignIn)
	}
	if rehash {
		if err := a.store.Tenant(u.Tenant).SetPassword(ctx, "system", u.ID, HashPassword(password, a.argon), u.TemporaryPassword); err != nil {
			a.log.Warn("re-hash password", "user", u, "err", err)
		}
	}
	if len(u.TOTPSecret) == 0 {
		grants, err := a.store.UserGrants(ctx, u.ID)
		if err != nil {
			return "", false, err
		}
		for _, g := range grants {
			if Role(g.Role).RequiresTOTP() {
				return "", false, ErrTOTPRequired
			}
		}
		a.clear(ctx, keys[:1])
		c, err := a.startSession(ctx, u.ID, addr, StageComplete)
		return c, false, err
	}
	c, err := a.startSession(ctx, u.ID, addr, StagePassword)
	return c, true, err
}

// SecondFactor checks the TOTP code for the half-way session cookie. On success it ends that
// session and returns the cookie of a new, complete one: a fresh ID at the change of
// privilege, so an ID planted before sign-in is worth nothing after it.
func (a *Accounts) SecondFactor(ctx context.Context, cookie, code, addr string) (string, error) {
	u, keys, err := a.sessionUser(ctx, cookie, StagePassword, addr)
	if err != nil {
		return "", err
	}
	key, err := openTOTP(a.sealKey, u.ID, u.TOTPSecret)
	if err != nil {
		return "", fmt.Errorf("second factor of %s: %w", u.Name, err)
	}
	step, ok := checkTOTP(key, code, a.now())
	if ok {
		if ok, err = a.store.UseTOTPStep(ctx, u.ID, step); err != nil {
			return "", err
		}
	}
	if !ok {
		a.log.Info("second factor refused", "user", u, "addr", addr)
		return "", a.fail(ctx, keys, ErrCode)
	}
	if err := a.store.DeleteSession(ctx, sessionHash(cookie), false); err != nil {
		return "", err
	}
	a.clear(ctx, keys[:1])
	return a.startSession(ctx, u.ID, addr, StageComplete)
}

// ErrSamePassword is returned by ChangePassword when the new password is the old one.
var ErrSamePassword = errors.New("auth: the new password is the current one")

// ChangePassword replaces the password of the person signed in with the session cookie, who
// proves it is them with the current password (a session left open on a ward PC must not be
// enough). Wrong current passwords count towards lockout as at sign-in. Every session of the
// person ends, this one too; the returned cookie is a new, complete session.
func (a *Accounts) ChangePassword(ctx context.Context, cookie, current, next, addr string) (string, error) {
	u, keys, err := a.sessionUser(ctx, cookie, StageComplete, addr)
	if err != nil {
		return "", err
	}
	a.hashing <- struct{}{}
	ok, _, err := CheckPassword(u.PasswordHash, current, a.argon)
	<-a.hashing
	if err != nil || !ok {
		a.log.Info("password change refused: wrong current password", "user", u, "addr", addr)
		return "", a.fail(ctx, keys, ErrSignIn)
	}
	if err := ValidatePassword(u.Name, next); err != nil {
		return "", err
	}
	if next == current {
		return "", ErrSamePassword
	}
	a.hashing <- struct{}{}
	hash := HashPassword(next, a.argon)
	<-a.hashing
	if err := a.store.Tenant(u.Tenant).SetPassword(ctx, "user:"+u.ID, u.ID, hash, false); err != nil {
		return "", err
	}
	a.clear(ctx, keys[:1])
	return a.startSession(ctx, u.ID, addr, StageComplete)
}

// sessionUser returns the user of the session cookie if it is at stage, and the lockout keys
// of that user from addr once none of them is locked: the start of each step that checks a
// secret within a session.
func (a *Accounts) sessionUser(ctx context.Context, cookie string, stage int, addr string) (store.User, []string, error) {
	sess, err := a.session(ctx, cookie)
	if err != nil || sess.Stage != stage {
		return store.User{}, nil, ErrNoSession
	}
	u, err := a.store.UserByID(ctx, sess.User)
	if err != nil {
		return store.User{}, nil, ErrNoSession
	}
	keys := a.lockKeys(u.Name, addr)
	if err := a.checkLocks(ctx, keys); err != nil {
		return store.User{}, nil, err
	}
	return u, keys, nil
}

// TOTPKey returns the user's TOTP key, opened, for a tool that shows it again (the demo).
func (a *Accounts) TOTPKey(u store.User) (TOTPKey, error) {
	return openTOTP(a.sealKey, u.ID, u.TOTPSecret)
}

// Lockout is the back-off policy for failed sign-ins under one key (a user name or an
// address). The first Free failures cost nothing; each one after locks the key for Base,
// doubling with every further failure up to Max. Failures older than Forget are forgotten.
type Lockout struct {
	AccountFree, AddrFree int
	Base, AccountMax      time.Duration
	AddrMax               time.Duration
	Forget                time.Duration
}

// DefaultLockout: an account is locked after 5 failures for 30 s, then 1, 2, 4… minutes up to
// 15 minutes (long enough to make guessing hopeless, short enough that an attacker cannot
// keep a nurse's or analyst's account locked for good); an address gets 20 free failures
// (a ward's shared NAT) and up to an hour. A day without failures forgets them.
var DefaultLockout = Lockout{AccountFree: 5, AddrFree: 20, Base: 30 * time.Second,
	AccountMax: 15 * time.Minute, AddrMax: time.Hour, Forget: 24 * time.Hour}

// lockKeys names the failure counters: the account (whether or not it exists, so a locked
// reply says nothing about which names exist) and the address. An IPv6 client is counted by
// its /64, which one subscriber usually holds whole.
func (a *Accounts) lockKeys(name, addr string) []string {
	keys := []string{"user:" + name}
	if ip, err := netip.ParseAddr(addr); err == nil {
		ip = ip.Unmap()
		if ip.Is6() {
			p, _ := ip.Prefix(64)
			keys = append(keys, "addr:"+p.String())
		} else {
			keys = append(keys, "addr:"+ip.String())
		}
	}
	return keys
}

func (a *Accounts) checkLocks(ctx context.Context, keys []string) error {
	now := a.now()
	for _, k := range keys {
		f, err := a.store.SigninFailures(ctx, k)
		if err != nil {
			return err
		}
		if now.Before(f.LockedUntil) {
			return &LockedError{Until: f.LockedUntil}
		}
	}
	return nil
}

// fail counts a failure under every key and returns the error to give: a LockedError when
// this failure locked a key, else cause.
func (a *Accounts) fail(ctx context.Context, keys []string, cause error) error {
	now := a.now()
	var locked time.Time
	for _, k := range keys {
		free, max := a.lockout.AccountFree, a.lockout.AccountMax
		if strings.HasPrefix(k, "addr:") {
			free, max = a.lockout.AddrFree, a.lockout.AddrMax
		}
		f, err := a.store.RecordSigninFailure(ctx, k, now, func(prev store.Failures) store.Failures {
			n := prev.Count + 1
			if now.Sub(prev.Last) > a.lockout.Forget {
				n = 1
			}
			out := store.Failures{Count: n}
			if n > free {
				out.LockedUntil = now.Add(backoff(a.lockout.Base, max, n-free-1))
			}
			return out
		})
		if err != nil {
			return err
		}
		if f.LockedUntil.After(locked) {
			locked = f.LockedUntil
		}
		if !f.LockedUntil.IsZero() {
			a.log.Warn("sign-in locked", "key", k, "failures", f.Count, "until", f.LockedUntil)
		}
	}
	if !locked.IsZero() {
		return &LockedError{Until: locked}
	}
	return cause
}

// backoff is base·2^n, at most max.
func backoff(base, max time.Duration, n int) time.Duration {
	if n >= 30 {
		return max
	}
	return min(base<<n, max)
}

func (a *Accounts) clear(ctx context.Context, keys []string) {
	for _, k := range keys {
		if err := a.store.ClearSigninFailures(ctx, k); err != nil {
			a.log.Warn("clear sign-in failures", "key", k, "err", err)
		}
	}
}

package auth_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/store"
)

// The demo account: an administrator and approver of one hospital, with a password and a
// TOTP key printed for the person at the terminal, who types the key into an authenticator
// app (or scans the otpauth:// URI as a QR code).
func ExampleAccounts_CreateUser() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "omamori-example")
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, "sqlite", filepath.Join(dir, "omamori.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	st.EnsureTenant(ctx, "demo", store.Tenant{ID: "demo", Name: "おまもり総合病院"})

	accounts := auth.NewAccounts(auth.AccountsConfig{Store: st})
	password := auth.NewPassword()
	user, key, err := accounts.CreateUser(ctx, "demo", auth.NewUser{
		Tenant: "demo", Name: "demo", DisplayName: "デモ管理者", Password: password,
		Roles: []auth.Role{auth.RoleAdmin, auth.RoleApprover, auth.RoleIncidentLead}, TOTP: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("user %s in %s, password of %d characters, TOTP key of %d characters\n",
		user.Name, user.Tenant, len(password), len(key.Base32()))
	// A real demo prints password, key.Base32() and key.URI("omamori", user.Name).

	// Signing in: the password first, then the code the app shows.
	cookie, needTOTP, err := accounts.SignIn(ctx, "demo", password, "127.0.0.1")
	fmt.Println("password accepted, code needed:", needTOTP, err)
	cookie, err = accounts.SecondFactor(ctx, cookie, auth.TOTP(key, time.Now()), "127.0.0.1")
	fmt.Println("code accepted:", err)
	cur, _ := accounts.Session(ctx, cookie)
	fmt.Println("may approve held decisions:", cur.Can("demo", auth.ActionApproveDecisions))
	// Output:
	// user demo in demo, password of 20 characters, TOTP key of 32 characters
	// password accepted, code needed: true <nil>
	// code accepted: <nil>
	// may approve held decisions: true
}

package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/web"
)

// startWeb mounts the web UI at / beside the API. People sign in there with a password and,
// for administrators and approvers, a TOTP code; their TOTP secrets are sealed with a key kept
// in the data directory.
func (n *Node) startWeb(ctx context.Context, cfg *config.Config) error {
	key, err := sealKey(filepath.Join(cfg.DataDir, "keys", "ui-seal.key"))
	if err != nil {
		return err
	}
	n.Accounts = auth.NewAccounts(auth.AccountsConfig{Store: n.Store, Logger: n.log, SealKey: key})
	ui, err := web.New(web.Options{
		Store: n.Store, Accounts: n.Accounts, Alerts: n.Bus, Location: cfg.Location(), Logger: n.log,
		Secure:    cfg.HTTP.TLSCert != "" || !config.IsLoopback(cfg.HTTP.Listen), // as api.Server.Listen decides
		Incidents: n.Incidents, Decisions: n.Respond, Reviews: n.reviews, Archive: n.Archive,
		Assets: n.inventories.get, ReplaceAssets: n.replaceInventory, Listeners: n.entryPoints, DeadLetters: n.Bus,
	})
	if err != nil {
		return fmt.Errorf("web UI: %w", err)
	}
	n.API.Mount("/", "session", ui)
	n.goServe("sessions", func() error { n.Accounts.Run(ctx, 10*time.Minute); return nil })
	return nil
}

// entryPoints are the entry points of logs, as the sources page lists them: the HTTP API
// every tenant's tokens can send to, and the syslog listeners, at the addresses they are
// bound to (known once Start has opened them).
func (n *Node) entryPoints() []web.Listener {
	if p := n.bound.Load(); p != nil {
		return *p
	}
	return nil
}

// setEntryPoints records where the listeners were bound, for entryPoints.
func (n *Node) setEntryPoints(cfg *config.Config) {
	proto := "https"
	if !n.HTTPS {
		proto = "http"
	}
	ls := []web.Listener{{Name: "HTTP API (/api/v1/ingest)", Protocol: proto, Listen: n.HTTPAddr.String(), Format: "ndjson"}}
	for _, l := range cfg.Ingest.Syslog {
		ls = append(ls, web.Listener{Name: l.Name, Protocol: l.Protocol, Listen: n.Syslog[l.Name].String(), Format: l.Format,
			Tenant: l.Tenant})
	}
	n.bound.Store(&ls)
}

// sealKey reads the 32-byte key at path, making it on first use.
func sealKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		rand.Read(key)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("UI seal key: %w", err)
		}
		if err := os.WriteFile(path, key, 0o600); err != nil {
			return nil, fmt.Errorf("UI seal key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("UI seal key: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("UI seal key %s: %d bytes, want 32", path, len(key))
	}
	return key, nil
}

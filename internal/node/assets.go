package node

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/omamori-project/omamori/internal/api"
	"github.com/omamori-project/omamori/internal/asset"
	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/respond"
	"github.com/omamori-project/omamori/internal/store"
)

// inventories holds each tenant's device inventory: what the guardrails protect, the incidents
// rank and the web UI lists. A tenant's inventory comes from its file under data_dir/assets
// (written by PUT /api/v1/assets), or, for the default tenant without one, from
// respond.assets.
type inventories struct {
	dir   string
	mu    sync.RWMutex
	byTen map[string]*asset.Inventory
}

func (iv *inventories) get(tenant string) *asset.Inventory {
	iv.mu.RLock()
	defer iv.mu.RUnlock()
	return iv.byTen[tenant]
}

func (iv *inventories) set(tenant string, inv *asset.Inventory) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	iv.byTen[tenant] = inv
}

// load reads the inventories of tenants at start; fallback is the default tenant's from the
// configuration, used when it has no file of its own.
func (iv *inventories) load(tenants []string, defaultTenant, fallback string) error {
	for _, t := range tenants {
		path := filepath.Join(iv.dir, t+".csv")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			if t != defaultTenant || fallback == "" {
				continue
			}
			path = fallback
		}
		inv, err := asset.LoadCSV(path)
		if err != nil {
			return fmt.Errorf("asset inventory of %s: %w", t, err)
		}
		iv.set(t, inv)
	}
	return nil
}

// assetsHandler serves PUT /api/v1/assets: the tenant's whole inventory as CSV (the columns
// asset.LoadCSV reads), checked whole, kept in data_dir/assets, audited, and in force for the
// guardrails at once.
func (n *Node) assetsHandler(allow []respond.Allowlist) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := auth.FromContext(r.Context())
		data, err := io.ReadAll(r.Body)
		if err != nil {
			api.WriteError(w, http.StatusBadRequest, "reading the body: "+err.Error(), "send the inventory as CSV")
			return
		}
		list, err := asset.ParseCSV(bytes.NewReader(data))
		if err == nil {
			var inv *asset.Inventory
			if inv, err = asset.New(list); err == nil {
				err = writeFileAtomic(filepath.Join(n.inventories.dir, p.Tenant+".csv"), data)
				if err == nil {
					n.inventories.set(p.Tenant, inv)
					n.Respond.SetGuardrails(p.Tenant, &respond.Guardrails{Assets: inv, Allow: allow})
				}
			}
		}
		if err != nil {
			api.WriteError(w, http.StatusBadRequest, err.Error(), "the header is address,name,category,department,protected; fix the lines named and send the whole file again")
			return
		}
		if err := n.Store.Tenant(p.Tenant).Audit(r.Context(), store.AuditEntry{Actor: p.Actor(), Action: "assets.replace",
			Object: "inventory", Detail: fmt.Sprintf("%d assets", len(list))}); err != nil {
			n.log.Error("inventory replaced but not audited", "tenant", p.Tenant, "err", err)
		}
		api.WriteJSON(w, http.StatusOK, map[string]int{"assets": len(list)})
	})
}

// mountAssets registers the inventory's route.
func (n *Node) mountAssets(allow []respond.Allowlist) {
	n.API.Handle("PUT /api/v1/assets", auth.ScopeAdmin, n.assetsHandler(allow), api.MaxBody(64<<20))
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

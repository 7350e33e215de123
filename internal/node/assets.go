package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/omamori-project/omamori/internal/access"
	"github.com/omamori-project/omamori/internal/api"
	"github.com/omamori-project/omamori/internal/asset"
	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/httpapi"
	"github.com/omamori-project/omamori/internal/respond"
	"github.com/omamori-project/omamori/internal/store"
	"github.com/omamori-project/omamori/internal/web"
)

// inventories holds each tenant's device inventory: what the guardrails protect, the incidents
// rank and the web UI lists. A tenant's inventory is the one last sent with PUT
// /api/v1/assets, kept in the store; without one, the file an earlier version kept under
// data_dir/assets, or, for the default tenant, respond.assets.
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
// configuration.
func (iv *inventories) load(ctx context.Context, st *store.Store, tenants []string, defaultTenant, fallback string) error {
	for _, t := range tenants {
		d, err := st.Tenant(t).Document(ctx, store.DocAssets)
		switch {
		case err == nil:
			inv, err := parseInventory(d.Body)
			if err != nil {
				return fmt.Errorf("asset inventory of %s, kept %s: %w", t, d.Updated.Format(time.RFC3339), err)
			}
			iv.set(t, inv)
			continue
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
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

func parseInventory(csv []byte) (*asset.Inventory, error) {
	list, err := asset.ParseCSV(bytes.NewReader(csv))
	if err != nil {
		return nil, err
	}
	return asset.New(list)
}

// assetsHandler serves PUT /api/v1/assets: the tenant's whole inventory as CSV (the columns
// asset.LoadCSV reads), checked whole, kept in the store (audited there), and in force for the
// guardrails at once; other nodes take it up within documentsEvery.
func (n *Node) assetsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := auth.FromContext(r.Context())
		data, err := io.ReadAll(r.Body)
		if err != nil {
			httpapi.WriteError(w, http.StatusBadRequest, "reading the body: "+err.Error(), "send the inventory as CSV")
			return
		}
		count, err := n.replaceInventory(r.Context(), p.Tenant, p.Actor(), data)
		switch {
		case errors.Is(err, web.ErrInvalidUpload):
			httpapi.WriteError(w, http.StatusBadRequest, err.Error(), "the header is address,name,category,department,protected; fix the lines named and send the whole file again")
		case err != nil:
			n.log.Error("keep the asset inventory", "tenant", p.Tenant, "err", err)
			httpapi.WriteError(w, http.StatusServiceUnavailable, "the inventory could not be kept, so it is not in force", "try again")
		default:
			httpapi.WriteJSON(w, http.StatusOK, map[string]int{"assets": count})
		}
	})
}

// replaceInventory checks csv whole as tenant's new inventory, keeps it in the store (which
// audits actor replacing it), and puts it in force for the guardrails: the API's PUT and the
// web UI's upload. A file that does not hold together is an error wrapping
// web.ErrInvalidUpload, and changes nothing.
func (n *Node) replaceInventory(ctx context.Context, tenant, actor string, csv []byte) (int, error) {
	inv, err := parseInventory(csv)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", web.ErrInvalidUpload, err)
	}
	count := len(inv.All())
	if err := n.Store.Tenant(tenant).PutDocument(ctx, actor, store.DocAssets, csv, fmt.Sprintf("%d assets", count)); err != nil {
		return 0, err
	}
	n.putInventory(tenant, inv)
	return count, nil
}

// putInventory puts inv in force as tenant's inventory: for the guardrails, beside the node's
// allowlists, and for the web UI.
func (n *Node) putInventory(tenant string, inv *asset.Inventory) {
	n.inventories.set(tenant, inv)
	n.Respond.SetGuardrails(tenant, &respond.Guardrails{Assets: inv, Allow: n.allow})
}

// mountAssets registers the inventory's route.
func (n *Node) mountAssets() {
	n.API.Handle("PUT /api/v1/assets", auth.ScopeAdmin, n.assetsHandler(), api.MaxBody(64<<20))
}

// documentsEvery is how often a node looks in the store for inventories and directories that
// another node was sent, in the scale-out mode.
var documentsEvery = 30 * time.Second

// followDocuments puts in force, every documentsEvery until ctx is done, the inventories and
// EHR directories kept after since (what this node loaded at start): a ventilator registered
// through one node is protected by the guardrails of every node.
func (n *Node) followDocuments(ctx context.Context, since time.Time) error {
	assets, dirs := since, since
	tick := time.NewTicker(documentsEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		ds, err := n.Store.DocumentsSince(ctx, store.DocAssets, assets)
		if err != nil {
			n.log.Warn("look for new asset inventories", "err", err)
			continue
		}
		for _, d := range ds {
			assets = d.Updated
			inv, err := parseInventory(d.Body)
			if err != nil {
				n.log.Error("an asset inventory in the store does not read; the one in force stays", "tenant", d.Tenant, "err", err)
				continue
			}
			n.putInventory(d.Tenant, inv)
			n.log.Info("asset inventory taken up", "tenant", d.Tenant, "assets", len(inv.All()))
		}
		if ds, err = n.Store.DocumentsSince(ctx, store.DocAccessDirectory, dirs); err != nil {
			n.log.Warn("look for new EHR directories", "err", err)
			continue
		}
		for _, d := range ds {
			dirs = d.Updated
			dec, err := n.Access.For(d.Tenant)
			if errors.Is(err, access.ErrNoDecider) {
				continue // made, with the kept directory, on the tenant's first request
			}
			if err == nil {
				err = replaceDirectory(dec, d.Body)
			}
			if err != nil {
				n.log.Error("an EHR directory in the store does not read; the one in force stays", "tenant", d.Tenant, "err", err)
				continue
			}
			n.log.Info("EHR directory taken up", "tenant", d.Tenant)
		}
	}
}

package web

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/omamori-project/omamori/internal/asset"
	"github.com/omamori-project/omamori/internal/auth"
)

// The assets page: the hospital's inventory as the guardrails see it, life-support devices
// marked out, so that a person can check why a decision was held and what is protected.

const assetsPerPage = 50

type assetsData struct {
	Configured bool
	Rows       []asset.Asset
	Category   string
	Categories []string
	Protected  bool
	Query      string
	Sort       string
	Sorts      []string
	Pager      pager
	LifeCount  int
	Total      int
	Upload     bool // the person may replace the inventory here
}

func (s *Server) assets(w http.ResponseWriter, r *http.Request, p *page) error {
	return s.showAssets(w, r, p, http.StatusOK)
}

// ErrInvalidUpload is wrapped by an Options function's error when the file a person uploaded
// is at fault: the page shows why, and nothing changes.
var ErrInvalidUpload = errors.New("the file is not valid")

// maxUpload bounds an uploaded inventory, as the API does.
const maxUpload = 64 << 20

// uploadAssets puts the inventory a clinical engineer or IT administrator uploads in force,
// as PUT /api/v1/assets does, and shows the page again with what happened.
func (s *Server) uploadAssets(w http.ResponseWriter, r *http.Request, p *page) error {
	if s.opt.ReplaceAssets == nil {
		s.render(w, r, http.StatusNotFound, "error", p.with("error.notfound"))
		return nil
	}
	f, _, err := r.FormFile("inventory")
	if err != nil {
		return s.showAssets(w, r, p.with("assets.upload_missing"), http.StatusBadRequest)
	}
	defer f.Close()
	csv, err := io.ReadAll(io.LimitReader(f, maxUpload+1))
	if err != nil {
		return err
	}
	if len(csv) > maxUpload {
		return s.showAssets(w, r, p.with("assets.upload_large", maxUpload>>20), http.StatusRequestEntityTooLarge)
	}
	id, _ := auth.IdentityFrom(r.Context())
	n, err := s.opt.ReplaceAssets(r.Context(), p.Tenant, id.Actor(), csv)
	switch {
	case errors.Is(err, ErrInvalidUpload):
		return s.showAssets(w, r, p.with("assets.upload_invalid", err.Error()), http.StatusBadRequest)
	case err != nil:
		return err
	}
	return s.showAssets(w, r, p.with("assets.uploaded", n), http.StatusOK)
}

func (s *Server) showAssets(w http.ResponseWriter, r *http.Request, p *page, status int) error {
	p.Nav = "assets"
	d := assetsData{Sorts: []string{"address", "name", "category", "department"}, Upload: s.opt.ReplaceAssets != nil &&
		p.Can(string(auth.ActionManageSettings))}
	q := r.URL.Query()
	for _, c := range asset.Categories() {
		d.Categories = append(d.Categories, string(c))
	}
	d.Category = oneOf(q.Get("category"), append([]string{""}, d.Categories...)...)
	d.Protected = q.Get("protected") == "1"
	d.Query = strings.TrimSpace(q.Get("q"))
	d.Sort = oneOf(q.Get("sort"), d.Sorts...)
	var inv *asset.Inventory
	if s.opt.Assets != nil {
		inv = s.opt.Assets(p.Tenant)
	}
	d.Configured = inv != nil
	all := inv.All()
	d.Total = len(all)
	var list []asset.Asset
	lq := strings.ToLower(d.Query)
	for _, a := range all {
		if a.Category == asset.LifeSupport {
			d.LifeCount++
		}
		if (d.Category != "" && string(a.Category) != d.Category) || (d.Protected && !a.Protected) ||
			(lq != "" && !strings.Contains(strings.ToLower(a.Prefix.String()+" "+a.Name+" "+a.Department), lq)) {
			continue
		}
		list = append(list, a)
	}
	slices.SortStableFunc(list, func(a, b asset.Asset) int {
		switch d.Sort {
		case "name":
			return strings.Compare(a.Name, b.Name)
		case "category":
			// Life-support first, in the order of asset.Categories.
			return slices.Index(d.Categories, string(a.Category)) - slices.Index(d.Categories, string(b.Category))
		case "department":
			return strings.Compare(a.Department, b.Department)
		}
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.Prefix.Bits() - b.Prefix.Bits()
	})
	var lo, hi int
	d.Pager, lo, hi = paginate(len(list), assetsPerPage, q)
	d.Rows = list[lo:hi]
	p.Data = d
	s.render(w, r, status, "assets", p)
	return nil
}

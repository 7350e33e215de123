package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/omamori-project/omamori/internal/asset"
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
}

func (s *Server) assets(w http.ResponseWriter, r *http.Request, p *page) error {
	p.Nav = "assets"
	q := r.URL.Query()
	d := assetsData{Sorts: []string{"address", "name", "category", "department"}}
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
	s.render(w, r, http.StatusOK, "assets", p)
	return nil
}

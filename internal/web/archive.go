package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/store"
)

// The archive page: a search of everything a hospital's archive holds, by time, address,
// host, user and conditions on any ECS field, for analysts, auditors and the authority
// liaison (events.search); and for the liaison (archive.export) an export bundle of what
// such a search selects, which the recipient verifies offline with
// `omamori archive verify-bundle`. The archive holds logs about patients and staff, so every
// search and every export is written to the tenant's audit log, the search before its results
// are shown and the export before its bytes leave.

const (
	archivePerPage = 50
	archiveMaxPage = 200 // 10,000 rows: beyond that, narrow the search or export
	archiveDays    = 7   // the default range, ending today
	archiveMsgMax  = 200 // runes of a message shown in the table; the export holds it whole
)

// archiveForm is the search as typed, the same for the search page and the export.
type archiveForm struct {
	From, To string // dates, YYYY-MM-DD, in the server's location; To is included
	IP       string
	Host     string
	User     string
	Where    string // conditions, one a line or comma-separated
}

// archiveFields are the form's parameter names; any of them in a request makes it a search.
var archiveFields = []string{"from", "to", "ip", "host", "user", "where"}

func readArchiveForm(v url.Values, today time.Time) archiveForm {
	f := archiveForm{From: strings.TrimSpace(v.Get("from")), To: strings.TrimSpace(v.Get("to")),
		IP: strings.TrimSpace(v.Get("ip")), Host: strings.TrimSpace(v.Get("host")),
		User: strings.TrimSpace(v.Get("user")), Where: strings.TrimSpace(v.Get("where"))}
	if f.From == "" {
		f.From = today.AddDate(0, 0, -archiveDays).Format(time.DateOnly)
	}
	if f.To == "" {
		f.To = today.Format(time.DateOnly)
	}
	return f
}

func (f archiveForm) values() url.Values {
	return url.Values{"from": {f.From}, "to": {f.To}, "ip": {f.IP}, "host": {f.Host}, "user": {f.User}, "where": {f.Where}}
}

// conds splits the conditions as typed. A comma separates conditions too, so a value cannot
// hold one; a substring condition (~) on the part before or after it serves instead.
func (f archiveForm) conds() []string {
	var out []string
	for c := range strings.FieldsFuncSeq(f.Where, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// String is the search as the audit log records it.
func (f archiveForm) String() string {
	return fmt.Sprintf("from=%s to=%s ip=%s host=%s user=%s where=%s", f.From, f.To, f.IP, f.Host, f.User,
		strings.Join(f.conds(), ","))
}

// query turns the form into an archive query for tenant, or says in the page's language what
// is wrong with it.
func (f archiveForm) query(tenant string, loc *time.Location, l *localizer) (archive.Query, string) {
	from, to, err := dateRange(f.From, f.To, loc)
	if err != nil {
		return archive.Query{}, l.T("archive.bad_range")
	}
	q := archive.Query{Tenant: tenant, From: from, To: to, Host: f.Host, User: f.User}
	if f.IP != "" {
		ip, err := netip.ParseAddr(f.IP)
		if err != nil {
			return archive.Query{}, l.T("archive.bad_ip", f.IP)
		}
		q.IP = ip
	}
	for _, s := range f.conds() {
		c, err := archive.ParseCond(s)
		if err != nil {
			return archive.Query{}, l.T("archive.bad_cond", s)
		}
		// Field names hold no spaces; "source.ip = 10.0.0.1" means what it looks like.
		c.Field, c.Value = strings.TrimSpace(c.Field), strings.TrimSpace(c.Value)
		if c.Field == "" {
			return archive.Query{}, l.T("archive.bad_cond", s)
		}
		q.Where = append(q.Where, c)
	}
	return q, ""
}

type archiveRow struct {
	Time            time.Time
	Dataset         string
	Host, User      string
	Source, Dest    string // address and port
	Action, Outcome string
	Message         string
}

type archiveCheckpoint struct {
	Origin string
	Size   uint64
	Note   string // the signed note, as published
}

type archiveData struct {
	Configured bool
	archiveForm
	Searched   bool
	Error      string
	Rows       []archiveRow
	Page       int
	First      int
	PrevQ      string
	NextQ      string
	PublicKey  string
	Checkpoint *archiveCheckpoint // the tenant's latest signed checkpoint, if any
}

func (s *Server) archivePage(w http.ResponseWriter, r *http.Request, p *page) error {
	q := r.URL.Query()
	searched := slices.ContainsFunc(archiveFields, q.Has)
	d := s.archiveData(p, q)
	d.Page, _ = strconv.Atoi(q.Get("page"))
	d.Page = min(max(d.Page, 1), archiveMaxPage)
	if !d.Configured || !searched {
		s.render(w, r, http.StatusOK, "archive", p)
		return nil
	}
	aq, msg := d.query(p.Tenant, s.opt.Location, p.L)
	if msg != "" {
		d.Error = msg
		s.render(w, r, http.StatusBadRequest, "archive", p)
		return nil
	}
	d.Searched = true
	// What was looked for in a hospital's logs is itself on record, before it is shown.
	id, _ := auth.IdentityFrom(r.Context())
	if err := s.opt.Store.Tenant(p.Tenant).Audit(r.Context(), store.AuditEntry{Actor: id.Actor(), Action: "archive.search",
		Object: cmp.Or(d.IP, d.User, d.Host), Detail: fmt.Sprintf("%s page=%d", d.archiveForm, d.Page)}); err != nil {
		return err
	}
	more, err := s.searchPage(r.Context(), aq, d.Page, archivePerPage, nil, func(e *event.Event) {
		d.Rows = append(d.Rows, archiveRowOf(e))
	})
	if err != nil {
		return err
	}
	d.First = (d.Page-1)*archivePerPage + 1
	d.PrevQ, d.NextQ = pageLinks(d.values(), d.Page, more, archiveMaxPage)
	s.render(w, r, http.StatusOK, "archive", p)
	return nil
}

// archiveData fills what the page shows around the results: the form, and the key and
// checkpoint a recipient of an export checks it against.
func (s *Server) archiveData(p *page, v url.Values) *archiveData {
	p.Nav = "archive"
	d := &archiveData{Configured: s.opt.Archive != nil, archiveForm: readArchiveForm(v, time.Now().In(s.opt.Location))}
	p.Data = d
	if !d.Configured {
		return d
	}
	d.PublicKey = s.opt.Archive.PublicKey()
	// The latest stored one: signing a new checkpoint is for the archive's own schedule and
	// for exports, not for a page view.
	if cps := s.opt.Archive.Checkpoints(p.Tenant); len(cps) > 0 {
		c := cps[len(cps)-1]
		d.Checkpoint = &archiveCheckpoint{Origin: c.Origin, Size: c.Size, Note: string(c.Note)}
	}
	return d
}

// archived reports whether the archive holds anything of tenant's yet.
func (s *Server) archived(tenant string) bool {
	return slices.Contains(s.opt.Archive.Tenants(), tenant)
}

// searchPage searches the archive for page page of q's records that keep accepts (all, when
// nil), per records a page, handing each to row, and reports whether a page follows. A tenant
// with nothing archived yet has nothing to find (Search would refuse it).
func (s *Server) searchPage(ctx context.Context, q archive.Query, page, per int, keep func(*event.Event) bool,
	row func(*event.Event)) (more bool, err error) {
	if !s.archived(q.Tenant) {
		return false, nil
	}
	skip, n, shown := (page-1)*per, 0, 0
	err = s.opt.Archive.Search(ctx, q, nil, func(rec *archive.Record) error {
		if keep != nil && !keep(&rec.Event) {
			return nil
		}
		if n++; n <= skip {
			return nil
		}
		if shown == per {
			more = true
			return errEnough
		}
		shown++
		row(&rec.Event)
		return nil
	})
	if errors.Is(err, errEnough) {
		err = nil
	}
	return more, err
}

func archiveRowOf(e *event.Event) archiveRow {
	at := e.Time
	if at.IsZero() {
		at = e.Received // as the archive searches it
	}
	rw := archiveRow{Time: at, Dataset: e.Dataset, Host: e.Host, User: e.User, Source: endpoint(e.SrcIP, e.SrcPort),
		Dest: endpoint(e.DstIP, e.DstPort), Action: e.Action, Message: e.Message}
	if e.Outcome != event.OutcomeUnknown {
		rw.Outcome = e.Outcome.String()
	}
	if utf8.RuneCountInString(rw.Message) > archiveMsgMax {
		rw.Message = string([]rune(rw.Message)[:archiveMsgMax]) + "…"
	}
	return rw
}

// endpoint shows an address with its port, if it has them.
func endpoint(ip netip.Addr, port uint16) string {
	switch {
	case !ip.IsValid():
		return ""
	case port == 0:
		return ip.String()
	}
	return netip.AddrPortFrom(ip, port).String()
}

// archiveExport sends an export bundle of the records the form selects. The bundle is written
// to a temporary file first, so that the audit entry, which holds the count of records,
// is on record before any byte leaves, and so that a failure shows a page rather than a
// truncated download; Archive.Export spools the records to temporary files in any case.
func (s *Server) archiveExport(w http.ResponseWriter, r *http.Request, p *page) error {
	d := s.archiveData(p, r.PostForm)
	if !d.Configured {
		s.render(w, r, http.StatusNotFound, "error", p.with("archive.not_configured"))
		return nil
	}
	aq, msg := d.query(p.Tenant, s.opt.Location, p.L)
	if msg != "" {
		d.Error = msg
		s.render(w, r, http.StatusBadRequest, "archive", p)
		return nil
	}
	if !s.archived(p.Tenant) {
		d.Error = p.L.T("archive.empty")
		s.render(w, r, http.StatusNotFound, "archive", p)
		return nil
	}
	ctx := r.Context()
	f, err := os.CreateTemp("", "omamori-web-export-*")
	if err != nil {
		return fmt.Errorf("export archive: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	st, err := s.opt.Archive.Export(ctx, aq, f, nil)
	if err != nil {
		return fmt.Errorf("export archive: %w", err)
	}
	id, _ := auth.IdentityFrom(ctx)
	if err := s.opt.Store.Tenant(p.Tenant).Audit(ctx, store.AuditEntry{Actor: id.Actor(), Action: "archive.export",
		Object: st.Checkpoint.Origin, Detail: fmt.Sprintf("%s records=%d tree_size=%d", d.archiveForm, st.Records, st.Checkpoint.Size)}); err != nil {
		return err
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		return fmt.Errorf("export archive: %w", err)
	}
	s.log.Info("archive exported", "by", id, "tenant", p.Tenant, "records", st.Records, "query", d.archiveForm.String())
	name := fmt.Sprintf("omamori-export-%s-%s-%s.tar", p.Tenant, d.From, d.To)
	h := w.Header()
	h.Set("Content-Type", "application/x-tar")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, f); err != nil {
		// Too late for an error page: the recipient's verify-bundle refuses a cut-off bundle.
		s.log.Warn("send archive export", "tenant", p.Tenant, "err", err)
	}
	return nil
}

package web

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Message catalogues are flat JSON files, locales/<lang>.json: key → text, with fmt verbs for
// arguments. We weighed golang.org/x/text/message: its catalogues are built by gotext from
// Go source and its strength is plural and gender rules, which Japanese does not have and the
// few English plurals here do not need; a small catalogue of our own is a page of code, is
// readable by a translator without Go, and the test below proves every language has every
// key and every key the templates use exists.

// Languages, the first the default: Japanese, with English one click away.
var languages = []string{"ja", "en"}

const langCookie = "omamori_lang"

type catalogues map[string]map[string]string

func loadCatalogues() (catalogues, error) {
	cat := catalogues{}
	for _, lang := range languages {
		b, err := fs.ReadFile(files, "locales/"+lang+".json")
		if err != nil {
			return nil, fmt.Errorf("web: read catalogue %s: %w", lang, err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("web: read catalogue %s: %w", lang, err)
		}
		cat[lang] = m
	}
	want := slices.Sorted(maps.Keys(cat[languages[0]]))
	for _, lang := range languages[1:] {
		if got := slices.Sorted(maps.Keys(cat[lang])); !slices.Equal(got, want) {
			return nil, fmt.Errorf("web: catalogue %s has keys %v, %s has %v", lang, got, languages[0], want)
		}
	}
	return cat, nil
}

// localizer renders text and times for one request.
type localizer struct {
	Lang string
	m    map[string]string
	loc  *time.Location
}

func (s *Server) localizer(r *http.Request) *localizer {
	lang := languages[0]
	if c, err := r.Cookie(langCookie); err == nil && slices.Contains(languages, c.Value) {
		lang = c.Value
	}
	return &localizer{Lang: lang, m: s.cat[lang], loc: s.opt.Location}
}

// T returns the text of key, formatted with args. A missing key shows as itself, which the
// catalogue test catches before a person does.
func (l *localizer) T(key string, args ...any) string {
	text, ok := l.m[key]
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(text, args...)
	}
	return text
}

// Time shows t in the configured zone, with the zone's name so nobody has to guess.
func (l *localizer) Time(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(l.loc).Format("2006-01-02 15:04:05 MST")
}

// Level names an alert level in the request's language.
func (l *localizer) Level(level string) string { return l.T("level." + strings.ToLower(level)) }

// Role names a role in the request's language.
func (l *localizer) Role(role string) string { return l.T("role." + role) }

// Zone names the time zone times are shown in.
func (l *localizer) Zone() string { return l.loc.String() }

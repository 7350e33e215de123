package web

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/severity"
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
		m, err := readCatalogue(b)
		if err != nil {
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

// readCatalogue reads a catalogue: one JSON object of message keys and texts, each key once
// (encoding/json would keep the last of two quietly, and one message would show in the
// other's place).
func readCatalogue(b []byte) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object: %v", cmp.Or(err, fmt.Errorf("starts with %v", t)))
	}
	m := map[string]string{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := t.(string)
		var text string
		if err := dec.Decode(&text); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("%s is there twice", key)
		}
		m[key] = text
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return m, nil
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
func (l *localizer) Level(level severity.Level) string {
	return l.T("level." + strings.ToLower(string(level)))
}

// Role names a role in the request's language.
func (l *localizer) Role(role string) string { return l.T("role." + role) }

// Zone names the time zone times are shown in.
func (l *localizer) Zone() string { return l.loc.String() }

// Dur shows a length of time to the minute, as people read a deadline: "2日3時間", "1時間5分",
// "12分" (or "2d 3h", "1h 5m", "12m").
func (l *localizer) Dur(d time.Duration) string {
	d = d.Abs().Round(time.Minute)
	days, hours, mins := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case days > 0:
		return l.T("dur.dh", days, hours)
	case hours > 0:
		return l.T("dur.hm", hours, mins)
	}
	return l.T("dur.m", mins)
}

// Clock names an incident's clock: an SLA clock from the catalogue, a statutory one (named by
// its obligation's ID) from the catalogue if it has it, else as named.
func (l *localizer) Clock(name string) string {
	if t, ok := l.m["clock."+name]; ok {
		return t
	}
	return name
}

// Has reports whether the catalogue has key, for names that may or may not be translated.
func (l *localizer) Has(key string) bool { _, ok := l.m[key]; return ok }

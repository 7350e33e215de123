// Package config reads omamori's configuration: one YAML file, overridden by environment
// variables, overridden by command-line settings. It sits before the data path: cmd/omamori
// loads a Config once and hands each subsystem (bus, store, HTTP server, ingest listeners) its
// section, so nothing else reads files, the environment or flags.
//
// Every key of the file has an environment variable named after it: OMAMORI_ followed by the
// key's path in upper case joined by underscores (http.listen is OMAMORI_HTTP_LISTEN,
// ingest.batch_wait is OMAMORI_INGEST_BATCH_WAIT). A list such as ingest.syslog takes a YAML
// flow list: OMAMORI_INGEST_SYSLOG='[{name: fw, protocol: udp, listen: "0.0.0.0:514"}]'.
// Command-line settings (-set key=value) use the dotted key and may index a list:
// -set ingest.syslog.0.listen=0.0.0.0:514.
//
// Decoding is strict: a key omamori does not know is an error naming its line, since a
// misspelt key silently ignored is a setting the operator believes in and does not have.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Validate resolves timezone, and minimal servers may lack /usr/share/zoneinfo

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts the name of every environment variable Load reads.
const EnvPrefix = "OMAMORI_"

// Sources say where Load takes settings from. Each overrides the one before: defaults, then
// File, then Env, then Set.
type Sources struct {
	// File is the path of the YAML file; empty means none.
	File string
	// Env is the environment in the form of os.Environ. Only variables whose names start with
	// OMAMORI_ and a section of the file (OMAMORI_HTTP_…) are read; others, such as
	// OMAMORI_CONFIG, are left to the caller.
	Env []string
	// DataDir is data_dir as given to a -data-dir flag: it overrides File and Env, and Set
	// overrides it. Config.Origin names it "-data-dir".
	DataDir string
	// Set holds "key=value" settings with dotted keys (http.listen=0.0.0.0:8443), as given to
	// the -set flag.
	Set []string
}

// Load returns the configuration from src, with derived values filled in (an absolute
// data_dir, store.dsn for SQLite, the archive's directory and key file, each listener's tenant
// and format) and validated. Its error is an *Error listing every problem found, with where
// each setting came from.
func Load(src Sources) (*Config, error) {
	c := Default()
	l := loader{origin: map[string]string{}}
	if src.File != "" {
		l.file(&c, src.File)
	}
	l.env(&c, src.Env)
	if src.DataDir != "" {
		l.assign(&c, "data_dir", src.DataDir, "-data-dir")
	}
	for _, s := range src.Set {
		l.set(&c, s)
	}
	if len(l.problems) > 0 {
		return nil, &Error{Problems: l.problems}
	}
	if err := c.fill(); err != nil {
		return nil, err
	}
	if ps := c.validate(); len(ps) > 0 {
		for i := range ps {
			ps[i].Source = l.originOf(ps[i].Key)
		}
		return nil, &Error{Problems: ps}
	}
	c.origin = l.origin
	return &c, nil
}

// Origin says where Load took key (dotted, such as data_dir or http.listen) from:
// "omamori.yaml line 3", "OMAMORI_DATA_DIR", "-data-dir", "-set data_dir"; empty for a
// default. Commands that act on a setting's value (a data directory that is not there) say
// which source named it.
func (c *Config) Origin(key string) string {
	l := loader{origin: c.origin}
	return l.originOf(key)
}

// Problem is one thing wrong with a configuration.
type Problem struct {
	Key    string // dotted key, such as http.listen or ingest.syslog.0.listen
	Source string // where the value came from: "omamori.yaml line 12", "OMAMORI_HTTP_LISTEN", "-set"; empty for defaults
	Msg    string // what is wrong
	Hint   string // what to do about it; may be empty
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Source != "" {
		b.WriteString(p.Source)
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is a configuration that cannot be used, with every problem found in it.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		p := e.Problems[0]
		s := "config: " + p.String()
		if p.Hint != "" {
			s += "\n  hint: " + p.Hint
		}
		return s
	}
	var b strings.Builder
	fmt.Fprintf(&b, "config: %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
		if p.Hint != "" {
			b.WriteString("\n    hint: ")
			b.WriteString(p.Hint)
		}
	}
	return b.String()
}

// SetFlags collects repeated -set key=value flags; it implements flag.Value.
//
//	var sets config.SetFlags
//	fs.Var(&sets, "set", "override a config key: -set http.listen=0.0.0.0:8443 (repeatable)")
type SetFlags []string

func (s *SetFlags) String() string { return strings.Join(*s, " ") }

// Set adds one key=value setting.
func (s *SetFlags) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("want key=value, such as http.listen=0.0.0.0:8443, got %q", v)
	}
	*s = append(*s, v)
	return nil
}

// loader gathers problems and remembers where each key was last set.
type loader struct {
	problems []Problem
	origin   map[string]string // dotted key → source
}

func (l *loader) add(p Problem) { l.problems = append(l.problems, p) }

func (l *loader) originOf(key string) string {
	for k := key; k != ""; {
		if o, ok := l.origin[k]; ok {
			return o
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return ""
}

func (l *loader) file(c *Config, path string) {
	src := filepath.Base(path)
	data, err := os.ReadFile(path)
	if err != nil {
		l.add(Problem{Source: src, Msg: fmt.Sprintf("read config file: %v", err),
			Hint: "check the path given to -config; without -config omamori runs on its defaults"})
		return
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return // an empty file changes nothing
		}
		l.add(Problem{Source: src, Msg: strings.TrimPrefix(err.Error(), "yaml: "),
			Hint: "the file is not valid YAML; check indentation (spaces, not tabs) and quoting near that line"})
		return
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return
	}
	n := len(l.problems)
	l.check(root, reflect.TypeFor[Config](), "", func(line int) string {
		return fmt.Sprintf("%s line %d", src, line)
	})
	if len(l.problems) > n {
		return
	}
	if err := root.Decode(c); err != nil {
		l.add(Problem{Source: src, Msg: strings.TrimPrefix(err.Error(), "yaml: ")})
	}
}

// check walks node against type t, reporting unknown keys and values of the wrong kind with
// their lines, and recording where each key was set.
func (l *loader) check(n *yaml.Node, t reflect.Type, path string, where func(line int) string) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if path != "" {
		l.origin[path] = where(n.Line)
	}
	switch {
	case t.Kind() == reflect.Struct && t != reflect.TypeFor[time.Duration]():
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return // "http:" with nothing under it
		}
		if n.Kind != yaml.MappingNode {
			l.add(Problem{Key: path, Source: where(n.Line), Msg: "want a section of keys, found " + describeNode(n)})
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fieldByTag(t, k.Value)
			if !ok {
				l.add(Problem{Key: join(path, k.Value), Source: where(k.Line), Msg: "unknown key", Hint: suggest(t, path, k.Value)})
				continue
			}
			l.check(v, f.Type, join(path, k.Value), where)
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return
		}
		if n.Kind != yaml.SequenceNode {
			l.add(Problem{Key: path, Source: where(n.Line), Msg: "want a list, found " + describeNode(n),
				Hint: "list items start with \"- \" on their own lines, or use [ ... ]"})
			return
		}
		for i, e := range n.Content {
			l.check(e, t.Elem(), join(path, strconv.Itoa(i)), where)
		}
	case t.Kind() == reflect.Slice:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return
		}
		if n.Kind != yaml.SequenceNode {
			l.add(Problem{Key: path, Source: where(n.Line), Msg: "want a list, found " + describeNode(n),
				Hint: "write a list as [a, b] or with \"- \" items on their own lines"})
			return
		}
		for i, e := range n.Content {
			l.check(e, t.Elem(), join(path, strconv.Itoa(i)), where)
		}
	default:
		v := reflect.New(t)
		if n.Kind != yaml.ScalarNode || n.Decode(v.Interface()) != nil {
			l.add(Problem{Key: path, Source: where(n.Line), Msg: fmt.Sprintf("want %s, found %s", describeType(t), describeNode(n))})
		}
	}
}

// env applies OMAMORI_* variables. A variable under a known section that names no key is an
// error: a typo in a systemd unit must not pass silently.
func (l *loader) env(c *Config, environ []string) {
	byName := map[string]string{}
	sections := map[string]bool{}
	for _, k := range keys(reflect.TypeFor[Config]()) {
		name := envName(k)
		byName[name] = k
		sec, _, _ := strings.Cut(k, ".")
		if strings.Contains(k, ".") {
			sections[EnvPrefix+strings.ToUpper(sec)+"_"] = true
		}
	}
	// Sorted, so problems come out in the same order every time.
	vars := slices.Clone(environ)
	slices.Sort(vars)
	for _, kv := range vars {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		key, ok := byName[name]
		if !ok {
			for sec := range sections {
				if strings.HasPrefix(name, sec) {
					l.add(Problem{Source: name, Msg: "environment variable names no config key", Hint: suggestEnv(name, byName)})
					break
				}
			}
			continue
		}
		l.assign(c, key, val, name)
	}
}

// set applies one "key=value" setting.
func (l *loader) set(c *Config, kv string) {
	key, val, ok := strings.Cut(kv, "=")
	if !ok || key == "" {
		l.add(Problem{Source: "-set", Msg: fmt.Sprintf("want key=value, got %q", kv), Hint: "for example: -set http.listen=0.0.0.0:8443"})
		return
	}
	l.assign(c, key, val, "-set "+key)
}

// assign sets the value at dotted key (which may index a list) from text.
func (l *loader) assign(c *Config, key, text, source string) {
	v := reflect.ValueOf(c).Elem()
	var path string
	for _, part := range strings.Split(key, ".") {
		switch v.Kind() {
		case reflect.Struct:
			f, ok := fieldByTag(v.Type(), part)
			if !ok {
				l.add(Problem{Key: join(path, part), Source: source, Msg: "unknown key", Hint: suggest(v.Type(), path, part)})
				return
			}
			v = v.FieldByIndex(f.Index)
		case reflect.Slice:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= v.Len() {
				l.add(Problem{Key: join(path, part), Source: source,
					Msg:  fmt.Sprintf("no item %q in a list of %d", part, v.Len()),
					Hint: "list items are numbered from 0; to replace the whole list set " + path + " to a YAML list"})
				return
			}
			v = v.Index(i)
		default:
			l.add(Problem{Key: path, Source: source, Msg: fmt.Sprintf("%s has no key %q", describeType(v.Type()), part)})
			return
		}
		path = join(path, part)
	}
	l.origin[path] = source
	switch {
	case v.Kind() == reflect.String:
		// Taken verbatim: a password or DSN may hold YAML's special characters.
		v.SetString(text)
		return
	case v.Kind() == reflect.Slice && strings.TrimSpace(text) == "":
		v.SetZero()
		return
	case v.Kind() == reflect.Struct:
		l.add(Problem{Key: path, Source: source, Msg: "is a section; set its keys one by one", Hint: suggest(v.Type(), path, "")})
		return
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(text), &n); err != nil || len(n.Content) != 1 {
		l.add(Problem{Key: path, Source: source, Msg: fmt.Sprintf("want %s, found %q", describeType(v.Type()), text)})
		return
	}
	before := len(l.problems)
	l.check(n.Content[0], v.Type(), path, func(int) string { return source })
	if len(l.problems) > before {
		return
	}
	if err := n.Content[0].Decode(v.Addr().Interface()); err != nil {
		l.add(Problem{Key: path, Source: source, Msg: err.Error()})
	}
}

// fill derives the values left empty to mean "the obvious one".
func (c *Config) fill() error {
	if c.DataDir != "" {
		abs, err := filepath.Abs(c.DataDir)
		if err != nil {
			return fmt.Errorf("resolve data_dir: %w", err)
		}
		c.DataDir = abs
	}
	if c.Store.Driver == "sqlite" && c.Store.DSN == "" && c.DataDir != "" {
		c.Store.DSN = filepath.Join(c.DataDir, "omamori.db")
	}
	if c.Archive.Dir == "" && c.DataDir != "" {
		c.Archive.Dir = filepath.Join(c.DataDir, "archive")
	}
	if c.Archive.KeyFile == "" && c.DataDir != "" {
		c.Archive.KeyFile = filepath.Join(c.DataDir, "keys", "archive-master.keys")
	}
	// A fresh slice: Default's backing array must not be shared with a filled copy.
	c.Ingest.Syslog = slices.Clone(c.Ingest.Syslog)
	for i := range c.Ingest.Syslog {
		l := &c.Ingest.Syslog[i]
		if l.Format == "" {
			l.Format = "syslog"
		}
		if l.Tenant == "" {
			l.Tenant = c.Ingest.DefaultTenant
		}
	}
	c.Respond.Bouncers = slices.Clone(c.Respond.Bouncers)
	for i := range c.Respond.Bouncers {
		if c.Respond.Bouncers[i].Tenant == "" {
			c.Respond.Bouncers[i].Tenant = c.Ingest.DefaultTenant
		}
	}
	return nil
}

// Location returns the time zone named by Timezone, or UTC if it names none Validate accepts.
func (c *Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if tagName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func tagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

// keys returns the dotted path of every settable key of t: struct fields are descended into,
// anything else (including lists) is a key.
func keys(t reflect.Type) []string {
	var out []string
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for i := range t.NumField() {
			f := t.Field(i)
			p := join(path, tagName(f))
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() {
				walk(f.Type, p)
				continue
			}
			out = append(out, p)
		}
	}
	walk(t, "")
	return out
}

func envName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func describeType(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "a duration such as 50ms, 30s or 2160h"
	case t.Kind() == reflect.String:
		return "text"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "a whole number"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() == reflect.Struct:
		return "a section of keys"
	}
	return t.String()
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a section of keys"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// suggest names the closest known key of section t, or lists them all.
func suggest(t reflect.Type, path, got string) string {
	var names []string
	for i := range t.NumField() {
		names = append(names, tagName(t.Field(i)))
	}
	where := "at the top level"
	if path != "" {
		where = "in " + path
	}
	if best := closest(got, names); best != "" {
		return fmt.Sprintf("did you mean %s? (keys %s: %s)", join(path, best), where, strings.Join(names, ", "))
	}
	return fmt.Sprintf("keys %s: %s", where, strings.Join(names, ", "))
}

func suggestEnv(got string, byName map[string]string) string {
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	if best := closest(got, names); best != "" {
		return "did you mean " + best + "?"
	}
	return "see docs/omamori.example.yaml for the keys; the variable is OMAMORI_ and the key's path in upper case joined by _"
}

// closest returns the name nearest to got by edit distance, if it is near enough to be a typo.
func closest(got string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := distance(strings.ToLower(got), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

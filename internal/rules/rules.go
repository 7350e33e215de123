// Package rules holds the detection rules omamori ships in its binary: Sigma rules written
// for what hospitals face and SigmaHQ lacks, such as the VPN appliance attacks that opened
// Japanese hospitals. Detection (package sigma) compiles them together with the SigmaHQ rules
// a hospital points omamori at.
package rules

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"

	"github.com/omamori-project/omamori/internal/sigma"
)

//go:embed hospital/*.yml
var hospital embed.FS

// Hospital returns the hospital rule set, a folder of Sigma rules named "hospital".
func Hospital() fs.FS { return hospital }

// Root is the folder of the rules in the file system Hospital returns.
const Root = "hospital"

// Load parses the hospital rules and the Sigma rules under every folder in dirs (such as a
// SigmaHQ checkout's rules), and compiles them together, so correlations may refer to rules
// of another folder. A rule that does not parse or compile is in the report with its reason.
func Load(dirs ...string) (*sigma.Ruleset, *sigma.Report, error) {
	type source struct {
		fsys fs.FS
		root string
		name string // for messages: where the rule came from
	}
	sources := []source{{Hospital(), Root, "builtin:"}}
	for _, dir := range dirs {
		sources = append(sources, source{os.DirFS(dir), ".", dir})
	}
	var all []*sigma.Rule
	var failed []sigma.Failure
	for _, src := range sources {
		err := fs.WalkDir(src.fsys, src.root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || (path.Ext(p) != ".yml" && path.Ext(p) != ".yaml") {
				return nil
			}
			data, err := fs.ReadFile(src.fsys, p)
			if err != nil {
				return err
			}
			name := path.Join(src.name, p)
			rs, err := sigma.Parse(data)
			if err != nil {
				failed = append(failed, sigma.Failure{Path: name, Err: err})
			}
			for _, r := range rs {
				r.Path = name
				all = append(all, r)
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("read rules in %s: %w", src.name, err)
		}
	}
	rs, rep := sigma.Compile(all, sigma.Options{})
	rep.Rules += len(failed)
	rep.Failed = append(failed, rep.Failed...)
	return rs, rep, nil
}

package access

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
	"github.com/cedar-policy/cedar-go/x/exp/schema"
	"github.com/cedar-policy/cedar-go/x/exp/schema/validate"
)

//go:embed policies/*.cedar policies/*.cedarschema
var defaultPolicies embed.FS

// ErrPolicy is wrapped by every error about a policy folder: it did not parse, did not
// type-check against the schema, or lacks an annotation omamori needs.
var ErrPolicy = errors.New("access: invalid policy")

// Policies is a parsed, schema-validated set of Cedar policies. It is immutable and safe
// for concurrent use.
type Policies struct {
	set  policySlice
	meta map[cedar.PolicyID]policyMeta
	ids  []string // sorted
	// Source names where the policies came from: "embedded" or a folder.
	Source string
}

type policyMeta struct {
	reason      string
	obligations []string
	breakGlass  bool
	forbid      bool
}

// DefaultPolicies returns the policies omamori ships for a Japanese hospital
// (internal/access/policies).
func DefaultPolicies() *Policies {
	sub, _ := fs.Sub(defaultPolicies, "policies")
	p, err := loadPolicies(sub, "embedded")
	if err != nil {
		panic(fmt.Sprintf("access: the embedded policies do not load: %v", err))
	}
	return p
}

// LoadPolicies reads the policies a hospital keeps in dir: every *.cedar file, checked
// against the one *.cedarschema file there. When dir has no schema the embedded one is
// used, so a hospital may keep only its policies. Every policy needs an @id annotation,
// unique across the files.
func LoadPolicies(dir string) (*Policies, error) {
	return loadPolicies(os.DirFS(dir), dir)
}

// DefaultPolicyText returns the text of the embedded default policies.
func DefaultPolicyText() []byte {
	b, _ := defaultPolicies.ReadFile("policies/hospital.cedar")
	return b
}

// DefaultSchema returns the text of the schema the embedded policies are written against.
func DefaultSchema() []byte {
	b, _ := defaultPolicies.ReadFile("policies/hospital.cedarschema")
	return b
}

func loadPolicies(fsys fs.FS, source string) (*Policies, error) {
	schemas, err := fs.Glob(fsys, "*.cedarschema")
	if err != nil {
		return nil, fmt.Errorf("load policies from %s: %w", source, err)
	}
	var schemaText []byte
	schemaName := "hospital.cedarschema (embedded)"
	switch len(schemas) {
	case 0:
		schemaText = DefaultSchema()
	case 1:
		schemaName = schemas[0]
		if schemaText, err = fs.ReadFile(fsys, schemas[0]); err != nil {
			return nil, fmt.Errorf("load policies from %s: %w", source, err)
		}
	default:
		return nil, fmt.Errorf("load policies from %s: %w: more than one schema (%s); keep one", source, ErrPolicy, strings.Join(schemas, ", "))
	}
	var sc schema.Schema
	sc.SetFilename(schemaName)
	if err := sc.UnmarshalCedar(schemaText); err != nil {
		return nil, fmt.Errorf("load schema %s: %w: %w", schemaName, ErrPolicy, err)
	}
	resolved, err := sc.Resolve()
	if err != nil {
		return nil, fmt.Errorf("load schema %s: %w: %w", schemaName, ErrPolicy, err)
	}
	v := validate.New(resolved, validate.WithStrict())

	files, err := fs.Glob(fsys, "*.cedar")
	if err != nil {
		return nil, fmt.Errorf("load policies from %s: %w", source, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("load policies from %s: %w: no .cedar files", source, ErrPolicy)
	}
	p := &Policies{meta: map[cedar.PolicyID]policyMeta{}, Source: source}
	var problems []error
	for _, name := range files {
		text, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("load policies from %s: %w", source, err)
		}
		list, err := cedar.NewPolicyListFromBytes(name, text)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w: %w", name, ErrPolicy, err))
			continue
		}
		for _, pol := range list {
			pos := pol.Position()
			where := fmt.Sprintf("%s:%d", name, pos.Line)
			ann := pol.Annotations()
			id := string(ann["id"])
			if id == "" {
				problems = append(problems, fmt.Errorf("%s: %w: no @id(\"...\") annotation; every policy needs a name that decisions can cite", where, ErrPolicy))
				continue
			}
			if _, dup := p.meta[cedar.PolicyID(id)]; dup {
				problems = append(problems, fmt.Errorf("%s: %w: @id %q is used twice", where, ErrPolicy, id))
				continue
			}
			if err := v.Policy(id, (*xast.Policy)(pol.AST())); err != nil {
				problems = append(problems, fmt.Errorf("%s: %w: policy %q does not match the schema: %w", where, ErrPolicy, id, err))
				continue
			}
			m := policyMeta{
				reason:     string(ann["reason"]),
				breakGlass: ann["breakglass"] == "true",
				forbid:     pol.Effect() == types.Forbid,
			}
			if m.reason == "" {
				m.reason = "policy " + id
			}
			for o := range strings.SplitSeq(string(ann["obligations"]), ",") {
				if o = strings.TrimSpace(o); o != "" {
					if !slices.Contains(knownObligations, o) {
						problems = append(problems, fmt.Errorf("%s: %w: policy %q has unknown obligation %q (known: %s)", where, ErrPolicy, id, o, strings.Join(knownObligations, ", ")))
					}
					m.obligations = append(m.obligations, o)
				}
			}
			p.set = append(p.set, idPolicy{cedar.PolicyID(id), pol})
			p.meta[cedar.PolicyID(id)] = m
			p.ids = append(p.ids, id)
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("load policies from %s: %w", filepath.Clean(source), errors.Join(problems...))
	}
	slices.Sort(p.ids)
	return p, nil
}

type idPolicy struct {
	id  cedar.PolicyID
	pol *cedar.Policy
}

// policySlice is a cedar.PolicyIterator over a slice: Authorize walks every policy, and a
// slice walks faster than the map inside cedar.PolicySet.
type policySlice []idPolicy

func (s policySlice) All() iter.Seq2[cedar.PolicyID, *cedar.Policy] {
	return func(yield func(cedar.PolicyID, *cedar.Policy) bool) {
		for _, p := range s {
			if !yield(p.id, p.pol) {
				return
			}
		}
	}
}

// IDs returns the names of the policies, sorted.
func (p *Policies) IDs() []string { return slices.Clone(p.ids) }

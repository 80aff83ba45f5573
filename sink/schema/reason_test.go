package schema_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"

	"github.com/earshot/earshot/sink/schema"
	"github.com/earshot/earshot/sink/schema/schematest"
)

// TestReasonsAreDistinctAndValid reads every Reason constant of reason.go:
// no two share a value, and each is a reason a gap record may carry.
func TestReasonsAreDistinctAndValid(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "reason.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	byValue := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || !strings.HasPrefix(name.Name, "Reason") {
					t.Errorf("%s is not a Reason constant with a string literal", name.Name)
					continue
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				if other, ok := byValue[v]; ok {
					t.Errorf("%s and %s are both %q", other, name.Name, v)
				}
				byValue[v] = name.Name
				gap := schematest.GapRecord
				gap.Reason = v
				if err := gap.Validate(); err != nil {
					t.Errorf("%s: %v", name.Name, err)
				}
			}
		}
	}
	if len(byValue) < 20 || byValue[schema.ReasonMoved] != "ReasonMoved" {
		t.Errorf("read %d reasons from reason.go: %v", len(byValue), byValue)
	}
}

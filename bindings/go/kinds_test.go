package literllm_test

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
)

// headerKinds are the error kinds of the enum in include/liter_llm.h (this module's copy of the
// repository's header), as strings: LITER_LLM_ERROR_KIND_RATE_LIMITED is "rate_limited".
func headerKinds(t *testing.T) []string {
	t.Helper()
	header, err := os.ReadFile("include/liter_llm.h")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, match := range regexp.MustCompile(`\bLITER_LLM_ERROR_KIND_([A-Z_]+)\b`).FindAllStringSubmatch(string(header), -1) {
		if kind := strings.ToLower(match[1]); !slices.Contains(kinds, kind) {
			kinds = append(kinds, kind)
		}
	}
	if len(kinds) == 0 {
		t.Fatal("include/liter_llm.h declares no LITER_LLM_ERROR_KIND_* constant")
	}
	slices.Sort(kinds)
	return kinds
}

// The error kinds exist once, in the header: the Kind constants, their sentinels and the
// README's list are exactly its kinds.
func TestErrorKindsAreTheHeaders(t *testing.T) {
	want := headerKinds(t)

	// Every constant of type Kind in errors.go, and every sentinel made from one.
	file, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	constants := map[string]string{}  // name: kind
	sentinelOf := map[string]string{} // constant name: sentinel name
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || (gen.Tok != token.CONST && gen.Tok != token.VAR) {
			continue
		}
		for _, spec := range gen.Specs {
			value := spec.(*ast.ValueSpec)
			if len(value.Values) != 1 {
				continue
			}
			if typ, ok := value.Type.(*ast.Ident); ok && gen.Tok == token.CONST && typ.Name == "Kind" {
				kind, err := strconv.Unquote(value.Values[0].(*ast.BasicLit).Value)
				if err != nil {
					t.Fatal(err)
				}
				constants[value.Names[0].Name] = kind
			}
			if unary, ok := value.Values[0].(*ast.UnaryExpr); ok && gen.Tok == token.VAR {
				if literal, ok := unary.X.(*ast.CompositeLit); ok && literal.Type.(*ast.Ident).Name == "kindError" {
					constant := literal.Elts[0].(*ast.Ident).Name
					if previous, taken := sentinelOf[constant]; taken {
						t.Errorf("%s and %s are both sentinels of %s", previous, value.Names[0].Name, constant)
					}
					sentinelOf[constant] = value.Names[0].Name
				}
			}
		}
	}
	var declared []string
	for name, kind := range constants {
		declared = append(declared, kind)
		if _, ok := sentinelOf[name]; !ok {
			t.Errorf("%s has no Err* sentinel", name)
		}
	}
	slices.Sort(declared)
	if !slices.Equal(declared, want) {
		t.Errorf("errors.go declares the kinds %v, include/liter_llm.h %v", declared, want)
	}
	if len(sentinelOf) != len(constants) {
		t.Errorf("%d sentinels for %d kinds", len(sentinelOf), len(constants))
	}

	// The sentinels as the package defines them (the table of errors_test.go) match their kind.
	var tabled []string
	for kind := range sentinels {
		tabled = append(tabled, string(kind))
	}
	slices.Sort(tabled)
	if !slices.Equal(tabled, want) {
		t.Errorf("the sentinel table has the kinds %v, include/liter_llm.h %v", tabled, want)
	}
	for kind, sentinel := range sentinels {
		for other := range sentinels {
			e := &literllm.Error{Kind: other}
			wantIs := other == kind || (kind == literllm.KindConnection && other == literllm.KindTimeout)
			if errors.Is(e, sentinel) != wantIs {
				t.Errorf("errors.Is(a %s error, %v) = %v", other, sentinel, !wantIs)
			}
		}
	}

	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range want {
		if !strings.Contains(string(readme), "`"+kind+"`") {
			t.Errorf("README.md does not list the kind %q", kind)
		}
	}
	for _, sentinel := range sentinelOf {
		if !strings.Contains(string(readme), "`"+sentinel+"`") {
			t.Errorf("README.md does not list the sentinel %s", sentinel)
		}
	}
}

package service

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/protocol"
)

// Every error code dbapi's own packages reply with is in the list that
// `describe` publishes, with the status its kind has. The codes are read
// from the source: CodeErrorf(kind, "code", …), Error{Kind: kind, Code:
// "code"} and `e.Kind, e.Code, … = kind, "code", …`. (Applications'
// codes, such as the bank's, are theirs to document.)
func TestErrorCodesCoverTheSource(t *testing.T) {
	kinds := map[string]string{
		"EINVALID": dbapi.EINVALID, "ENOTFOUND": dbapi.ENOTFOUND, "ECONFLICT": dbapi.ECONFLICT,
		"ETOOLARGE": dbapi.ETOOLARGE, "EUNAVAILABLE": dbapi.EUNAVAILABLE, "EOVERLOADED": dbapi.EOVERLOADED,
		"ETIMEOUT": dbapi.ETIMEOUT, "ECOMMITUNKNOWN": dbapi.ECOMMITUNKNOWN, "EINTERNAL": dbapi.EINTERNAL,
	}
	published := map[string]int{}
	for _, c := range errorCodes() {
		published[c.Code] = c.Status
	}
	name := func(e ast.Expr) string {
		switch x := e.(type) {
		case *ast.Ident:
			return x.Name
		case *ast.SelectorExpr:
			return x.Sel.Name
		}
		return ""
	}
	str := func(e ast.Expr) (string, bool) {
		lit, ok := e.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(lit.Value)
		return s, err == nil
	}
	found := 0
	check := func(pos token.Position, kindExpr, codeExpr ast.Expr) {
		kind, ok := kinds[name(kindExpr)]
		code, isLit := str(codeExpr)
		if !ok || !isLit {
			return
		}
		found++
		status, listed := published[code]
		switch {
		case !listed:
			t.Errorf("%s: code %q is not in errorCodes()", pos, code)
		case status != protocol.Lookup(kind, "").Status:
			t.Errorf("%s: code %q is a %s (%d) here but listed as %d", pos, code, kind, protocol.Lookup(kind, "").Status, status)
		}
	}

	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "examples", "bench", "cmd", "internal", "testdata", "node_modules", ".git":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CallExpr:
				if name(x.Fun) == "CodeErrorf" && len(x.Args) >= 2 {
					check(fset.Position(x.Pos()), x.Args[0], x.Args[1])
				}
			case *ast.CompositeLit:
				if name(x.Type) != "Error" {
					break
				}
				var kind, code ast.Expr
				for _, el := range x.Elts {
					if kv, ok := el.(*ast.KeyValueExpr); ok {
						switch name(kv.Key) {
						case "Kind":
							kind = kv.Value
						case "Code":
							code = kv.Value
						}
					}
				}
				if kind != nil && code != nil {
					check(fset.Position(x.Pos()), kind, code)
				}
			case *ast.AssignStmt:
				kind, code := -1, -1
				for i, l := range x.Lhs {
					if sel, ok := l.(*ast.SelectorExpr); ok {
						switch sel.Sel.Name {
						case "Kind":
							kind = i
						case "Code":
							code = i
						}
					}
				}
				if kind >= 0 && code >= 0 && len(x.Rhs) == len(x.Lhs) {
					check(fset.Position(x.Pos()), x.Rhs[kind], x.Rhs[code])
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 30 {
		t.Errorf("found only %d error sites in the source; is the scan broken?", found)
	}
}

package catalogen

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template/parse"
)

// Title templates are written in text/template syntax over the payload's
// JSON fields (.reason, .absentDays.unauthorised) and the title helpers of
// package events, and compiled here into Go expressions: a title is made for
// every event the projector applies, so it costs no template interpretation
// and no reflection, and a template that names a missing field or helper
// fails at generation rather than in a timeline.
//
// Besides the helpers, two functions are built in: print concatenates its
// string arguments, and da gives the Danish word of an enum field's code
// from the words in the field's "x-jf": {"da": {...}}, or the code itself.

// helpers are the functions of package events a title may call, with the
// number of arguments each takes (-1: any number).
var helpers = map[string]int{
	"titled":           2, // "head: detail", or head alone
	"prefixed":         2, // prefix+s, or "" when s is empty
	"paren":            1, // " (s)", or ""
	"list":             -1,
	"cut":              1, // free text cut to one line
	"count":            3, // "1 barn", "2 børn"
	"countItems":       3, // count of a list, or "" when empty
	"number":           1, // decimal comma
	"numberEn":         1,
	"hours":            1, // "10 t/uge", or ""
	"hoursEn":          1,
	"score":            2, // "label 4/5", or ""
	"choose":           3, // one of two texts by a boolean
	"memberCounts":     1, // " (2 forældre, 1 barn)"
	"memberCountsEn":   1,
	"absence":          2, // "Skolefravær 12% ulovligt"
	"absenceEn":        2,
	"period":           2, // " (start–end)"
	"evaluationHead":   1,
	"evaluationHeadEn": 1,
}

// titleExpr compiles a title template into a Go expression over d, the
// payload struct pointer, and returns it with the word tables it uses.
func (t *Type) titleExpr(tmpl, lang string) (string, error) {
	funcs := map[string]any{"da": true, "print": true}
	for h := range helpers {
		funcs[h] = true
	}
	trees, err := parse.Parse(t.Name, tmpl, "{{", "}}", funcs)
	if err != nil {
		return "", err
	}
	tree := trees[t.Name]
	if tree == nil || tree.Root == nil || len(tree.Root.Nodes) == 0 {
		return "", errors.New("empty template")
	}
	var parts []string
	for _, n := range tree.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			parts = append(parts, strconv.Quote(string(n.Text)))
		case *parse.ActionNode:
			if len(n.Pipe.Decl) > 0 {
				return "", fmt.Errorf("%s: no variables in titles", n)
			}
			e, err := t.pipe(n.Pipe, lang)
			if err != nil {
				return "", err
			}
			parts = append(parts, e)
		default:
			return "", fmt.Errorf("%s: only text and {{actions}}, no %T", n, n)
		}
	}
	return strings.Join(parts, " + "), nil
}

func (t *Type) pipe(p *parse.PipeNode, lang string) (string, error) {
	if len(p.Cmds) != 1 || len(p.Decl) > 0 {
		return "", fmt.Errorf("%s: one command per action, no pipelines", p)
	}
	c := p.Cmds[0]
	id, ok := c.Args[0].(*parse.IdentifierNode)
	if !ok {
		if len(c.Args) != 1 {
			return "", fmt.Errorf("%s: a value or a function call", c)
		}
		return t.arg(c.Args[0], lang)
	}
	args := c.Args[1:]
	switch id.Ident {
	case "print":
		parts, err := t.args(args, lang)
		if err != nil {
			return "", err
		}
		if len(parts) == 0 {
			return "", fmt.Errorf("%s: print of nothing", c)
		}
		return "(" + strings.Join(parts, " + ") + ")", nil
	case "da":
		if lang != "da" {
			return "", fmt.Errorf("%s: da in a title that is not Danish", c)
		}
		f, ok := args[0].(*parse.FieldNode)
		if len(args) != 1 || !ok {
			return "", fmt.Errorf("%s: da takes one field", c)
		}
		expr, node, err := t.field(f.Ident)
		if err != nil {
			return "", err
		}
		w, err := words(node, "."+strings.Join(f.Ident, "."))
		if err != nil {
			return "", err
		}
		if w == nil {
			return "", fmt.Errorf("%s: field .%s has no Danish words (\"x-jf\": {\"da\": {...}})", c, strings.Join(f.Ident, "."))
		}
		return "da(" + wordsVar(t, f.Ident) + ", " + expr + ")", nil
	}
	n, ok := helpers[id.Ident]
	if !ok {
		return "", fmt.Errorf("%s: no helper %s", c, id.Ident)
	}
	if n >= 0 && len(args) != n {
		return "", fmt.Errorf("%s: %s takes %d arguments", c, id.Ident, n)
	}
	parts, err := t.args(args, lang)
	if err != nil {
		return "", err
	}
	return id.Ident + "(" + strings.Join(parts, ", ") + ")", nil
}

// args are the Go expressions of the arguments ns.
func (t *Type) args(ns []parse.Node, lang string) ([]string, error) {
	var parts []string
	for _, a := range ns {
		e, err := t.arg(a, lang)
		if err != nil {
			return nil, err
		}
		parts = append(parts, e)
	}
	return parts, nil
}

func (t *Type) arg(n parse.Node, lang string) (string, error) {
	switch n := n.(type) {
	case *parse.FieldNode:
		e, _, err := t.field(n.Ident)
		return e, err
	case *parse.StringNode:
		return strconv.Quote(n.Text), nil
	case *parse.NumberNode:
		if !n.IsInt {
			return "", fmt.Errorf("%s: integers only", n)
		}
		return n.Text, nil
	case *parse.BoolNode:
		return strconv.FormatBool(n.True), nil
	case *parse.PipeNode:
		return t.pipe(n, lang)
	}
	return "", fmt.Errorf("%s: unexpected %T", n, n)
}

// field resolves .a.b against the schema's properties.
func (t *Type) field(path []string) (string, *Node, error) {
	expr, n := "d", t.Schema
	for i, p := range path {
		props, _ := n.Get("properties")
		child, ok := props.Get(p)
		if !ok {
			return "", nil, fmt.Errorf("the schema has no field .%s", strings.Join(path[:i+1], "."))
		}
		expr += "." + goFieldName(p)
		n = child
	}
	return expr, n, nil
}

// wordsVar is the Go variable of a field's Danish words.
func wordsVar(t *Type, path []string) string {
	v := "words" + t.Go
	for _, p := range path {
		v += goFieldName(p)
	}
	return v
}

package catalogdoc

import (
	"bytes"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/events"
)

const committed = "../../docs/catalog.md"

// TestCatalogDocIsCurrent fails when docs/catalog.md no longer matches the
// catalog and the schemas, so that the document developers read cannot
// quietly drift from what ingest enforces.
func TestCatalogDocIsCurrent(t *testing.T) {
	t.Parallel()
	want, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(committed)
	if err != nil {
		t.Fatalf("%v: run `make catalog` in the repository root", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gl), len(wl)) {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("docs/catalog.md is out of date: run `make catalog` in the repository root.\nfirst difference, line %d:\n have: %s\n want: %s", i+1, g, w)
		}
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	t.Parallel()
	a, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two renders differ")
	}
}

// TestExampleEvents runs each documented example through ingest's own parser
// and validator, so that a developer who copies one gets an event ingest
// accepts.
func TestExampleEvents(t *testing.T) {
	t.Parallel()
	doc, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range events.Catalog() {
		t.Run(spec.Name, func(t *testing.T) {
			t.Parallel()
			b, err := exampleEvent(spec)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(doc, b) {
				t.Error("the example is not in the document")
			}
			if !bytes.Contains(doc, []byte("\n## "+spec.Name+"\n")) {
				t.Error("no section in the document")
			}
			ev, err := events.ParseStructured(b)
			if err != nil {
				t.Fatalf("ingest would not parse the example: %v", err)
			}
			env, err := events.Validate(ev)
			if err != nil {
				t.Fatalf("ingest would refuse the example: %v", err)
			}
			if !env.Spec.OwnedBy(env.Department) {
				t.Errorf("the example is sent by %s, which does not own %s", env.Department, spec.Name)
			}
		})
	}
}

func TestAnchor(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"praktik.started":      "praktikstarted",
		"team.member-joined":   "teammember-joined",
		"gp.consultation-held": "gpconsultation-held",
		"A b_C":                "a-b_c",
	} {
		if got := anchor(in); got != want {
			t.Errorf("anchor(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestBinaryModeExample sends the document's binary-mode curl example, its
// ce-* headers and its body, through ingest's own binary-mode parser and
// validator, so that the one example that is not a type's section is held
// to the catalog as well.
func TestBinaryModeExample(t *testing.T) {
	t.Parallel()
	doc, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "# binary mode\n")
	if !ok {
		t.Fatal("no binary mode example in the document")
	}
	block, _, _ = strings.Cut(block, "```")
	h := http.Header{}
	var body string
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSuffix(strings.TrimSpace(line), ` \`)
		if v, ok := strings.CutPrefix(line, "-H '"); ok {
			k, v, _ := strings.Cut(strings.TrimSuffix(v, "'"), ": ")
			h.Add(k, v)
		}
		if v, ok := strings.CutPrefix(line, "--data-binary '"); ok {
			body = strings.TrimSuffix(v, "'")
		}
	}
	if body == "" || h.Get("ce-type") == "" {
		t.Fatalf("the binary mode example has no body or no ce-type:\n%s", block)
	}
	ev, err := events.FromBinary(h, []byte(body))
	if err != nil {
		t.Fatalf("ingest would not parse the binary mode example: %v", err)
	}
	if _, err := events.Validate(ev); err != nil {
		t.Fatalf("ingest would refuse the binary mode example: %v", err)
	}
}

// htmlTag is what CommonMark reads as raw HTML, an open or closing tag
// (spec 0.31, section 6.6), which GitHub drops or renders as markup.
var htmlTag = regexp.MustCompile(`</?[A-Za-z][A-Za-z0-9-]*(\s+[A-Za-z_:][^<>]*)?\s*/?>`)

// TestNoRawHTMLInProse holds the document's text outside code to what a
// Markdown renderer shows as written: a placeholder such as <cvr> in a
// type's change or upcast rule would be taken for an HTML tag and vanish
// from the rendered page.
func TestNoRawHTMLInProse(t *testing.T) {
	t.Parallel()
	doc, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	codeSpan := regexp.MustCompile("`[^`]*`")
	autolink := regexp.MustCompile(`<[A-Za-z][A-Za-z0-9+.-]{1,31}:[^<>\s]*>`)
	fence := false
	for i, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "```") {
			fence = !fence
			continue
		}
		if fence || strings.HasPrefix(line, "<!--") {
			continue
		}
		prose := autolink.ReplaceAllString(codeSpan.ReplaceAllString(line, ""), "")
		// A backslash-escaped "<" is text (an escaped backslash is not an escape).
		prose = strings.ReplaceAll(strings.ReplaceAll(prose, `\\`, ""), `\<`, "")
		if tag := htmlTag.FindString(prose); tag != "" {
			t.Errorf("line %d: %s reads as an HTML tag: %s", i+1, tag, line)
		}
	}
}

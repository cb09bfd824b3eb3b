package catalogen

import (
	"bytes"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

const repoRoot = "../../.."

// TestGeneratedFilesAreCurrent fails when a generated file no longer is
// what the catalog's data gives: someone edited the data without running
// `go generate ./...` in events, or edited a generated file by hand.
// (docs/catalog.md has the same test in package catalogdoc.)
func TestGeneratedFilesAreCurrent(t *testing.T) {
	t.Parallel()
	c, err := Load(os.DirFS(repoRoot))
	if err != nil {
		t.Fatal(err)
	}
	files, err := Generate(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(files)); !slices.Equal(got, Files()) {
		t.Errorf("Generate wrote %v, Files says %v", got, Files())
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(name)))
		if err != nil {
			t.Errorf("%v: run `go generate ./...` in events", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date: run `go generate ./...` in events", name)
		}
	}
}

// repoFS is the catalog's data as on disk, in memory, to change freely.
func repoFS(t *testing.T) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	root := os.DirFS(repoRoot)
	names, err := fs.Glob(root, path.Join(SchemaDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range append(names, DepartmentsFile) {
		b, err := fs.ReadFile(root, name)
		if err != nil {
			t.Fatal(err)
		}
		m[name] = &fstest.MapFile{Data: b}
	}
	return m
}

func generate(t *testing.T, fsys fs.FS) (map[string][]byte, error) {
	t.Helper()
	c, err := Load(fsys)
	if err != nil {
		return nil, err
	}
	return Generate(c)
}

// exampleType is a new event type as a department would add it: one schema
// file with its "x-jf" annotation. Its examples go in
// schemas/testdata/visit.planned/ (valid-*.json, invalid-*.json), which the
// schemas module's tests find by the catalog name.
const exampleType = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://jobogfamilie.kk.dk/schemas/dk.kk.jobogfamilie.visit.planned.v1.json",
  "title": "dk.kk.jobogfamilie.visit.planned.v1",
  "description": "Hjemmebesøg planlagt / home visit planned. Owners: sof, buf.",
  "x-jf": {
    "seq": 37,
    "go": "VisitPlanned",
    "owners": ["sof", "buf"],
    "danish": "Hjemmebesøg planlagt",
    "english": "Home visit planned",
    "title": {"da": "{{titled (print \"Hjemmebesøg planlagt\" (prefixed \" den \" .date)) (da .kind)}}",
              "en": "{{titled (print \"Home visit planned\" (prefixed \" on \" .date)) .kind}}",
              "example": {"da": "Hjemmebesøg planlagt den 2019-03-04: anmeldt", "en": "Home visit planned on 2019-03-04: announced"}},
    "personal": ["/purpose"],
    "invariant": {"en": "family enrolled", "da": "familien er optaget"}
  },
  "type": "object",
  "additionalProperties": false,
  "required": ["date", "kind"],
  "properties": {
    "date": {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "description": "Day of the visit, YYYY-MM-DD."},
    "kind": {"type": "string", "enum": ["announced", "unannounced"], "description": "Whether the family knows.",
             "x-jf": {"da": {"announced": "anmeldt", "unannounced": "uanmeldt"}}},
    "purpose": {"type": "string", "minLength": 1, "maxLength": 500, "not": {"pattern": "(^|[^0-9])[0-9]{6}-?[0-9]{4}([^0-9]|$)"}, "description": "Why, free text."}
  }
}
`

// TestAddingAnEventType shows that a new event type is one data file: with
// the schema added and nothing else touched, the generator gives the Go
// type, its catalog entry, its titles and the schemas test list, and every
// other generated line stays as it was.
func TestAddingAnEventType(t *testing.T) {
	t.Parallel()
	fsys := repoFS(t)
	before, err := generate(t, fsys)
	if err != nil {
		t.Fatal(err)
	}
	fsys["schemas/dk.kk.jobogfamilie.visit.planned.v1.json"] = &fstest.MapFile{Data: []byte(exampleType)}
	after, err := generate(t, fsys)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{
		PayloadsFile: {"type VisitPlanned struct {", "\tDate string `json:\"date\"`", "\tPurpose string `json:\"purpose,omitempty\"`",
			`func (*VisitPlanned) EventName() string { return "visit.planned" }`},
		CatalogFile: {`spec[VisitPlanned]("visit.planned", 1, owners(SOF, BUF), "Hjemmebesøg planlagt", "Home visit planned", "family enrolled", "familien er optaget", []string{"/purpose"}, "", "", ""),`,
			`return titled(("Hjemmebesøg planlagt" + prefixed(" den ", d.Date)), da(wordsVisitPlannedKind, d.Kind)), true`,
			`"unannounced": "uanmeldt",`},
		NamesFile:  {`"visit.planned",`},
		TitlesFile: {`{"Hjemmebesøg planlagt den 2019-03-04: anmeldt", "Home visit planned on 2019-03-04: announced"},`},
		CountsFile: nil,
	} {
		added := addedLines(string(before[name]), string(after[name]))
		for _, line := range want {
			if !strings.Contains(added, line) {
				t.Errorf("%s: no added line %q in\n%s", name, line, added)
			}
		}
		if removed := addedLines(string(after[name]), string(before[name])); removed != "" {
			t.Errorf("%s: adding a type changed existing lines:\n%s", name, removed)
		}
	}
}

// TestAddingADepartment shows that a department is one entry in
// events/departments.json: its constant, the list, the codes for messages,
// its Danish name and its member of the per-department counts follow.
func TestAddingADepartment(t *testing.T) {
	t.Parallel()
	fsys := repoFS(t)
	before, err := generate(t, fsys)
	if err != nil {
		t.Fatal(err)
	}
	depts := string(fsys[DepartmentsFile].Data)
	i := strings.LastIndex(depts, "}")
	depts = depts[:i+1] + `,
  {"code": "kff", "danish": "Kultur- og Fritidsforvaltningen", "about": "culture and leisure"}` + depts[i+1:]
	fsys[DepartmentsFile] = &fstest.MapFile{Data: []byte(depts)}
	after, err := generate(t, fsys)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{
		CatalogFile: {`KFF Department = "kff" // Kultur- og Fritidsforvaltningen: culture and leisure`,
			`var Departments = []Department{SOF, BIF, BUF, SUF, KFF}`, `const DepartmentCodes = "sof, bif, buf, suf, kff"`,
			`KFF: "Kultur- og Fritidsforvaltningen",`},
		CountsFile: {"KFF int `json:\"kff\"`", "case events.KFF:", "c.KFF++"},
	} {
		added := addedLines(string(before[name]), string(after[name]))
		for _, line := range want {
			if !strings.Contains(added, line) {
				t.Errorf("%s: no added line %q in\n%s", name, line, added)
			}
		}
	}
	for _, name := range []string{PayloadsFile, NamesFile, TitlesFile} {
		if !bytes.Equal(before[name], after[name]) {
			t.Errorf("%s changed with a new department", name)
		}
	}
}

// addedLines returns the lines of b that a does not have, in b's order.
func addedLines(a, b string) string {
	have := map[string]int{}
	for _, l := range strings.Split(a, "\n") {
		have[l]++
	}
	var out []string
	for _, l := range strings.Split(b, "\n") {
		if have[l] > 0 {
			have[l]--
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// TestRefuses checks that data which disagrees with itself is refused,
// naming the file and the mistake.
func TestRefuses(t *testing.T) {
	t.Parallel()
	const file = "schemas/dk.kk.jobogfamilie.visit.planned.v1.json"
	for _, tc := range []struct {
		name      string
		old, new  string // replaced in exampleType
		depts     string // replaces events/departments.json when set
		wantError string
	}{
		{"owner that is no department", `"owners": ["sof", "buf"]`, `"owners": ["sof", "xyz"]`, "", `owner "xyz" is no department`},
		{"owner twice", `"owners": ["sof", "buf"]`, `"owners": ["sof", "sof"]`, "", "an owner is listed twice"},
		{"owners neither list nor any", `"owners": ["sof", "buf"]`, `"owners": "all"`, "", `list of department codes, "any" or "service"`},
		{"duplicate seq", `"seq": 37`, `"seq": 12`, "", "seq 12 is also"},
		{"duplicate Go type", `"go": "VisitPlanned"`, `"go": "GoalSet"`, "", "Go type GoalSet is also made by"},
		{"Go type of package events", `"go": "VisitPlanned"`, `"go": "Spec"`, "", "Go type Spec is taken"},
		{"personal pointer not in the schema", `"personal": ["/purpose"]`, `"personal": ["/purpose", "/reason"]`, "", "pointer /reason is no free-text string"},
		{"personal pointer to a code", `"personal": ["/purpose"]`, `"personal": ["/purpose", "/kind"]`, "", "pointer /kind is no free-text string"},
		{"free text unclassified", `"personal": ["/purpose"],`, ``, "", "free-text field /purpose is in neither"},
		{"title names a missing field", `(prefixed \" den \" .date)`, `(prefixed \" den \" .day)`, "", "the schema has no field .day"},
		{"title calls an unknown function", `(prefixed \" den \" .date)`, `(shout .date)`, "", `function "shout" not defined`},
		{"title with a wrong number of arguments", `(prefixed \" den \" .date)`, `(prefixed .date)`, "", "prefixed takes 2 arguments"},
		{"da of a field without words", `(da .kind)`, `(da .date)`, "", "field .date has no Danish words"},
		{"a code without a Danish word", `"unannounced": "uanmeldt"`, `"unknown": "ukendt"`, "", `no Danish word for the code "unannounced"`},
		{"unknown annotation member", `"seq": 37,`, `"seq": 37, "colour": "red",`, "", `unknown field "colour"`},
		{"department twice", "", "", `[{"code": "sof", "danish": "S"}, {"code": "sof", "danish": "S"}]`, `department "sof" twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fsys := repoFS(t)
			schema := exampleType
			if tc.old != "" {
				if !strings.Contains(schema, tc.old) {
					t.Fatalf("the example has no %s", tc.old)
				}
				schema = strings.Replace(schema, tc.old, tc.new, 1)
			}
			fsys[file] = &fstest.MapFile{Data: []byte(schema)}
			if tc.depts != "" {
				fsys[DepartmentsFile] = &fstest.MapFile{Data: []byte(tc.depts)}
			}
			_, err := generate(t, fsys)
			if err == nil || !strings.Contains(err.Error(), tc.wantError) {
				t.Fatalf("error %v, want one with %q", err, tc.wantError)
			}
		})
	}
}

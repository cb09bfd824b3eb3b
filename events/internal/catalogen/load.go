// Package catalogen generates the Go side of the event catalog from its data:
// the JSON Schemas in schemas/, each annotated with an "x-jf" keyword (owners,
// Danish and English terms, title templates, personal-data fields,
// invariants), and the departments in events/departments.json. It writes the
// payload types, the catalog table, the titles, the department constants, the
// per-department counts of package family and the schemas module's test list;
// `go generate ./...` in events runs it. It refuses data that disagrees with
// itself, so that a mistake is caught where it is made rather than in a
// title or an overview.
package catalogen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Paths of the data, relative to the repository root.
const (
	SchemaDir       = "schemas"
	DepartmentsFile = "events/departments.json"
	schemaPrefix    = "dk.kk.jobogfamilie."
	schemaSuffix    = ".json"
)

// Department is one entry of events/departments.json.
type Department struct {
	Code   string `json:"code"`   // lower case, the token in sources, subjects and routes
	Danish string `json:"danish"` // the administration's full Danish name
	About  string `json:"about"`  // what it does, in English, for the Go doc comment
}

// Const is the Go constant's name, the code in upper case.
func (d Department) Const() string { return strings.ToUpper(d.Code) }

// Type is one event type: its schema and the schema's "x-jf" annotation.
type Type struct {
	Name   string // catalog name, from the schema file's name
	File   string // path of the schema, relative to the repository root
	Schema *Node  // the whole schema, in file order
	// Version is the type's version, from the schema file's name (.v2.json);
	// every version of a name is a Type of its own, and versions count up
	// from 1 without gaps.
	Version int
	// Latest says that no later version of the name exists.
	Latest bool
	// Change and Upcast say, for a version after the first, what differs
	// from the previous version and how an event of that version is read
	// as this one (events/upcast.go implements it).
	Change, Upcast string
	// Since is the day (YYYY-MM-DD) a version after the first was
	// published, from which the version before it is deprecated.
	Since string

	Seq    int
	Go     string
	Owners []string // department codes; nil means any department, ["service"] none

	Danish  string
	English string
	TitleDa string
	TitleEn string
	// ExampleDa and ExampleEn are the titles of the first valid example
	// (schemas/testdata/<name>/valid-*.json), which a test of package
	// events checks.
	ExampleDa string
	ExampleEn string
	Personal  []string // JSON pointers of personal free text
	PlainText []string // JSON pointers of free text that is not personal
	InvEn     string
	InvDa     string
}

// annotation is the "x-jf" keyword at the root of a schema.
type annotation struct {
	Seq     int             `json:"seq"`
	Go      string          `json:"go"`
	Owners  json.RawMessage `json:"owners"`
	Danish  string          `json:"danish"`
	English string          `json:"english"`
	Title   struct {
		Da      string `json:"da"`
		En      string `json:"en"`
		Example struct {
			Da string `json:"da"`
			En string `json:"en"`
		} `json:"example"`
	} `json:"title"`
	Personal  []string `json:"personal"`
	PlainText []string `json:"plainText"`
	Invariant *struct {
		En string `json:"en"`
		Da string `json:"da"`
	} `json:"invariant"`
	Change string `json:"change"`
	Upcast string `json:"upcast"`
	Since  string `json:"since"`
}

// fieldAnnotation is the "x-jf" keyword inside a schema: the Go type of a
// nested object, or the Danish words for the codes of an enum.
type fieldAnnotation struct {
	Go string            `json:"go"`
	Da map[string]string `json:"da"`
}

// Catalog is all of the data.
type Catalog struct {
	Departments []Department
	Types       []*Type // in seq order
}

// Load reads the catalog from a file system rooted at the repository root
// and checks it.
func Load(root fs.FS) (*Catalog, error) {
	var c Catalog
	b, err := fs.ReadFile(root, DepartmentsFile)
	if err != nil {
		return nil, err
	}
	if err := strictUnmarshal(b, &c.Departments); err != nil {
		return nil, fmt.Errorf("%s: %w", DepartmentsFile, err)
	}
	files, err := fs.Glob(root, path.Join(SchemaDir, "*.json"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		t, err := loadType(root, f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		c.Types = append(c.Types, t)
	}
	slices.SortStableFunc(c.Types, func(a, b *Type) int {
		if a.Seq != b.Seq {
			return a.Seq - b.Seq
		}
		return a.Version - b.Version
	})
	for i, t := range c.Types {
		t.Latest = i+1 == len(c.Types) || c.Types[i+1].Name != t.Name
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return &c, nil
}

var (
	catalogName = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z][a-z0-9-]*$`)
	versioned   = regexp.MustCompile(`^(.*)\.v([1-9][0-9]?)$`)
	goIdent     = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
	deptCode    = regexp.MustCompile(`^[a-z]{2,16}$`)
)

func loadType(root fs.FS, file string) (*Type, error) {
	base := path.Base(file)
	name, ok := strings.CutPrefix(base, schemaPrefix)
	if ok {
		name, ok = strings.CutSuffix(name, schemaSuffix)
	}
	m := versioned.FindStringSubmatch(name)
	if !ok || m == nil || !catalogName.MatchString(m[1]) {
		return nil, fmt.Errorf("not named %s<name>.v<version>%s", schemaPrefix, schemaSuffix)
	}
	name = m[1]
	version, _ := strconv.Atoi(m[2])
	b, err := fs.ReadFile(root, file)
	if err != nil {
		return nil, err
	}
	n, err := parseNode(b)
	if err != nil {
		return nil, err
	}
	raw, ok := n.Get("x-jf")
	if !ok {
		return nil, errors.New(`no "x-jf" annotation`)
	}
	var a annotation
	if err := strictUnmarshal(raw.Raw, &a); err != nil {
		return nil, fmt.Errorf("x-jf: %w", err)
	}
	t := &Type{Name: name, File: file, Schema: n, Version: version, Change: a.Change, Upcast: a.Upcast, Since: a.Since, Seq: a.Seq, Go: a.Go, Danish: a.Danish, English: a.English,
		TitleDa: a.Title.Da, TitleEn: a.Title.En, ExampleDa: a.Title.Example.Da, ExampleEn: a.Title.Example.En, Personal: a.Personal, PlainText: a.PlainText}
	if a.Invariant != nil {
		t.InvEn, t.InvDa = a.Invariant.En, a.Invariant.Da
		if t.InvEn == "" || t.InvDa == "" {
			return nil, errors.New("x-jf: an invariant needs both en and da")
		}
	}
	var anyOwner string
	if err := json.Unmarshal(a.Owners, &anyOwner); err == nil {
		switch anyOwner {
		case "any":
		case ServiceOwner:
			t.Owners = []string{ServiceOwner}
		default:
			return nil, fmt.Errorf(`x-jf: owners is a list of department codes, "any" or "service", not %q`, anyOwner)
		}
	} else if err := json.Unmarshal(a.Owners, &t.Owners); err != nil || len(t.Owners) == 0 {
		return nil, fmt.Errorf(`x-jf: owners is a list of department codes or "any"`)
	}
	switch {
	case t.Seq <= 0:
		return nil, errors.New("x-jf: seq (the type's place in the catalog) must be positive")
	case !goIdent.MatchString(t.Go):
		return nil, fmt.Errorf("x-jf: go %q is not an exported Go name", t.Go)
	case t.Danish == "" || t.English == "":
		return nil, errors.New("x-jf: danish and english terms are required")
	case t.TitleDa == "" || t.TitleEn == "":
		return nil, errors.New("x-jf: title needs da and en")
	case t.ExampleDa == "" || t.ExampleEn == "":
		return nil, errors.New("x-jf: title needs example da and en: the titles of the first valid example")
	case t.Version == 1 && (t.Change != "" || t.Upcast != "" || t.Since != ""):
		return nil, errors.New("x-jf: change, upcast and since describe a version after the first")
	case t.Version > 1 && (t.Change == "" || t.Upcast == ""):
		return nil, errors.New("x-jf: a version after the first says its change and its upcast rule from the previous version")
	case t.Version > 1 && !isDate(t.Since):
		return nil, errors.New("x-jf: a version after the first says since (YYYY-MM-DD) it is published")
	}
	return t, nil
}

func isDate(s string) bool {
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// check refuses duplicates and data that disagrees with itself.
func (c *Catalog) check() error {
	var errs []error
	codes := map[string]bool{}
	for _, d := range c.Departments {
		switch {
		case !deptCode.MatchString(d.Code):
			errs = append(errs, fmt.Errorf("%s: department code %q is not 2–16 lower-case letters", DepartmentsFile, d.Code))
		case codes[d.Code]:
			errs = append(errs, fmt.Errorf("%s: department %q twice", DepartmentsFile, d.Code))
		case d.Danish == "":
			errs = append(errs, fmt.Errorf("%s: department %q has no Danish name", DepartmentsFile, d.Code))
		}
		codes[d.Code] = true
	}
	if len(c.Departments) == 0 {
		errs = append(errs, fmt.Errorf("%s: no departments", DepartmentsFile))
	}
	seqs, names, goNames := map[int]string{}, map[string]string{}, map[string]string{}
	var prev *Type
	for _, t := range c.Types {
		if other, dup := seqs[t.Seq]; dup && other != t.Name {
			errs = append(errs, fmt.Errorf("%s: seq %d is also %s's", t.File, t.Seq, other))
		}
		seqs[t.Seq] = t.Name
		if other, dup := names[t.Key()]; dup {
			errs = append(errs, fmt.Errorf("%s: catalog name %s is also %s's", t.File, t.Key(), other))
		}
		names[t.Key()] = t.File
		// The versions of a name share its place and owners, and count
		// up from 1, so that every stored version has a chain of
		// upcasts to the latest.
		switch {
		case prev != nil && prev.Name == t.Name && prev.Version+1 != t.Version:
			errs = append(errs, fmt.Errorf("%s: version %d follows version %d of %s", t.File, t.Version, prev.Version, t.Name))
		case (prev == nil || prev.Name != t.Name) && t.Version != 1:
			errs = append(errs, fmt.Errorf("%s: %s has no version 1", t.File, t.Name))
		case prev != nil && prev.Name == t.Name && !slices.Equal(prev.Owners, t.Owners):
			errs = append(errs, fmt.Errorf("%s: the owners differ from version %d's", t.File, prev.Version))
		}
		prev = t
		for _, o := range t.Owners {
			if !codes[o] && (o != ServiceOwner || len(t.Owners) != 1) {
				errs = append(errs, fmt.Errorf("%s: owner %q is no department of %s", t.File, o, DepartmentsFile))
			}
		}
		if hasDuplicates(t.Owners) {
			errs = append(errs, fmt.Errorf("%s: an owner is listed twice", t.File))
		}
		structs, err := t.structs()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.File, err))
			continue
		}
		for _, s := range structs {
			if prev, dup := goNames[s.Name]; dup {
				errs = append(errs, fmt.Errorf("%s: Go type %s is also made by %s", t.File, s.Name, prev))
			}
			goNames[s.Name] = t.File
		}
		if err := t.checkFreeText(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.File, err))
		}
		for _, lang := range []string{"da", "en"} {
			if _, err := t.titleExpr(t.title(lang), lang); err != nil {
				errs = append(errs, fmt.Errorf("%s: title %s: %w", t.File, lang, err))
			}
		}
	}
	for _, reserved := range []string{"Payload", "Spec", "Envelope", "Department"} {
		if f, ok := goNames[reserved]; ok {
			errs = append(errs, fmt.Errorf("%s: Go type %s is taken by package events", f, reserved))
		}
	}
	return errors.Join(errs...)
}

func hasDuplicates(s []string) bool {
	seen := map[string]bool{}
	for _, v := range s {
		if seen[v] {
			return true
		}
		seen[v] = true
	}
	return false
}

// freeTextGuard is the pattern that marks a string as free text in the
// schemas: it refuses a CPR-like number anywhere in the text, where codes and
// ids have a pattern of their own.
const freeTextGuard = "(^|[^0-9])[0-9]{6}-?[0-9]{4}([^0-9]|$)"

// checkFreeText makes every free-text string of the schema either personal
// (what erasing a family's data must remove) or plain text, so that a new
// free-text field cannot reach the store unclassified, and refuses pointers
// that name anything else.
func (t *Type) checkFreeText() error {
	free := map[string]bool{}
	t.Schema.walk("", func(ptr string, n *Node) {
		if n.String("type") == "string" {
			if not, ok := n.Get("not"); ok && not.String("pattern") == freeTextGuard {
				free[ptr] = true
			}
		}
	})
	var errs []error
	seen := map[string]bool{}
	for _, list := range [][]string{t.Personal, t.PlainText} {
		for _, p := range list {
			if seen[p] {
				errs = append(errs, fmt.Errorf("pointer %s listed twice in personal and plainText", p))
			}
			seen[p] = true
			if !free[p] {
				errs = append(errs, fmt.Errorf("pointer %s is no free-text string of the schema", p))
			}
		}
	}
	for p := range free {
		if !seen[p] {
			errs = append(errs, fmt.Errorf("free-text field %s is in neither personal nor plainText", p))
		}
	}
	return errors.Join(errs...)
}

// Key names one version of a type where the catalog name alone does not:
// the name for version 1 (its examples are in schemas/testdata/<name>/),
// the name and the version after it (testdata/<name>.v2/).
func (t *Type) Key() string {
	if t.Version == 1 {
		return t.Name
	}
	return t.Name + ".v" + strconv.Itoa(t.Version)
}

// title is the title template in a language, "da" or "en".
func (t *Type) title(lang string) string {
	if lang == "en" {
		return t.TitleEn
	}
	return t.TitleDa
}

// ServiceOwner, as a type's owners, says that no department owns it: the
// service itself emits it (events.Service).
const ServiceOwner = "service"

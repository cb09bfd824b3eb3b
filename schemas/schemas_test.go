package schemas_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"kk.dk/jobogfamilie/schemas"
)

// catalogNames, the catalog in its order, is generated from the schemas'
// annotations into catalog_gen_test.go.

const (
	typePrefix  = "dk.kk.jobogfamilie."
	typeSuffix  = ".v1"
	baseURL     = "https://jobogfamilie.kk.dk/schemas/"
	metaschema  = "https://json-schema.org/draft/2020-12/schema"
	idPattern   = `^[A-Za-z0-9_-]{1,64}$`
	cprPattern  = `^[0-9]{6}-?[0-9]{4}$`
	datePattern = `^[0-9]{4}-[0-9]{2}-[0-9]{2}$`
)

// ceType is the CloudEvents type of a catalog key: a name for version 1,
// <name>.v<version> for a later version.
func ceType(key string) string {
	if versionedKey.MatchString(key) {
		return typePrefix + key
	}
	return typePrefix + key + typeSuffix
}

var versionedKey = regexp.MustCompile(`\.v[0-9]+$`)

func TestTypesAreTheCatalog(t *testing.T) {
	t.Parallel()
	var want []string
	for _, n := range catalogNames {
		want = append(want, ceType(n))
	}
	slices.Sort(want)
	got := schemas.Types()
	if len(got) != len(catalogNames) || len(got) == 0 || !slices.Equal(got, want) {
		t.Fatalf("schemas.Types() = %d types %v\nwant the %d catalog types %v", len(got), got, len(want), want)
	}
	for _, typ := range got {
		if _, ok := schemas.Lookup(typ); !ok {
			t.Errorf("Lookup(%q) found nothing", typ)
		}
	}
	for _, bad := range []string{"", "dk.kk.jobogfamilie.nope.v1", "../schemas", "x/y"} {
		if _, ok := schemas.Lookup(bad); ok {
			t.Errorf("Lookup(%q) found a schema", bad)
		}
	}
}

// compile compiles one type's schema the way ingest must: with format
// assertion on, so that "2019-02-30" is not a date.
func compile(t *testing.T, typ string) *jsonschema.Schema {
	t.Helper()
	b, ok := schemas.Lookup(typ)
	if !ok {
		t.Fatalf("no schema for %s", typ)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	url := baseURL + typ + ".json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	return sch
}

func TestSchemaHeaders(t *testing.T) {
	t.Parallel()
	for _, name := range catalogNames {
		typ := ceType(name)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, _ := schemas.Lookup(typ)
			var s map[string]any
			if err := json.Unmarshal(b, &s); err != nil {
				t.Fatal(err)
			}
			for key, want := range map[string]any{
				"$schema": metaschema, "$id": baseURL + typ + ".json", "title": typ, "type": "object",
			} {
				if s[key] != want {
					t.Errorf("%s = %v, want %v", key, s[key], want)
				}
			}
			if d, _ := s["description"].(string); !strings.Contains(d, " / ") || !strings.Contains(d, "Owner") {
				t.Errorf("description %q does not give the Danish / English term and the owner(s)", d)
			}
			compile(t, typ)
		})
	}
}

// TestSchemasAreStrict walks every schema: an object that allows unknown
// properties, an unbounded string or an id without the CPR guard is how
// personal data would slip into the store unnoticed.
func TestSchemasAreStrict(t *testing.T) {
	t.Parallel()
	for _, name := range catalogNames {
		typ := ceType(name)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, _ := schemas.Lookup(typ)
			var s map[string]any
			if err := json.Unmarshal(b, &s); err != nil {
				t.Fatal(err)
			}
			checkStrict(t, "", "", s)
		})
	}
}

func checkStrict(t *testing.T, ptr, prop string, s map[string]any) {
	t.Helper()
	switch s["type"] {
	case "object":
		if s["additionalProperties"] != false {
			t.Errorf("%s: object without additionalProperties false", ptr)
		}
		props, _ := s["properties"].(map[string]any)
		if len(props) == 0 {
			t.Errorf("%s: object without properties", ptr)
		}
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := props[r.(string)]; !ok {
				t.Errorf("%s: required %q is not a property", ptr, r)
			}
		}
		for k, v := range props {
			p := v.(map[string]any)
			if d, _ := p["description"].(string); d == "" {
				t.Errorf("%s/%s: no description (docs/catalog.md is generated from it)", ptr, k)
			}
			checkStrict(t, ptr+"/"+k, k, p)
		}
	case "array":
		if _, ok := s["maxItems"]; !ok {
			t.Errorf("%s: array without maxItems", ptr)
		}
		checkStrict(t, ptr+"/items", prop, s["items"].(map[string]any))
	case "string":
		_, enum := s["enum"]
		_, pattern := s["pattern"]
		_, maxLength := s["maxLength"]
		if !enum && !pattern && !maxLength {
			t.Errorf("%s: string without enum, pattern or maxLength", ptr)
		}
		if s["format"] == "date" && s["pattern"] != datePattern {
			t.Errorf("%s: date without the pattern %s", ptr, datePattern)
		}
		if isIDProperty(prop) {
			not, _ := s["not"].(map[string]any)
			if s["pattern"] != idPattern || not == nil || not["pattern"] != cprPattern {
				t.Errorf("%s: id without pattern %s and not pattern %s", ptr, idPattern, cprPattern)
			}
		}
	case "integer", "number":
		_, lo := s["minimum"]
		_, hi := s["maximum"]
		if !lo || !hi {
			t.Errorf("%s: number without minimum and maximum", ptr)
		}
	case "boolean":
	default:
		t.Errorf("%s: unexpected type %v", ptr, s["type"])
	}
}

func isIDProperty(name string) bool {
	return strings.HasSuffix(name, "Id") || strings.HasSuffix(name, "Ids") || name == "participants"
}

func TestExamples(t *testing.T) {
	t.Parallel()
	dirs, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range dirs {
		got = append(got, d.Name())
	}
	if want := slices.Sorted(slices.Values(catalogNames)); !slices.Equal(got, want) {
		t.Errorf("testdata has %v\nwant one directory per catalog name %v", got, want)
	}
	for _, name := range catalogNames {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sch := compile(t, ceType(name))
			dir := path.Join("testdata", name)
			files, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var valid, invalid int
			for _, f := range files {
				file := f.Name()
				wantValid := strings.HasPrefix(file, "valid-")
				switch {
				case !strings.HasSuffix(file, ".json"):
					t.Errorf("%s: not a .json example", file)
					continue
				case wantValid:
					valid++
				case strings.HasPrefix(file, "invalid-"):
					invalid++
				default:
					t.Errorf("%s: name starts with neither valid- nor invalid-", file)
					continue
				}
				t.Run(strings.TrimSuffix(file, ".json"), func(t *testing.T) {
					t.Parallel()
					b, err := os.ReadFile(path.Join(dir, file))
					if err != nil {
						t.Fatal(err)
					}
					doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
					if err != nil {
						t.Fatal(err)
					}
					err = sch.Validate(doc)
					if wantValid && err != nil {
						t.Errorf("valid example rejected: %v", err)
					}
					if !wantValid && err == nil {
						t.Error("invalid example accepted")
					}
				})
			}
			if valid < 1 || invalid < 2 {
				t.Errorf("%d valid and %d invalid examples, want at least 1 and 2", valid, invalid)
			}
		})
	}
}

func TestExample(t *testing.T) {
	t.Parallel()
	for _, name := range catalogNames {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, ok := schemas.Example(name)
			if !ok {
				t.Fatal("no example")
			}
			valid, _ := filepath.Glob(filepath.Join("testdata", name, "valid-*.json")) // sorted
			if len(valid) == 0 {
				t.Fatal("no valid example in testdata")
			}
			want, err := os.ReadFile(valid[0])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Example(%q) is not %s:\n%s", name, valid[0], got)
			}
		})
	}
	for _, bad := range []string{"", ".", "..", "../testdata", "goal.set/..", "nope.nope"} {
		if b, ok := schemas.Example(bad); ok {
			t.Errorf("Example(%q) = %s, want none", bad, b)
		}
	}
}

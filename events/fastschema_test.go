package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"kk.dk/jobogfamilie/schemas"

	"kk.dk/jobogfamilie/events/internal/fastschema"
)

// fastPathHits counts the data the fast path found valid in this test run.
var fastPathHits atomic.Int64

// TestMain holds every Validate of every test of the package to the
// promise of the fast path: what it finds valid, jsonschema finds valid;
// and every Marshal to the library's bytes. A broken promise panics,
// failing the run wherever it happens.
func TestMain(m *testing.M) {
	fastPathCheck = func(ceType string, raw []byte) {
		fastPathHits.Add(1)
		if ok, why := schemaValid(ceType, raw); !ok {
			panic(fmt.Sprintf("the fast path accepted data of %s that jsonschema refuses (%s): %s", ceType, why, raw))
		}
	}
	marshalCheck = func(ev cloudevents.Event, fast []byte) {
		if want, err := marshalJSON(ev); err != nil || !bytes.Equal(fast, want) {
			panic(fmt.Sprintf("Marshal's fast path wrote\n%s\nwhere the library writes\n%s (%v)", fast, want, err))
		}
	}
	os.Exit(m.Run())
}

// schemaValid is the verdict of jsonschema, the slow path, on data.
func schemaValid(ceType string, raw []byte) (bool, string) {
	sch, err := compiledSchema(ceType)
	if err != nil {
		return false, err.Error()
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return false, err.Error()
	}
	if err := sch.Validate(inst); err != nil {
		return false, err.Error()
	}
	return true, ""
}

// fastFor returns the fast path of a catalog type, failing the test if it
// has none.
func fastFor(t testing.TB, ceType string) *fastschema.Schema {
	t.Helper()
	cs := compiledEntry(ceType)
	if cs.err != nil {
		t.Fatalf("%s: %v", ceType, cs.err)
	}
	if cs.fast == nil {
		t.Fatalf("%s has no fast path: %v", ceType, cs.fastErr)
	}
	return cs.fast
}

// checkFast asserts the promise of the fast path for one data and returns
// both verdicts.
func checkFast(t *testing.T, ceType string, data []byte) (fast, slow bool) {
	t.Helper()
	fast = fastFor(t, ceType).Valid(data)
	slow, why := schemaValid(ceType, data)
	if fast && !slow {
		t.Errorf("%s: the fast path accepts data jsonschema refuses (%s):\n%s", ceType, why, data)
	}
	return fast, slow
}

func TestEveryCatalogTypeHasAFastPath(t *testing.T) {
	t.Parallel()
	types := schemas.Types()
	if len(types) != len(AllVersions()) || len(types) < 37 {
		t.Errorf("%d schemas for %d catalog types", len(types), len(AllVersions()))
	}
	for _, spec := range AllVersions() {
		fastFor(t, spec.Type())
	}
}

// testdataExample is one file of the schema package's testdata.
type testdataExample struct {
	spec  Spec
	file  string
	valid bool
	data  []byte
}

func testdataExamples(t testing.TB) []testdataExample {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(schemaTestdata, "*", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in %s: %v", schemaTestdata, err)
	}
	var out []testdataExample
	for _, file := range files {
		spec, ok := ByKey(filepath.Base(filepath.Dir(file)))
		if !ok {
			t.Fatalf("%s: not a catalog type", file)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(file)
		out = append(out, testdataExample{spec, file, strings.HasPrefix(base, "valid-"), data})
	}
	return out
}

// TestFastPathOnTheExamples runs the fast path and jsonschema on every
// example of the schema package, valid and invalid: what the fast path
// accepts jsonschema accepts, and every valid example takes the fast path.
func TestFastPathOnTheExamples(t *testing.T) {
	t.Parallel()
	validFiles := 0
	for _, ex := range testdataExamples(t) {
		fast, slow := checkFast(t, ex.spec.Type(), ex.data)
		if ex.valid {
			validFiles++
			if !slow {
				t.Errorf("%s: jsonschema refuses a valid example", ex.file)
			}
			if !fast {
				t.Errorf("%s: a valid example does not take the fast path", ex.file)
			}
		}
	}
	if validFiles < 35 {
		t.Errorf("only %d valid examples", validFiles)
	}
}

// TestFastPathOnTheEventsTestInputs runs both paths on the data of the
// events the other tests and the fuzzers start from.
func TestFastPathOnTheEventsTestInputs(t *testing.T) {
	t.Parallel()
	n := 0
	for _, s := range eventSeeds() {
		ev, err := ParseStructured([]byte(s))
		if err != nil {
			continue
		}
		if _, ok := ByType(ev.Type()); !ok || len(ev.Data()) == 0 {
			continue
		}
		checkFast(t, ev.Type(), ev.Data())
		n++
	}
	for _, data := range []string{binaryBody, `{}`, `{"a":1,"a":2}`, nested(MaxDepth)} {
		checkFast(t, praktikType, []byte(data))
		n++
	}
	if n < 35 {
		t.Errorf("only %d inputs", n)
	}
}

// mutations are values put in place of each member and item of the valid
// examples: the edges of the keywords the schemas use and the forms the
// fast path leaves to jsonschema.
var mutations = []string{
	// strings: lengths in code points, escapes, CPR numbers, patterns
	`""`, `"a"`, `"P-17"`, `" P-17"`, `"P-17\n"`, `"P\u002d17"`, `"\u0050-17"`, `"P\/17"`, `"P-\u00e6"`, `"P-æ"`,
	`"` + strings.Repeat("a", 64) + `"`, `"` + strings.Repeat("a", 65) + `"`,
	`"` + strings.Repeat("æ", 64) + `"`, `"` + strings.Repeat("æ", 65) + `"`,
	`"` + strings.Repeat("\\u00e6", 64) + `"`, `"` + strings.Repeat("😀", 100) + `"`, `"` + strings.Repeat("\\ud83d\\ude00", 100) + `"`,
	`"` + strings.Repeat("x", 200) + `"`, `"` + strings.Repeat("x", 201) + `"`, `"` + strings.Repeat("x", 2000) + `"`, `"` + strings.Repeat("x", 2001) + `"`,
	`"0101901234"`, `"010190-1234"`, `"010190-12345"`, `"01019o1234"`, `"\u0030101901234"`, `"cpr 010190-1234 in text"`,
	`"cpr 0101901234"`, `"x0101901234"`, `"010190-1234\n"`, `"12345678"`, `"1234567"`, `"123456789"`, `"１２３４５６７８"`,
	`"abc"`, `"a-b"`, `"-ab"`, `"Abc"`, `"\ud800"`, `"\u0000"`,
	// dates
	`"2024-02-29"`, `"2023-02-29"`, `"1900-02-29"`, `"2000-02-29"`, `"0000-02-29"`, `"2024-04-31"`, `"2024-12-31"`,
	`"2024-13-01"`, `"2024-00-10"`, `"2024-01-00"`, `"2024-1-01"`, `"2024-01-01T00:00:00Z"`, `"2024\u002d01-01"`,
	// enum values of the catalog, right and almost right
	`"parent"`, `"child"`, `"Parent"`, `"parent "`, `"p\u0061rent"`, `"kontanthjaelp"`, `"other"`, `"family"`, `"final"`,
	`"employment"`, `"achieved"`, `"ordinary"`, `"mental-health"`, `"family-plan"`, `"completed"`, `"midway"`,
	// numbers
	`0`, `-0`, `1`, `-1`, `1.0`, `1.5`, `0.5`, `0.999`, `36.9999`, `37`, `37.0`, `37.0001`, `60`, `60.5`, `366`, `367`,
	`1000`, `-1000`, `1000.5`, `-1000.5`, `-1000.0`, `5`, `6`, `1900`, `2100`, `2100.1`, `1899.9`,
	`1e1`, `1E1`, `10e-1`, `1.0e0`, `999999999999999`, `1000000000000000`, `-999999999999999`, `12345678901234567890`,
	`0.1000000000000000000000000000001`, `36.99999999999999999999999999`,
	// other types
	`null`, `true`, `false`, `[]`, `{}`, `["P-17"]`, `{"a": 1}`,
}

// leafPaths lists the paths to every member and item of a decoded value.
func leafPaths(v any, path []any, out *[][]any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			p := append(slices.Clone(path), k)
			*out = append(*out, p)
			leafPaths(e, p, out)
		}
	case []any:
		for i, e := range v {
			p := append(slices.Clone(path), i)
			*out = append(*out, p)
			leafPaths(e, p, out)
		}
	}
}

// deepCopy copies a decoded JSON value.
func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, e := range v {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}

// setAt puts x at path in v; a path of one member removes it instead when
// x is nil.
func setAt(v any, path []any, x any) {
	for i, seg := range path {
		last := i == len(path)-1
		switch c := v.(type) {
		case map[string]any:
			if last {
				c[seg.(string)] = x
				return
			}
			v = c[seg.(string)]
		case []any:
			if last {
				c[seg.(int)] = x
				return
			}
			v = c[seg.(int)]
		}
	}
}

func marshalRaw(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(buf.Bytes())
}

// TestFastPathOnMutatedExamples puts each of the mutations in place of each
// member and item of each valid example, removes members, duplicates items
// and adds members, and holds both paths to their promise on the results.
func TestFastPathOnMutatedExamples(t *testing.T) {
	t.Parallel()
	var cases, fastValid, slowValid int
	for _, ex := range testdataExamples(t) {
		if !ex.valid {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(ex.data))
		dec.UseNumber()
		var doc any
		if err := dec.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		var paths [][]any
		leafPaths(doc, nil, &paths)
		check := func(v any) {
			cases++
			fast, slow := checkFast(t, ex.spec.Type(), marshalRaw(t, v))
			if fast {
				fastValid++
			}
			if slow {
				slowValid++
			}
		}
		for _, path := range paths {
			for _, m := range mutations {
				v := deepCopy(doc)
				setAt(v, path, json.RawMessage(m))
				check(v)
			}
			// Remove the member, or duplicate the item.
			v := deepCopy(doc)
			parent := v
			for _, seg := range path[:len(path)-1] {
				switch c := parent.(type) {
				case map[string]any:
					parent = c[seg.(string)]
				case []any:
					parent = c[seg.(int)]
				}
			}
			switch c := parent.(type) {
			case map[string]any:
				delete(c, path[len(path)-1].(string))
			case []any:
				dup := append(slices.Clone(c), deepCopy(c[path[len(path)-1].(int)]))
				setAt(v, path[:len(path)-1], dup)
			}
			check(v)
		}
		for _, extra := range []string{"extra", "", "note", "Note"} {
			v := deepCopy(doc)
			v.(map[string]any)[extra] = "x"
			check(v)
		}
	}
	// The mutations must reach both verdicts, and the fast path must
	// accept a good share of what jsonschema accepts.
	t.Logf("%d cases: jsonschema accepts %d, the fast path %d", cases, slowValid, fastValid)
	if slowValid == 0 || slowValid == cases || fastValid < slowValid/2 {
		t.Errorf("%d cases: jsonschema accepts %d, the fast path %d", cases, slowValid, fastValid)
	}
}

// TestFastPathHandWritten has data the walk must get right in detail.
func TestFastPathHandWritten(t *testing.T) {
	t.Parallel()
	const enrolled = "dk.kk.jobogfamilie.family.enrolled.v1"
	members := func(m ...string) string {
		return `{"members": [` + strings.Join(m, ",") + `], "courseStart": "2024-01-01", "childCaseIds": ["C-1"],
			"parentBenefits": [{"personId": "M", "benefit": "other"}]}`
	}
	cases := []struct {
		typ, data string
		fast      bool // the verdict wanted of the fast path
	}{
		{praktikType, `{"praktikId":"P-17","personId":"person_42","employer":"12345678","hoursPerWeek":10}`, true},
		{praktikType, ` { "praktikId" : "P-17" , "personId":"person_42","employer":"12345678","hoursPerWeek":1 } `, true},
		{praktikType, `{"praktikId":"P-17","personId":"person_42","employer":"12345678","hoursPerWeek":37.0}`, true},
		{praktikType, `{"praktikId":"P-17","personId":"person_42","employer":"12345678","hoursPerWeek":0.99}`, false},
		{praktikType, `{"praktikId":"P-17","personId":"person_42","employer":"12345678","hoursPerWeek":37.01}`, false},
		{praktikType, `{"praktikId":"P-17","personId":"person_42","employer":"12345678","hoursPerWeek":1e1}`, false},
		{praktikType, `{"praktikId":"P-17","personId":"person_42","employer":"12345678","hoursPerWeek":10,"hoursPerWeek":10}`, false},
		{praktikType, `{"praktikId":"P-17","personId":"person_42","employer":"12345678","hoursPerWeek":010}`, false},
		{praktikType, `{"praktikId":"P-17","personId":"person_42","employer":"12345678","hoursPerWeek":10}x`, false},
		{praktikType, `{"praktikId":"P-17","personId":"person_42","employer":"12345678","hoursPerWeek":10`, false},
		{praktikType, `{"praktikId":"P-17","personId":"person_42","employer":"12345678","hoursPerWeek":10,}`, false},
		{praktikType, `{"praktik\u0049d":"P-17","personId":"person_42","employer":"12345678","hoursPerWeek":10}`, false},
		{praktikType, `{"praktikId":"P\u002d17","personId":"person_42","employer":"12345678","hoursPerWeek":10}`, true},
		{praktikType, `{"praktikId":"P-17","personId":"person_42","employer":"12345678","hoursPerWeek":10,"plannedEnd":"2024-02-29"}`, true},
		{praktikType, `{"praktikId":"P-17","personId":"person_42","employer":"12345678","hoursPerWeek":10,"plannedEnd":"2023-02-29"}`, false},
		{praktikType, "{\"praktikId\":\"P-17\xff\",\"personId\":\"person_42\",\"employer\":\"12345678\",\"hoursPerWeek\":10}", false},
		{praktikType, `{"praktikId":"0101901234","personId":"person_42","employer":"12345678","hoursPerWeek":10}`, false},
		{"dk.kk.jobogfamilie.meeting.held.v1", `{"meetingId":"M-1","kind":"team","participants":["A","B","A"]}`, false},
		{enrolled, members(`{"personId":"M","role":"parent"}`, `{"personId":"C","role":"child"}`), true},
		{enrolled, members(`{"personId":"M","role":"parent"}`, `{"personId":"M","role":"child"}`), true},
		{enrolled, members(`{"personId":"M","role":"parent"}`, `{"role":"parent","personId":"M"}`), false},
		{enrolled, members(`{"personId":"M","role":"parent","birthYear":1980}`, `{"personId":"M","role":"parent","birthYear":1981}`), false},
		{enrolled, members(`{"personId":"M","role":"parent"}`, `{"personId":"\u004d","role":"child"}`), false},
		{enrolled, members(`{"personId":"M","role":"parent","birthYear":1980.5}`, `{"personId":"C","role":"child"}`), false},
		{enrolled, members(`{"personId":"M","role":"parent","birthYear":1980.0}`, `{"personId":"C","role":"child"}`), false},
		{enrolled, members(`{"personId":"M","role":"parent"}`), false},
	}
	for _, c := range cases {
		fast, _ := checkFast(t, c.typ, []byte(c.data))
		if fast != c.fast {
			t.Errorf("fast path %v, want %v: %s", fast, c.fast, c.data)
		}
	}
}

// TestFastPathGivesUpOnEscapedKeys: items that differ only in escapes are
// equal once decoded; the walk, which compares them raw, must leave them
// to jsonschema.
func TestFastPathGivesUpOnEscapedKeys(t *testing.T) {
	t.Parallel()
	const typ = "dk.kk.jobogfamilie.meeting.held.v1"
	for _, data := range []string{
		`{"meetingId":"M-1","kind":"team","participants":["A","\u0041"]}`,
		`{"meetingId":"M-1","kind":"team","participants":["A\/","A/"]}`,
	} {
		if fast, _ := checkFast(t, typ, []byte(data)); fast {
			t.Errorf("fast path sure of %s", data)
		}
	}
}

// TestFastPathIsUsed: Validate takes the fast path for valid events (the
// counter is TestMain's hook's).
func TestFastPathIsUsed(t *testing.T) {
	before := fastPathHits.Load()
	if _, err := testValidator.Validate(mustParse(t, praktikEvent())); err != nil {
		t.Fatal(err)
	}
	if fastPathHits.Load() == before {
		t.Error("a valid event did not take the fast path")
	}
}

// addDataSeeds seeds a fuzz target that takes (type, data) with the data
// of every schema example and every seed event, the type as an index into
// the catalog it returns.
func addDataSeeds(f *testing.F) []Spec {
	catalog, seeds := dataSeeds(f)
	for _, s := range seeds {
		f.Add(s.typ, s.data)
	}
	return catalog
}

// TestDataSeedsCoverEveryVersion: the fuzzers seeded by addDataSeeds
// reach every version of every type, each from a valid example of its own.
func TestDataSeedsCoverEveryVersion(t *testing.T) {
	t.Parallel()
	catalog, seeds := dataSeeds(t)
	reached := map[string]bool{}
	for _, s := range seeds {
		spec := catalog[s.typ%uint(len(catalog))]
		if ok, _ := schemaValid(spec.Type(), s.data); ok {
			reached[spec.Type()] = true
		}
	}
	for _, spec := range AllVersions() {
		if !reached[spec.Type()] {
			t.Errorf("%s: no seed is valid data of it", spec.Type())
		}
	}
}

// dataSeed is a fuzz seed of a target that takes (type, data).
type dataSeed struct {
	typ  uint
	data []byte
}

// dataSeeds are addDataSeeds' seeds and catalog: every version of every
// type, since ingest accepts the earlier ones and the readers decode
// them, each example and seed event paired with its own version.
func dataSeeds(t testing.TB) ([]Spec, []dataSeed) {
	catalog := AllVersions()
	index := map[string]uint{}
	for i, spec := range catalog {
		index[spec.Type()] = uint(i)
	}
	var seeds []dataSeed
	for _, ex := range testdataExamples(t) {
		seeds = append(seeds, dataSeed{index[ex.spec.Type()], ex.data})
	}
	for _, s := range eventSeeds() {
		if ev, err := ParseStructured([]byte(s)); err == nil {
			if spec, ok := ByType(ev.Type()); ok {
				seeds = append(seeds, dataSeed{index[spec.Type()], ev.Data()})
			}
		}
	}
	return catalog, seeds
}

// FuzzFastPath holds the fast path to its promise for any data under any
// catalog type: what it finds valid, jsonschema finds valid, and checkJSON,
// which runs before it in Validate, accepts.
func FuzzFastPath(f *testing.F) {
	catalog := addDataSeeds(f)
	f.Fuzz(func(t *testing.T, typ uint, data []byte) {
		spec := catalog[typ%uint(len(catalog))]
		if !fastFor(t, spec.Type()).Valid(data) {
			return
		}
		if ok, why := schemaValid(spec.Type(), data); !ok {
			t.Fatalf("%s: the fast path accepts data jsonschema refuses (%s): %s", spec.Name, why, data)
		}
		if ps := checkJSON(data, "", MaxDepth-1); len(ps) > 0 {
			t.Fatalf("%s: the fast path accepts data checkJSON refuses (%v): %s", spec.Name, ps, data)
		}
	})
}

// BenchmarkFastSchemaValid is the fast path alone on the example of every
// catalog type; ns/op is per example.
func BenchmarkFastSchemaValid(b *testing.B) {
	type example struct {
		fast *fastschema.Schema
		data []byte
	}
	var exs []example
	for _, spec := range Catalog() {
		data, _ := schemas.Example(spec.Key())
		fast := fastFor(b, spec.Type())
		if !fast.Valid(data) {
			b.Fatalf("%s: the example does not take the fast path", spec.Name)
		}
		exs = append(exs, example{fast, data})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ex := exs[i%len(exs)]
		ex.fast.Valid(ex.data)
		i++
	}
}

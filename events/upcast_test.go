package events

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestUpcastOfEveryV1ExampleValidatesAsLatest is the property the
// registry promises: for every valid example of every earlier version,
// the upcast data is valid data of the latest version (schema and rules),
// and nothing of the example is lost on the way.
func TestUpcastOfEveryV1ExampleValidatesAsLatest(t *testing.T) {
	t.Parallel()
	n := 0
	for _, spec := range AllVersions() {
		if spec.IsLatest() {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(schemaTestdata, spec.Key(), "valid-*.json"))
		if len(files) == 0 {
			t.Errorf("%s: no valid example", spec.Type())
		}
		for _, f := range files {
			n++
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			latest, up, err := UpcastData(spec.Type(), b)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if latest.Type() != spec.Latest().Type() {
				t.Errorf("%s: upcast to %s, want %s", f, latest.Type(), spec.Latest().Type())
			}
			var ps problems
			validateData(&ps, latest, up, nil)
			if err := ps.err(); err != nil {
				t.Errorf("%s upcast is not valid %s: %v\n%s", f, latest.Type(), err, up)
			}
			if fast := latest.compiledEntry().fast; fast != nil && !fast.Valid(up) {
				t.Errorf("%s: the fast path refuses the upcast data", f)
			}
			// Every value of the example is still in the upcast data.
			var before map[string]any
			_ = json.Unmarshal(b, &before)
			for k, v := range before {
				if !strings.Contains(string(up), mustJSON(t, v)) {
					t.Errorf("%s: the value of %s (%s) is gone from %s", f, k, mustJSON(t, v), up)
				}
			}
		}
	}
	if n < 4 {
		t.Errorf("only %d examples of earlier versions", n)
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUpcastRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ typ, in, want string }{
		{TypeOf("praktik.started", 1), `{"praktikId":"PR1","personId":"P1","employer":"12345678","hoursPerWeek":10}`,
			`{"employer":{"cvr":"12345678"},"hoursPerWeek":10,"personId":"P1","praktikId":"PR1"}`},
		{TypeOf("goal.set", 1), `{"goalId":"G1","title":"Job","domain":"family","expressedBy":"family"}`,
			`{"domains":["family"],"expressedBy":"family","goalId":"G1","title":"Job"}`},
		// The latest version is returned as it is.
		{TypeOf("goal.set", 2), `{"goalId":"G1", "title":"Job","domains":["family"],"expressedBy":"family"}`,
			`{"goalId":"G1", "title":"Job","domains":["family"],"expressedBy":"family"}`},
	} {
		_, got, err := UpcastData(tc.typ, []byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("UpcastData(%s, %s) = %s, %v; want %s", tc.typ, tc.in, got, err, tc.want)
		}
	}
	if _, _, err := UpcastData(TypeOf("goal.set", 9), []byte(`{}`)); err == nil {
		t.Error("UpcastData of an unknown version succeeded")
	}
	if _, _, err := UpcastData(TypeOf("goal.set", 1), []byte(`{"goalId":"G1"}`)); err == nil {
		t.Error("UpcastData of v1 data without domain succeeded")
	}
}

// TestUpcastChainsCompose runs the registry's chain with a v3 of goal.set
// added (as a later build would: one more function, v2 → v3): a v1 event
// reaches v3 through both upcasters, each fed the result of the one before.
func TestUpcastChainsCompose(t *testing.T) {
	t.Parallel()
	v3 := TypePrefix + "goal.set.v3"
	var steps []string
	step := func(typ string) (string, Upcaster, bool) {
		if typ == TypeOf("goal.set", 2) {
			return v3, func(data []byte) ([]byte, error) {
				steps = append(steps, "v2→v3")
				return editObject(data, func(m map[string]json.RawMessage) error {
					m["areas"] = m["domains"]
					delete(m, "domains")
					return nil
				})
			}, true
		}
		next, up, ok := catalogStep(typ)
		if ok {
			steps = append(steps, typ[len(TypePrefix):]+"→")
		}
		return next, up, ok
	}
	typ, data, err := chain(TypeOf("goal.set", 1), []byte(`{"goalId":"G1","title":"Job","domain":"family","expressedBy":"family"}`), step)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"areas":["family"],"expressedBy":"family","goalId":"G1","title":"Job"}`; typ != v3 || string(data) != want ||
		!reflect.DeepEqual(steps, []string{"goal.set.v1→", "v2→v3"}) {
		t.Fatalf("chain gave %s %s by %v", typ, data, steps)
	}
}

func TestUpcastEnvelope(t *testing.T) {
	t.Parallel()
	ev, err := Build(BIF, "F1", &PraktikStarted{PraktikID: "PR1", PersonID: "P1", Employer: "12345678", HoursPerWeek: 10},
		WithTime(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)))
	if err != nil {
		t.Fatal(err)
	}
	StampSchema(&ev)
	b, _ := Marshal(ev)
	stored, err := DecodeStored("families.F1.bif.praktik.started", b, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if stored.StoredType != "" || stored.Spec.Version != 1 {
		t.Fatalf("DecodeStored gave %s, stored type %q: it must return what was stored", stored.Spec.Type(), stored.StoredType)
	}
	env, err := DecodeLatest("families.F1.bif.praktik.started", b, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d, ok := env.Data.(*PraktikStartedV2)
	if !ok || d.Employer.Cvr != "12345678" || env.Spec.Version != 2 || env.StoredType != TypeOf("praktik.started", 1) ||
		env.Event.Type() != TypeOf("praktik.started", 2) || env.Event.DataSchema() != env.Spec.SchemaURL() ||
		env.ID() != ev.ID() || !env.Time().Equal(ev.Time()) {
		t.Fatalf("upcast envelope %+v (%+v)", env, env.Data)
	}
	if ContentHash(stored.Event) != ContentHash(ev) {
		t.Error("the stored envelope's content hash is not the sent event's")
	}
	// The stored envelope is not changed by the upcast.
	if stored.Event.Type() != TypeOf("praktik.started", 1) || !strings.Contains(string(stored.Event.Data()), `"employer":"12345678"`) {
		t.Errorf("stored envelope changed: %s %s", stored.Event.Type(), stored.Event.Data())
	}
	if Title(env) != Title(stored) {
		t.Errorf("title %q as v2, %q as v1", Title(env), Title(stored))
	}
}

func TestCatalogVersions(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"praktik.started", "goal.set"} {
		vs := Versions(name)
		if len(vs) != 2 || vs[0].Version != 1 || vs[1].Version != 2 || !vs[1].IsLatest() || vs[0].IsLatest() {
			t.Errorf("%s: versions %v", name, vs)
		}
		if s, _ := ByName(name); s.Version != 2 {
			t.Errorf("ByName(%s) is version %d, want the latest", name, s.Version)
		}
		if vs[1].Change == "" || vs[1].UpcastRule == "" {
			t.Errorf("%s v2 says no change or upcast rule", name)
		}
		if !strings.HasSuffix(vs[1].SchemaURL(), name+".v2.json") {
			t.Errorf("%s v2 schema %s", name, vs[1].SchemaURL())
		}
	}
	if len(Catalog()) != 36 || len(AllVersions()) != 38 {
		t.Errorf("Catalog %d types, AllVersions %d", len(Catalog()), len(AllVersions()))
	}
	if got := UnknownVersion("dk.kk.jobogfamilie.goal.set.v3"); !strings.Contains(got, "version 3 of goal.set") {
		t.Errorf("UnknownVersion = %q", got)
	}
	if got := UnknownVersion("dk.kk.jobogfamilie.nope.v1"); got != "" {
		t.Errorf("UnknownVersion of an unknown name = %q", got)
	}
	// A version is decimal digits without a sign or a leading zero: these
	// name no version of goal.set, known or not.
	for _, v := range []string{"+3", "03", "-3", "3 ", "", "0", "3a", "99999999999999999999"} {
		if got := UnknownVersion("dk.kk.jobogfamilie.goal.set.v" + v); got != "" {
			t.Errorf("UnknownVersion of goal.set.v%q = %q, want none", v, got)
		}
		if s, ok := ByKey("goal.set.v" + v); ok {
			t.Errorf("ByKey(goal.set.v%q) = %s", v, s.Key())
		}
	}
}

// TestNewestFingerprint: the fingerprint is of the newest versions alone,
// whatever their order; a new version of any type changes it, and a new
// type at its first version does not.
func TestNewestFingerprint(t *testing.T) {
	t.Parallel()
	cur := Catalog()
	if NewestFingerprint() != fingerprint(cur) || len(NewestFingerprint()) != 64 {
		t.Fatalf("NewestFingerprint %q, of the catalog %q", NewestFingerprint(), fingerprint(cur))
	}
	reversed := slices.Clone(cur)
	slices.Reverse(reversed)
	if fingerprint(reversed) != NewestFingerprint() {
		t.Error("the fingerprint depends on the catalog's order")
	}
	next := slices.Clone(cur)
	for i, s := range next {
		if s.Name == "goal.set" {
			next[i].Version, next[i].typ = s.Version+1, ""
		}
	}
	if fingerprint(next) == NewestFingerprint() {
		t.Error("a new version of goal.set leaves the fingerprint as it was")
	}
	if fingerprint(append(slices.Clone(cur), Spec{Name: "new.type", Version: 1})) != NewestFingerprint() {
		t.Error("a new type at its first version changes the fingerprint, so every store would be replayed for nothing")
	}
}

// BenchmarkDecodeLatest is what reading a stored event costs as the latest
// version: a v1 praktik.started (decode, upcast, the v2 schema check) and
// a v2 one (decode only), beside DecodeStored of the v1 one.
func BenchmarkDecodeLatest(b *testing.B) {
	at := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	v1, _ := Build(BIF, "F1", &PraktikStarted{PraktikID: "PR1", PersonID: "P1", Employer: "12345678", HoursPerWeek: 10}, WithTime(at))
	v2, _ := Build(BIF, "F1", &PraktikStartedV2{PraktikID: "PR1", PersonID: "P1", Employer: PraktikEmployer{Cvr: "12345678"}, HoursPerWeek: 10}, WithTime(at))
	b1, _ := Marshal(v1)
	b2, _ := Marshal(v2)
	const subject = "families.F1.bif.praktik.started"
	for _, c := range []struct {
		name   string
		data   []byte
		decode func(string, []byte, time.Time) (Envelope, error)
	}{{"stored-v1", b1, DecodeStored}, {"latest-v1", b1, DecodeLatest}, {"latest-v2", b2, DecodeLatest}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.decode(subject, c.data, at); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

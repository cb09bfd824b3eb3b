package events

import (
	"bytes"
	"encoding/json"
	"regexp"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"kk.dk/jobogfamilie/events/internal/benchloop"
	"kk.dk/jobogfamilie/schemas"
)

// The benchmarks here measure each hand-written fast path against the
// library it stands in for, on the example of every catalog type; ns/op is
// per example. docs/PERFORMANCE.md records the ratios: a fast path stays
// only while it is at least twice as fast as its library.

type benchExample struct {
	spec Spec
	data []byte
}

func benchExamples(b *testing.B) []benchExample {
	b.Helper()
	var exs []benchExample
	for _, spec := range Catalog() {
		data, ok := schemas.Example(spec.Key())
		if !ok {
			b.Fatalf("no example of %s", spec.Name)
		}
		exs = append(exs, benchExample{spec, data})
	}
	return exs
}

// BenchmarkSchemaFastPath: the fast schema walk against jsonschema, which
// decodes the data and validates the decoded value.
func BenchmarkSchemaFastPath(b *testing.B) {
	noFastPathCheck(b)
	exs := benchExamples(b)
	b.Run("fast", func(b *testing.B) {
		benchloop.Cycle(b, exs, func(ex benchExample) {
			if cs := ex.spec.compiledEntry(); cs.fast == nil || !cs.fast.Valid(ex.data) {
				b.Fatalf("%s: not valid on the fast path", ex.spec.Name)
			}
		})
	})
	b.Run("jsonschema", func(b *testing.B) {
		benchloop.Cycle(b, exs, func(ex benchExample) {
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(ex.data))
			if err != nil {
				b.Fatal(err)
			}
			if err := ex.spec.compiledEntry().sch.Validate(inst); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// BenchmarkDecodePayload: the plain decoder against json.Unmarshal into
// the payload's Go type.
func BenchmarkDecodePayload(b *testing.B) {
	exs := benchExamples(b)
	b.Run("plain", func(b *testing.B) {
		benchloop.Cycle(b, exs, func(ex benchExample) {
			if !ex.spec.decodePlain(ex.data, ex.spec.NewData()) {
				b.Fatalf("%s: not plain", ex.spec.Name)
			}
		})
	})
	b.Run("encoding_json", func(b *testing.B) {
		benchloop.Cycle(b, exs, func(ex benchExample) {
			if err := json.Unmarshal(ex.data, ex.spec.NewData()); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// BenchmarkPatterns: the hand-written matchers against the regexps of
// their patterns, on samples that match and samples that do not.
func BenchmarkPatterns(b *testing.B) {
	type pat struct {
		match func([]byte) bool
		re    *regexp.Regexp
	}
	var pats []pat
	for pattern, m := range patternMatchers {
		pats = append(pats, pat{m, regexp.MustCompile(pattern)})
	}
	samples := make([][]byte, len(patternSamples))
	for i, s := range patternSamples {
		samples[i] = []byte(s)
	}
	// ns/op is per match of one sample against one pattern.
	run := func(b *testing.B, f func(p pat, s []byte)) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			f(pats[i%len(pats)], samples[i%len(samples)])
			i++
		}
	}
	b.Run("hand", func(b *testing.B) { run(b, func(p pat, s []byte) { p.match(s) }) })
	b.Run("regexp", func(b *testing.B) { run(b, func(p pat, s []byte) { p.re.Match(s) }) })
}

// BenchmarkMarshalFastPath: Marshal's encoder against json.Marshal (the
// SDK's writer, compacted by encoding/json), on every catalog type's
// example as ingest stores it.
func BenchmarkMarshalFastPath(b *testing.B) {
	check := marshalCheck
	marshalCheck = nil
	b.Cleanup(func() { marshalCheck = check })
	var evs []cloudevents.Event
	for _, ex := range benchExamples(b) {
		evs = append(evs, structuredEvent(b, ex.spec.Type(), ex.data, ""))
	}
	b.Run("fast", func(b *testing.B) {
		benchloop.Cycle(b, evs, func(ev cloudevents.Event) {
			if _, err := Marshal(ev); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("encoding_json", func(b *testing.B) {
		benchloop.Cycle(b, evs, func(ev cloudevents.Event) {
			if _, err := marshalJSON(ev); err != nil {
				b.Fatal(err)
			}
		})
	})
}

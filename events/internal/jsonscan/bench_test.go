package jsonscan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"kk.dk/jobogfamilie/schemas"
)

// The benchmarks here measure the scanner's readers against the library
// way, on the example data of every catalog type; ns/op is per example.
// docs/PERFORMANCE.md records the ratios.

func examples(b *testing.B) [][]byte {
	b.Helper()
	var exs [][]byte
	for _, typ := range schemas.Types() {
		name := strings.TrimSuffix(strings.TrimPrefix(typ, "dk.kk.jobogfamilie."), ".v1")
		data, ok := schemas.Example(name)
		if !ok {
			b.Fatalf("no example of %s", name)
		}
		exs = append(exs, data)
	}
	return exs
}

func loop(b *testing.B, exs [][]byte, f func([]byte)) {
	b.Helper()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f(exs[i%len(exs)])
		i++
	}
}

// BenchmarkCheck: the strict single pass (validity, UTF-8, lone
// surrogates, duplicate members, depth) against json.Valid, which checks
// validity only and so is a lower bound of what a library check costs.
func BenchmarkCheck(b *testing.B) {
	exs := examples(b)
	b.Run("Check", func(b *testing.B) {
		loop(b, exs, func(data []byte) {
			if ps := Check(data, "", MaxDepth); ps != nil {
				b.Fatal(ps)
			}
		})
	})
	b.Run("json.Valid", func(b *testing.B) {
		loop(b, exs, func(data []byte) {
			if !json.Valid(data) {
				b.Fatal("invalid")
			}
		})
	})
}

// BenchmarkCanonical: the canonical form of the content hash (with the
// library way where it declines, as events.ContentHash does) against a
// decode by jsonschema.UnmarshalJSON, which keeps numbers as written, and
// json.Marshal.
func BenchmarkCanonical(b *testing.B) {
	exs := examples(b)
	library := func(data []byte) []byte {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		c, err := json.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	b.Run("Canonical", func(b *testing.B) {
		loop(b, exs, func(data []byte) {
			if _, ok := Canonical(data); !ok {
				library(data)
			}
		})
	})
	b.Run("library", func(b *testing.B) {
		loop(b, exs, func(data []byte) { library(data) })
	})
}

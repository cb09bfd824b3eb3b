//go:build goexperiment.jsonv2

package events

import (
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"testing"
)

// With GOEXPERIMENT=jsonv2 the fast paths are also measured against
// encoding/json/v2, whose jsontext checks what checkJSON checks (UTF-8,
// duplicate names) by default.

func BenchmarkStrictCheckJSONv2(b *testing.B) {
	exs := benchExamples(b)
	loop(b, exs, func(ex benchExample) {
		if !jsontext.Value(ex.data).IsValid() {
			b.Fatal("invalid")
		}
	})
}

func BenchmarkDecodePayloadJSONv2(b *testing.B) {
	exs := benchExamples(b)
	loop(b, exs, func(ex benchExample) {
		if err := jsonv2.Unmarshal(ex.data, ex.spec.NewData()); err != nil {
			b.Fatal(err)
		}
	})
}

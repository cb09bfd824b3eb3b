//go:build goexperiment.jsonv2

package events

import (
	jsonv2 "encoding/json/v2"
	"testing"
)

// With GOEXPERIMENT=jsonv2 the plain decoder is also measured against
// encoding/json/v2.

func BenchmarkDecodePayloadJSONv2(b *testing.B) {
	exs := benchExamples(b)
	loop(b, exs, func(ex benchExample) {
		if err := jsonv2.Unmarshal(ex.data, ex.spec.NewData()); err != nil {
			b.Fatal(err)
		}
	})
}

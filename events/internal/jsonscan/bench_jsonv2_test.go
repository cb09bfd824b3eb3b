//go:build goexperiment.jsonv2

package jsonscan

import (
	"encoding/json/jsontext"
	"testing"
)

// With GOEXPERIMENT=jsonv2, Check is also measured against jsontext, which
// checks UTF-8 and duplicate names by default as Check does.
func BenchmarkCheckJSONv2(b *testing.B) {
	loop(b, examples(b), func(data []byte) {
		if !jsontext.Value(data).IsValid() {
			b.Fatal("invalid")
		}
	})
}

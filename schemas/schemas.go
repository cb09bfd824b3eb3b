// Package schemas holds the JSON Schemas (draft 2020-12) of the data of every
// Job og Familie event type, one file per CloudEvents type and version. They
// are the single source of truth for what an event's data may contain; the
// Go payload types in package events are checked against them.
package schemas

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.json
var files embed.FS

const suffix = ".json"

// FS is the embedded schema files, named <cloudevents type>.json.
func FS() fs.FS { return files }

// Lookup returns the schema of a CloudEvents type, e.g.
// "dk.kk.jobogfamilie.praktik.started.v1".
func Lookup(ceType string) ([]byte, bool) {
	if strings.ContainsAny(ceType, "/\\") {
		return nil, false
	}
	b, err := files.ReadFile(ceType + suffix)
	return b, err == nil
}

// Types lists the CloudEvents types that have a schema, sorted.
func Types() []string {
	entries, _ := files.ReadDir(".")
	var out []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), suffix); ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

package schemas

import (
	"embed"
	"io/fs"
	"path"
	"strings"
)

// Only the valid examples are embedded: they are published (docs/catalog.md,
// client tests), while the invalid ones exist to test the schemas.
//
//go:embed testdata/*/valid-*.json
var examples embed.FS

// Example returns a valid example of the data of a catalog type, named by its
// catalog name ("praktik.started"): the first testdata/<name>/valid-*.json in
// name order, so that the choice is stable and "valid-full" (every field set)
// comes before "valid-required-only".
func Example(catalogName string) ([]byte, bool) {
	if catalogName == "" || strings.ContainsAny(catalogName, "/\\") || !fs.ValidPath(catalogName) {
		return nil, false
	}
	dir := path.Join("testdata", catalogName)
	entries, err := examples.ReadDir(dir) // sorted by name
	if err != nil || len(entries) == 0 {
		return nil, false
	}
	b, err := examples.ReadFile(path.Join(dir, entries[0].Name()))
	return b, err == nil
}

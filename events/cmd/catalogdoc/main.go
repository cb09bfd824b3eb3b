// Command catalogdoc writes docs/catalog.md to stdout. `go generate ./...`
// in events (or `make catalog`) runs it after catalogen, so that the
// document is rendered from the freshly generated catalog.
package main

import (
	"fmt"
	"os"

	"kk.dk/jobogfamilie/events/catalogdoc"
)

func main() {
	b, err := catalogdoc.Render()
	if err == nil {
		_, err = os.Stdout.Write(b)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "catalogdoc:", err)
		os.Exit(1)
	}
}

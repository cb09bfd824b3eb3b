// Command catalogdoc writes docs/catalog.md to stdout; run it through
// `make catalog` from the repository root.
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

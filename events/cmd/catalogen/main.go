// Command catalogen writes the Go code generated from the event catalog's
// data (see package events/internal/catalogen). `go generate ./...` in
// events runs it from the events directory.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"kk.dk/jobogfamilie/events/internal/catalogen"
)

func main() {
	root := flag.String("root", "..", "the repository root")
	flag.Parse()
	if err := run(*root); err != nil {
		fmt.Fprintln(os.Stderr, "catalogen:", err)
		os.Exit(1)
	}
}

func run(root string) error {
	c, err := catalogen.Load(os.DirFS(root))
	if err != nil {
		return err
	}
	files, err := catalogen.Generate(c)
	if err != nil {
		return err
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(root, filepath.FromSlash(name)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

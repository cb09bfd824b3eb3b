package auth

import _ "embed"

// devConfig is the dev configuration that ships in the repo: the
// well-known tokens of CONTRACT.md, stored as hashes like any other config.
//
//go:embed dev.json
var devConfig []byte

// DevConfig returns the dev configuration file's contents.
func DevConfig() []byte { return append([]byte(nil), devConfig...) }

#!/usr/bin/env bash
# build.sh builds Dex (the OIDC provider of the identity integration test and
# of the compose file's idp profile) from the Go module proxy into a cache
# directory outside the repository, and prints the binary's path. A binary
# already there is reused, so only the first run pays for the build.
#
# Dex's go.mod replaces its api/v2 module with a directory that the module zip
# leaves out, so `go install …@version` refuses it: the module is copied to a
# temporary directory and built there with the required api/v2 from the proxy.
set -euo pipefail
if ! command -v go >/dev/null; then export PATH=$PATH:/usr/local/go/bin; fi
# The proxy serves Dex only as pseudo-versions (its v2 tags lack a /v2 module
# path); this one is the commit of 2026-03-03.
DEX_VERSION=${DEX_VERSION:-v0.0.0-20260303133905-11d2eeb52b42}
dir=${JF_DEX_DIR:-$(go env GOCACHE)/../jf-dex/$DEX_VERSION}
bin=$dir/dex
if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi
mkdir -p "$dir"
src=$(cd / && GOWORK=off GOFLAGS=-mod=mod go mod download -json "github.com/dexidp/dex@$DEX_VERSION" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
test -d "$src" || { echo "build.sh: no module directory for dex@$DEX_VERSION" >&2; exit 1; }
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -R "$src/." "$work"
chmod -R u+w "$work"
(cd "$work" && go mod edit -dropreplace github.com/dexidp/dex/api/v2 &&
	GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" ./cmd/dex)
mv "$bin.tmp" "$bin"
echo "$bin"

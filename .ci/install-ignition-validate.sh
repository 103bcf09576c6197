#!/usr/bin/env bash
# Builds the official Ignition validator through the Go module proxy into
# TOOLS_DIR/bin/ignition-validate (the module's command is named "validate",
# too generic a name for a shared bin directory).
# Usage: .ci/install-ignition-validate.sh [TOOLS_DIR]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${1:-$ROOT/.tools}"
VERSION="v2.20.0"
stamp="$TOOLS/stamps/ignition-validate-$VERSION"
[ -f "$stamp" ] && [ -x "$TOOLS/bin/ignition-validate" ] && exit 0

CACHE="${G8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/g8s}"
export GOMODCACHE="${GOMODCACHE:-$CACHE/go/mod}"
export GOCACHE="${GOCACHE:-$CACHE/go/build}"
export GOPATH="${GOPATH:-$CACHE/go/path}"
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
export GOFLAGS="${GOFLAGS:--buildvcs=false -modcacherw}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
GOBIN="$work" go install "github.com/coreos/ignition/v2/validate@$VERSION"
mkdir -p "$TOOLS/bin" "$TOOLS/stamps"
mv "$work/validate" "$TOOLS/bin/ignition-validate"
touch "$stamp"

#!/usr/bin/env bash
# Builds upstream Ignition (the first-boot provisioner of the guest image)
# through the Go module proxy into TOOLS_DIR/bin/ignition.
#
# The binary is kept in the cache folder's bin cache, keyed by version and
# build flags, so a fresh clone on a machine that built once copies it
# instead of compiling (about 3.5 minutes cold on two cores).
#
# cgo is required: Ignition links libblkid (Debian's libblkid-dev, in the
# Makefile's system packages). SELinux relabelling is switched off at build
# time, as distributions without SELinux do: otherwise the files stage fails
# opening /etc/selinux/config.
# Usage: .ci/install-ignition.sh [TOOLS_DIR]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${1:-$ROOT/.tools}"
VERSION="v2.24.0"
LDFLAGS="-s -w -X github.com/coreos/ignition/v2/internal/distro.selinuxRelabel=false"

CACHE="${G8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/g8s}"
key="$(printf '%s\n%s\n' "$VERSION" "$LDFLAGS" | sha256sum | cut -c1-16)"
dir="$CACHE/bin/ignition-$VERSION-$key"
if [ ! -f "$dir/.complete" ]; then
    echo "building ignition $VERSION (cold: several minutes)" >&2
    export GOMODCACHE="${GOMODCACHE:-$CACHE/go/mod}"
    export GOCACHE="${GOCACHE:-$CACHE/go/build}"
    export GOPATH="${GOPATH:-$CACHE/go/path}"
    export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
    export GOFLAGS="${GOFLAGS:--buildvcs=false -modcacherw}"
    rm -rf "$dir" && mkdir -p "$dir"
    # The command's package is .../internal, so go install names it "internal".
    CGO_ENABLED=1 GOBIN="$dir" go install -trimpath -ldflags "$LDFLAGS" \
        "github.com/coreos/ignition/v2/internal@$VERSION"
    mv "$dir/internal" "$dir/ignition"
    touch "$dir/.complete"
fi
mkdir -p "$TOOLS/bin"
if ! cmp -s "$dir/ignition" "$TOOLS/bin/ignition"; then
    cp -f "$dir/ignition" "$TOOLS/bin/ignition"
fi

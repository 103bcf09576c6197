#!/usr/bin/env bash
# Installs what the KVM launcher's boot test needs, from Debian's packages:
#   - QEMU (qemu-system-x86) through apt, as root: its shared-library
#     dependencies are too many to extract by hand, and apt resolves them;
#   - the Debian kernel (linux-image-amd64's current image) and busybox-static,
#     downloaded once into the cache folder and extracted (dpkg -x) under
#     .tools/debs, nothing installed;
# then builds the tiny test guest into .tools/guest (see .ci/build-guest.sh).
# Idempotent: a stamp per step. Usage: .ci/install-guest.sh [TOOLS_DIR]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${1:-$ROOT/.tools}"
DEBS="$TOOLS/debs"
STAMPS="$TOOLS/stamps"
# Downloaded .debs are kept in the cache folder outside the checkout, so a
# fresh clone extracts them without downloading again.
DEB_CACHE="${G8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/g8s}/debs"
mkdir -p "$DEBS" "$STAMPS" "$DEB_CACHE"

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-guest: qemu-system-x86_64 missing and not root; install qemu-system-x86" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null
fi

# The metapackage only depends on the versioned image package; resolve it.
kernel_pkg="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
if [ -z "$kernel_pkg" ]; then
    echo "install-guest: cannot resolve linux-image-amd64's image package" >&2
    exit 1
fi
for pkg in "$kernel_pkg" busybox-static; do
    stamp="$STAMPS/deb-$pkg"
    [ -f "$stamp" ] && continue
    dir="$DEBS/$pkg"
    rm -rf "$dir" && mkdir -p "$dir"
    if ! compgen -G "$DEB_CACHE/${pkg}_*.deb" >/dev/null; then
        (cd "$DEB_CACHE" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null)
    fi
    dpkg -x "$(ls -t "$DEB_CACHE/${pkg}"_*.deb | head -1)" "$dir"
    touch "$stamp"
done

"$ROOT/.ci/build-guest.sh" "$DEBS/$kernel_pkg" "$DEBS/busybox-static" "$TOOLS/guest"

#!/bin/sh
# g8s-pki-sync (unit g8s-pki-sync.service in the guest): copy the node's live
# files from the launcher's read-only 9p share to /etc/kubernetes/pki, then
# again every few seconds. The components read the copies, not the share:
# - a file replaced by rename on a local filesystem raises the inotify
#   events the API server's certificate reload waits for; a change made on
#   the host side of a 9p share raises none in the guest;
# - a share that is briefly unreadable leaves the last good files in place.
# It logs paths, never contents. Settings (for its tests): G8S_PKI_SHARE,
# G8S_PKI_TARGET, G8S_PKI_INTERVAL; G8S_PKI_ONCE=1 makes one pass and exits.
set -u

share=${G8S_PKI_SHARE:-/run/g8s/pki}
target=${G8S_PKI_TARGET:-/etc/kubernetes/pki}
interval=${G8S_PKI_INTERVAL:-5}
once=${G8S_PKI_ONCE:-}

# The share is a mounted Secret: its files are behind symlinks into "..data",
# which the host's kubelet swaps in one step. Those dot entries are not files
# of the node.
files() {
    (cd "$1" && find -L . -type f ! -path './..*' ! -name '*.g8s-new')
}

sync_once() {
    # Every share has the CA: without it the share is not (yet) readable,
    # and nothing is copied or removed.
    [ -f "$share/ca.crt" ] || return 1
    files "$share" | while read -r path; do
        if ! cmp -s "$share/$path" "$target/$path"; then
            mkdir -p "$(dirname "$target/$path")"
            # cp -p keeps the share's mode (0600 for keys) from the start.
            cp -p "$share/$path" "$target/$path.g8s-new" &&
                mv -f "$target/$path.g8s-new" "$target/$path" &&
                echo "g8s-pki-sync: updated ${path#./}"
        fi
    done
    files "$target" | while read -r path; do
        if [ ! -e "$share/$path" ]; then
            rm -f "$target/$path" && echo "g8s-pki-sync: removed ${path#./}"
        fi
    done
}

mkdir -p "$target"
until sync_once; do
    [ -z "$once" ] || exit 1
    echo "g8s-pki-sync: the share $share has no ca.crt yet; waiting" >&2
    sleep "$interval"
done
[ -n "$once" ] && exit 0
# The kubelet starts only after this (Type=notify): its files are in place.
systemd-notify --ready
while sleep "$interval"; do
    sync_once || echo "g8s-pki-sync: the share $share has no ca.crt; files kept" >&2
done

#!/bin/sh
# g8s-pki-sync (the kubelet's ExecStartPre, and unit g8s-pki-sync.service in
# the guest): copy the node's live files from the launcher's read-only 9p
# share to /etc/kubernetes/pki, then again whenever they change. The components read the copies, not the share:
# - a file replaced by rename on a local filesystem raises the inotify
#   events the API server's certificate reload waits for; a change made on
#   the host side of a 9p share raises none in the guest;
# - a share that is briefly unreadable leaves the last good files in place.
# Between changes a look costs one readlink: the kubelet swaps the share's
# "..data" to a new directory on every update, and only then is a full pass
# (a find and a cmp per file, costly on an emulated guest) made.
# Some files are read only when a process starts, and a pass that changes or
# removes one restarts the processes that read it:
# - the service-account keys: kube-apiserver and kube-controller-manager are
#   stopped (SIGTERM), and the kubelet starts their containers again;
# - the CA bundle (ca.crt) when it gains a CA (a CA rotation's first phase):
#   the clients that verify a server with it (kube-apiserver towards etcd,
#   the controller manager, the scheduler and the kubelet towards the API
#   server), so that they trust the servers' new certificates. Each static
#   pod's manifest that has the annotation g8s.io/trusted-ca gets the digest
#   of the bundle there (the first 16 hex digits of its sha256), so the
#   kubelet starts the pod again; its mirror pod then shows the digest, which
#   is how the cluster operator knows the control plane runs with the bundle
#   before it lets the rotation go on. systemd starts the kubelet again.
# The first pass, before the kubelet starts, stamps the manifests and restarts
# nothing. It logs paths, never contents.
#
# Usage: pki-sync first|watch|once
#   first  wait for the share, make the first pass, exit (the kubelet's
#          ExecStartPre: it starts on the share's files);
#   watch  look every few seconds and pass again when the share changed;
#   once   one pass; non-zero when the share is not readable (tests).
# Settings (for tests): G8S_PKI_SHARE, G8S_PKI_TARGET, G8S_PKI_INTERVAL,
# G8S_PKI_MANIFESTS (the static pods' directory), G8S_PKI_MOUNT_UNIT (the
# share's mount unit; empty: never mounted here), G8S_PKI_RESTART,
# G8S_PKI_RESTART_CA (the process names to stop).
set -u

share=${G8S_PKI_SHARE:-/run/g8s/pki}
target=${G8S_PKI_TARGET:-/etc/kubernetes/pki}
interval=${G8S_PKI_INTERVAL:-5}
restart=${G8S_PKI_RESTART:-kube-apiserver kube-controller-manager}
restart_ca=${G8S_PKI_RESTART_CA:-kubelet}
manifests=${G8S_PKI_MANIFESTS:-/etc/kubernetes/manifests}
mount_unit=${G8S_PKI_MOUNT_UNIT-run-g8s-pki.mount}
mode=${1:-watch}
# The names to restart, written by a pass that changed a file read only at
# start; beside the target, so that the pass's own clean-up does not take it
# for a stale file.
restart_mark=$target.restart-due

# The share is a mounted Secret: its files are behind symlinks into "..data",
# which the host's kubelet swaps in one step. Those dot entries are not files
# of the node.
files() {
    (cd "$1" && find -L . -type f ! -path './..*' ! -name '*.g8s-new')
}

# A share not mounted (its mount unit failed: a first boot under load has
# seen the 9p channel missing when the mount ran) is mounted again.
mount_share() {
    [ -n "$mount_unit" ] || return 0
    mountpoint -q "$share" && return 0
    echo "g8s-pki-sync: the share $share is not mounted; starting $mount_unit again" >&2
    systemctl start "$mount_unit" || true
}

sync_once() {
    # Every share has the CA: without it the share is not (yet) readable,
    # and nothing is copied or removed.
    mount_share
    [ -f "$share/ca.crt" ] || return 1
    files "$share" | while read -r path; do
        if ! cmp -s "$share/$path" "$target/$path"; then
            [ -e "$target/$path" ] && readers "$path" "$share/$path" >>"$restart_mark"
            mkdir -p "$(dirname "$target/$path")"
            # cp -p keeps the share's mode (0600 for keys) from the start.
            cp -p "$share/$path" "$target/$path.g8s-new" &&
                mv -f "$target/$path.g8s-new" "$target/$path" &&
                echo "g8s-pki-sync: updated ${path#./}"
        fi
    done
    files "$target" | while read -r path; do
        if [ ! -e "$share/$path" ]; then
            readers "$path" "" >>"$restart_mark"
            rm -f "$target/$path" && echo "g8s-pki-sync: removed ${path#./}"
        fi
    done
}

# The processes that read a file only when they start (nothing for the rest),
# given the file's new content ($2; empty when it is removed). A CA bundle
# that only loses a CA restarts nothing: the servers that check client
# certificates reload it themselves (kube-apiserver, the kubelet) and every
# client already trusts what is left.
readers() {
    case ${1#./} in
    service-account/*) echo "$restart" ;;
    ca.crt)
        if [ -z "$2" ] || [ "$(grep -Fxvc -f "$target/${1#./}" "$2")" -gt 0 ]; then
            echo "$restart_ca static-pods"
        fi
        ;;
    esac
}

# Write the digest of the CA bundle into every static pod manifest that has
# the annotation. A manifest is replaced by rename, from a dot file the kubelet
# does not read; one that already has the digest is left as it is.
stamp_static_pods() {
    [ -f "$target/ca.crt" ] || return 0
    digest=$(sha256sum "$target/ca.crt" | cut -c1-16)
    for manifest in "$manifests"/*; do
        [ -f "$manifest" ] || continue
        grep -q '"g8s.io/trusted-ca": *"' "$manifest" || continue
        grep -q "\"g8s.io/trusted-ca\": *\"$digest\"" "$manifest" && continue
        new="$manifests/.${manifest##*/}.$$.g8s-new"
        sed "s|\"g8s.io/trusted-ca\": *\"[^\"]*\"|\"g8s.io/trusted-ca\": \"$digest\"|" \
            "$manifest" >"$new" && mv -f "$new" "$manifest" &&
            echo "g8s-pki-sync: restarted the static pod of ${manifest##*/}: trusted CAs $digest"
    done
}

# Restart everything named in the mark: the static pods through their
# manifests, any other process by its /proc comm (which the kernel cuts to
# 15 characters: kube-controller-manager is "kube-controller").
restart_due() {
    [ -s "$restart_mark" ] || { rm -f "$restart_mark"; return 0; }
    names=$(tr ' ' '\n' <"$restart_mark" | sort -u)
    rm -f "$restart_mark"
    for name in $names; do
        if [ "$name" = static-pods ]; then
            stamp_static_pods
            continue
        fi
        short=$(printf %.15s "$name")
        for comm in /proc/[0-9]*/comm; do
            [ "$(cat "$comm" 2>/dev/null)" = "$short" ] || continue
            pid=${comm#/proc/}
            pid=${pid%/comm}
            kill -TERM "$pid" 2>/dev/null &&
                echo "g8s-pki-sync: restarted $name (pid $pid): a file it reads at start changed"
        done
    done
}

# The share's revision; "-" for a share that is not a mounted Secret (each
# look is then a full pass).
revision() {
    readlink "$share/..data" 2>/dev/null || echo -
}

mkdir -p "$target"
case $mode in
once)
    sync_once
    exit
    ;;
first)
    until sync_once; do
        echo "g8s-pki-sync: the share $share has no ca.crt yet; waiting" >&2
        sleep "$interval"
    done
    # Nothing runs yet that read the old keys; the static pods start with the
    # bundle they find.
    rm -f "$restart_mark"
    stamp_static_pods
    exit 0
    ;;
watch) ;;
*)
    echo "usage: pki-sync first|watch|once" >&2
    exit 2
    ;;
esac
# Read before the pass: a swap during it makes the next look a full pass.
synced=$(revision)
if sync_once; then
    restart_due
else
    synced=
fi
while sleep "$interval"; do
    now=$(revision)
    if [ "$now" = "$synced" ] && [ "$now" != - ]; then
        continue
    fi
    if sync_once; then
        synced=$now
        restart_due
    else
        echo "g8s-pki-sync: the share $share has no ca.crt; files kept" >&2
    fi
done

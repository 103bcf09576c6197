"""The ``g8s`` command line.

``g8s describe cluster <name> [-n namespace]``: the tree of a Cluster and its
children, in the spirit of ``clusterctl describe``: one line per object with
its Ready status, reason and age, children grouped in the deletion order
(docs/design.md#deletion-order) reversed: what a cluster is built from first.

``g8s kubeconfig <name> [-n namespace] [-o file]``: the guest cluster's admin
kubeconfig (Secret ``<name>-kubeconfig``), to stdout or to a file only its
owner can read, since it holds a client key. With ``--ttl 30m`` a short-lived
admin certificate of its own instead, deleted at its end
(``operators.cluster.credentials``).

``g8s plan -f <manifest>``: what applying a Cluster manifest would create,
change or delete, from server-side dry runs (``operators.cluster.plan``);
nothing is written.

``g8s backup <name> [-n namespace] [--timeout seconds]``: a backup of the
guest's etcd now, printed as a new Cluster's ``spec.etcd.restoreFrom``
(``operators.cluster.backups``).

``g8s restore <name> [-n namespace] [--from location] [--checksum sha256]
[--as new-name]``: the Cluster's spec with ``spec.etcd.restoreFrom`` (the
latest backup unless named), printed, or created under the new name
(``operators.cluster.restores``).
"""

import argparse
import os
import sys
from base64 import b64decode
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from operators.cluster import backups, credentials, reconcile, restores, rotations
from operators.cluster import plan as planning
from operators.cluster.model import ref
from shared import conditions as cond
from shared.api import API_VERSION, names
from shared.api import conditions as c
from shared.api.kinds import CERTIFICATE, CLUSTER, CLUSTER_NETWORK, ETCD_CLUSTER, KVM_NODE
from shared.errors import ApiError
from shared.kube import Kube, ObjectRef, connect

ORDER = (CERTIFICATE.kind, CLUSTER_NETWORK.kind, ETCD_CLUSTER.kind, KVM_NODE.kind)


def age(created: str, now: datetime) -> str:
    if not created:
        return "-"
    seconds = int((now - datetime.fromisoformat(created.replace("Z", "+00:00"))).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def row(label: str, obj: Mapping[str, Any], now: datetime) -> tuple[str, str, str, str, str]:
    status = obj.get("status") or {}
    ready = cond.get(status.get("conditions") or [], c.READY) or {}
    meta = obj.get("metadata") or {}
    return (
        label,
        str(ready.get("status") or "Unknown"),
        str(ready.get("reason") or ""),
        age(str(meta.get("creationTimestamp") or ""), now),
        str(ready.get("message") or ""),
    )


def tree(
    cluster: Mapping[str, Any], children: Mapping[str, Sequence[Mapping[str, Any]]], now: datetime
) -> list[str]:
    """The lines ``g8s describe`` prints; pure, so it is tested without a cluster."""
    meta = cluster["metadata"]
    rows = [row(f"Cluster/{meta['name']}", cluster, now)]
    kinds = [k for k in ORDER if children.get(k)]
    for i, kind in enumerate(kinds):
        last_kind = i == len(kinds) - 1
        items = sorted(children[kind], key=lambda o: str(o["metadata"]["name"]))
        for j, item in enumerate(items):
            branch = "└─" if last_kind and j == len(items) - 1 else "├─"
            rows.append(row(f"{branch}{kind}/{item['metadata']['name']}", item, now))
    widths = [max(len(r[k]) for r in (*rows, _HEADER)) for k in range(4)]
    lines = []
    for r in (_HEADER, *rows):
        cells = [r[k].ljust(widths[k]) for k in range(4)]
        lines.append(("  ".join(cells) + "  " + r[4]).rstrip())
    status = cluster.get("status") or {}
    if status.get("endpoint"):
        lines.append(f"endpoint: {status['endpoint']}")
    if status.get("kubeconfigSecret"):
        lines.append(f"kubeconfig: Secret {meta.get('namespace')}/{status['kubeconfigSecret']}")
    return lines


_HEADER = ("NAME", "READY", "REASON", "AGE", "MESSAGE")


def describe(kube: Kube, name: str, namespace: str, now: datetime) -> list[str]:
    cluster = kube.get(ObjectRef(API_VERSION, CLUSTER.kind, name, namespace))
    if cluster is None:
        raise LookupError(f"Cluster {namespace}/{name} not found")
    return tree(cluster, reconcile.list_children(kube, ref(cluster)), now)


def kubeconfig(kube: Kube, name: str, namespace: str) -> str:
    """The admin kubeconfig the cluster operator wrote for Cluster ``name``."""
    secret_name = names.kubeconfig_secret(name)
    secret = kube.get(ObjectRef("v1", "Secret", secret_name, namespace))
    if secret is None:
        if kube.get(ObjectRef(API_VERSION, CLUSTER.kind, name, namespace)) is None:
            raise LookupError(f"Cluster {namespace}/{name} not found")
        raise LookupError(
            f"Secret {namespace}/{secret_name} not written yet: the admin certificate "
            f"is not issued (see g8s describe cluster {name} -n {namespace})"
        )
    value = (secret.get("data") or {}).get("value")
    if not value:
        raise LookupError(f"Secret {namespace}/{secret_name} has no key 'value'")
    return b64decode(value).decode()


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, never briefly by others."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="g8s", description="Inspect and use g8s clusters.")
    commands = top.add_subparsers(dest="command", required=True)
    describe_cmd = commands.add_parser("describe", help="show an object and its children")
    describe_cmd.add_argument("kind", choices=["cluster"])
    describe_cmd.add_argument("name")
    describe_cmd.add_argument("-n", "--namespace", default="default")
    config_cmd = commands.add_parser("kubeconfig", help="the guest cluster's admin kubeconfig")
    config_cmd.add_argument("name")
    config_cmd.add_argument("-n", "--namespace", default="default")
    config_cmd.add_argument("-o", "--output", type=Path, help="write it here (mode 0600)")
    config_cmd.add_argument(
        "--ttl",
        default="",
        help="a short-lived admin certificate of its own instead (a duration such as 30m); "
        "deleted, and refused by the guest, at its end",
    )
    config_cmd.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for it (default 120)"
    )
    plan_cmd = commands.add_parser(
        "plan", help="what applying a Cluster manifest would create, change or delete"
    )
    plan_cmd.add_argument("-f", "--filename", type=Path, required=True, help="the manifest")
    backup_cmd = commands.add_parser("backup", help="back up the guest's etcd now")
    backup_cmd.add_argument("name")
    backup_cmd.add_argument("-n", "--namespace", default="default")
    backup_cmd.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for it (default 300)"
    )
    rotate_cmd = commands.add_parser(
        "rotate",
        help="rotate a guest's key now: encryption (every Secret re-encrypted with a new key),"
        " sa (a new service-account signing key) or ca (a new CA, every certificate issued"
        " again)",
    )
    rotate_cmd.add_argument("what", choices=["encryption", "sa", "ca"])
    rotate_cmd.add_argument("name")
    rotate_cmd.add_argument("-n", "--namespace", default="default")
    rotate_cmd.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds to wait for it (default 1800)"
    )
    rotate_cmd.add_argument(
        "--grace",
        type=float,
        default=None,
        help="sa: seconds the old key's tokens are still accepted after the new key signs"
        " (default 3600: the pods' tokens are renewed within it)",
    )
    restore_cmd = commands.add_parser(
        "restore", help="a Cluster like this one whose etcd starts from a backup"
    )
    restore_cmd.add_argument("name")
    restore_cmd.add_argument("-n", "--namespace", default="default")
    restore_cmd.add_argument(
        "--from", dest="location", default="", help="the backup (default: the latest)"
    )
    restore_cmd.add_argument("--checksum", default="", help="its SHA-256, checked before use")
    restore_cmd.add_argument(
        "--as",
        dest="new_name",
        default="",
        help="create it now under this name; without it the manifest is printed",
    )
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        kube = Kube(connect(), "g8s-cli")
        if args.command == "kubeconfig":
            text = (
                credentials.short_lived(
                    kube,
                    args.name,
                    args.namespace,
                    ttl=args.ttl,
                    timeout=args.timeout,
                    say=lambda line: print(line, file=sys.stderr, flush=True),
                )
                if args.ttl
                else kubeconfig(kube, args.name, args.namespace)
            )
            if args.output is None:
                sys.stdout.write(text)
            else:
                write_private(args.output, text)
                print(f"wrote {args.output}", file=sys.stderr)
            return 0
        if args.command == "plan":
            lines = planning.plan(kube, planning.load(args.filename.read_text())).lines()
        elif args.command == "backup":
            taken = backups.backup(
                kube,
                args.name,
                args.namespace,
                timeout=args.timeout,
                say=lambda line: print(line, file=sys.stderr, flush=True),
            )
            lines = backups.summary(taken)
        elif args.command == "rotate":
            kind = {
                "sa": rotations.SERVICE_ACCOUNT,
                "ca": rotations.CA,
                "encryption": rotations.ENCRYPTION,
            }[args.what]
            extra = {}
            if args.what == "sa" and args.grace is not None:
                extra[reconcile.SA_GRACE_ANNOTATION] = str(max(0.0, args.grace))
            lines = [
                rotations.rotate(
                    kube,
                    kind,
                    args.name,
                    args.namespace,
                    timeout=args.timeout,
                    say=lambda line: print(line, file=sys.stderr, flush=True),
                    extra=extra,
                )
            ]
        elif args.command == "restore":
            manifest = restores.restore(
                kube,
                args.name,
                args.namespace,
                location=args.location,
                checksum=args.checksum,
                new_name=args.new_name,
            )
            source = manifest["spec"]["etcd"]["restoreFrom"]["location"]
            keys = manifest["spec"]["etcd"]["restoreFrom"]["encryptionKeysSecret"]
            print(
                f"kept {args.name}'s encryption keys in Secret {args.namespace}/{keys}",
                file=sys.stderr,
            )
            if args.new_name:
                lines = [f"created Cluster {args.namespace}/{args.new_name} from backup {source}"]
            else:
                lines = [yaml.safe_dump(manifest, sort_keys=False).rstrip()]
        else:
            lines = describe(kube, args.name, args.namespace, cond.utc_now())
    except (LookupError, ApiError, ValueError, OSError) as exc:  # OSError: also TimeoutError
        print(f"g8s: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

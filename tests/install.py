"""Install the five operator charts on the local environment's real node.

``python -m tests.install [--name ENV]`` (``make install`` without a
KUBECONFIG of your own) builds the operators image (or finds it cached),
imports it and the etcd image into the real node's containerd, and runs
``helm upgrade --install`` for each chart with the values this environment
needs (``local_values``): the image built here (never pulled), the operator
pods pinned to the real node, the environment's Vault, etcd members as real
pods on the real node with member probing on, and the guest networks and
guest DNS inside the reserved test range.

The network host agent runs as its DaemonSet on the real node and programs
each guest network's VXLAN and bridge in the node's network namespace. The
VM launcher pods run on the real node too: the launcher image (QEMU) is built
and imported, software emulation is forced and the guest OS image comes from
``.tools/guest-image``, and the kvm operator's guest checks are on, so a node
is Ready when its guest's Node is. ``--wait`` makes helm wait for every
operator pod to be Ready (their kopf liveness probes), so a broken image or
RBAC fails here and not later.

``main`` also gives the etcd operator a backup store (tests/backupstore.py)
that clusters of the namespaces ``--backups-for`` names (default: default)
can be restored from; ``uninstall`` releases its claims, never its backups.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests import backupstore, hostnode, images, localenv

CHARTS = ("cluster", "certificates", "etcd", "network", "kvm")
NAMESPACE = localenv.SYSTEM_NAMESPACE
CHARTS_DIR = localenv.ROOT / "charts"
# The guest OS image the launcher pods mount (built by `make guest-image`).
GUEST_IMAGE = localenv.ROOT / ".tools" / "guest-image"

REAL_NODE_SELECTOR = {hostnode.HOST_LABEL: hostnode.HOST_LABEL_VALUE}
REAL_NODE_TOLERATIONS = [{"key": hostnode.HOST_TAINT, "operator": "Exists", "effect": "NoSchedule"}]


def common_values(image: str) -> dict[str, Any]:
    repository, tag = images.split_name(image)
    return {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "nodeSelector": REAL_NODE_SELECTOR,
        "tolerations": REAL_NODE_TOLERATIONS,
    }


def local_values(
    chart: str,
    *,
    image: str,
    env: localenv.LocalEnv,
    node: hostnode.NodePlan,
    namespaces: Sequence[str] = (),
    launcher_image: str = "",
) -> dict[str, Any]:
    """The values of ``chart`` in this environment (pure: everything comes in).

    ``namespaces`` limits the operators to those namespaces (tests run the
    chart operators beside operators run as processes in other namespaces).
    ``launcher_image`` is the VM launcher image built here (kvm chart).
    """
    values = common_values(image)
    if namespaces:
        values["namespaces"] = list(namespaces)
    if chart == "certificates":
        values["vault"] = {
            "address": env.vault_addr,
            "auth": "token",
            "token": {"value": env.vault_token},
        }
    elif chart == "etcd":
        values["etcd"] = {
            "probeMembers": True,
            "image": f"{images.ETCD_REPOSITORY}:{{version}}",
            "members": {
                "nodeSelector": [f"{k}={v}" for k, v in REAL_NODE_SELECTOR.items()],
                "tolerations": [f"{hostnode.HOST_TAINT}:NoSchedule"],
            },
        }
    elif chart == "network":
        # The host agent runs on the real node only (the simulated hosts
        # have no network), and the operator waits for it there.
        values["network"] = {
            "requireHosts": True,
            "hostSelector": f"{hostnode.HOST_LABEL}={hostnode.HOST_LABEL_VALUE}",
            "subnet": {"pool": str(node.guest_pool), "prefix": node.guest_prefix},
        }
        values["agent"] = {"nodeSelector": REAL_NODE_SELECTOR, "tolerations": REAL_NODE_TOLERATIONS}
    elif chart == "kvm":
        values["kvm"] = {
            # Guests really boot: a node is Ready when its guest Node is.
            "guestChecks": True,
            "guestDNS": node.host_ip,
            # The VMs run on the real node; two cores hold a 1 + 1 guest
            # cluster only with their vCPUs overcommitted.
            "launcherPods": {
                "nodeSelector": [f"{k}={v}" for k, v in REAL_NODE_SELECTOR.items()],
                "tolerations": [f"{hostnode.HOST_TAINT}:NoSchedule"],
            },
            "cpuAllocationRatio": 8,
            # /dev/kvm opens on this kind of machine but KVM cannot boot a
            # kernel: auto would pick it, so software emulation is forced.
            "accel": "tcg",
            "guestImagePath": str(GUEST_IMAGE),
            # A renewed certificate or a rotated key reaches a VM at the next
            # refresh: 20 s rather than the chart's 60 s shortens every step of
            # the rotations the e2e tests wait for.
            "interval": 20,
        }
        if launcher_image:
            repository, tag = images.split_name(launcher_image)
            values["launcher"] = {"repository": repository, "tag": tag}
    return values


def helm(env: localenv.LocalEnv, *args: str) -> None:
    helm_home = localenv.ROOT / ".tools" / "helm"
    environ = {
        **env.env(),
        "HELM_CACHE_HOME": str(helm_home / "cache"),
        "HELM_CONFIG_HOME": str(helm_home / "config"),
        "HELM_DATA_HOME": str(helm_home / "data"),
    }
    localenv.run([str(localenv.BIN / "helm"), *args], env=environ, timeout=600)


def merged(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` laid over it, nested mappings merged key by key."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def install(
    env: localenv.LocalEnv,
    charts: Sequence[str] = CHARTS,
    namespaces: Sequence[str] = (),
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """Build/import the images and install ``charts``; return the operators image.

    ``overrides`` maps a chart to values laid over the local ones.
    """
    if not env.real_node:
        raise localenv.LocalEnvError(
            f"the operators run as pods on the real node only; this environment has none "
            f"({env.fallback_reason})"
        )
    node = hostnode.plan(env.name)
    image, archive = images.build_operators_image()
    archives = [archive, *images.build_local_images()]
    launcher_image = ""
    if "kvm" in charts:
        launcher_image, launcher_archive = images.build_launcher_image()
        archives.append(launcher_archive)
    node_paths = localenv.node_paths(localenv.Paths(env.name))
    hostnode.import_images(node_paths, archives)
    with tempfile.TemporaryDirectory(prefix="g8s-values-") as tmp:
        for chart in charts:
            values = Path(tmp) / f"{chart}.json"
            chart_values = local_values(
                chart,
                image=image,
                env=env,
                node=node,
                namespaces=namespaces,
                launcher_image=launcher_image,
            )
            values.write_text(json.dumps(merged(chart_values, (overrides or {}).get(chart, {}))))
            values.chmod(0o600)  # the certificates chart's values hold the Vault token
            helm(
                env,
                "upgrade",
                "--install",
                chart,
                str(CHARTS_DIR / chart),
                "--namespace",
                NAMESPACE,
                "--create-namespace",
                "--values",
                str(values),
                "--wait",
                "--timeout",
                "300s",
            )
    return image


# How long the charts' pods may take to go after ``helm uninstall`` (their
# grace period is 30 s; the kubelet's own stop comes on top).
PODS_GONE_TIMEOUT = 120


def uninstall(env: localenv.LocalEnv, charts: Sequence[str] = CHARTS) -> None:
    """Uninstall ``charts`` and return once their pods are gone.

    helm's ``--wait`` waits for the objects it made, not for the pods the
    garbage collector then deletes: an operator or host agent still stopping
    would overlap the next install's (the same node, ports and devices).
    """
    for chart in charts:
        helm(env, "uninstall", chart, "--namespace", NAMESPACE, "--ignore-not-found", "--wait")
    selector = f"app.kubernetes.io/part-of=g8s,app.kubernetes.io/instance in ({','.join(charts)})"
    env.kubectl(
        "wait",
        "--for=delete",
        "pods",
        "-l",
        selector,
        "-n",
        NAMESPACE,
        f"--timeout={PODS_GONE_TIMEOUT}s",
        timeout=PODS_GONE_TIMEOUT + 30,
    )


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.install", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", nargs="?", choices=["install", "uninstall"], default="install")
    parser.add_argument(
        "--name", default=None, help="environment name (default: $G8S_ENV_NAME or g8s)"
    )
    parser.add_argument(
        "--backups-for",
        action="append",
        metavar="NAMESPACE",
        help="namespaces whose clusters can be restored from the etcd backup store "
        "(tests/backupstore.py; default: default)",
    )
    args = parser.parse_args(argv)
    backup_namespaces = args.backups_for or ["default"]
    env = localenv.status(args.name or localenv.env_name())
    if env is None:
        print("the local environment is not up (make up)", file=sys.stderr)
        return 1
    try:
        if args.command == "uninstall":
            uninstall(env)
            backupstore.release(env, backup_namespaces)
            print(f"charts uninstalled from {NAMESPACE}")
        else:
            store = backupstore.provision(env, backup_namespaces)
            image = install(env, overrides={"etcd": store})
            print(
                f"charts installed in {NAMESPACE}, operators image {image}, on node "
                f"{hostnode.plan(env.name).node_name}"
            )
    except (localenv.LocalEnvError, localenv.CommandError, images.ImageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

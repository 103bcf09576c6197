"""Deployment ``<node>``: one pod running the VM launcher (one VM, never two at once).

The pod mounts the node's disk volume (a filesystem) at ``DISK_DIR``, where
the launcher keeps the VM's qcow2 overlay, and the guest OS image read-only
at ``GUEST_DIR`` from a host directory (or finds it baked into the launcher
image when no host directory is set). The node's live files (certificates,
keys, encryption config) are the Ignition Secret's ``pki_*`` keys, mounted at
``PKI_DIR`` as the tree the guest expects; the launcher shares that directory
with the VM over 9p, and the kubelet keeps it up to date. It is privileged
(see ``_security``).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from operators.kvm.children.ignition import LiveFile
from operators.kvm.children.secret import CONFIG_KEY, HASH_ANNOTATION, live_key
from operators.kvm.model import KVMNodeSpec
from operators.kvm.policies import Resources
from shared.api import names
from shared.api.labels import CLUSTER, MANAGED_BY, NODE_ROLE, managed_by, standard_labels

OPERATOR = "kvm"
NODE_LABEL = "g8s.io/kvm-node"
CONTAINER = "launcher"
IGNITION_DIR = "/etc/g8s/ignition"
PKI_DIR = "/etc/g8s/pki"
DISK_DIR = "/var/lib/g8s/disk"
GUEST_DIR = "/var/lib/g8s/guest"
QMP_SOCKET = "/run/g8s/qmp.sock"
# Seconds the kubelet grants beyond the launcher's own power-down timeout.
TERMINATION_SLACK = 30


@dataclass(frozen=True)
class LauncherPod:
    """What the pod needs besides the spec."""

    image: str
    resources: Resources
    bridge: str
    mac: str
    ready_port: int
    shutdown_timeout: int
    ignition_hash: str
    # auto, kvm or tcg (G8S_LAUNCHER_ACCEL).
    accel: str = "auto"
    # Host directory of the guest OS image; empty: the one in the launcher image.
    guest_image: str = ""
    # nodeSelector and tolerations of the pod (shared.placement.pod_placement).
    placement: Mapping[str, Any] = field(default_factory=dict)
    # The node's live files; only their paths and modes are in the pod.
    live: Sequence[LiveFile] = ()


def selector(spec: KVMNodeSpec) -> dict[str, str]:
    return {NODE_LABEL: spec.name}


def _env(spec: KVMNodeSpec, pod: LauncherPod) -> list[dict[str, str]]:
    values = {
        "NAME": spec.name,
        "CPUS": str(spec.cpus),
        "MEMORY_MIB": str(spec.memory_mib),
        "GUEST_DIR": GUEST_DIR,
        "DISK_DIR": DISK_DIR,
        "DISK_GIB": str(spec.disk_gib),
        "ACCEL": pod.accel,
        "IGNITION": f"{IGNITION_DIR}/{CONFIG_KEY}",
        "PKI_DIR": PKI_DIR if pod.live else "",
        "BRIDGE": pod.bridge,
        "MAC": pod.mac,
        "QMP_SOCKET": QMP_SOCKET,
        "READY_PORT": str(pod.ready_port),
        "SHUTDOWN_TIMEOUT": str(pod.shutdown_timeout),
    }
    return [{"name": f"G8S_LAUNCHER_{key}", "value": value} for key, value in values.items()]


def _anti_affinity(spec: KVMNodeSpec) -> dict[str, Any]:
    # Soft: a guest cluster still starts on a single host, but spreads when it can.
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {
                            "matchLabels": {
                                CLUSTER: spec.cluster,
                                MANAGED_BY: managed_by(OPERATOR),
                            }
                        },
                    },
                }
            ]
        }
    }


def _security() -> dict[str, Any]:
    # Privileged: the one way a plain kubelet lets a container use /dev/kvm
    # and /dev/net/tun (a hostPath mount of a device node is not allowed by
    # the device cgroup; only device plugins or privileged containers are).
    # A privileged container also sees whichever of them the host has, so a
    # host without /dev/kvm still starts the pod (software emulation). The
    # tap's bridge is in the host's network namespace: NET_ADMIN there.
    return {"privileged": True, "runAsUser": 0, "runAsGroup": 0}


def _volumes(spec: KVMNodeSpec, pod: LauncherPod) -> tuple[list[Any], list[Any]]:
    """The pod's volumes and the launcher's mounts of them."""
    mounts: list[dict[str, Any]] = [
        {"name": "ignition", "mountPath": IGNITION_DIR, "readOnly": True},
        {"name": "disk", "mountPath": DISK_DIR},
        {"name": "run", "mountPath": "/run/g8s"},
    ]
    secret = names.ignition_secret(spec.name)
    volumes: list[dict[str, Any]] = [
        {
            "name": "ignition",
            "secret": {
                "secretName": secret,
                "defaultMode": 0o400,
                "items": [{"key": CONFIG_KEY, "path": CONFIG_KEY}],
            },
        },
        {"name": "disk", "persistentVolumeClaim": {"claimName": names.node_disk(spec.name)}},
        {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
    ]
    if pod.live:
        mounts.append({"name": "pki", "mountPath": PKI_DIR, "readOnly": True})
        items = [{"key": live_key(f.path), "path": f.path, "mode": f.mode} for f in pod.live]
        volumes.append({"name": "pki", "secret": {"secretName": secret, "items": items}})
    if pod.guest_image:
        mounts.append({"name": "guest", "mountPath": GUEST_DIR, "readOnly": True})
        # Directory: a missing image fails the pod's start with the path in its events.
        host_path = {"path": pod.guest_image, "type": "Directory"}
        volumes.append({"name": "guest", "hostPath": host_path})
    return volumes, mounts


def build(spec: KVMNodeSpec, pod: LauncherPod) -> dict[str, Any]:
    # The node role lets the cluster operator's API Service select the
    # control-plane VM pods (shared/api/labels.NODE_ROLE).
    labels = {**standard_labels(OPERATOR, spec.cluster), **selector(spec), NODE_ROLE: spec.role}
    limits = {"cpu": pod.resources.cpu, "memory": pod.resources.memory}
    volumes, mounts = _volumes(spec, pod)
    container = {
        "name": CONTAINER,
        "image": pod.image,
        "command": ["python3", "-m", "operators.kvm.launcher"],
        "env": _env(spec, pod),
        "resources": {
            "requests": {**limits, "cpu": pod.resources.cpu_request or pod.resources.cpu},
            "limits": dict(limits),
        },
        "securityContext": _security(),
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": pod.ready_port},
            "periodSeconds": 5,
        },
        "volumeMounts": mounts,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": dict(labels)},
        "spec": {
            "replicas": 1,
            # Two pods of one node would boot the same disk twice.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector(spec)},
            "template": {
                "metadata": {
                    "labels": labels,
                    # A new Ignition config rolls the VM.
                    "annotations": {HASH_ANNOTATION: pod.ignition_hash},
                },
                "spec": {
                    # The tap device joins the guest network's bridge, a
                    # device of the host's network namespace.
                    "hostNetwork": True,
                    "dnsPolicy": "ClusterFirstWithHostNet",
                    "enableServiceLinks": False,
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": pod.shutdown_timeout + TERMINATION_SLACK,
                    "affinity": _anti_affinity(spec),
                    **dict(pod.placement),
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }

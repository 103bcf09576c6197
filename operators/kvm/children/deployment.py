"""Deployment ``<node>``: one pod running the VM launcher (one VM, never two at once)."""

from dataclasses import dataclass
from typing import Any

from operators.kvm.children.secret import CONFIG_KEY, HASH_ANNOTATION
from operators.kvm.model import KVMNodeSpec
from operators.kvm.policies import Resources
from shared.api import names
from shared.api.labels import CLUSTER, MANAGED_BY, NODE_ROLE, managed_by, standard_labels

OPERATOR = "kvm"
NODE_LABEL = "g8s.io/kvm-node"
CONTAINER = "launcher"
IGNITION_DIR = "/etc/g8s/ignition"
DISK_DEVICE = "/dev/g8s-disk"
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


def selector(spec: KVMNodeSpec) -> dict[str, str]:
    return {NODE_LABEL: spec.name}


def _env(spec: KVMNodeSpec, pod: LauncherPod) -> list[dict[str, str]]:
    values = {
        "NAME": spec.name,
        "CPUS": str(spec.cpus),
        "MEMORY_MIB": str(spec.memory_mib),
        "DISK": DISK_DEVICE,
        "IGNITION": f"{IGNITION_DIR}/{CONFIG_KEY}",
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


def build(spec: KVMNodeSpec, pod: LauncherPod) -> dict[str, Any]:
    # The node role lets the cluster operator's API Service select the
    # control-plane VM pods (shared/api/labels.NODE_ROLE).
    labels = {**standard_labels(OPERATOR, spec.cluster), **selector(spec), NODE_ROLE: spec.role}
    limits = {"cpu": pod.resources.cpu, "memory": pod.resources.memory}
    container = {
        "name": CONTAINER,
        "image": pod.image,
        "command": ["python", "-m", "operators.kvm.launcher"],
        "env": _env(spec, pod),
        "resources": {"requests": dict(limits), "limits": dict(limits)},
        "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}},
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": pod.ready_port},
            "periodSeconds": 5,
        },
        "volumeMounts": [
            {"name": "ignition", "mountPath": IGNITION_DIR, "readOnly": True},
            {"name": "kvm", "mountPath": "/dev/kvm"},
            {"name": "tun", "mountPath": "/dev/net/tun"},
            {"name": "run", "mountPath": "/run/g8s"},
        ],
        "volumeDevices": [{"name": "disk", "devicePath": DISK_DEVICE}],
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
                    "containers": [container],
                    "volumes": [
                        {
                            "name": "ignition",
                            "secret": {
                                "secretName": names.ignition_secret(spec.name),
                                "defaultMode": 0o400,
                            },
                        },
                        {
                            "name": "disk",
                            "persistentVolumeClaim": {"claimName": names.node_disk(spec.name)},
                        },
                        {"name": "kvm", "hostPath": {"path": "/dev/kvm", "type": "CharDevice"}},
                        {
                            "name": "tun",
                            "hostPath": {"path": "/dev/net/tun", "type": "CharDevice"},
                        },
                        {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                    ],
                },
            },
        },
    }

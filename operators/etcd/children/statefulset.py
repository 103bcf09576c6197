"""StatefulSet ``<c>-etcd``: one pod and one PVC per member.

Data lives on a PVC per member (``volumeClaimTemplates``, never emptyDir),
deleted with the member when the set shrinks so that a member added later
starts empty. Pods start in parallel: a new cluster's members must all run
before any of them can be ready. TLS comes from the Secrets the spec names;
members prefer distinct hosts (soft anti-affinity, since the host cluster
may have fewer hosts than members).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from operators.etcd import scripts, topology
from operators.etcd.model import EtcdClusterSpec
from shared.api import carotation, names

DATA_VOLUME = "data"
# The digest of the CA bundles the members trust, on the pod template: etcd
# reads its trusted CAs only at start, so a new bundle (a CA rotation) rolls
# the members, one at a time (RollingUpdate), keeping quorum.
TRUSTED_CAS_ANNOTATION = "g8s.io/trusted-cas"
# Kubelet would otherwise kill a member still replaying a large WAL at start.
STARTUP_FAILURES = 60


@dataclass(frozen=True)
class RestoreSource:
    """The snapshot the restore init container reads, on a PVC of the namespace."""

    claim: str
    # Path of the snapshot relative to the claim's root.
    path: str
    sha256: str


def _pod_env(spec: EtcdClusterSpec) -> list[dict[str, Any]]:
    """The environment shared by the member and restore containers (POD_NAME first)."""
    peer = names.etcd_peer_service(spec.cluster)
    host = f"$(POD_NAME).{peer}.{spec.namespace}.svc"
    return [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "ETCD_DATA_DIR", "value": scripts.DATA_DIR},
        {"name": "CLUSTER_DIR", "value": scripts.CLUSTER_DIR},
        {"name": "ETCD_INITIAL_CLUSTER_TOKEN", "value": topology.cluster_token(spec)},
        {
            "name": "ETCD_INITIAL_ADVERTISE_PEER_URLS",
            "value": f"https://{host}:{scripts.PEER_PORT}",
        },
        {"name": "ETCD_ADVERTISE_CLIENT_URLS", "value": f"https://{host}:{scripts.CLIENT_PORT}"},
    ]


def trusted_cas(bundles: Sequence[bytes]) -> str:
    """The digest of the members' CA bundles (server, peer, client), in that order."""
    return carotation.trust_digest(bundles)


def rolled_out(statefulset: Mapping[str, Any] | None) -> str:
    """The trusted-CAs digest every member runs with; "" while a roll is under way."""
    if statefulset is None:
        return ""
    spec, status = statefulset.get("spec") or {}, statefulset.get("status") or {}
    replicas = int(spec.get("replicas") or 0)
    done = (
        status.get("observedGeneration") == (statefulset.get("metadata") or {}).get("generation")
        and status.get("updateRevision") == status.get("currentRevision")
        and int(status.get("updatedReplicas") or 0) == replicas
        and int(status.get("readyReplicas") or 0) == replicas
    )
    annotations = ((spec.get("template") or {}).get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(TRUSTED_CAS_ANNOTATION) or "") if done else ""


def _tls_env() -> list[dict[str, Any]]:
    server, peer = f"{scripts.TLS_DIR}/server", f"{scripts.TLS_DIR}/peer"
    values = {
        "ETCD_LISTEN_CLIENT_URLS": f"https://0.0.0.0:{scripts.CLIENT_PORT}",
        "ETCD_LISTEN_PEER_URLS": f"https://0.0.0.0:{scripts.PEER_PORT}",
        # Plain HTTP, pod-local health endpoints for the kubelet's probes.
        "ETCD_LISTEN_METRICS_URLS": f"http://0.0.0.0:{scripts.METRICS_PORT}",
        "ETCD_CERT_FILE": f"{server}/tls.crt",
        "ETCD_KEY_FILE": f"{server}/tls.key",
        "ETCD_TRUSTED_CA_FILE": f"{server}/ca.crt",
        "ETCD_CLIENT_CERT_AUTH": "true",
        "ETCD_PEER_CERT_FILE": f"{peer}/tls.crt",
        "ETCD_PEER_KEY_FILE": f"{peer}/tls.key",
        "ETCD_PEER_TRUSTED_CA_FILE": f"{peer}/ca.crt",
        "ETCD_PEER_CLIENT_CERT_AUTH": "true",
        "ETCD_AUTO_COMPACTION_MODE": "periodic",
        "ETCD_AUTO_COMPACTION_RETENTION": "1h",
    }
    return [{"name": key, "value": value} for key, value in values.items()]


def _probe(path: str, **extra: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "metrics", "scheme": "HTTP"},
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        **extra,
    }


def _tls_volumes(spec: EtcdClusterSpec) -> list[dict[str, Any]]:
    secrets = {"server": spec.tls.server, "peer": spec.tls.peer, "client": spec.tls.client}
    return [
        {"name": f"tls-{role}", "secret": {"secretName": secret, "defaultMode": 0o400}}
        for role, secret in secrets.items()
    ]


def _mounts() -> list[dict[str, Any]]:
    return [
        {"name": DATA_VOLUME, "mountPath": scripts.DATA_MOUNT},
        {"name": "cluster", "mountPath": scripts.CLUSTER_DIR, "readOnly": True},
        *(
            {"name": f"tls-{role}", "mountPath": f"{scripts.TLS_DIR}/{role}", "readOnly": True}
            for role in ("server", "peer", "client")
        ),
    ]


def restore_container(spec: EtcdClusterSpec, image: str, source: RestoreSource) -> dict[str, Any]:
    """The init container that restores the snapshot into an empty data directory."""
    env = [
        *_pod_env(spec),
        {"name": "SNAPSHOT_FILE", "value": f"{scripts.BACKUP_MOUNT}/{source.path}"},
        {"name": "SNAPSHOT_SHA256", "value": source.sha256},
    ]
    return {
        "name": "restore",
        "image": image,
        "command": scripts.restore_command(),
        "env": env,
        "volumeMounts": [
            {"name": DATA_VOLUME, "mountPath": scripts.DATA_MOUNT},
            {"name": "cluster", "mountPath": scripts.CLUSTER_DIR, "readOnly": True},
            {"name": "backups", "mountPath": scripts.BACKUP_MOUNT, "readOnly": True},
        ],
        "resources": {"requests": {"cpu": spec.resources.cpu, "memory": spec.resources.memory}},
    }


def build(
    spec: EtcdClusterSpec,
    *,
    replicas: int,
    image: str,
    restore: RestoreSource | None = None,
    placement: Mapping[str, Any] | None = None,
    trusted_cas: str = "",
) -> dict[str, Any]:
    """The members' StatefulSet; ``placement`` adds node selector and tolerations,
    ``trusted_cas`` the digest of the CA bundles the members are to load."""
    selector = topology.selector(spec)
    member = {
        "name": "etcd",
        "image": image,
        "command": scripts.member_command(),
        "env": [*_pod_env(spec), *_tls_env()],
        "ports": [
            {"name": "client", "containerPort": scripts.CLIENT_PORT, "protocol": "TCP"},
            {"name": "peer", "containerPort": scripts.PEER_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": scripts.METRICS_PORT, "protocol": "TCP"},
        ],
        "resources": {"requests": {"cpu": spec.resources.cpu, "memory": spec.resources.memory}},
        "startupProbe": _probe("/readyz", failureThreshold=STARTUP_FAILURES),
        "readinessProbe": _probe("/readyz", failureThreshold=3),
        "livenessProbe": _probe("/livez", failureThreshold=6),
        "volumeMounts": _mounts(),
    }
    volumes: list[dict[str, Any]] = [
        {"name": "cluster", "configMap": {"name": topology.members_configmap(spec)}},
        *_tls_volumes(spec),
    ]
    pod_spec: dict[str, Any] = {
        "containers": [member],
        "volumes": volumes,
        "terminationGracePeriodSeconds": 30,
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": selector},
                        },
                    }
                ]
            }
        },
    }
    pod_spec.update(placement or {})
    if restore is not None:
        pod_spec["initContainers"] = [restore_container(spec, image, restore)]
        volumes.append(
            {
                "name": "backups",
                "persistentVolumeClaim": {"claimName": restore.claim, "readOnly": True},
            }
        )
    template_meta: dict[str, Any] = {"labels": selector}
    if trusted_cas:
        template_meta["annotations"] = {TRUSTED_CAS_ANNOTATION: trusted_cas}
    claim_spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": spec.storage_size}},
    }
    if spec.storage_class:
        claim_spec["storageClassName"] = spec.storage_class
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": names.etcd_statefulset(spec.cluster), "labels": selector},
        "spec": {
            "replicas": replicas,
            "serviceName": names.etcd_peer_service(spec.cluster),
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "RollingUpdate"},
            "selector": {"matchLabels": selector},
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Delete",
                "whenScaled": "Delete",
            },
            "template": {"metadata": template_meta, "spec": pod_spec},
            "volumeClaimTemplates": [
                {"metadata": {"name": DATA_VOLUME}, "spec": claim_spec},
            ],
        },
    }

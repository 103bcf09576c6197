"""Where the members are: names, DNS names and URLs derived from the spec. Pure."""

from operators.etcd import scripts
from operators.etcd.model import EtcdClusterSpec
from shared.api import labels, names

APP_NAME = "app.kubernetes.io/name"
APP_INSTANCE = "app.kubernetes.io/instance"
APP_COMPONENT = "app.kubernetes.io/component"


def selector(spec: EtcdClusterSpec) -> dict[str, str]:
    """Labels that select exactly this cluster's member pods."""
    return {APP_NAME: "etcd", APP_INSTANCE: spec.cluster, labels.CLUSTER: spec.cluster}


def member_name(spec: EtcdClusterSpec, ordinal: int) -> str:
    return names.etcd_member(spec.cluster, ordinal)


def ordinal_of(spec: EtcdClusterSpec, member: str) -> int | None:
    """The StatefulSet ordinal of ``member``, or None if it is not one of ours."""
    prefix = f"{names.etcd_statefulset(spec.cluster)}-"
    tail = member[len(prefix) :] if member.startswith(prefix) else ""
    return int(tail) if tail.isdigit() else None


def peer_host(spec: EtcdClusterSpec, member: str) -> str:
    return f"{member}.{names.etcd_peer_service(spec.cluster)}.{spec.namespace}.svc"


def peer_url(spec: EtcdClusterSpec, member: str) -> str:
    return f"https://{peer_host(spec, member)}:{scripts.PEER_PORT}"


def client_url(spec: EtcdClusterSpec, member: str) -> str:
    return f"https://{peer_host(spec, member)}:{scripts.CLIENT_PORT}"


def client_service_endpoint(spec: EtcdClusterSpec) -> str:
    service = names.etcd_client_service(spec.cluster)
    return f"{service}.{spec.namespace}.svc:{scripts.CLIENT_PORT}"


def cluster_token(spec: EtcdClusterSpec) -> str:
    """Unique per EtcdCluster object, so two clusters' members can never merge."""
    return (
        f"{spec.namespace}-{spec.cluster}-{spec.uid[:8]}"
        if spec.uid
        else f"{spec.namespace}-{spec.cluster}"
    )


def members_configmap(spec: EtcdClusterSpec) -> str:
    return f"{names.etcd_statefulset(spec.cluster)}-members"

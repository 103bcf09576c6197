"""The cluster's ``EtcdCluster``, using the etcd certificates' Secrets."""

from typing import Any

from operators.cluster.model import ClusterSpec
from shared.api import API_VERSION, names
from shared.api import certificates as catalogue
from shared.api.kinds import ETCD_CLUSTER


def build(spec: ClusterSpec) -> dict[str, Any]:
    etcd: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": ETCD_CLUSTER.kind,
        "metadata": {"name": spec.name},
        "spec": {
            "replicas": spec.etcd_replicas,
            "storage": {"sizeGiB": spec.etcd_storage_gib},
            "tls": {
                "serverSecretName": names.certificate(spec.name, catalogue.ETCD_SERVER),
                "peerSecretName": names.certificate(spec.name, catalogue.ETCD_PEER),
                "clientSecretName": names.certificate(spec.name, catalogue.ETCD_CLIENT),
            },
            "backup": {"schedule": spec.backup_schedule, "keep": spec.backup_keep},
        },
    }
    if spec.restore_from is not None:
        restore = {"location": spec.restore_from.location}
        if spec.restore_from.checksum:
            restore["checksum"] = spec.restore_from.checksum
        etcd["spec"]["restore"] = restore
    return etcd

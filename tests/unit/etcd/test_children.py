"""The etcd operator's builders, field by field: StatefulSet, Services, PDB, members ConfigMap."""

from typing import Any

import pytest

from operators.etcd import scripts
from operators.etcd.children import client_service, members, pdb, peer_service, statefulset
from operators.etcd.model import parse
from tests.unit.etcd.spec_fixtures import BODY

SPEC = parse(BODY)
SELECTOR = {
    "app.kubernetes.io/name": "etcd",
    "app.kubernetes.io/instance": "demo",
    "g8s.io/cluster": "demo",
}


def _sts(**kwargs: Any) -> dict[str, Any]:
    return statefulset.build(SPEC, replicas=3, image="registry.example/etcd:3.6.4-0", **kwargs)


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_statefulset_identity_and_shape() -> None:
    sts = _sts()
    assert (sts["apiVersion"], sts["kind"]) == ("apps/v1", "StatefulSet")
    assert sts["metadata"]["name"] == "demo-etcd"
    spec = sts["spec"]
    assert spec["replicas"] == 3
    assert spec["serviceName"] == "demo-etcd-peer"
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["selector"] == {"matchLabels": SELECTOR}
    assert spec["template"]["metadata"]["labels"] == SELECTOR
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Delete",
        "whenScaled": "Delete",
    }


def test_statefulset_data_on_a_claim_per_member_never_emptydir() -> None:
    sts = _sts()
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "20Gi"}},
        "storageClassName": "fast",
    }
    volumes = sts["spec"]["template"]["spec"]["volumes"]
    assert not [v for v in volumes if "emptyDir" in v]
    mounts = sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert {"name": "data", "mountPath": scripts.DATA_MOUNT} in mounts


def test_statefulset_tls_from_the_named_secrets() -> None:
    pod = _sts()["spec"]["template"]["spec"]
    secrets = {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v}
    assert secrets == {
        "tls-server": {"secretName": "demo-etcd-server", "defaultMode": 0o400},
        "tls-peer": {"secretName": "demo-etcd-peer", "defaultMode": 0o400},
        "tls-client": {"secretName": "demo-etcd-client", "defaultMode": 0o400},
    }
    env = _env(pod["containers"][0])
    assert env["ETCD_CERT_FILE"] == "/etc/etcd/tls/server/tls.crt"
    assert env["ETCD_KEY_FILE"] == "/etc/etcd/tls/server/tls.key"
    assert env["ETCD_TRUSTED_CA_FILE"] == "/etc/etcd/tls/server/ca.crt"
    assert env["ETCD_PEER_CERT_FILE"] == "/etc/etcd/tls/peer/tls.crt"
    assert env["ETCD_PEER_TRUSTED_CA_FILE"] == "/etc/etcd/tls/peer/ca.crt"
    assert env["ETCD_CLIENT_CERT_AUTH"] == "true"
    assert env["ETCD_PEER_CLIENT_CERT_AUTH"] == "true"


def test_statefulset_urls_on_the_headless_service() -> None:
    container = _sts()["spec"]["template"]["spec"]["containers"][0]
    env = _env(container)
    names = [e["name"] for e in container["env"]]
    # $(POD_NAME) is expanded only from variables defined before it.
    assert names[0] == "POD_NAME"
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    host = "$(POD_NAME).demo-etcd-peer.ns.svc"
    assert env["ETCD_INITIAL_ADVERTISE_PEER_URLS"] == f"https://{host}:2380"
    assert env["ETCD_ADVERTISE_CLIENT_URLS"] == f"https://{host}:2379"
    assert env["ETCD_LISTEN_PEER_URLS"] == "https://0.0.0.0:2380"
    assert env["ETCD_LISTEN_CLIENT_URLS"] == "https://0.0.0.0:2379"
    assert env["ETCD_INITIAL_CLUSTER_TOKEN"] == "ns-demo-8a3b1c2d"
    assert container["command"] == ["/bin/sh", "-ec", scripts.MEMBER_SCRIPT]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "client": 2379,
        "peer": 2380,
        "metrics": 2381,
    }


def test_statefulset_requests_probes_and_soft_anti_affinity() -> None:
    pod = _sts()["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}}
    assert container["readinessProbe"]["httpGet"] == {
        "path": "/readyz",
        "port": "metrics",
        "scheme": "HTTP",
    }
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["startupProbe"]["failureThreshold"] == statefulset.STARTUP_FAILURES
    anti = pod["affinity"]["podAntiAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in anti
    (term,) = anti["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["weight"] == 100
    assert term["podAffinityTerm"] == {
        "topologyKey": "kubernetes.io/hostname",
        "labelSelector": {"matchLabels": SELECTOR},
    }


def test_statefulset_without_restore_has_no_init_container() -> None:
    pod = _sts()["spec"]["template"]["spec"]
    assert "initContainers" not in pod
    assert not [v for v in pod["volumes"] if v["name"] == "backups"]


def test_statefulset_restore_init_container() -> None:
    source = statefulset.RestoreSource("backups-claim", "ns/old/20260501T000000Z.db", "f" * 64)
    pod = _sts(restore=source)["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["name"] == "restore"
    assert init["image"] == "registry.example/etcd:3.6.4-0"
    assert init["command"] == ["/bin/sh", "-ec", scripts.RESTORE_SCRIPT]
    env = _env(init)
    assert env["SNAPSHOT_FILE"] == "/backups/ns/old/20260501T000000Z.db"
    assert env["SNAPSHOT_SHA256"] == "f" * 64
    assert env["ETCD_DATA_DIR"] == scripts.DATA_DIR
    mounts = {m["name"]: m for m in init["volumeMounts"]}
    assert mounts["backups"] == {"name": "backups", "mountPath": "/backups", "readOnly": True}
    assert mounts["data"]["mountPath"] == scripts.DATA_MOUNT
    volume = next(v for v in pod["volumes"] if v["name"] == "backups")
    assert volume["persistentVolumeClaim"] == {"claimName": "backups-claim", "readOnly": True}


def test_client_service() -> None:
    svc = client_service.build(SPEC)
    assert svc["metadata"]["name"] == "demo-etcd"
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["selector"] == SELECTOR
    assert svc["spec"]["ports"] == [
        {"name": "client", "port": 2379, "targetPort": "client", "protocol": "TCP"}
    ]


def test_peer_service_is_headless_and_publishes_unready_members() -> None:
    svc = peer_service.build(SPEC)
    assert svc["metadata"]["name"] == "demo-etcd-peer"
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["publishNotReadyAddresses"] is True
    assert svc["spec"]["selector"] == SELECTOR
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == {"peer": 2380, "client": 2379}


def test_pdb_allows_one_member_down() -> None:
    budget = pdb.build(SPEC)
    assert (budget["apiVersion"], budget["kind"]) == ("policy/v1", "PodDisruptionBudget")
    assert budget["metadata"]["name"] == "demo-etcd"
    assert budget["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": SELECTOR}}


def test_members_configmap() -> None:
    peers = {"demo-etcd-1": "https://b:2380", "demo-etcd-0": "https://a:2380"}
    cm = members.build(SPEC, peers=peers, state="existing")
    assert cm["metadata"]["name"] == "demo-etcd-members"
    assert cm["data"] == {
        "initial-cluster": "demo-etcd-0=https://a:2380,demo-etcd-1=https://b:2380",
        "initial-cluster-state": "existing",
    }
    with pytest.raises(ValueError, match="new or existing"):
        members.build(SPEC, peers=peers, state="joining")


def test_a_new_ca_bundle_rolls_the_members_and_the_status_follows_the_roll() -> None:
    """etcd loads its trusted CAs only at start: their digest is on the pod template,
    and what the members run with is reported once every member rolled."""
    old = statefulset.trusted_cas([b"CA1", b"CA1", b"CA1"])
    new = statefulset.trusted_cas([b"CA1\nCA2", b"CA1\nCA2", b"CA1\nCA2"])
    assert old != new
    assert statefulset.trusted_cas([b"CA1\n"] * 3) == old  # a trailing newline is no change
    assert _sts()["spec"]["template"]["metadata"].get("annotations") is None
    built = _sts(trusted_cas=new)
    annotations = built["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {statefulset.TRUSTED_CAS_ANNOTATION: new}
    assert built["spec"]["updateStrategy"] == {"type": "RollingUpdate"}  # one member at a time

    built["metadata"]["generation"] = 2
    rolling = {"observedGeneration": 2, "replicas": 3, "readyReplicas": 3,
               "updatedReplicas": 1, "currentRevision": "a", "updateRevision": "b"}  # fmt: skip
    assert statefulset.rolled_out({**built, "status": rolling}) == ""
    done = {**rolling, "updatedReplicas": 3, "currentRevision": "b"}
    assert statefulset.rolled_out({**built, "status": done}) == new
    assert statefulset.rolled_out({**built, "status": {**done, "observedGeneration": 1}}) == ""
    assert statefulset.rolled_out(None) == ""

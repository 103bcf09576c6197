"""The reconciliation's steps over an in-memory Kubernetes stand-in.

Covers: a missing network or certificate Secret stops the run with a
retryable reason; with both present the steps apply Secret, PVC and
Deployment, each owned by the KVMNode and labelled; the Deployment's pod
template carries the Ignition content hash; observe finds the launcher pod
and, with guest checks on, asks the guest API through the kubeconfig Secret;
with kept Secrets (shared/watched.py) a second look reads no certificate
Secret again, and a renewal the watch tells of changes the Ignition; a
certificate Secret not made yet is asked for once while the node waits for
it, and the encryption key each time (no watch would tell of it); with a
kept ClusterNetwork and etcd Service, a second look reads neither again.
"""

from base64 import b64encode
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from operators.kvm import policies, reconcile
from operators.kvm.children.secret import HASH_ANNOTATION
from operators.kvm.context import NETWORK_FIELDS, KVMSettings, host_kind
from shared.api import labels
from shared.errors import Retry
from shared.kube import ObjectRef
from shared.watched import Watched, certificate_secrets, fields, kept
from tests.unit.kvm.helpers import body, spec


def _b64(text: str) -> str:
    return b64encode(text.encode()).decode()


@dataclass
class FakeKube:
    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    applied: list[dict[str, Any]] = field(default_factory=list)
    pods: list[dict[str, Any]] = field(default_factory=list)
    unready: list[str] = field(default_factory=list)

    reads: list[str] = field(default_factory=list)

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        self.reads.append(f"{ref.kind}/{ref.name}")
        return self.objects.get((ref.kind, ref.name))

    def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        self.applied.append(dict(obj))
        return dict(obj)

    def ensure(self, obj: Mapping[str, Any]) -> None:
        # What ensure skips is the adapter's (tests/integration/test_kube_apply.py).
        self.apply(obj)

    def list(self, api_version: str, kind: str, **_: Any) -> list[dict[str, Any]]:
        return list(self.pods)

    def unready_checks(self) -> tuple[str, ...]:
        return tuple(self.unready)


def _ready_kube() -> FakeKube:
    kube = FakeKube()
    kube.objects[("ClusterNetwork", "demo")] = {
        "status": {"subnet": "10.100.3.0/24", "gateway": "10.100.3.1", "bridge": "g8s-br-3"}
    }
    certificate = {"namespace": "ns", "labels": {labels.CERTIFICATE: "x"}}
    kube.objects[("Secret", "demo-ca")] = {
        "metadata": {"name": "demo-ca", **certificate},
        "data": {"ca.crt": _b64("CA")},
    }
    kube.objects[("Secret", "demo-w-abcde-kubelet")] = {
        "metadata": {"name": "demo-w-abcde-kubelet", **certificate},
        "data": {"tls.crt": _b64("C"), "tls.key": _b64("K"), "ca.crt": _b64("CA")},
    }
    kube.objects[("Service", "demo-etcd")] = {"spec": {"clusterIP": "172.16.0.7"}}
    kube.objects[("Service", "demo-apiserver")] = {"spec": {"clusterIP": "172.16.0.9"}}
    return kube


def _run(kube: FakeKube, **settings: Any) -> reconcile.Run:
    return reconcile.Run(
        spec=spec(),
        body=body(),
        kube=kube,  # type: ignore[arg-type]
        settings=KVMSettings(**settings),
    )


def test_network_not_ready_is_retried() -> None:
    with pytest.raises(Retry) as raised:
        reconcile.read_network(_run(FakeKube()))
    assert raised.value.reason == "NetworkNotReady"
    # Soon at first (the network operator takes well under a second), then
    # further apart, never longer than poll_interval.
    assert raised.value.delay is None
    assert raised.value.base == reconcile.WAIT_FIRST_LOOK
    assert raised.value.ceiling == KVMSettings().poll_interval


def test_missing_certificates_are_retried() -> None:
    kube = _ready_kube()
    del kube.objects[("Secret", "demo-w-abcde-kubelet")]
    with pytest.raises(Retry) as raised:
        reconcile.read_certificates(_run(kube))
    assert raised.value.reason == "CertificatesNotReady"
    assert "demo-w-abcde-kubelet" in str(raised.value)
    assert raised.value.base == reconcile.WAIT_FIRST_LOOK


def test_etcd_without_a_cluster_ip_is_retried() -> None:
    kube = _ready_kube()
    del kube.objects[("Service", "demo-etcd")]
    run = _run(kube)
    reconcile.read_network(run)
    with pytest.raises(Retry) as raised:
        reconcile.read_host_services(run)
    assert raised.value.reason == "EtcdNotReady"


def test_the_api_name_is_the_api_services_cluster_ip_and_waited_for() -> None:
    """Not a control-plane VM's address: the Service reaches whichever are there now."""
    kube = _ready_kube()
    run = _run(kube)
    reconcile.read_network(run)
    reconcile.read_host_services(run)
    assert run.hosts[policies.api_host(run.spec)] == "172.16.0.9"
    del kube.objects[("Service", "demo-apiserver")]
    with pytest.raises(Retry) as raised:
        reconcile.read_host_services(run)
    assert raised.value.reason == "APIServiceNotReady"


def test_steps_apply_owned_children() -> None:
    kube = _ready_kube()
    run = _run(kube, guest_checks=False)
    for step in reconcile.STEPS:
        result = step.run(run)
        assert result is None
    kinds = [o["kind"] for o in kube.applied]
    assert kinds == ["Certificate", "Secret", "PersistentVolumeClaim", "Deployment"]
    identity = kube.applied[0]
    assert identity["metadata"]["name"] == "demo-w-abcde-kubelet"
    assert identity["spec"]["node"] == "demo-w-abcde"
    assert identity["spec"]["commonName"] == "system:node:demo-w-abcde"
    assert identity["spec"]["ipAddresses"] == ["10.100.3.51"]
    assert run.hosts == {"demo-etcd.ns.svc": "172.16.0.7", "demo-apiserver.ns.svc": "172.16.0.9"}
    for obj in kube.applied:
        meta = obj["metadata"]
        assert meta["namespace"] == "ns"
        assert meta["ownerReferences"][0]["uid"] == "u-1"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "g8s-kvm"
        assert meta["labels"]["g8s.io/cluster"] == "demo"
    _, secret, _, deployment = kube.applied
    digest = secret["metadata"]["annotations"][HASH_ANNOTATION]
    assert digest == run.ignition_hash
    template = deployment["spec"]["template"]
    assert template["metadata"]["annotations"][HASH_ANNOTATION] == digest
    env = {e["name"]: e["value"] for e in template["spec"]["containers"][0]["env"]}
    assert env["G8S_LAUNCHER_BRIDGE"] == "g8s-br-3"
    assert str(run.address) == "10.100.3.51"
    assert run.pod is None
    assert run.guest is None


def test_kept_certificates_are_read_once_over_two_looks() -> None:
    kube = _ready_kube()
    kept = certificate_secrets(kube)  # type: ignore[arg-type]
    looks = [_run(kube, guest_checks=False) for _ in range(2)]
    for run in looks:
        run.secrets = kept
        for step in reconcile.STEPS:
            step.run(run)
    secret_reads = sorted(r for r in kube.reads if r.startswith("Secret/"))
    assert secret_reads == ["Secret/demo-ca", "Secret/demo-w-abcde-kubelet"]
    assert looks[0].live == looks[1].live
    # A renewed certificate, told by the watch, is in the next look's live files.
    renewed = dict(kube.objects[("Secret", "demo-w-abcde-kubelet")])
    renewed["data"] = {**renewed["data"], "tls.crt": _b64("C2")}
    kept.seen(renewed, deleted=False)
    third = _run(kube, guest_checks=False)
    third.secrets = kept
    for step in reconcile.STEPS:
        step.run(third)
    served = {f.path: f.content_b64 for f in third.live}
    assert served["kubelet/tls.crt"] == _b64("C2")
    assert len([r for r in kube.reads if r.startswith("Secret/")]) == 2


def test_a_certificate_not_made_yet_is_asked_for_once_while_the_node_waits() -> None:
    kube = _ready_kube()
    made = kube.objects.pop(("Secret", "demo-w-abcde-kubelet"))
    kept = certificate_secrets(kube)  # type: ignore[arg-type]
    for _ in range(3):
        run = _run(kube)
        run.secrets = kept
        with pytest.raises(Retry) as raised:
            reconcile.read_certificates(run)
        assert raised.value.reason == "CertificatesNotReady"
    assert kube.reads.count("Secret/demo-w-abcde-kubelet") == 1
    # Made and told by the watch: the next look has it, still without asking.
    kube.objects[("Secret", "demo-w-abcde-kubelet")] = made
    kept.seen(made, deleted=False)
    run = _run(kube)
    run.secrets = kept
    reconcile.read_certificates(run)
    assert run.certificates["kubelet"]["tls.crt"] == _b64("C")
    assert kube.reads.count("Secret/demo-w-abcde-kubelet") == 1


def test_a_missing_encryption_key_is_asked_for_at_every_look() -> None:
    # Not a certificate Secret: no watch tells of it, so its absence is not kept.
    kube = _ready_kube()
    kept = certificate_secrets(kube)  # type: ignore[arg-type]
    for _ in range(2):
        run = _run(kube)
        run.spec = spec(role="controlplane")
        run.secrets = kept
        reconcile.read_network(run)
        with pytest.raises(Retry) as raised:
            reconcile.read_host_services(run)
        assert raised.value.reason == "EncryptionKeyMissing"
    assert kube.reads.count("Secret/demo-encryption") == 2


def test_observe_asks_the_guest_through_the_kubeconfig_secret() -> None:
    kube = _ready_kube()
    kube.pods = [
        {"metadata": {"name": "p-1"}},
        {"metadata": {"name": "old", "deletionTimestamp": "x"}},
    ]
    kube.objects[("Secret", "demo-kubeconfig")] = {"data": {"value": _b64("kubeconfig text")}}
    guest = FakeKube()
    guest.objects[("Node", spec().name)] = {
        "status": {"conditions": [{"type": "Ready", "status": "True", "message": "ok"}]}
    }
    seen: list[str] = []

    def client(text: str) -> Any:
        seen.append(text)
        return guest

    run = _run(kube)
    run.guest_client = client
    reconcile.observe(run)
    assert run.pod == {"metadata": {"name": "p-1"}}
    assert seen == ["kubeconfig text"]
    assert run.guest == reconcile.GuestNode(True, "ok")
    # The guest Node gets its role label (kubelets may not set it themselves).
    assert guest.applied[-1]["metadata"]["labels"] == {"node-role.kubernetes.io/worker": ""}


def test_a_control_plane_is_ready_only_when_its_api_server_is() -> None:
    kube = _ready_kube()
    kube.objects[("Secret", "demo-kubeconfig")] = {"data": {"value": _b64("kubeconfig text")}}
    guest = FakeKube(unready=["poststarthook/rbac/bootstrap-roles"])
    run = _run(kube)
    run.spec = spec("controlplane")
    guest.objects[("Node", run.spec.name)] = {
        "status": {"conditions": [{"type": "Ready", "status": "True", "message": "ok"}]}
    }
    run.guest_client = lambda _: guest  # type: ignore[assignment,return-value]
    reconcile.observe(run)
    assert run.guest == reconcile.GuestNode(
        False,
        "API server not ready: poststarthook/rbac/bootstrap-roles",
        api_unready=("poststarthook/rbac/bootstrap-roles",),
    )
    guest.unready = []
    reconcile.observe(run)
    assert run.guest == reconcile.GuestNode(True, "ok")


def test_observe_finds_a_simulated_host_by_its_label() -> None:
    kube = _ready_kube()
    kube.pods = [{"metadata": {"name": "p-1"}, "spec": {"nodeName": "kwok-1"}}]
    kube.objects[("Node", "kwok-1")] = {"metadata": {"labels": {"g8s.io/host": "simulated"}}}
    run = _run(kube, guest_checks=False)
    reconcile.observe(run)
    assert run.simulated_host == "kwok-1"
    kube.objects[("Node", "kwok-1")] = {"metadata": {"labels": {"g8s.io/host": "real"}}}
    reconcile.observe(run)
    assert run.simulated_host == ""


def test_a_host_is_read_once_for_all_the_looks_of_its_nodes() -> None:
    kube = _ready_kube()
    kube.pods = [{"metadata": {"name": "p-1"}, "spec": {"nodeName": "kwok-1"}}]
    kube.objects[("Node", "kwok-1")] = {"metadata": {"labels": {"g8s.io/host": "simulated"}}}
    run = _run(kube, guest_checks=False)
    run.host_kinds = kept(kube, "v1", "Node", host_kind)  # type: ignore[arg-type]
    for _ in range(3):
        reconcile.observe(run)
        assert run.simulated_host == "kwok-1"
    assert run.host_kinds.reads == 1


def test_observe_reports_an_unreachable_guest() -> None:
    kube = _ready_kube()
    run = _run(kube)
    run.guest_client = lambda _: FakeKube()  # type: ignore[assignment,return-value]
    reconcile.observe(run)
    assert run.guest is not None
    assert "demo-kubeconfig is missing" in run.guest.error


def _node(heartbeat: str, status: str = "True") -> dict[str, Any]:
    ready = {"type": "Ready", "status": status, "lastHeartbeatTime": heartbeat, "message": "ok"}
    return {"metadata": {"name": "n1"}, "status": {"conditions": [ready]}}


def _launcher_pod(started: str) -> dict[str, Any]:
    running = {"state": {"running": {"startedAt": started}}}
    return {"metadata": {"name": "p"}, "status": {"containerStatuses": [running]}}


def test_a_ready_node_reported_before_the_vm_started_is_not_ready() -> None:
    # A Node of the same name restored from a backup, or left by a replaced VM.
    started = reconcile.vm_started(_launcher_pod("2026-12-05T11:00:00Z"))
    assert started is not None
    stale = reconcile.node_condition(_node("2026-12-05T10:56:40Z"), "n1", started)
    assert stale.ready is False
    assert "before this VM started" in stale.message
    fresh = reconcile.node_condition(_node("2026-12-05T11:00:40Z"), "n1", started)
    assert (fresh.ready, fresh.message) == (True, "ok")
    # Within the clocks' skew the kubelet is believed.
    assert reconcile.node_condition(_node("2026-12-05T10:59:55Z"), "n1", started).ready is True
    # Without a running launcher there is nothing to compare with.
    assert reconcile.vm_started({"status": {"containerStatuses": [{"state": {}}]}}) is None
    assert reconcile.node_condition(_node("2026-12-05T10:56:40Z"), "n1", None).ready is True


def test_a_refresh_reads_the_kept_network_and_services_once() -> None:
    kube = _ready_kube()

    def fetch(kind: str) -> Callable[[str, str], dict[str, Any] | None]:
        return lambda namespace, name: kube.get(ObjectRef("v1", kind, name, namespace))

    run = _run(kube)
    run.networks = Watched(fetch("ClusterNetwork"), NETWORK_FIELDS, keep=lambda _: True)
    run.services = Watched(fetch("Service"), fields(("spec", "clusterIP")), keep=lambda _: True)
    for _ in range(2):
        reconcile.read_network(run)
        reconcile.read_host_services(run)
    assert kube.reads.count("ClusterNetwork/demo") == 1
    assert kube.reads.count("Service/demo-etcd") == 1
    assert kube.reads.count("Service/demo-apiserver") == 1
    assert run.network is not None
    assert str(run.network.subnet) == "10.100.3.0/24"
    assert run.hosts[reconcile.etcd_host(run.spec)] == "172.16.0.7"

"""The reconcile and release steps, run by the kit's step runner over in-memory adapters.

Covers: first issuance (Secret contents, labels, owner, CA Secret), no work when
up to date, renewal at the renewal time with the previous certificate revoked,
re-issue on a spec change, Vault unavailable (Secret kept, reason reported),
a TTL above the limit, the service-account key pair, an issuance interrupted
before or after Vault signed (a crash, a refused Secret write: the next run,
in a new process, signs the key the pending-key Secret kept, or delivers what
Vault signed for it; never a second signature for one revision), and release
(revoke; the PKI mount removed with the cluster's last Certificate only).
"""

import asyncio
import base64
import copy
from datetime import datetime
from typing import Any, cast

from cryptography import x509

from operators.certificates import reconcile as steps
from operators.certificates import status
from operators.certificates.children import REVISION_ANNOTATION
from operators.certificates.children.pending_key_secret import PENDING_LABEL
from operators.certificates.context import CertificatesContext, CertificatesSettings
from operators.certificates.metrics import CertificateMetrics
from operators.certificates.model import parse
from shared import logs
from shared.api import labels
from shared.api import serviceaccount as sa
from shared.identity import OperatorIdentity
from shared.kube import ObjectRef
from shared.metrics import OperatorMetrics
from shared.settings import RuntimeSettings
from shared.steps import Outcome, RetryPolicy, run_steps
from tests.unit.certificates.fakes import FakeKube, FakeVault, at, certificate_body

T0 = at(0)


CLUSTER_C1: dict[str, Any] = {
    "apiVersion": "g8s.io/v1alpha1",
    "kind": "Cluster",
    "metadata": {"name": "c1", "namespace": "ns1"},
}


class World:
    def __init__(self, vault: FakeVault | None = None, kube: FakeKube | None = None) -> None:
        self.vault = vault or FakeVault(T0)
        self.kube = kube or FakeKube()
        self.now = T0
        metrics = OperatorMetrics("certificates")
        self.ctx = CertificatesContext(
            identity=OperatorIdentity("certificates"),
            runtime=RuntimeSettings(),
            metrics=metrics,
            clock=lambda: self.now,
            settings=CertificatesSettings(vault_addr="fake", pki_max_ttl="8760h"),
            vault=cast(Any, self.vault),
            kube=cast(Any, self.kube),
            certificate_metrics=CertificateMetrics(metrics.registry),
        )
        self.kube.apply(CLUSTER_C1)

    def restarted(self) -> "World":
        """The same Vault and API server, seen by a new operator process."""
        return World(self.vault, self.kube).at(self.now)

    def at(self, moment: datetime) -> "World":
        self.now = moment
        self.vault.now = moment
        return self

    def reconcile(self, body: dict[str, Any]) -> tuple[steps.Run, Outcome]:
        spec = parse(body)
        run = steps.Run(spec=spec, body=body, ctx=self.ctx, now=self.now)
        outcome = asyncio.run(
            run_steps(
                steps.STEPS,
                run,
                kind="Certificate",
                metrics=self.ctx.metrics,
                log=logs.get_logger("test"),
                policy=RetryPolicy(),
            )
        )
        return run, outcome

    def release(
        self, body: dict[str, Any], owner_cluster: str = ""
    ) -> tuple[steps.Release, Outcome]:
        spec = body["spec"]
        job = steps.Release(
            body["metadata"]["namespace"],
            body["metadata"]["name"],
            spec["cluster"],
            spec["component"],
            self.ctx,
            node=spec.get("node", ""),
            secret_name=spec.get("secretName", ""),
            uid=body["metadata"].get("uid", ""),
            owner_cluster=owner_cluster,
        )
        outcome = asyncio.run(
            run_steps(
                steps.RELEASE_STEPS,
                job,
                kind="Certificate",
                metrics=self.ctx.metrics,
                log=logs.get_logger("test"),
                policy=RetryPolicy(),
            )
        )
        return job, outcome

    def secret(self, name: str, namespace: str = "ns1") -> dict[str, Any]:
        found = self.kube.objects.get(("Secret", namespace, name))
        assert found is not None, f"no Secret {namespace}/{name}"
        return found


def data(secret: dict[str, Any], key: str) -> bytes:
    return base64.b64decode(secret["data"][key])


PENDING = ("Secret", "ns1", "c1-api-pending-key")


def test_the_key_waits_in_a_pending_secret_only_while_vault_signs(body: dict[str, Any]) -> None:
    world = World()
    world.vault.lose_signatures = 1
    world.reconcile(body)
    pending = world.kube.objects[PENDING]
    assert pending["type"] == "Opaque"
    assert pending["metadata"]["labels"] == {labels.CLUSTER: "c1", PENDING_LABEL: "api"}
    assert pending["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    _, outcome = world.reconcile(body)
    assert outcome.ok, outcome.verdict
    assert PENDING not in world.kube.objects


def test_a_certificate_signed_before_a_crash_is_delivered_not_signed_again(
    body: dict[str, Any],
) -> None:
    world = World()
    world.vault.lose_signatures = 1
    _, lost = world.reconcile(body)
    assert not lost.ok
    assert world.vault.signed == 1
    assert ("Secret", "ns1", "c1-api") not in world.kube.objects
    key = data(world.kube.objects[PENDING], "tls.key")
    restarted = world.restarted()  # nothing of the first run is left in memory
    run, outcome = restarted.reconcile(body)
    assert outcome.ok, outcome.verdict
    assert world.vault.signed == 1
    assert run.resumed
    assert run.issued is not None
    assert run.issued.revision == 1
    secret = world.secret("c1-api")
    assert data(secret, "tls.key") == key
    assert (run.issued.certificate_pem or "?") in data(secret, "tls.crt").decode()
    assert PENDING not in world.kube.objects


def test_a_refused_secret_write_is_retried_with_the_certificate_already_signed(
    body: dict[str, Any],
) -> None:
    world = World()
    world.kube.refuse_tls_writes = 1
    first, refused = world.reconcile(body)
    assert not refused.ok
    assert ("Secret", "ns1", "c1-api") not in world.kube.objects
    assert first.state is None  # the status counts no revision that no Secret holds
    run, outcome = world.restarted().reconcile(body)
    assert outcome.ok, outcome.verdict
    assert world.vault.signed == 1
    assert run.issued is not None
    assert run.issued.revision == 1


def test_a_key_vault_never_signed_for_is_signed_on_the_next_run(body: dict[str, Any]) -> None:
    world = World()
    world.vault.refuse_signatures = 1  # the crash came before Vault signed
    _, failed = world.reconcile(body)
    assert not failed.ok
    assert world.vault.signed == 0
    key = data(world.kube.objects[PENDING], "tls.key")
    run, outcome = world.restarted().reconcile(body)
    assert outcome.ok, outcome.verdict
    assert run.resumed
    assert world.vault.signed == 1
    assert data(world.secret("c1-api"), "tls.key") == key


def test_an_interrupted_issuance_delivers_what_was_signed_then_issues_the_changed_spec(
    body: dict[str, Any],
) -> None:
    world = World()
    world.kube.refuse_tls_writes = 1
    world.reconcile(body)
    changed = {**body, "spec": {**body["spec"], "baseDomain": "c1.example.net"}}
    delivered, outcome = world.restarted().reconcile(changed)
    assert outcome.ok, outcome.verdict
    assert world.vault.signed == 1
    assert delivered.issued is not None
    assert delivered.issued.revision == 1
    changed["status"] = {"revision": 1}
    run, outcome = world.reconcile(changed)
    assert outcome.ok, outcome.verdict
    assert run.decision is not None
    assert run.decision.reason == "SpecChanged"
    assert run.issued is not None
    assert run.issued.revision == 2
    assert world.vault.signed == 2  # one per revision


def test_a_pending_key_left_by_a_delivered_revision_is_not_reused() -> None:
    body = certificate_body(ttl="30h", renewBefore="10h")
    world = World()
    world.reconcile(body)
    left = copy.deepcopy(world.kube.objects[("Secret", "ns1", "c1-api")])
    left["metadata"]["name"] = "c1-api-pending-key"
    left["metadata"]["labels"] = {PENDING_LABEL: "api"}
    left["metadata"]["ownerReferences"] = [{"uid": "uid-1", "controller": True}]
    world.kube.objects[PENDING] = left  # as if its deletion had failed
    run, outcome = world.at(at(20)).reconcile(body)
    assert outcome.ok, outcome.verdict
    assert run.issued is not None
    assert run.issued.revision == 2
    assert not run.resumed
    assert data(world.secret("c1-api"), "tls.key") != data(left, "tls.key")
    assert world.vault.signed == 2


def test_a_foreign_secret_at_the_pending_name_is_reported(body: dict[str, Any]) -> None:
    world = World()
    world.kube.apply(
        {"kind": "Secret", "metadata": {"name": "c1-api-pending-key", "namespace": "ns1"}}
    )
    _, outcome = world.reconcile(body)
    assert outcome.verdict is not None
    assert not outcome.verdict.retry
    assert outcome.verdict.reason == "SecretTaken"
    assert "c1-api-pending-key" in outcome.verdict.message
    assert world.vault.signed == 0


def test_first_run_issues_a_tls_secret(body: dict[str, Any]) -> None:
    world = World()
    run, outcome = world.reconcile(body)
    assert outcome.ok, outcome.verdict
    secret = world.secret("c1-api")
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["labels"][labels.CERTIFICATE] == "api"
    assert secret["metadata"]["labels"][labels.CLUSTER] == "c1"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    cert = x509.load_pem_x509_certificate(data(secret, "tls.crt"))
    ca = x509.load_pem_x509_certificate(data(secret, "ca.crt"))
    cert.verify_directly_issued_by(ca)
    assert b"PRIVATE KEY" in data(secret, "tls.key")
    ca_secret = world.secret("c1-ca")
    assert set(ca_secret["data"]) == {"ca.crt"}
    assert run.issued is not None
    assert run.issued.revision == 1
    report = status.report(
        run.spec, state=run.state, decision=run.decision, outcome=outcome, previous={}, now=T0
    )
    assert report.phase == "Issued"
    assert report.fields["revision"] == 1
    assert report.fields["serialNumber"] == run.issued.serial_number
    labels_ = {"namespace": "ns1", "name": "c1-api", "cluster": "c1", "component": "api"}
    registry = world.ctx.metrics.registry
    assert run.issued.not_after is not None
    expiry = registry.get_sample_value("g8s_certificate_expiry_timestamp_seconds", labels_)
    assert expiry == run.issued.not_after.timestamp()
    assert registry.get_sample_value("g8s_certificate_renewal_timestamp_seconds", labels_)
    assert registry.get_sample_value("g8s_certificate_issuances_total", labels_) == 1
    assert registry.get_sample_value("g8s_vault_up") == 1
    role = world.vault.roles[("pki-ns1-c1", "api")]
    assert "api.c1.example.org" in role.allowed_names
    assert role.server
    assert not role.client


def test_up_to_date_issues_nothing(body: dict[str, Any]) -> None:
    world = World()
    world.reconcile(body)
    run, outcome = world.at(at(1)).reconcile(body)
    assert outcome.ok
    assert run.decision is None
    assert world.vault.signed == 1


def test_a_secret_deleted_by_hand_is_reissued_with_the_next_revision() -> None:
    body = certificate_body()
    world = World()
    world.reconcile(body)
    world.kube.delete(ObjectRef("v1", "Secret", "c1-api", "ns1"))
    body["status"] = {"revision": 1}  # what the first reconcile reported
    run, outcome = world.reconcile(body)
    assert outcome.ok
    assert run.decision is not None
    assert run.decision.reason == "SecretMissing"
    assert run.issued is not None
    # One signature per revision, even when the Secret that counted them is gone.
    assert run.issued.revision == 2


def test_renewal_revokes_the_previous_certificate() -> None:
    body = certificate_body(ttl="30h", renewBefore="10h")
    world = World()
    first, _ = world.reconcile(body)
    assert first.issued is not None
    run, outcome = world.at(at(19)).reconcile(body)
    assert run.decision is None
    run, outcome = world.at(at(20)).reconcile(body)
    assert outcome.ok
    assert run.decision is not None
    assert run.decision.reason == "RenewalDue"
    assert run.issued is not None
    assert run.issued.revision == 2
    assert world.vault.revoked == [int(str(first.issued.serial_number).replace(":", ""), 16)]


def test_changed_spec_reissues() -> None:
    world = World()
    world.reconcile(certificate_body())
    run, outcome = world.reconcile(certificate_body(keyAlgorithm="RSA2048"))
    assert outcome.ok
    assert run.decision is not None
    assert run.decision.reason == "SpecChanged"
    key = data(world.secret("c1-api"), "tls.key")
    assert len(key) > 1000  # an RSA-2048 key in PEM


def test_vault_unavailable_keeps_the_secret(body: dict[str, Any]) -> None:
    world = World()
    world.reconcile(body)
    before = world.secret("c1-api")
    world.vault.down = True
    run, outcome = world.at(at(4000)).reconcile(body)
    assert not outcome.ok
    assert outcome.verdict is not None
    assert outcome.verdict.reason == "VaultUnavailable"
    assert outcome.verdict.retry
    assert world.secret("c1-api") == before
    assert world.ctx.metrics.registry.get_sample_value("g8s_vault_up") == 0
    report = status.report(
        run.spec,
        state=run.state,
        decision=run.decision,
        outcome=outcome,
        previous={"failedAttempts": 2},
        now=world.now,
    )
    assert report.fields["failedAttempts"] == 3
    assert report.fields["lastFailureTime"] == "2030-06-16T16:00:00Z"
    assert report.fields["nextAttemptTime"] > report.fields["lastFailureTime"]
    assert report.phase == "Renewing"


def test_ttl_above_the_limit_is_an_invalid_spec() -> None:
    world = World()
    _, outcome = world.reconcile(certificate_body(ttl="9000h"))
    assert outcome.verdict is not None
    assert not outcome.verdict.retry
    assert outcome.verdict.reason == "TTLExceedsLimit"
    assert "8760h" in outcome.verdict.message
    assert world.vault.signed == 0


def test_service_account_is_a_key_pair_without_vault() -> None:
    world = World()
    world.vault.down = True  # no Vault needed for a key pair
    body = certificate_body(component="service-account")
    body["metadata"]["name"] = "c1-service-account"
    _, outcome = world.reconcile(body)
    assert outcome.ok, outcome.verdict
    secret = world.secret("c1-service-account")
    assert b"PUBLIC KEY" in data(secret, "tls.pub")
    assert b"PRIVATE KEY" in data(secret, "tls.key")
    assert "tls.crt" not in secret["data"]


def test_the_service_account_key_pair_takes_each_rotation_step_once() -> None:
    world = World()
    body = certificate_body(component="service-account")
    body["metadata"]["name"] = "c1-service-account"
    world.reconcile(body)
    first = world.secret("c1-service-account")
    old_key, old_pub = data(first, "tls.key"), data(first, "tls.pub")

    def step(value: str) -> dict[str, Any]:
        body["metadata"].setdefault("annotations", {})[sa.ROTATION_ANNOTATION] = value
        _, outcome = world.reconcile(body)
        assert outcome.ok, outcome.verdict
        return world.secret("c1-service-account")

    added = step("Added/r1")
    assert data(added, "tls.key") == old_key
    assert sa.public_blocks(data(added, "tls.pub"))[0] == old_pub
    assert len(sa.public_blocks(data(added, "tls.pub"))) == 2
    following = data(added, "next.key")
    assert added["metadata"]["annotations"][sa.ROTATION_ANNOTATION] == "Added/r1"
    assert added["metadata"]["annotations"][REVISION_ANNOTATION] == "2"
    assert step("Added/r1") == added  # taken once
    assert step("Removed/r1") == added  # not before Switched

    switched = step("Switched/r1")
    assert data(switched, "tls.key") == following
    assert "next.key" not in switched["data"]
    assert sa.public_blocks(data(switched, "tls.pub"))[1] == old_pub

    removed = step("Removed/r1")
    assert sa.public_blocks(data(removed, "tls.pub")) == [
        sa.public_blocks(data(switched, "tls.pub"))[0]
    ]
    done = step("Done/r1")
    assert done["data"] == removed["data"]
    assert done["metadata"]["annotations"][REVISION_ANNOTATION] == "5"


def test_release_removes_the_mount_with_the_last_certificate() -> None:
    world = World()
    api = certificate_body()
    admin = certificate_body(component="admin")
    admin["metadata"]["name"] = "c1-admin"
    for body in (api, admin):
        world.kube.apply(body)
        world.reconcile(body)
    assert world.vault.mounts("pki") == ["pki-ns1-c1"]

    world.kube.delete(ObjectRef("g8s.io/v1alpha1", "Certificate", "c1-api", "ns1"))
    job, outcome = world.release(api)
    assert outcome.ok
    assert not job.torn_down
    assert len(world.vault.revoked) == 1
    assert world.vault.mounts("pki") == ["pki-ns1-c1"]

    world.kube.delete(ObjectRef("g8s.io/v1alpha1", "Certificate", "c1-admin", "ns1"))
    job, outcome = world.release(admin)
    assert outcome.ok
    assert job.torn_down
    assert world.vault.mounts("pki") == []
    assert ("Secret", "ns1", "c1-ca") not in world.kube.objects


def with_node_certificate(world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    """The cluster's API certificate and node c1-w-abcde's kubelet one, both issued."""
    api = certificate_body()
    node = certificate_body(component="node", node="c1-w-abcde")
    node["metadata"]["name"] = "c1-w-abcde-kubelet"
    for body in (api, node):
        world.kube.apply(body)
        _, outcome = world.reconcile(body)
        assert outcome.ok
    return api, node


def test_node_certificates_get_their_own_secret_and_role_which_release_removes() -> None:
    world = World()
    _, node = with_node_certificate(world)
    secret = world.secret("c1-w-abcde-kubelet")
    cert = x509.load_pem_x509_certificate(data(secret, "tls.crt"))
    assert cert.subject.rfc4514_string().startswith("CN=system:node:c1-w-abcde")
    role = world.vault.roles[("pki-ns1-c1", "node-c1-w-abcde")]
    # Vault puts the role's organisations into the subject.
    assert role.organizations == ("system:nodes",)
    assert role.allowed_names == ("system:node:c1-w-abcde", "c1-w-abcde")

    world.kube.delete(ObjectRef("g8s.io/v1alpha1", "Certificate", "c1-w-abcde-kubelet", "ns1"))
    job, outcome = world.release(node)
    assert outcome.ok
    assert ("pki-ns1-c1", "node-c1-w-abcde") not in world.vault.roles
    assert ("pki-ns1-c1", "api") in world.vault.roles
    assert not job.torn_down


def test_release_does_not_revoke_one_by_one_when_the_whole_cluster_goes() -> None:
    world = World()
    api, node = with_node_certificate(world)
    world.kube.objects[("Cluster", "ns1", "c1")]["metadata"]["deletionTimestamp"] = "2030-01-01"

    world.kube.delete(ObjectRef("g8s.io/v1alpha1", "Certificate", "c1-w-abcde-kubelet", "ns1"))
    job, outcome = world.release(node)
    assert outcome.ok
    assert job.cluster_going
    assert world.vault.revoked == []
    # The role goes with the mount, which the last Certificate removes.
    assert ("pki-ns1-c1", "node-c1-w-abcde") in world.vault.roles

    world.kube.delete(ObjectRef("g8s.io/v1alpha1", "Certificate", "c1-api", "ns1"))
    job, outcome = world.release(api)
    assert outcome.ok
    assert job.torn_down
    assert world.vault.revoked == []
    assert world.vault.mounts("pki") == []


def test_a_cluster_seen_going_is_not_read_again_for_the_certificates_it_owns() -> None:
    world = World()
    api, node = with_node_certificate(world)
    cluster = world.kube.objects[("Cluster", "ns1", "c1")]["metadata"]
    cluster["uid"] = "cluster-uid"
    cluster["deletionTimestamp"] = "2030-01-01"
    reads: list[str] = []
    get = world.kube.get

    def counting(ref: ObjectRef) -> dict[str, Any] | None:
        reads.append(ref.kind)
        return get(ref)

    world.kube.get = counting  # type: ignore[method-assign]
    job, outcome = world.release(node, owner_cluster="cluster-uid")
    assert outcome.ok
    assert job.cluster_going
    assert reads.count("Cluster") == 1
    assert world.ctx.going_clusters == {"cluster-uid"}
    world.kube.delete(ObjectRef("g8s.io/v1alpha1", "Certificate", "c1-w-abcde-kubelet", "ns1"))
    world.kube.delete(ObjectRef("g8s.io/v1alpha1", "Certificate", "c1-api", "ns1"))
    job, outcome = world.release(api, owner_cluster="cluster-uid")
    assert outcome.ok
    assert job.cluster_going
    assert job.torn_down
    assert reads.count("Cluster") == 1
    assert world.vault.revoked == []
    # Torn down: the uid is forgotten.
    assert world.ctx.going_clusters == set()
    # Another Cluster of the same name (another uid) is read, not taken for going.
    job, _ = world.release(api, owner_cluster="a-new-uid")
    assert reads.count("Cluster") == 2


def test_release_waits_for_vault() -> None:
    world = World()
    body = certificate_body()
    world.reconcile(body)
    world.vault.down = True
    _, outcome = world.release(body)
    assert outcome.verdict is not None
    assert outcome.verdict.retry
    assert outcome.verdict.reason == "VaultUnavailable"


def short_lived(name: str, uid: str, ttl: str = "2h") -> dict[str, Any]:
    body = certificate_body(component="admin", ttl=ttl, onExpiry="Delete", secretName=name)
    body["metadata"] |= {"name": name, "uid": uid, "creationTimestamp": "2030-01-01T00:00:00Z"}
    return body


def test_a_short_lived_certificate_is_deleted_at_its_end_and_not_revoked() -> None:
    world = World()
    body = short_lived("c1-kubeconfig-aaaaa", "uid-k")
    world.kube.apply(body)
    _, outcome = world.at(at(1)).reconcile(body)
    assert outcome.ok, outcome.verdict
    # Issued an hour in: its certificate ends with the Certificate, at 2 h.
    cert = x509.load_pem_x509_certificate(data(world.secret("c1-kubeconfig-aaaaa"), "tls.crt"))
    assert cert.not_valid_after_utc == at(2)
    # Never renewed: nothing is issued up to the end.
    signed = world.vault.signed
    _, outcome = world.at(at(1.9)).reconcile(body)
    assert outcome.ok
    assert world.vault.signed == signed
    # At the end, the Certificate is deleted; its release revokes nothing (expired).
    _, outcome = world.at(at(2)).reconcile(body)
    assert outcome.ok
    assert ("Certificate", "ns1", "c1-kubeconfig-aaaaa") not in world.kube.objects
    _, outcome = world.release(body)
    assert outcome.ok
    assert world.vault.revoked == []


def test_a_short_lived_certificate_deleted_early_is_revoked() -> None:
    world = World()
    body = short_lived("c1-kubeconfig-bbbbb", "uid-b")
    world.kube.apply(body)
    world.reconcile(body)
    world.kube.delete(ObjectRef("g8s.io/v1alpha1", "Certificate", "c1-kubeconfig-bbbbb", "ns1"))
    _, outcome = world.at(at(1)).release(body)
    assert outcome.ok
    assert len(world.vault.revoked) == 1


def test_a_secret_another_certificate_writes_is_refused_and_never_revoked() -> None:
    world = World()
    mine = short_lived("c1-kubeconfig-ccccc", "uid-c")
    world.kube.apply(mine)
    world.reconcile(mine)
    thief = short_lived("c1-kubeconfig-ccccc", "uid-t")
    thief["metadata"]["name"] = "c1-thief"
    _, outcome = world.reconcile(thief)
    assert outcome.verdict is not None
    assert outcome.verdict.reason == "SecretTaken"
    _, outcome = world.release(thief)
    assert outcome.ok
    assert world.vault.revoked == []


def test_the_ca_secret_is_written_once_per_bundle_and_again_after_a_while() -> None:
    world = World()
    api = certificate_body()
    admin = certificate_body(component="admin")
    admin["metadata"]["name"] = "c1-admin"
    world.kube.apply(api)
    world.reconcile(api)
    ca = ("Secret", "ns1", "c1-ca")
    written = world.kube.objects.pop(ca)  # deleted by hand, say
    world.kube.apply(admin)
    assert world.reconcile(admin)[1].ok
    assert ca not in world.kube.objects  # the same bundle: not written again at once
    world.at(T0 + steps.CA_SECRET_REWRITE)
    assert world.reconcile(admin)[1].ok
    assert world.kube.objects[ca]["data"] == written["data"]

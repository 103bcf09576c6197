"""The certificates operator's part of a CA rotation, over in-memory adapters.

Covers: Trusted delivers the bundle of both CAs without issuing; Reissued signs
every leaf with the new CA and revokes the old leaf; Dropped leaves the new CA
alone in every ca.crt and in the mount, the leaf kept; each phase made again
writes nothing; a phase asked out of order is refused and changes nothing; a
Certificate made mid-rotation (a new node's) gets the bundle too.
"""

import copy
from collections.abc import Mapping
from typing import Any

from cryptography import x509

from operators.certificates import handlers
from operators.certificates.model import parse
from shared.api import carotation
from tests.unit.certificates.fakes import at, certificate_body
from tests.unit.certificates.test_reconcile import World, data

MOUNT = "pki-ns1-c1"


def asking(body: dict[str, Any], phase: str, request: str = "r1") -> dict[str, Any]:
    asked = copy.deepcopy(body)
    annotations = asked["metadata"].setdefault("annotations", {})
    annotations[carotation.ROTATION_ANNOTATION] = carotation.Phase(phase, request).text()
    return asked


def worker_body() -> dict[str, Any]:
    body = certificate_body(component="worker")
    body["metadata"] |= {"name": "c1-worker", "uid": "uid-2"}
    return body


def trusted(world: World, secret: str) -> list[bytes]:
    return carotation.certificates_of(data(world.secret(secret), "ca.crt"))


def signer(world: World, secret: str) -> bytes | None:
    found = world.secret(secret)
    return carotation.signer_of(data(found, "tls.crt"), [data(found, "ca.crt")])


def serial(world: World, secret: str) -> int:
    return x509.load_pem_x509_certificate(data(world.secret(secret), "tls.crt")).serial_number


def reconciled(world: World, body: dict[str, Any]) -> Mapping[str, Any]:
    """The status fields the reconcile of ``body`` reports; it must succeed."""
    run, outcome = world.reconcile(body)
    assert outcome.ok, outcome.verdict
    return handlers.reconciler(world.ctx).report(parse(body), run, outcome).fields


def test_a_rotation_trusts_then_reissues_then_drops(body: dict[str, Any]) -> None:
    world = World()
    bodies = [body, worker_body()]
    for each in bodies:
        reconciled(world, each)
    (old,) = trusted(world, "c1-api")
    first_serial = serial(world, "c1-api")
    signed = world.vault.signed

    world.at(at(1))  # an hour later: the new CA is the younger
    for each in bodies:
        fields = reconciled(world, asking(each, carotation.TRUSTED))
        assert fields["caRotation"] == "Trusted/r1"
    issuers = world.vault.issuers(MOUNT)
    (new,) = carotation.certificates_of(issuers[carotation.issuer_name("r1")].encode())
    for secret in ("c1-api", "c1-worker", "c1-ca"):
        assert trusted(world, secret) == [old, new], secret
    assert world.vault.signed == signed  # nothing issued: only ca.crt changed
    assert serial(world, "c1-api") == first_serial
    assert signer(world, "c1-api") == old

    for each in bodies:
        reconciled(world, asking(each, carotation.REISSUED))
    assert world.vault.signed == signed + 2
    assert signer(world, "c1-api") == new
    assert signer(world, "c1-worker") == new
    assert trusted(world, "c1-api") == [old, new]  # a peer not yet reissued is still trusted
    assert first_serial in world.vault.revoked

    reissued_serial = serial(world, "c1-api")
    for each in bodies:
        reconciled(world, asking(each, carotation.DROPPED))
    for secret in ("c1-api", "c1-worker", "c1-ca"):
        assert trusted(world, secret) == [new], secret
    assert serial(world, "c1-api") == reissued_serial
    assert list(world.vault.issuers(MOUNT)) == [carotation.issuer_name("r1")]

    # Made again (a restart, a resync): nothing issued, no Secret changed.
    secrets = {name: copy.deepcopy(world.secret(name)) for name in ("c1-api", "c1-worker")}
    signed = world.vault.signed
    again = world.restarted()
    for each in bodies:
        reconciled(again, asking(each, carotation.DROPPED))
    assert {name: world.secret(name) for name in secrets} == secrets
    assert world.vault.signed == signed


def test_a_key_pair_delivers_every_phase_as_asked_and_keeps_its_key() -> None:
    """The service-account key pair has no CA: it reports each phase at once, so that
    the cluster operator does not wait on it, and is not issued again."""
    world = World()
    body = certificate_body(component="service-account")
    body["metadata"] |= {"name": "c1-service-account", "uid": "uid-3"}
    reconciled(world, body)
    key = data(world.secret("c1-service-account"), "tls.key")
    for phase in carotation.PHASES:
        assert reconciled(world, asking(body, phase))["caRotation"] == f"{phase}/r1"
    assert data(world.secret("c1-service-account"), "tls.key") == key


def test_a_phase_asked_out_of_order_is_refused_and_changes_nothing(body: dict[str, Any]) -> None:
    world = World()
    reconciled(world, body)
    before = copy.deepcopy(world.secret("c1-api"))
    _, outcome = world.reconcile(asking(body, carotation.DROPPED, "r2"))
    assert outcome.verdict is not None
    assert outcome.verdict.reason == "CARotationOutOfOrder"
    assert not outcome.verdict.retry
    assert "before Trusted" in outcome.verdict.message
    assert world.secret("c1-api") == before
    assert list(world.vault.issuers(MOUNT)) == ["root"]


def test_a_certificate_made_mid_rotation_trusts_both_cas(body: dict[str, Any]) -> None:
    """A new node's Certificate is not asked for the phase (the kvm operator makes
    it), yet its Secret trusts what every other consumer of the cluster trusts."""
    world = World()
    reconciled(world, asking(body, carotation.TRUSTED))
    reconciled(world, worker_body())
    assert len(trusted(world, "c1-worker")) == 2
    assert trusted(world, "c1-worker") == trusted(world, "c1-api")

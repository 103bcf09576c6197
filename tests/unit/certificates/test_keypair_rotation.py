"""operators/certificates/keypair_rotation.py: the service-account key pair through a rotation."""

from cryptography.hazmat.primitives.asymmetric import ec

from operators.certificates import keypair_rotation as rotation
from operators.certificates import keys
from shared.api import serviceaccount as sa


def pem() -> bytes:
    return keys.private_pem(ec.generate_private_key(ec.SECP256R1()))


def public(private_pem: bytes) -> bytes:
    return keys.public_pem(keys.load_private(private_pem))


def test_a_rotation_trusts_the_new_key_first_signs_with_it_then_drops_the_old() -> None:
    old, new = pem(), pem()
    start = {sa.SIGNING_KEY: old, sa.TRUSTED_KEYS: public(old)}

    added = rotation.step_data(start, sa.ADDED, new)
    assert added[sa.SIGNING_KEY] == old
    assert sa.public_blocks(added[sa.TRUSTED_KEYS]) == [public(old), public(new)]
    assert added[sa.NEXT_KEY] == new

    switched = rotation.step_data(added, sa.SWITCHED, pem())
    assert switched[sa.SIGNING_KEY] == new
    assert sa.public_blocks(switched[sa.TRUSTED_KEYS]) == [public(new), public(old)]
    assert sa.NEXT_KEY not in switched
    assert rotation.step_data(switched, sa.SWITCHED, pem()) == switched

    removed = rotation.step_data(switched, sa.REMOVED, pem())
    assert removed == {sa.SIGNING_KEY: new, sa.TRUSTED_KEYS: public(new)}
    assert rotation.step_data(removed, sa.DONE, pem()) == removed


def test_a_pair_written_before_bundles_is_read_as_trusting_its_own_key() -> None:
    old, new = pem(), pem()
    added = rotation.step_data({sa.SIGNING_KEY: old}, sa.ADDED, new)
    assert sa.public_blocks(added[sa.TRUSTED_KEYS]) == [public(old), public(new)]


def test_steps_follow_each_other_within_a_request() -> None:
    def step(name: str, request: str = "r1") -> sa.Step:
        return sa.Step(name, request)

    assert rotation.may_take(step(sa.ADDED), None)
    assert rotation.may_take(step(sa.ADDED, "r2"), step(sa.DONE))
    assert rotation.may_take(step(sa.ADDED, "r2"), step(sa.SWITCHED))  # a new request restarts
    assert not rotation.may_take(step(sa.ADDED), step(sa.ADDED))
    assert rotation.may_take(step(sa.SWITCHED), step(sa.ADDED))
    assert not rotation.may_take(step(sa.SWITCHED), None)
    assert not rotation.may_take(step(sa.SWITCHED), step(sa.ADDED, "r0"))
    assert not rotation.may_take(step(sa.REMOVED), step(sa.ADDED))
    assert rotation.may_take(step(sa.REMOVED), step(sa.SWITCHED))
    assert rotation.may_take(step(sa.DONE), step(sa.REMOVED))
    assert not rotation.may_take(step(sa.DONE), step(sa.DONE))

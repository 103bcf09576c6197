"""The certificates operator's part of a service-account key rotation: the Secret's data
after each step (shared/api/serviceaccount.py has the contract). Pure functions.
"""

from collections.abc import Mapping

from operators.certificates import keys
from shared.api import serviceaccount as sa

# Which step may follow which, within one request.
FOLLOWS = {sa.SWITCHED: sa.ADDED, sa.REMOVED: sa.SWITCHED, sa.DONE: sa.REMOVED}


def may_take(asked: sa.Step, reached: sa.Step | None) -> bool:
    """Whether the Secret, at ``reached``, may take step ``asked`` now.

    ``Added`` starts a request (after any finished or abandoned one); every
    other step follows its predecessor of the same request. A step already
    reached is not taken again.
    """
    if reached == asked:
        return False
    if asked.name == sa.ADDED:
        return reached is None or reached.request != asked.request
    return reached is not None and reached == sa.Step(FOLLOWS[asked.name], asked.request)


def _public(private_pem: bytes) -> bytes:
    return keys.public_pem(keys.load_private(private_pem))


def step_data(data: Mapping[str, bytes], step: str, new_key: bytes) -> dict[str, bytes]:
    """The key pair's data after ``step``; ``new_key`` (PEM) is used by ``Added`` only.

    ``data`` holds ``tls.key`` and ``tls.pub`` (and ``next.key`` after ``Added``).
    """
    signing = data[sa.SIGNING_KEY]
    trusted = sa.public_blocks(data.get(sa.TRUSTED_KEYS, b"")) or [_public(signing)]
    if step == sa.ADDED:
        added = _public(new_key)
        return {
            sa.SIGNING_KEY: signing,
            sa.TRUSTED_KEYS: b"".join([*trusted, added]),
            sa.NEXT_KEY: new_key,
        }
    if step == sa.SWITCHED:
        following = data.get(sa.NEXT_KEY)
        if not following:
            return dict(data)  # switched already
        first = _public(following)
        others = [block for block in trusted if block != first]
        return {sa.SIGNING_KEY: following, sa.TRUSTED_KEYS: b"".join([first, *others])}
    if step == sa.REMOVED:
        return {sa.SIGNING_KEY: signing, sa.TRUSTED_KEYS: _public(signing)}
    return dict(data)

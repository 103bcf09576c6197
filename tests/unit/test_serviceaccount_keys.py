"""shared/api/serviceaccount.py: key ids as the API server gives them, bundles, steps."""

import base64
import json

from cryptography.hazmat.primitives.asymmetric import ec

from operators.certificates import keys
from shared.api import serviceaccount as sa


def test_a_key_id_is_the_unpadded_base64url_sha256_of_the_der() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = keys.public_pem(key)
    kid = sa.key_id(pem)
    assert "=" not in kid
    assert len(kid) == 43  # 32 bytes, base64url without padding
    assert sa.key_id(pem) == kid
    assert sa.key_id(keys.public_pem(ec.generate_private_key(ec.SECP256R1()))) != kid


def test_a_bundle_keeps_its_keys_in_order() -> None:
    first, second = (keys.public_pem(ec.generate_private_key(ec.SECP256R1())) for _ in range(2))
    bundle = first + second
    assert sa.public_blocks(bundle) == [first, second]
    assert sa.trusted_ids(bundle) == [sa.key_id(first), sa.key_id(second)]
    assert sa.public_blocks(b"") == []


def test_jwks_and_token_headers_name_their_key() -> None:
    document = json.dumps({"keys": [{"kid": "a", "kty": "EC"}, {"kid": "b"}, {"kty": "RSA"}]})
    assert sa.jwks_ids(document) == {"a", "b"}
    header = base64.urlsafe_b64encode(json.dumps({"alg": "ES256", "kid": "k1"}).encode())
    token = header.decode().rstrip("=") + ".payload.signature"
    assert sa.token_key_id(token) == "k1"


def test_steps_parse_only_their_own_form() -> None:
    assert sa.parse_step("Added/r1") == sa.Step(sa.ADDED, "r1")
    assert sa.parse_step(sa.Step(sa.DONE, "2026-12-05T18-00-00Z-ab12").text()) == sa.Step(
        sa.DONE, "2026-12-05T18-00-00Z-ab12"
    )
    for value in (None, "", "Added", "Added/", "Later/r1", 3):
        assert sa.parse_step(value) is None


def test_the_public_key_of_a_private_one() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    assert sa.public_of(keys.private_pem(key)) == keys.public_pem(key)

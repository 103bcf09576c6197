"""The encryption keys' Secret data and the config made of them (shared/api/encryption.py)."""

import base64
import hashlib
import json

from shared.api import encryption
from shared.api.encryption import Key

K1 = base64.b64encode(b"1" * 32).decode()
K2 = base64.b64encode(b"2" * 32).decode()


def test_a_cluster_starts_with_one_key_named_key1() -> None:
    assert encryption.keys_of({"key": K1}) == (Key("key1", K1),)
    assert encryption.keys_of({}) == ()


def test_a_key_list_round_trips_and_replaces_the_single_key() -> None:
    keys = (Key("key2", K2), Key("key1", K1))
    data = encryption.data_of(keys)
    assert data["key"] is None  # a merge patch removes it
    stored = {k: v for k, v in data.items() if v is not None}
    assert encryption.keys_of({"key": K1, **stored}) == keys
    assert encryption.next_name(keys) == "key3"


def test_the_config_lists_the_keys_in_order_then_identity() -> None:
    keys = (Key("key2", K2), Key("key1", K1))
    providers = json.loads(encryption.document(keys))["resources"][0]["providers"]
    assert [k["name"] for k in providers[0]["secretbox"]["keys"]] == ["key2", "key1"]
    assert providers[-1] == {"identity": {}}


def test_the_hash_is_the_one_the_api_server_reports_for_the_file() -> None:
    keys = (Key("key1", K1),)
    expected = "sha256:" + hashlib.sha256(encryption.document(keys)).hexdigest()
    assert encryption.config_hash(keys) == expected
    assert encryption.config_hash(keys) != encryption.config_hash((Key("key2", K2),))
    assert encryption.storage_prefix(keys[0]) == b"k8s:enc:secretbox:v1:key1:"

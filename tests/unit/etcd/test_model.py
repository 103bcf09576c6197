"""Parsing an EtcdCluster: every field, the CRD's defaults, and bad input naming its field."""

from typing import Any

import pytest

from operators.etcd.model import parse
from shared.errors import InvalidSpec
from tests.unit.etcd.spec_fixtures import BODY, body


def test_full_spec() -> None:
    spec = parse(BODY)
    assert (spec.name, spec.namespace, spec.cluster) == ("demo", "ns", "demo")
    assert spec.replicas == 3
    assert spec.version == "3.6.4"
    assert spec.storage_size == "20Gi"
    assert spec.storage_class == "fast"
    assert (spec.resources.cpu, spec.resources.memory) == ("500m", "1Gi")
    assert (spec.tls.server, spec.tls.peer, spec.tls.client) == (
        "demo-etcd-server",
        "demo-etcd-peer",
        "demo-etcd-client",
    )
    assert spec.backup.keep == 3
    assert spec.backup.schedule_text == "0 */6 * * *"
    assert spec.backup.directory == "ns/demo"
    assert spec.backup.defrag_schedule is not None
    assert spec.restore is None
    assert spec.backup_request == ""


def test_defaults_match_the_crd() -> None:
    spec = parse(
        body(storage=None, resources=None, backup=None, defragmentation=None, version=None)
    )
    assert spec.version == "3.6.16"
    assert spec.storage_size == "10Gi"
    assert spec.storage_class is None
    assert (spec.resources.cpu, spec.resources.memory) == ("200m", "512Mi")
    assert spec.backup.keep == 7
    assert spec.backup.schedule_text == "0 */6 * * *"


def test_restore_and_backup_request() -> None:
    raw = body(restore={"location": "ns/old/20260501T000000Z.db", "checksum": "a" * 64})
    raw["metadata"]["annotations"] = {"g8s.io/backup-now": "before-upgrade"}
    spec = parse(raw)
    assert spec.restore is not None
    assert spec.restore.location == "ns/old/20260501T000000Z.db"
    assert spec.restore.checksum == "a" * 64
    assert spec.backup_request == "before-upgrade"


def test_store_path() -> None:
    spec = parse(body(backup={"store": {"type": "Filesystem", "path": "team-a/demo"}}))
    assert spec.backup.directory == "team-a/demo"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"replicas": 2}, "spec.replicas"),
        ({"replicas": 7}, "spec.replicas"),
        ({"replicas": "3"}, "spec.replicas"),
        ({"version": "v3.6.4"}, "spec.version"),
        ({"storage": {"sizeGiB": 0}}, "spec.storage.sizeGiB"),
        ({"resources": {"cpu": "lots"}}, "spec.resources.cpu"),
        ({"tls": {"serverSecretName": "s", "peerSecretName": "p"}}, "spec.tls.clientSecretName"),
        ({"backup": {"schedule": "every hour"}}, "spec.backup.schedule"),
        ({"backup": {"keep": 0}}, "spec.backup.keep"),
        ({"backup": {"store": {"path": "/abs"}}}, "spec.backup.store.path"),
        ({"backup": {"store": {"type": "S3"}}}, "spec.backup.store.type"),
        ({"defragmentation": {"schedule": "61 * * * *"}}, "spec.defragmentation.schedule"),
        ({"restore": {"location": "../etc/passwd.db"}}, "spec.restore.location"),
        ({"restore": {"location": "a/b.db", "checksum": "xyz"}}, "spec.restore.checksum"),
    ],
)
def test_bad_input_names_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse(body(**spec))
    assert caught.value.field == field

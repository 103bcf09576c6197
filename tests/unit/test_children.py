"""Child objects get the standard labels, the owner's namespace and an owner reference."""

from shared.children import owned

OWNER = {
    "apiVersion": "g8s.io/v1alpha1",
    "kind": "EtcdCluster",
    "metadata": {"name": "c1", "namespace": "ns", "uid": "u-1"},
}


def test_owned_stamps_labels_and_owner() -> None:
    child = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "c1-etcd", "labels": {"a": "b"}},
    }
    result = owned(child, owner=OWNER, operator="etcd", cluster="c1")
    meta = result["metadata"]
    assert meta["namespace"] == "ns"
    assert meta["labels"] == {
        "a": "b",
        "app.kubernetes.io/managed-by": "g8s-etcd",
        "g8s.io/cluster": "c1",
    }
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "g8s.io/v1alpha1",
            "kind": "EtcdCluster",
            "name": "c1",
            "uid": "u-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert "namespace" not in child["metadata"]  # the builder's dict is left alone


def test_standard_labels_override_conflicting_builder_labels() -> None:
    child = {"metadata": {"name": "x", "labels": {"g8s.io/cluster": "other"}}}
    assert (
        owned(child, owner=OWNER, operator="etcd", cluster="c1")["metadata"]["labels"][
            "g8s.io/cluster"
        ]
        == "c1"
    )

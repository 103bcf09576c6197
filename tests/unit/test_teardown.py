"""shared.teardown: an owner's tree found through owner references, deleted
foreground, and reported until nothing of it (nor its claims' volumes) is left."""

from typing import Any

from shared import teardown
from shared.api.labels import CLUSTER
from shared.kube import ObjectRef

OWNER = "uid-owner"


def obj(
    kind: str, name: str, uid: str, owner: str | None = None, *, deleting: bool = False
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": uid, "labels": {CLUSTER: "c1"}}
    if owner is not None:
        meta["ownerReferences"] = [{"uid": owner, "kind": "X", "name": "x"}]
    if deleting:
        meta["deletionTimestamp"] = "2030-01-01T00:00:00Z"
    return {"kind": kind, "metadata": meta}


def volume(name: str, claim: str, namespace: str = "ns1") -> dict[str, Any]:
    return {
        "kind": "PersistentVolume",
        "metadata": {"name": name, "uid": name},
        "spec": {"claimRef": {"namespace": namespace, "name": claim}},
    }


class Client:
    """Lists by kind (the selector is recorded, not applied); deletes are recorded."""

    def __init__(
        self,
        objects: list[dict[str, Any]],
        *,
        leaves_vanish: bool = False,
        gone_on_delete: bool = False,
    ) -> None:
        self.objects = objects
        # Deleted by someone else between the read and the DELETE (a 404).
        self.gone_on_delete = gone_on_delete
        self.reads = 0
        # Like the API server: an object deleted in the background without
        # finalizers is gone at once.
        self.leaves_vanish = leaves_vanish
        self.deleted: list[tuple[str, str, str]] = []
        self.selectors: set[str] = set()
        self.listed: list[str] = []

    def list(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None,
        selector: str = "",
        field_selector: str = "",
    ) -> list[dict[str, Any]]:
        self.selectors.add(selector)
        self.listed.append(kind)
        # Like the API server's list: items carry no kind.
        found = [o for o in self.objects if o["kind"] == kind]
        return [{k: v for k, v in o.items() if k != "kind"} for o in found]

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        self.reads += 1
        for o in self.objects:
            if o["kind"] == ref.kind and o["metadata"]["name"] == ref.name:
                return {k: v for k, v in o.items() if k != "kind"}
        return None

    def delete(self, ref: ObjectRef, *, propagation: str = "Background") -> bool:
        self.deleted.append((ref.kind, ref.name, propagation))
        if self.gone_on_delete:
            return False
        if self.leaves_vanish and propagation == "Background":
            self.objects = [
                o
                for o in self.objects
                if (o["kind"], o["metadata"]["name"]) != (ref.kind, ref.name)
            ]
        return True


KINDS = (
    ("apps/v1", "Deployment"),
    ("v1", "Secret"),
    *teardown.WORKLOAD_KINDS,
)


def scope(**kwargs: Any) -> teardown.Scope:
    return teardown.Scope("ns1", "c1", OWNER, KINDS, **kwargs)


def test_the_tree_follows_owner_references_to_the_pods_and_nothing_else() -> None:
    objects = [
        obj("Deployment", "vm", "d1", OWNER),
        obj("ReplicaSet", "vm-abc", "r1", "d1"),
        obj("Pod", "vm-abc-x", "p1", "r1"),
        obj("Deployment", "other", "d2", "uid-other"),
        obj("Pod", "other-x", "p2", "r-other"),
    ]
    found = teardown.tree(objects, OWNER)
    assert [o["metadata"]["name"] for o in found] == ["vm", "vm-abc", "vm-abc-x"]


def test_teardown_deletes_direct_children_foreground_and_reports_the_rest() -> None:
    client = Client(
        [
            obj("Deployment", "vm", "d1", OWNER),
            obj("ReplicaSet", "vm-abc", "r1", "d1"),
            obj("Pod", "vm-abc-x", "p1", "r1"),
            obj("Secret", "vm-ignition", "s1", OWNER, deleting=True),
            obj("Secret", "foreign", "s2", "uid-other"),
        ]
    )
    left = teardown.teardown(client, scope())
    # Only the owner's own children are deleted, each once: the garbage
    # collector takes the ReplicaSet and pod with the Deployment.
    assert client.deleted == [("Deployment", "vm", "Foreground")]
    assert set(left) == {
        "Deployment/vm (terminating)",
        "ReplicaSet/vm-abc",
        "Pod/vm-abc-x",
        "Secret/vm-ignition (terminating)",
    }
    assert client.selectors == {f"{CLUSTER}=c1"}


def test_children_with_dependents_go_foreground_leaves_at_once() -> None:
    deployment = obj("Deployment", "vm", "d1", OWNER)
    certificate = obj("Certificate", "vm-kubelet", "c1", OWNER)
    its_secret = obj("Secret", "vm-kubelet", "s1", "c1")
    leaf = obj("Secret", "vm-ignition", "s2", OWNER)
    tree = [deployment, certificate, its_secret, leaf]
    # A Deployment makes ReplicaSets that may not be listed yet: always foreground.
    assert teardown.propagation(deployment, tree) == "Foreground"
    assert teardown.propagation(certificate, tree) == "Foreground"
    # A leaf waits for no garbage collector.
    assert teardown.propagation(leaf, tree) == "Background"


def test_objects_known_by_name_are_read_one_by_one() -> None:
    # Secrets: an operator may read them by name, not list them.
    held = obj("ConfigMap", "vm-ignition", "s1", OWNER)
    held["metadata"]["finalizers"] = ["example.com/keep"]
    client = Client([held, obj("ConfigMap", "x", "s2")])
    named = (ObjectRef("v1", "ConfigMap", "vm-ignition", "ns1"),)
    left = teardown.teardown(client, teardown.Scope("ns1", "c1", OWNER, (), named))
    # A finalizer keeps it after the DELETE: still there, terminating.
    assert left == ("ConfigMap/vm-ignition (terminating)",)
    assert client.deleted == [("ConfigMap", "vm-ignition", "Background")]
    assert client.selectors == set()  # nothing listed


def test_a_leaf_gone_at_once_lets_the_owner_go_on_the_same_attempt() -> None:
    # Else every deletion handler would fail once and wait a retry for a Secret
    # that had long gone.
    named = (ObjectRef("v1", "Secret", "vm-kubelet", "ns1"),)
    client = Client([obj("Secret", "vm-kubelet", "s1", OWNER)], leaves_vanish=True)
    left = teardown.teardown(client, teardown.Scope("ns1", "c1", OWNER, (), named))
    assert client.deleted == [("Secret", "vm-kubelet", "Background")]
    assert left == ()
    # One read: the DELETE of a leaf without finalizers is its removal, not read again.
    assert client.reads == 1


def test_an_object_already_gone_when_deleted_is_not_left() -> None:
    named = (ObjectRef("v1", "Secret", "vm-kubelet", "ns1"),)
    client = Client([obj("Secret", "vm-kubelet", "s1", OWNER)], gone_on_delete=True)
    left = teardown.teardown(client, teardown.Scope("ns1", "c1", OWNER, (), named))
    assert client.deleted == [("Secret", "vm-kubelet", "Background")]
    assert left == ()


def test_a_released_volume_of_the_owners_claim_keeps_the_owner() -> None:
    client = Client(
        [
            volume("pv-1", "vm-disk"),
            volume("pv-2", "other-disk"),
            volume("pv-3", "vm-disk", namespace="ns2"),
        ]
    )
    left = teardown.teardown(client, scope(claims=lambda claim: claim == "vm-disk"))
    assert left == ("PersistentVolume/pv-1",)
    assert client.deleted == []  # the provisioner deletes released volumes
    # An owner without claims does not look at volumes at all.
    assert teardown.teardown(client, scope()) == ()


def claim(name: str, volume_name: str | None) -> dict[str, Any]:
    found = obj("PersistentVolumeClaim", name, f"uid-{name}", OWNER)
    found["spec"] = {"volumeName": volume_name} if volume_name else {}
    return found


def disk_scope() -> teardown.Scope:
    return scope(claims=lambda claim: claim == "vm-disk")


def test_a_bound_claims_volume_is_read_by_name_on_every_look_never_listed() -> None:
    # Listing every volume of the host cluster on every look of every owner
    # grew with the square of the clusters deleted at once.
    volumes = teardown.Volumes()
    client = Client(
        [claim("vm-disk", "pv-1"), volume("pv-1", "vm-disk"), volume("pv-2", "other-disk")],
        leaves_vanish=True,
    )
    assert teardown.teardown(client, disk_scope(), volumes) == ("PersistentVolume/pv-1",)
    assert client.deleted == [("PersistentVolumeClaim", "vm-disk", "Background")]
    # The claim is gone; its volume, released, is still read by the name it gave.
    assert teardown.teardown(client, disk_scope(), volumes) == ("PersistentVolume/pv-1",)
    client.objects = [o for o in client.objects if o["metadata"]["name"] != "pv-1"]
    assert teardown.teardown(client, disk_scope(), volumes) == ()
    assert "PersistentVolume" not in client.listed
    assert volumes.known == {}  # the owner has gone: nothing of it is kept


def test_a_first_look_with_no_claim_left_lists_the_volumes_once() -> None:
    # A process started after the claim went has no name to read the volume by.
    volumes = teardown.Volumes()
    client = Client([volume("pv-1", "vm-disk"), volume("pv-2", "other-disk")])
    assert teardown.teardown(client, disk_scope(), volumes) == ("PersistentVolume/pv-1",)
    assert teardown.teardown(client, disk_scope(), volumes) == ("PersistentVolume/pv-1",)
    assert client.listed.count("PersistentVolume") == 1
    # A volume whose name came back for another claim is not the owner's.
    client.objects = [volume("pv-1", "other-disk")]
    assert teardown.teardown(client, disk_scope(), volumes) == ()


def test_an_unbound_claim_lists_the_volumes_on_every_look() -> None:
    # Its volume may be made under a name no one knows yet.
    volumes = teardown.Volumes()
    held = claim("vm-disk", None)
    held["metadata"]["finalizers"] = ["kubernetes.io/pvc-protection"]
    client = Client([held, volume("pv-1", "vm-disk")])
    for _ in range(2):
        assert teardown.teardown(client, disk_scope(), volumes) == (
            "PersistentVolumeClaim/vm-disk (terminating)",
            "PersistentVolume/pv-1",
        )
    assert client.listed.count("PersistentVolume") == 2


def test_without_a_memory_every_look_lists_the_volumes() -> None:
    client = Client([claim("vm-disk", "pv-1"), volume("pv-1", "vm-disk")], leaves_vanish=True)
    for _ in range(2):
        assert teardown.teardown(client, disk_scope()) == ("PersistentVolume/pv-1",)
    # The first look reads it by its claim's name; the second, claim gone, lists.
    assert client.listed.count("PersistentVolume") == 1


def test_nothing_left_means_gone() -> None:
    client = Client([obj("Secret", "foreign", "s2", "uid-other")])
    assert teardown.teardown(client, scope()) == ()
    assert client.deleted == []


def test_the_scope_takes_the_cluster_from_the_spec_or_else_the_owners_label() -> None:
    body: dict[str, Any] = {
        "metadata": {"name": "n", "namespace": "ns1", "uid": OWNER, "labels": {CLUSTER: "c9"}},
        "spec": {"cluster": "c1"},
    }
    assert teardown.scope_of(body, KINDS).cluster == "c1"
    body["spec"] = {"cluster": 7}  # a spec that no longer parses
    assert teardown.scope_of(body, KINDS).cluster == "c9"
    body["metadata"]["labels"] = {}
    unknown = teardown.scope_of(body, KINDS)
    assert unknown.cluster is None
    client = Client([])
    teardown.teardown(client, unknown)
    assert client.selectors == {CLUSTER}  # every g8s object, narrowed by owner


def test_the_summary_names_a_few_and_counts_the_rest() -> None:
    left = [f"Pod/p{i}" for i in range(7)]
    assert teardown.summary(left) == (
        "waiting for 7 object(s) to be gone: Pod/p0, Pod/p1, Pod/p2, Pod/p3, Pod/p4 and 2 more"
    )

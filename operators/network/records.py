"""Allocation records kept in the API server: the ``RecordStore`` of production."""

from collections.abc import Mapping
from typing import Any

from operators.network.allocation import Held, Owner
from operators.network.children import record
from shared.errors import ApiError
from shared.kube import Kube, ObjectRef

HTTP_CONFLICT = 409


class KubeRecordStore:
    """Records as ConfigMaps in one namespace, created with create-only semantics."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace

    def create(self, kind: str, name: str, value: str, owner: Owner) -> bool:
        body = record.build(
            name=name,
            namespace=self.namespace,
            kind=kind,
            value=value,
            owner=(owner.namespace, owner.name, owner.uid),
        )
        try:
            self.kube.create(body)
        except ApiError as exc:
            if exc.status == HTTP_CONFLICT:
                return False
            raise
        return True

    def get(self, name: str) -> Held | None:
        found = self.kube.get(ObjectRef("v1", "ConfigMap", name, self.namespace))
        return None if found is None else _held(found)

    def held_by(self, uid: str) -> list[Held]:
        return [_held(item) for item in self._list(record.selector(owner_uid=uid))]

    def names(self, kind: str) -> set[str]:
        return {str(item["metadata"]["name"]) for item in self._list(record.selector(kind))}

    def every(self) -> list[Held]:
        """Every record, of every network."""
        return [_held(item) for item in self._list(record.selector())]

    def delete(self, name: str) -> None:
        self.kube.delete(ObjectRef("v1", "ConfigMap", name, self.namespace))

    def _list(self, selector: str) -> list[dict[str, Any]]:
        return self.kube.list("v1", "ConfigMap", namespace=self.namespace, selector=selector)


def _held(body: Mapping[str, Any]) -> Held:
    data = body.get("data") or {}
    meta = body["metadata"]
    return Held(
        name=str(meta["name"]),
        kind=str(data.get("kind", "")),
        value=str(data.get("value", "")),
        owner_uid=str(data.get("uid", "")),
    )

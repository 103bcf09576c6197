"""Builders of Cluster and child bodies, and an in-memory stand-in for ``shared.kube.Kube``."""

from __future__ import annotations

import builtins
import copy
from collections.abc import Mapping
from typing import Any, cast

from operators.cluster.model import ClusterSpec, parse
from shared.api import API_VERSION
from shared.errors import ApiError
from shared.kube import Kube, ObjectRef

UID = "uid-c1"


SERVICE_IP_PREFIX = "198.19.16."


def cluster_body(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Cluster",
        "metadata": {"name": "c1", "namespace": "ns", "uid": UID, "generation": 1},
        "spec": {"baseDomain": "c1.g8s.local", **spec},
    }


def cluster_spec(**spec: Any) -> ClusterSpec:
    return parse(cluster_body(**spec))


def ready(status: str = "True", reason: str = "Done", generation: int = 1) -> dict[str, Any]:
    return {
        "observedGeneration": generation,
        "conditions": [{"type": "Ready", "status": status, "reason": reason, "message": "m"}],
    }


def _controller(obj: Mapping[str, Any]) -> str | None:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return next((str(r.get("uid")) for r in refs if r.get("controller")), None)


class FakeKube:
    """Objects by (kind, namespace, name); apply merges like a forced server-side apply."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.deleted: list[str] = []
        self.listed: list[str] = []
        self.creates = 0
        self.clock = 0

    def _key(self, obj: Mapping[str, Any]) -> tuple[str, str, str]:
        meta = obj["metadata"]
        return (obj["kind"], str(meta.get("namespace")), meta["name"])

    def add(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        body = copy.deepcopy(dict(obj))
        self.clock += 1
        meta = body["metadata"]
        meta.setdefault("generation", 1)
        meta.setdefault("creationTimestamp", f"2026-01-01T00:00:{self.clock:02d}Z")
        if body.get("kind") == "Service":
            # As the API server does: a ClusterIP from the service range.
            body.setdefault("spec", {}).setdefault("clusterIP", f"{SERVICE_IP_PREFIX}{self.clock}")
        self.objects[self._key(body)] = body
        return body

    def apply(
        self,
        obj: Mapping[str, Any],
        *,
        subresource: str | None = None,
        current: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        key = self._key(obj)
        current = self.objects.get(key)
        if current is None:
            return self.add(obj)
        held, mine = _controller(current), _controller(obj)
        if held is not None and mine is not None and held != mine:
            # As the API server does: an object has one controller at most.
            raise ApiError(422, "Invalid", "Only one reference can have Controller set to true")
        merged = copy.deepcopy(current)
        for field, value in obj.items():
            if field == "metadata":
                merged["metadata"] = {**merged["metadata"], **copy.deepcopy(value)}
            else:
                merged[field] = copy.deepcopy(value)
        allocated = (current.get("spec") or {}).get("clusterIP")
        if allocated:
            # Server-side apply keeps what the API server allocated.
            merged["spec"].setdefault("clusterIP", allocated)
        self.objects[key] = merged
        return merged

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        if self._key(obj) in self.objects:
            raise ApiError(409, "AlreadyExists", "exists")
        self.creates += 1
        return self.add(obj)

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        return self.objects.get((ref.kind, str(ref.namespace), ref.name))

    def list(
        self, api_version: str, kind: str, *, namespace: str | None, selector: str = ""
    ) -> list[dict[str, Any]]:
        self.listed.append(kind)
        key, _, value = selector.partition("=")
        return [
            copy.deepcopy(o)
            for (k, ns, _), o in sorted(self.objects.items())
            if k == kind
            and ns == namespace
            and (not key or (o["metadata"].get("labels") or {}).get(key) == value)
        ]

    def delete(self, ref: ObjectRef) -> bool:
        self.deleted.append(f"{ref.kind}/{ref.name}")
        return self.objects.pop((ref.kind, str(ref.namespace), ref.name), None) is not None

    def patch(self, ref: ObjectRef, body: Mapping[str, Any]) -> dict[str, Any]:
        current = self.get(ref)
        if current is None:
            raise ApiError(404, "NotFound", "gone")
        # A JSON merge patch of annotations and data (None removes a key);
        # other metadata, such as ownerReferences, is replaced whole.
        meta = dict(body.get("metadata") or {})
        annotations = meta.pop("annotations", None) or {}
        current["metadata"].update(meta)
        for into, changes in (
            (current["metadata"].setdefault("annotations", {}), annotations),
            (current.setdefault("data", {}), body.get("data") or {}),
        ):
            for key, value in changes.items():
                if value is None:
                    into.pop(key, None)
                else:
                    into[key] = value
        return current

    def of(self, kind: str) -> builtins.list[dict[str, Any]]:
        return [o for (k, _, _), o in sorted(self.objects.items()) if k == kind]

    def as_kube(self) -> Kube:
        return cast(Kube, self)

"""``g8s plan``: what applying a Cluster manifest would do, before it is applied.

The manifest is applied as a server-side dry run (so the API server's
defaults, schema and CEL rules answer, and a refused field is reported as
the API server words it). Then the cluster operator's own reconcile steps
run against the result with a client whose reads are real and whose writes
are dry runs, recorded: the plan is exactly what the operator would write
next, each object as the API server would store it, compared with what is
stored now. Nothing is written. Secret data is never shown.

The plan stops where the operator would wait (a control plane not Ready
yet, a ClusterIP not allocated): later steps depend on what happens then.
"""

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import yaml

from operators.cluster import reconcile
from operators.cluster.model import parse
from shared.errors import InvalidSpec, Retry
from shared.kube import Kube, ObjectRef

CREATE, CHANGE, DELETE = "create", "change", "delete"
# What the API server sets or keeps for itself: never a difference of intent.
VOLATILE_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "generation",
    "selfLink",
)
HIDDEN = "(hidden)"


@dataclass(frozen=True)
class Change:
    verb: str
    kind: str
    name: str
    diff: tuple[str, ...] = ()

    def line(self) -> str:
        return f"{self.verb} {self.kind} {self.name}"


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    # Where the operator would stop and wait, and why.
    waits: str = ""

    def lines(self) -> list[str]:
        out: list[str] = []
        for change in self.changes:
            out.append(change.line())
            out.extend(f"    {d}" for d in change.diff)
        if not self.changes:
            out.append("no change")
        if self.waits:
            out.append(f"then the operator waits ({self.waits}); later steps depend on it")
        return out


def comparable(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    """``obj`` without what the API server keeps for itself, Secret data hidden."""
    if obj is None:
        return {}
    result = {k: v for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in VOLATILE_METADATA}
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if not k.startswith("kopf.zalando.org") and ".g8s.io/" not in k
    }
    meta["annotations"] = annotations
    result["metadata"] = {k: v for k, v in meta.items() if v not in ({}, [], None)}
    if obj.get("kind") == "Secret":
        for key in ("data", "stringData"):
            if key in result:
                result[key] = dict.fromkeys(result[key] or {}, HIDDEN)
    return result


def difference(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> Change | None:
    """The change from ``before`` (None: absent) to ``after``; None when they are the same."""
    meta = after["metadata"]
    old, new = comparable(before), comparable(after)
    if before is not None and old == new:
        return None
    if before is None:
        return Change(CREATE, after["kind"], meta["name"])
    lines = difflib.unified_diff(
        yaml.safe_dump(old, sort_keys=True).splitlines(),
        yaml.safe_dump(new, sort_keys=True).splitlines(),
        lineterm="",
        n=1,
    )
    shown = tuple(line for line in lines if not line.startswith(("---", "+++")))
    return Change(CHANGE, after["kind"], meta["name"], shown)


class DryRun:
    """The operator's client for a plan: real reads, dry-run writes, each recorded."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.changes: list[Change] = []

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        return self.kube.get(ref)

    def list(self, api_version: str, kind: str, **options: Any) -> list[dict[str, Any]]:
        return self.kube.list(api_version, kind, **options)

    def apply(
        self,
        obj: Mapping[str, Any],
        *,
        subresource: str | None = None,
        current: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Every child is dry-run applied: a plan shows what the API server would store
        (``current``, what the operator listed, is not enough to tell that)."""
        if subresource is not None:
            return dict(obj)  # status: the operator's report, not the plan
        meta = obj["metadata"]
        before = self.get(
            ObjectRef(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        )
        after = self.kube.apply(obj, dry_run=True)
        self._record(difference(before, after))
        return after

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        after = self.kube.create(obj, dry_run=True)
        self._record(difference(None, after))
        return after

    def delete(self, ref: ObjectRef, *, propagation: str = "Background") -> bool:
        found = self.get(ref) is not None
        if found:
            self._record(Change(DELETE, ref.kind, ref.name))
        return found

    def _record(self, change: Change | None) -> None:
        if change is not None and change not in self.changes:
            self.changes.append(change)


def plan(kube: Kube, manifest: Mapping[str, Any]) -> Plan:
    """What applying ``manifest`` (a Cluster) would change; raises ApiError when refused."""
    meta = manifest["metadata"]
    ref = ObjectRef(manifest["apiVersion"], manifest["kind"], meta["name"], meta.get("namespace"))
    before = kube.get(ref)
    after = kube.apply(manifest, dry_run=True)
    result = Plan()
    cluster_change = difference(before, after)
    if cluster_change is not None:
        result.changes.append(cluster_change)
    body = {**after, "status": (before or {}).get("status") or {}}
    # A Cluster not created yet has no uid for its children's owner references.
    body["metadata"] = {"uid": "not-created-yet", **after["metadata"]}
    client = DryRun(kube)
    try:
        run = reconcile.Run(parse(body), body, cast(Kube, client), new_key=lambda: bytes(32))
        for step in reconcile.STEPS:
            step.run(run)
    except (Retry, InvalidSpec) as exc:
        result.waits = str(exc)
    result.changes.extend(client.changes)
    return result


def load(text: str) -> dict[str, Any]:
    """The one Cluster in a manifest (YAML or JSON)."""
    documents: Sequence[Any] = [d for d in yaml.safe_load_all(text) if d]
    clusters = [d for d in documents if isinstance(d, dict) and d.get("kind") == "Cluster"]
    if len(clusters) != 1:
        raise ValueError(f"the manifest holds {len(clusters)} Clusters; plan takes exactly one")
    found = clusters[0]
    found.setdefault("metadata", {}).setdefault("namespace", "default")
    return dict(found)

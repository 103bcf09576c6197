"""Pausing: a paused object is observed but not reconciled.

See docs/design.md#status-and-conditions.
"""

from collections.abc import Mapping
from typing import Any

from shared.api import labels


def pause_reason(meta: Mapping[str, Any], spec: Mapping[str, Any] | None = None) -> str | None:
    """Why the object is paused, or None when it is not.

    ``g8s.io/paused: "true"`` pauses any g8s object; cluster-api's
    ``cluster.x-k8s.io/paused`` pauses by its mere presence (its value is
    ignored, as in cluster-api); ``spec.paused: true`` pauses a Cluster and,
    through the cluster operator, its children.
    """
    annotations: Mapping[str, str] = meta.get("annotations") or {}
    if annotations.get(labels.PAUSED, "").strip().lower() == "true":
        return f"annotation {labels.PAUSED} is true"
    if labels.CAPI_PAUSED in annotations:
        return f"annotation {labels.CAPI_PAUSED} is set"
    if spec is not None and spec.get("paused") is True:
        return "spec.paused is true"
    return None

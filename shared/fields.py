"""Reading typed values out of an object body, with errors a user understands.

The CRD schema rejects most bad input; these helpers catch what still gets
through (an old CRD, a hand-edited object) and raise ``InvalidSpec`` naming
the field, so the object gets a condition instead of the operator a crash.
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any

from shared.errors import InvalidSpec

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(path: str, text: str) -> float:
    """Seconds of a Go duration such as ``5m`` or ``1h30m`` (what the CRDs allow)."""
    position = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if not text or position != len(text):
        raise InvalidSpec(path, f"must be a duration such as 5m or 90s, got {text!r}")
    return total


def duration(body: Mapping[str, Any], path: str, *, default: str) -> float:
    """The Go duration at ``path`` in seconds."""
    return seconds(path, string(body, path, default=default))


def at(body: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """The value at dotted ``path`` (``spec.etcd.replicas``), or ``default``."""
    node: Any = body
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def integer(
    body: Mapping[str, Any],
    path: str,
    *,
    default: int | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    value = at(body, path, default)
    if value is None:
        raise InvalidSpec(path, "is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSpec(path, f"must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise InvalidSpec(path, f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise InvalidSpec(path, f"must be at most {maximum}, got {value}")
    return value


def string(
    body: Mapping[str, Any],
    path: str,
    *,
    default: str | None = None,
    choices: Sequence[str] = (),
) -> str:
    value = at(body, path, default)
    if value is None or value == "":
        raise InvalidSpec(path, "is required")
    if not isinstance(value, str):
        raise InvalidSpec(path, f"must be a string, got {value!r}")
    if choices and value not in choices:
        raise InvalidSpec(path, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def boolean(body: Mapping[str, Any], path: str, *, default: bool = False) -> bool:
    value = at(body, path, default)
    if not isinstance(value, bool):
        raise InvalidSpec(path, f"must be true or false, got {value!r}")
    return value


def strings(body: Mapping[str, Any], path: str) -> tuple[str, ...]:
    value = at(body, path, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidSpec(path, "must be a list of strings")
    return tuple(value)

"""A rotation's progress as an annotation holds it: ``<stage>/<request>``.

The service-account key rotation (its steps) and the CA rotation (its phases)
both write it; what the stages are is theirs.
"""

from collections.abc import Collection


def split(value: object, stages: Collection[str]) -> tuple[str, str] | None:
    """(stage, request) of ``value``; None for none, or for a value not of this form."""
    if not isinstance(value, str) or "/" not in value:
        return None
    name, request = value.split("/", 1)
    if name not in stages or not request:
        return None
    return name, request

"""Typed view of a ``Certificate``."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared import fields


@dataclass(frozen=True)
class CertificateSpec:
    name: str
    namespace: str
    cluster: str
    component: str


def parse(body: Mapping[str, Any]) -> CertificateSpec:
    return CertificateSpec(
        name=fields.string(body, "metadata.name"),
        namespace=fields.string(body, "metadata.namespace"),
        cluster=fields.string(body, "spec.cluster"),
        component=fields.string(body, "spec.component"),
    )

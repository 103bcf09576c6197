"""The phase lists of the API contract match the CRDs' status.phase enums."""

from pathlib import Path

import pytest
import yaml

from shared.api import phases
from shared.api.kinds import ALL_KINDS

CRDS = Path(__file__).resolve().parents[2] / "crds"


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.kind)
def test_phase_enum_matches_the_crd(kind: object) -> None:
    crd = yaml.safe_load((CRDS / f"{kind.crd_name}.yaml").read_text())  # type: ignore[attr-defined]
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    enum = schema["properties"]["status"]["properties"]["phase"]["enum"]
    assert tuple(enum) == phases.BY_KIND[kind.kind]  # type: ignore[attr-defined]


def test_kit_phases_exist_for_every_kind() -> None:
    for kind_phases in phases.BY_KIND.values():
        assert phases.PENDING in kind_phases
        assert phases.FAILED in kind_phases

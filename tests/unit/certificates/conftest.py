"""Fixtures of the certificates unit tests."""

from typing import Any

import pytest

from tests.unit.certificates.fakes import certificate_body


@pytest.fixture
def body() -> dict[str, Any]:
    return certificate_body()

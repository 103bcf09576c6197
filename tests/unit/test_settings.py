"""Typed settings from environment variables."""

from dataclasses import dataclass

import pytest

from shared.settings import RuntimeSettings, SettingsError, load


def test_defaults_when_nothing_is_set() -> None:
    assert load(RuntimeSettings, {}) == RuntimeSettings()


def test_each_type_is_parsed() -> None:
    settings = load(
        RuntimeSettings,
        {
            "G8S_NAMESPACES": "a, b,,c",
            "G8S_METRICS_PORT": "9100",
            "G8S_PEERING": "yes",
            "G8S_RETRY_DELAY": "0.5",
            "G8S_LOG_FORMAT": "json",
        },
    )
    assert settings.namespaces == ("a", "b", "c")
    assert settings.metrics_port == 9100
    assert settings.peering is True
    assert settings.retry_delay == 0.5
    assert settings.log_format == "json"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("G8S_METRICS_PORT", "ninety", "G8S_METRICS_PORT='ninety': expected a number"),
        ("G8S_PEERING", "maybe", "G8S_PEERING='maybe': expected true or false"),
        ("G8S_WORKER_THREADS", "-1", "G8S_WORKER_THREADS=-1: must be 0 (the default) or more"),
        ("G8S_API_BURST", "0", "G8S_API_BURST=0: must be 1 or more"),
        ("G8S_API_QPS", "-1", "G8S_API_QPS=-1.0: must be 0 (no limit) or more"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        load(RuntimeSettings, {variable: value})
    assert str(excinfo.value) == expected


def test_custom_prefix_and_class() -> None:
    @dataclass(frozen=True)
    class VaultSettings:
        vault_addr: str = "http://127.0.0.1:8200"
        timeout: float = 5.0

    settings = load(
        VaultSettings, {"G8S_CERTS_VAULT_ADDR": "http://vault:8200"}, prefix="G8S_CERTS_"
    )
    assert settings.vault_addr == "http://vault:8200"
    assert settings.timeout == 5.0


def test_unsupported_type_is_a_programming_error() -> None:
    @dataclass(frozen=True)
    class Odd:
        items: list[int] = None  # type: ignore[assignment]

    with pytest.raises(TypeError, match="unsupported"):
        load(Odd, {"G8S_ITEMS": "1"})

"""Typed settings read from environment variables.

An operator declares a frozen dataclass whose fields have defaults;
``load(SettingsClass, environ, prefix="G8S_")`` fills it from variables named
after the fields (``metrics_port`` <- ``G8S_METRICS_PORT``). Supported field
types: ``str``, ``int``, ``float``, ``bool`` and ``tuple[str, ...]`` (comma
separated). A malformed value fails at start-up with the variable's name,
never later in a handler.
"""

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """An environment variable holds a value its setting cannot take."""


@dataclasses.dataclass(frozen=True)
class RuntimeSettings:
    """Settings every operator shares (prefix ``G8S_``)."""

    # Namespaces to watch; empty means the whole cluster.
    namespaces: tuple[str, ...] = ()
    # Port of the Prometheus endpoint; 0 turns it off.
    metrics_port: int = 0
    metrics_address: str = "0.0.0.0"  # noqa: S104 - scraped from other pods
    # Port of kopf's liveness endpoint (/healthz); 0 turns it off.
    health_port: int = 0
    log_format: str = "auto"  # auto | json | console
    log_level: str = "INFO"
    # Peering lets two replicas run safely (one active); off for a single process.
    peering: bool = False
    # How often to look for children deleted while a watch was down
    # (shared.owners.sweep): one metadata listing per namespace and kind.
    sweep_interval: float = 60.0
    # Delay before retrying after an API conflict or a transient failure.
    retry_delay: float = 5.0
    # Longest delay of the exponential backoff after repeated failures.
    max_retry_delay: float = 300.0
    # Concurrency (docs/operations.md#concurrency-settings has how the defaults
    # were chosen). Threads the blocking steps (Kubernetes client, Vault) run
    # in; 0: the operator's own default (shared.runtime.run).
    worker_threads: int = 0
    # The operator's own requests to the API server (kopf's watches and its
    # finalizer and status patches are not counted): api_qps per second after
    # a burst of api_burst; 0 turns the limit off.
    api_qps: float = 500.0
    api_burst: int = 1000
    # A file: trace the heap from the start (tracemalloc, a diagnostic that
    # slows the process) and write its largest allocation sites there on
    # SIGUSR2 (shared.heap); empty: off.
    heap_trace: str = ""
    # A file: write where the resident memory is (shared.resident) there on
    # SIGUSR1; untraced and cheap, so a process at full speed can be asked.
    memory_report: str = ""

    def __post_init__(self) -> None:
        if self.worker_threads < 0:
            raise SettingsError(
                f"G8S_WORKER_THREADS={self.worker_threads}: must be 0 (the default) or more"
            )
        if self.api_burst < 1:
            raise SettingsError(f"G8S_API_BURST={self.api_burst}: must be 1 or more")
        if self.api_qps < 0:
            raise SettingsError(f"G8S_API_QPS={self.api_qps}: must be 0 (no limit) or more")


def load(cls: type[T], environ: Mapping[str, str], prefix: str = "G8S_") -> T:
    """Build ``cls`` from ``environ``; unset variables keep the field's default."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        variable = f"{prefix}{field.name.upper()}"
        if variable in environ:
            values[field.name] = _parse(variable, environ[variable], hints[field.name])
    return cls(**values)


def _parse(variable: str, raw: str, kind: Any) -> Any:
    value = raw.strip()
    if kind is str:
        return value
    if kind is bool:
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise SettingsError(f"{variable}={raw!r}: expected true or false")
    if kind is int or kind is float:
        try:
            return kind(value)
        except ValueError:
            raise SettingsError(f"{variable}={raw!r}: expected a number") from None
    if typing.get_origin(kind) is tuple and typing.get_args(kind) in ((str, ...),):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    raise TypeError(f"{variable}: unsupported setting type {kind!r}")

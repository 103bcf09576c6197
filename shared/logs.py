"""Logging, configured once per process before kopf starts.

structlog renders every record, including the standard-library records of
kopf and the kubernetes client, through one processor chain: JSON lines when
stderr is not a terminal (pods, CI), coloured key=value lines when it is.
Modules only call ``get_logger``.
"""

import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger


def _kopf_object(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """Lift kopf's per-object context (``k8s_ref`` on its log records) into fields."""
    record = event.get("_record")
    ref = getattr(record, "k8s_ref", None) if record is not None else None
    if isinstance(ref, dict):
        for key in ("kind", "namespace", "name"):
            if ref.get(key):
                event.setdefault(f"object_{key}", ref[key])
    return event


def wants_json(log_format: str, stream: TextIO) -> bool:
    if log_format == "json":
        return True
    if log_format == "console":
        return False
    if log_format != "auto":
        raise ValueError(f"log format {log_format!r}: expected auto, json or console")
    return not stream.isatty()


def configure(
    *, operator: str, log_format: str = "auto", level: str = "INFO", stream: TextIO | None = None
) -> None:
    out = stream if stream is not None else sys.stderr
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _kopf_object,
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if wants_json(log_format, out)
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _add_operator(operator),
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The kubernetes client logs request bodies at DEBUG, which may carry Secret data.
    logging.getLogger("kubernetes").setLevel(max(logging.INFO, root.level))
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def _add_operator(operator: str) -> Processor:
    def processor(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
        event.setdefault("operator", operator)
        return event

    return processor


def get_logger(logger_name: str, /, **context: Any) -> Any:
    return structlog.stdlib.get_logger(logger_name).bind(**context)

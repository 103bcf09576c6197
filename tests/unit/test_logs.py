"""Logging: JSON when not a terminal, kopf's stdlib records through the same processors."""

import io
import json
import logging

import pytest

from shared import logs


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_when_not_a_terminal_for_structlog_and_stdlib_records() -> None:
    stream = io.StringIO()
    logs.configure(operator="etcd", stream=stream)
    logs.get_logger("g8s.test", name="c1").info("hello", step="apply")
    kopf_logger = logging.getLogger("kopf.objects")
    kopf_logger.info(
        "Handler succeeded.",
        extra={"k8s_ref": {"kind": "EtcdCluster", "name": "c1", "namespace": "ns"}},
    )
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "hello"
    assert first["operator"] == "etcd"
    assert first["step"] == "apply"
    assert first["level"] == "info"
    assert second["event"] == "Handler succeeded."
    assert second["logger"] == "kopf.objects"
    assert second["operator"] == "etcd"
    assert second["object_name"] == "c1"
    assert second["object_kind"] == "EtcdCluster"


def test_console_on_a_terminal() -> None:
    stream = _Tty()
    logs.configure(operator="kvm", stream=stream)
    logs.get_logger("g8s.test").warning("careful")
    line = stream.getvalue()
    assert "careful" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_level_filters_and_bad_format_is_refused() -> None:
    stream = io.StringIO()
    logs.configure(operator="kvm", stream=stream, level="WARNING")
    logs.get_logger("g8s.test").info("quiet")
    assert stream.getvalue() == ""
    with pytest.raises(ValueError, match="log format"):
        logs.configure(operator="kvm", log_format="xml", stream=stream)

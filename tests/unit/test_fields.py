"""Typed reads of object fields raise InvalidSpec naming the field."""

import pytest

from shared import fields
from shared.errors import InvalidSpec

BODY = {
    "spec": {
        "replicas": 3,
        "name": "x",
        "flag": True,
        "list": ["a"],
        "bad": "3",
        "nested": {"v": 1},
    }
}


def test_reads() -> None:
    assert fields.integer(BODY, "spec.replicas", minimum=1, maximum=5) == 3
    assert fields.string(BODY, "spec.name") == "x"
    assert fields.boolean(BODY, "spec.flag") is True
    assert fields.strings(BODY, "spec.list") == ("a",)
    assert fields.at(BODY, "spec.nested.v") == 1
    assert fields.at(BODY, "spec.nested.missing", 9) == 9
    assert fields.integer(BODY, "spec.missing", default=2) == 2


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: fields.integer(BODY, "spec.bad"), "spec.bad: must be an integer, got '3'"),
        (
            lambda: fields.integer(BODY, "spec.replicas", maximum=1),
            "spec.replicas: must be at most 1, got 3",
        ),
        (lambda: fields.integer(BODY, "spec.flag"), "spec.flag: must be an integer, got True"),
        (lambda: fields.string(BODY, "spec.none"), "spec.none: is required"),
        (
            lambda: fields.string(BODY, "spec.name", choices=("a", "b")),
            "spec.name: must be one of a, b, got 'x'",
        ),
        (lambda: fields.boolean(BODY, "spec.name"), "spec.name: must be true or false, got 'x'"),
        (lambda: fields.strings(BODY, "spec.name"), "spec.name: must be a list of strings"),
    ],
)
def test_errors_name_the_field(call: object, message: str) -> None:
    with pytest.raises(InvalidSpec) as excinfo:
        call()  # type: ignore[operator]
    assert str(excinfo.value) == message


@pytest.mark.parametrize(
    ("text", "seconds"), [("0s", 0.0), ("90s", 90.0), ("1.5m", 90.0), ("250ms", 0.25)]
)
def test_durations(text: str, seconds: float) -> None:
    assert fields.seconds("f", text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "m5", "5 m", "5d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InvalidSpec, match="f: must be a duration"):
        fields.seconds("f", text)


def test_duration_reads_the_field_or_its_default() -> None:
    assert fields.duration({"spec": {"t": "1h30m"}}, "spec.t", default="5m") == 5400.0
    assert fields.duration({}, "spec.t", default="5m") == 300.0

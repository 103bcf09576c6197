"""Every operator has one shape (docs/design.md, "The shape of an operator").

Covered, for the five operators and the network host agent: the package has
the modules of that shape; ``__main__.main`` exists; ``context.load_settings``
reads the environment it is given (the variables the charts set) and
``handlers.register`` accepts what it returns; ``context.make_context`` takes
the kit's four arguments and builds an ``OperatorContext``. No API server:
``make_context`` is only inspected, since it connects.
"""

import importlib
import inspect
import typing
from pathlib import Path

import kopf
import pytest

from shared.runtime import OperatorContext

ROOT = Path(__file__).resolve().parents[2]
OPERATORS = ("cluster", "certificates", "etcd", "kvm", "network")
# Each program with the environment it needs to start (what its chart sets).
PROGRAMS = {
    **{f"operators.{name}": {} for name in OPERATORS},
    "operators.certificates": {"G8S_VAULT_ADDR": "http://vault:8200"},
    "operators.network.agent": {"G8S_AGENT_NODE_NAME": "host-0"},
}
MODULES = ("__init__", "__main__", "context", "handlers", "model", "reconcile", "status")


@pytest.mark.parametrize("name", OPERATORS)
def test_operator_package_has_the_shared_modules(name: str) -> None:
    package = ROOT / "operators" / name
    present = {p.stem for p in package.glob("*.py")}
    assert set(MODULES) <= present
    assert (package / "children" / "__init__.py").is_file()


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_entry_point_wires_settings_into_handlers_and_context(program: str) -> None:
    main = importlib.import_module(f"{program}.__main__")
    context = importlib.import_module(f"{program}.context")
    handlers = importlib.import_module(f"{program}.handlers")
    assert callable(main.main)
    settings = context.load_settings(PROGRAMS[program])
    handlers.register(kopf.OperatorRegistry(), settings)
    parameters = list(inspect.signature(context.make_context).parameters)
    assert parameters == ["identity", "runtime", "metrics", "settings"]
    built = typing.get_type_hints(context.make_context)["return"]
    assert issubclass(built, OperatorContext)
    if settings is not None:
        assert typing.get_type_hints(built)["settings"] is type(settings)

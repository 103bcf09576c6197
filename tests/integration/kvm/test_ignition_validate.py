"""The Ignition configs of both roles pass the official validator (coreos/ignition's
``validate`` command, built by .ci/install-ignition-validate.sh into .tools/bin).

Covers: exit code 0 and no error or warning for a worker and a control-plane
config as the operator renders them; a broken config (wrong spec version) is
rejected, so the check can fail.
"""

import json
import subprocess
from pathlib import Path

import pytest

from operators.kvm.children import ignition
from tests.localenv import BIN
from tests.unit.kvm.helpers import inputs, spec

VALIDATOR = BIN / "ignition-validate"


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    if not VALIDATOR.is_file():
        pytest.fail(
            f"{VALIDATOR} is missing; run `.ci/install-ignition-validate.sh` (make tools does it)",
            pytrace=False,
        )
    return subprocess.run(
        [str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("role", ["worker", "controlplane"])
def test_rendered_config_is_valid(role: str, tmp_path: Path) -> None:
    node = spec(role)
    path = tmp_path / f"{role}.ign"
    path.write_bytes(ignition.render(ignition.build(node, inputs(node))))
    result = _validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout
    assert "warning" not in result.stderr.lower(), result.stderr


def test_broken_config_is_rejected(tmp_path: Path) -> None:
    node = spec("worker")
    config = ignition.build(node, inputs(node))
    config["ignition"]["version"] = "9.9.9"
    config["storage"]["files"][0]["mode"] = "rw"
    path = tmp_path / "broken.ign"
    path.write_text(json.dumps(config))
    assert _validate(path).returncode != 0

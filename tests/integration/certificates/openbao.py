"""A non-dev OpenBao server whose state survives a restart, for the stop/restart test.

Integrated (raft) storage on one node, one unseal key: ``start`` launches it, ``initialize`` runs
``sys/init`` once, ``unseal`` unseals after every start. Plain HTTP calls, so
the test speaks to Vault the way any client would, not through our adapter.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests import localenv
from tests.localenv import free_port

CONFIG = """\
storage "raft" {{
  path = "{data}"
  node_id = "node1"
}}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  tls_disable = true
}}
api_addr = "http://127.0.0.1:{port}"
cluster_addr = "http://127.0.0.1:{cluster_port}"
"""


def request(addr: str, method: str, path: str, body: Any = None, token: str = "") -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{addr}/v1/{path}", data=data, method=method)  # noqa: S310
    if token:
        req.add_header("X-Vault-Token", token)
    with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310 - loopback
        text = response.read()
    return json.loads(text) if text else None


@dataclass
class PersistentBao:
    workdir: Path
    port: int = field(default_factory=free_port)
    cluster_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    root_token: str = ""
    unseal_key: str = ""

    @property
    def addr(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = localenv.BIN / "bao"
        if not os.access(binary, os.X_OK):
            raise AssertionError(f"{binary} is missing; run `make tools`")
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        config = self.workdir / "bao.hcl"
        config.write_text(
            CONFIG.format(
                data=self.workdir / "data", port=self.port, cluster_port=self.cluster_port
            )
        )
        with (self.workdir / "bao.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(binary), "server", f"-config={config}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "HOME": str(self.workdir)},
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                request(self.addr, "GET", "sys/seal-status")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise AssertionError(f"OpenBao did not answer on {self.addr}")

    def initialize(self) -> None:
        result = request(self.addr, "PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1})
        self.root_token = str(result["root_token"])
        self.unseal_key = str(result["keys"][0])

    def unseal(self) -> None:
        result = request(self.addr, "PUT", "sys/unseal", {"key": self.unseal_key})
        assert result["sealed"] is False, result
        # Raft elects the single node leader a moment after unsealing.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                request(self.addr, "GET", "sys/mounts", token=self.root_token)
                return
            except urllib.error.HTTPError:
                time.sleep(0.2)
        raise AssertionError(f"OpenBao at {self.addr} did not become active after unsealing")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

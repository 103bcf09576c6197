"""The Vault adapter's request bookkeeping (shared/vault.py): at most ``parallelism``
requests at once, and whether the last one got an answer."""

import threading
import time
from typing import Any

import pytest
import requests
from hvac import exceptions as hvac_errors

from shared.vault import TokenAuth, Vault, VaultRefused, VaultUnavailable


def test_requests_beyond_the_parallelism_wait_their_turn() -> None:
    # A token login sends nothing; the requests are the test's own functions.
    vault = Vault("http://127.0.0.1:9", TokenAuth(lambda: "token"), parallelism=3)
    lock = threading.Lock()
    inside = 0
    most = 0

    def request(_client: Any) -> str:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.02)
        with lock:
            inside -= 1
        return "ok"

    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(vault._call(request))) for _ in range(12)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["ok"] * 12
    assert most == 3


def test_the_session_keeps_a_connection_for_each_request_in_flight() -> None:
    vault = Vault("http://127.0.0.1:9", TokenAuth(lambda: "token"), parallelism=24)
    adapter = vault._client.adapter.session.get_adapter("http://127.0.0.1:9")
    assert adapter._pool_maxsize == 24


def test_answered_says_whether_the_last_request_reached_vault() -> None:
    vault = Vault("http://127.0.0.1:9", TokenAuth(lambda: "token"))
    assert vault.answered

    def unreachable(_client: Any) -> None:
        raise requests.ConnectionError("refused")

    def refused(_client: Any) -> None:
        raise hvac_errors.InvalidRequest("unknown role: api")

    with pytest.raises(VaultUnavailable):
        vault._call(unreachable)
    assert not vault.answered
    with pytest.raises(VaultRefused):
        vault._call(refused)
    assert vault.answered  # a refusal is an answer
    with pytest.raises(VaultUnavailable):
        vault._call(unreachable)
    assert vault._call(lambda _client: "ok") == "ok"
    assert vault.answered

"""Qmp.connect gives up on a socket that accepts but never greets (a real unix socket)."""

import asyncio
from pathlib import Path

import pytest

from shared.qemu import Qmp, QmpError


async def _connect_to(server_says: bytes, path: Path) -> str:
    accepted: list[asyncio.StreamWriter] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        writer.write(server_says)
        await writer.drain()

    server = await asyncio.start_unix_server(answer, path=str(path))
    try:
        with pytest.raises(QmpError) as refused:
            await Qmp.connect(str(path), greeting_wait=0.2)
    finally:
        server.close()
        for writer in accepted:
            writer.close()
    return str(refused.value)


def test_a_silent_socket_is_refused_after_the_greeting_wait(tmp_path: Path) -> None:
    message = asyncio.run(_connect_to(b"", tmp_path / "qmp.sock"))
    assert "no QMP greeting" in message


def test_a_peer_that_is_not_qemu_is_refused(tmp_path: Path) -> None:
    message = asyncio.run(_connect_to(b'{"hello": 1}\n', tmp_path / "qmp.sock"))
    assert "not a QMP greeting" in message

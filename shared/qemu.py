"""The QEMU adapter: QMP (the QEMU Machine Protocol) over a unix socket, with asyncio.

QMP is line-delimited JSON: a greeting, ``qmp_capabilities`` to leave
negotiation mode, then commands answered by ``return`` or ``error``, with
asynchronous ``event`` messages interleaved. Only this module speaks it.
"""

import asyncio
import contextlib
import json
from collections.abc import Mapping
from typing import Any

# QMP messages are small; a generous limit still bounds a broken peer.
_LIMIT = 1 << 20
# QEMU greets as soon as its main loop runs; a socket that accepts and stays
# silent is a QEMU stuck in start-up, and waiting on it would hang the caller.
GREETING_TIMEOUT = 10.0


class QmpError(Exception):
    """QEMU refused a command, or the connection broke."""


class Qmp:
    """One QMP session. Use ``await Qmp.connect(path)``; close with ``close()``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.events: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, path: str, *, greeting_wait: float = GREETING_TIMEOUT) -> "Qmp":
        try:
            reader, writer = await asyncio.open_unix_connection(path, limit=_LIMIT)
        except OSError as exc:
            raise QmpError(f"cannot connect to QMP socket {path}: {exc}") from exc
        session = cls(reader, writer)
        try:
            async with asyncio.timeout(greeting_wait):
                await session._negotiate()
        except TimeoutError:
            await session.close()
            raise QmpError(f"no QMP greeting on {path} within {greeting_wait:g} s") from None
        except QmpError:
            await session.close()
            raise
        return session

    async def _negotiate(self) -> None:
        greeting = await self._read()
        if "QMP" not in greeting:
            raise QmpError(f"not a QMP greeting: {greeting!r}")
        await self.execute("qmp_capabilities")

    async def _read(self) -> dict[str, Any]:
        line = await self._reader.readline()
        if not line:
            raise QmpError("QMP connection closed")
        message = json.loads(line)
        if not isinstance(message, dict):
            raise QmpError(f"unexpected QMP message: {message!r}")
        return message

    async def execute(self, command: str, arguments: Mapping[str, Any] | None = None) -> Any:
        request: dict[str, Any] = {"execute": command}
        if arguments:
            request["arguments"] = dict(arguments)
        self._writer.write(json.dumps(request).encode() + b"\n")
        await self._writer.drain()
        while True:
            message = await self._read()
            if "event" in message:
                self.events.append(message)
                continue
            if "error" in message:
                error = message["error"]
                raise QmpError(f"{command}: {error.get('class')}: {error.get('desc')}")
            return message.get("return")

    async def status(self) -> str:
        """The VM's run state (``running``, ``paused``, ``shutdown``...)."""
        result = await self.execute("query-status")
        return str(result.get("status", "unknown")) if isinstance(result, dict) else "unknown"

    async def powerdown(self) -> None:
        """Press the ACPI power button: the guest shuts itself down if it listens."""
        await self.execute("system_powerdown")

    async def quit(self) -> None:
        """End QEMU at once; the connection drops as it exits."""
        with contextlib.suppress(QmpError, ConnectionError):
            await self.execute("quit")

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()

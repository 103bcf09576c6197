"""Running one VM: QEMU as a child process, its console, readiness and shutdown.

The serial console (QEMU's stdout) is copied line by line to our stdout, so
the pod's log is the guest's console. ``/readyz`` answers 200 while QMP
reports the VM running. On SIGTERM the guest gets an ACPI power-down
through QMP; if QEMU has not exited after ``shutdown_timeout`` seconds, QMP
``quit`` (then SIGKILL) ends it. Our exit code is QEMU's.
"""

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

from operators.kvm.launcher import command
from operators.kvm.launcher.config import TCG, LauncherConfig
from shared import logs
from shared.qemu import Qmp, QmpError

QMP_WAIT = 10.0
KILL_GRACE = 5.0


class Launcher:
    def __init__(
        self,
        config: LauncherConfig,
        *,
        console: IO[bytes] | None = None,
        attach: Callable[[str, str], None] | None = None,
    ) -> None:
        self.config = config
        self._console = console or sys.stdout.buffer
        # Puts the tap device on the bridge (netlink); injected, so the
        # launcher itself needs no privileges to be tested without a network.
        self._attach = attach
        self._log = logs.get_logger("g8s.launcher", vm=config.name)
        self._qmp: Qmp | None = None
        self._stopping = asyncio.Event()
        self.ready = False

    def argv(self) -> list[str]:
        problem = "" if self.config.accel == TCG else command.kvm_usable(self.config.kvm_device)
        accel = command.choose_accel(self.config.accel, problem)
        # One line saying which accelerator and why; a warning when KVM was
        # hoped for and the VM runs many times slower without it.
        log = self._log.warning if accel.fallback else self._log.info
        log("accelerator", accel=accel.name, why=accel.why)
        return command.build(self.config, accel)

    async def run(self) -> int:
        Path(self.config.qmp_socket).parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.config.qmp_socket)
        argv = self.argv()
        self._log.info("starting qemu", argv=argv)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        pump = asyncio.create_task(self._pump(proc))
        server = await self._serve_ready()
        try:
            self._qmp = await self._connect_qmp(proc)
            if self._qmp is not None and self.config.bridge:
                tap = command.tap_name(self.config)
                if self._attach is not None:
                    await asyncio.to_thread(self._attach, tap, self.config.bridge)
                    self._log.info("tap attached", tap=tap, bridge=self.config.bridge)
            self.ready = self._qmp is not None and proc.returncode is None
            stop = asyncio.create_task(self._stopping.wait())
            exited = asyncio.create_task(proc.wait())
            await asyncio.wait({stop, exited}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            self.ready = False
            if proc.returncode is None:
                await self._shutdown(proc)
            code = await proc.wait()
        finally:
            # Never leave a VM behind when the launcher itself fails.
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            if server is not None:
                server.close()
            if self._qmp is not None:
                await self._qmp.close()
            await pump
        self._log.info("qemu exited", code=code)
        return code

    async def _pump(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            self._console.write(line)
            self._console.flush()

    async def _connect_qmp(self, proc: asyncio.subprocess.Process) -> Qmp | None:
        # QEMU creates the socket during start-up; wait for it without a
        # fixed sleep budget per try, giving up when QEMU dies or time is up.
        deadline = asyncio.get_running_loop().time() + QMP_WAIT
        while proc.returncode is None:
            try:
                return await Qmp.connect(self.config.qmp_socket)
            except QmpError:
                if asyncio.get_running_loop().time() > deadline:
                    self._log.error("no QMP socket", path=self.config.qmp_socket)
                    return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), timeout=0.05)
        return None

    async def _shutdown(self, proc: asyncio.subprocess.Process) -> None:
        timeout = self.config.shutdown_timeout
        self._log.info("powering down the guest", timeout=timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # The button is pressed again every powerdown_interval seconds: a
        # guest still booting (its ACPI listener not yet up) misses a press.
        while (left := deadline - loop.time()) > 0:
            if self._qmp is not None:
                try:
                    await self._qmp.powerdown()
                except QmpError as exc:
                    self._log.warning("powerdown failed", error=str(exc))
            wait = min(left, self.config.powerdown_interval or left)
            try:
                await asyncio.wait_for(proc.wait(), timeout=wait)
            except TimeoutError:
                continue
            self._log.info("guest powered down")
            return
        self._log.warning("guest did not power down in time, quitting qemu", timeout=timeout)
        if self._qmp is not None:
            await self._qmp.quit()
        try:
            await asyncio.wait_for(proc.wait(), timeout=KILL_GRACE)
        except TimeoutError:
            proc.kill()

    async def _serve_ready(self) -> asyncio.Server | None:
        if not self.config.ready_port:
            return None

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                request = await reader.readline()
                path = request.split(b" ")[1] if request.count(b" ") >= 2 else b""
                ok = path in (b"/readyz", b"/healthz") and (self.ready or path == b"/healthz")
                status = b"200 OK" if ok else b"503 Service Unavailable"
                body = b"ok\n" if ok else b"not ready\n"
                writer.write(
                    b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n"
                    b"Connection: close\r\n\r\n" + body
                )
                await writer.drain()
            finally:
                writer.close()

        return await asyncio.start_server(answer, self.config.ready_address, self.config.ready_port)

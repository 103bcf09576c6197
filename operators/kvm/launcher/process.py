"""Running one VM: QEMU as a child process, its console, readiness and shutdown.

The serial console (QEMU's stdout) is copied line by line to our stdout, so
the pod's log is the guest's console. ``/readyz`` answers 200 while QMP
reports the VM running. On SIGTERM the guest gets an ACPI power-down
through QMP; if QEMU has not exited after ``shutdown_timeout`` seconds, QMP
``quit`` (then SIGKILL) ends it. A QEMU that does not answer QMP at all
(stopped, or its main loop stuck) cannot hand the guest the button either:
it is killed at once rather than after the whole timeout, which the
kubelet's grace period would otherwise cut short. Our exit code is QEMU's, or
``START_FAILED`` when QEMU never answered on QMP or its tap could not be
put on the bridge: the launcher then ends QEMU itself, so the kubelet starts
the container again rather than leaving it unready.
"""

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from operators.kvm.launcher import command
from operators.kvm.launcher.config import TCG, LauncherConfig
from shared import logs
from shared.qemu import Qmp, QmpError

QMP_WAIT = 10.0
ATTACH_WAIT = 30.0
KILL_GRACE = 5.0
# A running QEMU answers a QMP command in milliseconds, even under emulation:
# its main loop, not the guest's vCPUs, answers.
QMP_ANSWER_WAIT = 10.0
# Our exit code when QEMU started but never became manageable (no QMP) or
# reachable (its tap not on the bridge); QEMU's own codes are 0 and 1.
START_FAILED = 3


class Launcher:
    def __init__(
        self,
        config: LauncherConfig,
        *,
        console: IO[bytes] | None = None,
        attach: Callable[[str, str], None] | None = None,
        attach_wait: float = ATTACH_WAIT,
    ) -> None:
        self.config = config
        self._console = console or sys.stdout.buffer
        # Puts the tap device on the bridge (netlink); injected, so the
        # launcher itself needs no privileges to be tested without a network.
        self._attach = attach
        self._attach_wait = attach_wait
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
            if self._qmp is None or not await self._attach_tap():
                # A VM that cannot be managed or reached is ended here, so
                # the kubelet restarts the container instead of the pod
                # sitting unready for ever.
                code = START_FAILED if proc.returncode is None else proc.returncode
            else:
                self.ready = proc.returncode is None
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

    async def _attach_tap(self) -> bool:
        if not self.config.bridge or self._attach is None:
            return True
        tap = command.tap_name(self.config)
        try:
            async with asyncio.timeout(self._attach_wait):
                await _in_daemon_thread(self._attach, tap, self.config.bridge)
        except TimeoutError:
            self._log.error("tap not attached in time", tap=tap, timeout=self._attach_wait)
            return False
        except Exception as exc:
            self._log.error("tap not attached", tap=tap, error=str(exc))
            return False
        self._log.info("tap attached", tap=tap, bridge=self.config.bridge)
        return True

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
                    async with asyncio.timeout(QMP_ANSWER_WAIT):
                        await self._qmp.powerdown()
                except QmpError as exc:
                    self._log.warning("powerdown failed", error=str(exc))
                except TimeoutError:
                    self._log.warning(
                        "qemu does not answer QMP, killing it", waited=QMP_ANSWER_WAIT
                    )
                    proc.kill()
                    return
            wait = min(left, self.config.powerdown_interval or left)
            try:
                await asyncio.wait_for(proc.wait(), timeout=wait)
            except TimeoutError:
                continue
            self._log.info("guest powered down")
            return
        self._log.warning("guest did not power down in time, quitting qemu", timeout=timeout)
        if self._qmp is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(QMP_ANSWER_WAIT):
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


async def _in_daemon_thread(call: Callable[[str, str], None], *args: str) -> None:
    """``call(*args)`` in a daemon thread; cancelling the wait leaves the thread behind.

    Not ``asyncio.to_thread``: its executor joins its threads when the loop
    closes, so a netlink call that never returns would keep the launcher
    from exiting at all.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if done.done():
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def work() -> None:
        error: BaseException | None = None
        try:
            call(*args)
        except BaseException as exc:
            error = exc
        # The loop is gone when the call returned only after the launcher gave up.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, error)

    threading.Thread(target=work, name="attach", daemon=True).start()
    await done

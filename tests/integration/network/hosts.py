"""Simulated hosts as real network namespaces, joined through an underlay bridge.

``hosts(count)`` makes one namespace per host plus an underlay namespace
holding a bridge; each host gets a veth pair (``u0`` inside the host, its
peer enslaved to the underlay bridge) with 192.0.2.<n>/24. Everything is
created with iproute2 (the test's own plumbing, not the code under test)
and deleted on exit; names carry a per-run suffix so parallel runs and
leftovers never collide.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

UNDERLAY = "u0"


class NetnsUnavailableError(RuntimeError):
    """iproute2 is missing or this process may not create network namespaces."""


@dataclass(frozen=True)
class SimHost:
    name: str
    netns: str
    vtep: str
    underlay: str = UNDERLAY


def ip(*args: str) -> str:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def in_netns(netns: str, *args: str) -> str:
    return ip("netns", "exec", netns, *args)


def check_available() -> None:
    if shutil.which("ip") is None:
        raise NetnsUnavailableError(
            "iproute2's `ip` is not installed (Debian package iproute2); "
            "the network tests need it to create namespaces"
        )
    if os.geteuid() != 0:
        raise NetnsUnavailableError("creating network namespaces needs root")


@contextlib.contextmanager
def hosts(count: int) -> Iterator[list[SimHost]]:
    check_available()
    run = uuid.uuid4().hex[:6]
    underlay = f"g8t-{run}-ul"
    created: list[str] = []
    try:
        ip("netns", "add", underlay)
        created.append(underlay)
        in_netns(underlay, "ip", "link", "add", "ulbr", "type", "bridge")
        in_netns(underlay, "ip", "link", "set", "ulbr", "up")
        result: list[SimHost] = []
        for n in range(1, count + 1):
            netns = f"g8t-{run}-h{n}"
            ip("netns", "add", netns)
            created.append(netns)
            peer = f"p{n}"
            in_netns(netns, "ip", "link", "add", UNDERLAY, "type", "veth", "peer", "name", peer)
            in_netns(netns, "ip", "link", "set", peer, "netns", underlay)
            in_netns(underlay, "ip", "link", "set", peer, "master", "ulbr", "up")
            vtep = f"192.0.2.{n}"
            in_netns(netns, "ip", "addr", "add", f"{vtep}/24", "dev", UNDERLAY)
            in_netns(netns, "ip", "link", "set", UNDERLAY, "up")
            in_netns(netns, "ip", "link", "set", "lo", "up")
            result.append(SimHost(f"host-{n}", netns, vtep))
        yield result
    finally:
        # Guests made by attach_guest carry the same run prefix.
        listed = subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, check=False
        )
        guests = [
            line.split()[0]
            for line in listed.stdout.splitlines()
            if line.startswith(f"g8t-{run}-") and line.split()[0] not in created
        ]
        for netns in [*guests, *reversed(created)]:
            subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)


def attach_guest(sim: SimHost, bridge: str, address: str, tag: str) -> str:
    """A guest (a VM's stand-in): a namespace on ``bridge`` of ``sim`` with ``address``."""
    guest = f"{sim.netns}-{tag}"
    ip("netns", "add", guest)
    inside, outside = f"gi{tag}", f"go{tag}"
    in_netns(sim.netns, "ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
    in_netns(sim.netns, "ip", "link", "set", inside, "netns", guest)
    in_netns(sim.netns, "ip", "link", "set", outside, "master", bridge, "up")
    in_netns(guest, "ip", "addr", "add", address, "dev", inside)
    in_netns(guest, "ip", "link", "set", inside, "mtu", "1450", "up")
    in_netns(guest, "ip", "link", "set", "lo", "up")
    return guest


RECEIVER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 5555))
s.settimeout(float(sys.argv[2]))
try:
    data, peer = s.recvfrom(100)
    print(data.decode(), peer[0])
except socket.timeout:
    print("TIMEOUT")
"""

SENDER = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(float(sys.argv[2]) * 10)):
    try:
        s.sendto(b"hello-g8s", (sys.argv[1], 5555))
    except OSError:
        pass
    time.sleep(0.1)
"""


def udp_exchange(sender: str, receiver: str, address: str, timeout: float = 3.0) -> str:
    """Send datagrams from netns ``sender`` to ``address`` in netns ``receiver``; what arrived."""
    listen = subprocess.Popen(
        ["ip", "netns", "exec", receiver, sys.executable, "-c", RECEIVER, address, str(timeout)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        subprocess.run(
            ["ip", "netns", "exec", sender, sys.executable, "-c", SENDER, address, str(timeout)],
            check=True,
            timeout=timeout + 10,
        )
        out, _ = listen.communicate(timeout=timeout + 10)
    finally:
        if listen.poll() is None:
            listen.kill()
            listen.wait()
    return out.strip()

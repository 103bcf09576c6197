"""The etcd adapter: the only kit module that imports aetcd (and its gRPC stack).

It speaks the etcd v3 API asynchronously: member list, per-member status
(leader, learner, database size, raft index), add a member as a learner,
promote it, remove it, snapshot, defragment, and a few key-value calls the
tests and benchmarks use.

aetcd 1.0.0's ``Client`` cannot add a learner or promote one (its
``add_member`` sends no ``isLearner``, it has no ``promote`` and its member
objects drop ``isLearner``) and it only opens plaintext channels. So this
adapter opens its own gRPC channel (plaintext or TLS with a client
certificate) and calls the etcd v3 stubs aetcd ships, generated from etcd's
``rpc.proto`` (``aetcd.rpc.ClusterStub.MemberAdd(isLearner=True)``,
``MemberPromote``, ``MaintenanceStub.Status/Snapshot/Defragment``). Every gRPC
failure surfaces as ``EtcdError`` so callers never see client-library types.
"""

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import grpc  # type: ignore[import-untyped]
from aetcd import rpc

T = TypeVar("T")

# A learner that is not yet in sync is refused promotion with this message.
_NOT_READY = "learner member which is not in sync with leader"


class EtcdError(Exception):
    """An etcd call failed; ``code`` is the gRPC status name (UNAVAILABLE, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def learner_not_ready(self) -> bool:
        return _NOT_READY in self.message


@dataclass(frozen=True)
class TLSMaterial:
    """PEM bytes for a TLS client connection (CA, client certificate and key)."""

    ca: bytes
    cert: bytes
    key: bytes = field(repr=False)


@dataclass(frozen=True)
class Member:
    id: int
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    learner: bool

    @property
    def hex_id(self) -> str:
        return f"{self.id:x}"


@dataclass(frozen=True)
class MemberStatus:
    """What one member says about itself (Maintenance.Status)."""

    member_id: int
    leader_id: int
    version: str
    db_size: int
    db_size_in_use: int
    raft_index: int
    raft_applied_index: int
    raft_term: int
    learner: bool
    errors: tuple[str, ...]

    @property
    def is_leader(self) -> bool:
        return self.member_id == self.leader_id


@dataclass(frozen=True)
class SnapshotInfo:
    revision: int
    size: int
    sha256: str


def endpoint_of(url: str) -> str:
    """``host:port`` of a client URL: ``https://m0.peer.ns.svc:2379`` -> ``m0.peer.ns.svc:2379``."""
    parts = urlsplit(url if "://" in url else f"//{url}")
    if not parts.hostname or not parts.port:
        raise ValueError(f"not an etcd client URL: {url!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{parts.port}"


def _code(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    if callable(code):
        name = getattr(code(), "name", None)
        if isinstance(name, str):
            return name
    return type(exc).__name__


def _details(exc: BaseException) -> str:
    details = getattr(exc, "details", None)
    if callable(details):
        text = details()
        if isinstance(text, str):
            return text
    return str(exc)


async def _guard(call: Awaitable[T]) -> T:
    try:
        return await call
    except rpc.AioRpcError as exc:
        raise EtcdError(_code(exc), _details(exc)) from None
    except TimeoutError:
        raise EtcdError("DEADLINE_EXCEEDED", "no answer in time") from None


def _member(raw: Any) -> Member:
    return Member(
        id=int(raw.ID),
        name=str(raw.name),
        peer_urls=tuple(raw.peerURLs),
        client_urls=tuple(raw.clientURLs),
        learner=bool(raw.isLearner),
    )


class _Endpoint:
    """One gRPC channel to one etcd endpoint, with the stubs used on it."""

    def __init__(self, target: str, tls: TLSMaterial | None, authority: str | None) -> None:
        options: list[tuple[str, Any]] = [("grpc.max_receive_message_length", 64 << 20)]
        if authority:
            # Members' certificates name the Service, not each pod's address.
            options.append(("grpc.ssl_target_name_override", authority))
        if tls is None:
            self.channel = rpc.insecure_channel(target, options=options)
        else:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=tls.ca, private_key=tls.key, certificate_chain=tls.cert
            )
            self.channel = rpc.secure_channel(target, credentials, options=options)
        self.kv = rpc.KVStub(self.channel)
        self.cluster = rpc.ClusterStub(self.channel)
        self.maintenance = rpc.MaintenanceStub(self.channel)

    async def close(self) -> None:
        await self.channel.close()


class EtcdClient:
    """An asyncio etcd v3 client over one or more endpoints (``host:port``).

    Cluster-wide calls (member list, add, promote, remove, key-value) go to
    the first endpoint that answers; per-member calls (status, defragment,
    snapshot) name their endpoint. Use it as ``async with EtcdClient(...)``.
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        tls: TLSMaterial | None = None,
        timeout: float = 5.0,
        server_name: str | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("at least one etcd endpoint is needed")
        self.endpoints = tuple(endpoints)
        self.timeout = timeout
        self._tls = tls
        self._server_name = server_name
        self._open: dict[str, _Endpoint] = {}

    async def __aenter__(self) -> "EtcdClient":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        endpoints, self._open = self._open, {}
        for endpoint in endpoints.values():
            await endpoint.close()

    def _at(self, endpoint: str) -> _Endpoint:
        if endpoint not in self._open:
            self._open[endpoint] = _Endpoint(endpoint, self._tls, self._server_name)
        return self._open[endpoint]

    async def _any(self, call: Callable[[_Endpoint], Awaitable[T]]) -> T:
        """``call`` on the first endpoint that answers; the last error if none does."""
        failure: EtcdError | None = None
        for endpoint in self.endpoints:
            try:
                return await _guard(call(self._at(endpoint)))
            except EtcdError as exc:
                if exc.code not in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
                    raise
                failure = exc
        assert failure is not None
        raise failure

    # Cluster membership.

    async def members(self, *, linearizable: bool = True) -> list[Member]:
        """The member list; ``linearizable=False`` is any member's own copy, which a
        member without a quorum still answers (it may be stale)."""
        request = rpc.MemberListRequest(linearizable=linearizable)
        response = await self._any(lambda e: e.cluster.MemberList(request, timeout=self.timeout))
        return [_member(raw) for raw in response.members]

    async def add_learner(self, peer_urls: Sequence[str]) -> Member:
        """Add a non-voting member; it becomes a voter only through ``promote``."""
        request = rpc.MemberAddRequest(peerURLs=list(peer_urls), isLearner=True)
        response = await self._any(lambda e: e.cluster.MemberAdd(request, timeout=self.timeout))
        return _member(response.member)

    async def promote(self, member_id: int) -> None:
        """Make a learner a voter; ``EtcdError.learner_not_ready`` while it catches up."""
        request = rpc.MemberPromoteRequest(ID=member_id)
        await self._any(lambda e: e.cluster.MemberPromote(request, timeout=self.timeout))

    async def remove(self, member_id: int) -> None:
        request = rpc.MemberRemoveRequest(ID=member_id)
        await self._any(lambda e: e.cluster.MemberRemove(request, timeout=self.timeout))

    # One member.

    async def status(self, endpoint: str) -> MemberStatus:
        at = self._at(endpoint)
        raw = await _guard(at.maintenance.Status(rpc.StatusRequest(), timeout=self.timeout))
        return MemberStatus(
            member_id=int(raw.header.member_id),
            leader_id=int(raw.leader),
            version=str(raw.version),
            db_size=int(raw.dbSize),
            db_size_in_use=int(raw.dbSizeInUse),
            raft_index=int(raw.raftIndex),
            raft_applied_index=int(raw.raftAppliedIndex),
            raft_term=int(raw.raftTerm),
            learner=bool(raw.isLearner),
            errors=tuple(raw.errors),
        )

    async def defragment(self, endpoint: str, *, deadline: float = 300.0) -> None:
        """Defragment one member; it blocks that member's reads and writes meanwhile."""
        at = self._at(endpoint)
        await _guard(at.maintenance.Defragment(rpc.DefragmentRequest(), timeout=deadline))

    async def snapshot(
        self,
        endpoint: str,
        write: Callable[[bytes], object],
        *,
        deadline: float = 600.0,
    ) -> SnapshotInfo:
        """Stream a snapshot of ``endpoint``'s database into ``write`` (chunk by chunk).

        The snapshot ends with etcd's own SHA-256 of the database, which
        ``etcdutl snapshot restore`` checks; the checksum returned here is of
        the whole stream, for the backup store to verify copies against.
        """
        at = self._at(endpoint)
        digest = hashlib.sha256()
        size = 0
        # etcd 3.6 leaves the revision out of the snapshot stream's headers:
        # the member's revision just before is a lower bound of the snapshot's.
        before = await _guard(
            at.kv.Range(
                rpc.RangeRequest(key=b"\0", range_end=b"\0", count_only=True, serializable=True),
                timeout=self.timeout,
            )
        )
        revision = int(before.header.revision)
        stream = at.maintenance.Snapshot(rpc.SnapshotRequest(), timeout=deadline)
        try:
            async for chunk in stream:
                blob = bytes(chunk.blob)
                digest.update(blob)
                size += len(blob)
                result = write(blob)
                if asyncio.iscoroutine(result):
                    await result
        except rpc.AioRpcError as exc:
            raise EtcdError(_code(exc), _details(exc)) from None
        return SnapshotInfo(revision=revision, size=size, sha256=digest.hexdigest())

    # Key-value (tests, benchmarks, health writes).

    async def put(self, key: bytes, value: bytes) -> int:
        request = rpc.PutRequest(key=key, value=value)
        response = await self._any(lambda e: e.kv.Put(request, timeout=self.timeout))
        return int(response.header.revision)

    async def get(self, key: bytes) -> bytes | None:
        request = rpc.RangeRequest(key=key)
        response = await self._any(lambda e: e.kv.Range(request, timeout=self.timeout))
        return bytes(response.kvs[0].value) if response.kvs else None

    async def get_prefix(self, prefix: bytes) -> dict[bytes, bytes]:
        request = rpc.RangeRequest(key=prefix or b"\0", range_end=_prefix_end(prefix))
        response = await self._any(lambda e: e.kv.Range(request, timeout=self.timeout))
        return {bytes(kv.key): bytes(kv.value) for kv in response.kvs}

    async def count_prefix(self, prefix: bytes) -> int:
        request = rpc.RangeRequest(
            key=prefix or b"\0", range_end=_prefix_end(prefix), count_only=True
        )
        response = await self._any(lambda e: e.kv.Range(request, timeout=self.timeout))
        return int(response.count)

    async def compact(self, revision: int) -> None:
        request = rpc.CompactionRequest(revision=revision, physical=True)
        await self._any(lambda e: e.kv.Compact(request, timeout=self.timeout))


def _prefix_end(prefix: bytes) -> bytes:
    """The range end that selects every key starting with ``prefix``."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"

"""A narrow, synchronous Kubernetes client for the operators.

It covers what operators do with child objects: server-side apply under the
operator's field manager, get, list by label, delete and status patches.
Every API failure surfaces as ``shared.errors.ApiError`` so that the error
policy never sees client-library types. The client is synchronous: call it
from sync handlers or through ``asyncio.to_thread`` (docs/design.md#how-the-code-reads).
"""

import json
import os
import ssl
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from kubernetes import client, config, dynamic
from kubernetes.client.exceptions import ApiException

from shared.errors import ApiError
from shared.kube.applied import Applied, key
from shared.kube.ratelimit import TokenBucket
from shared.kube.versions import Versions

T = TypeVar("T")
HTTP_OK = 200
HTTP_NOT_FOUND = 404
# The API server answers a listing with names and labels only (PartialObjectMetadataList).
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


def _as_parsed(_client: object, data: Any) -> Any:
    """The dynamic client's answer as the JSON it parsed.

    Its default wraps every answer in ``ResourceInstance`` objects, which
    ``to_dict()`` then turns back into the same dicts: about 8x the cost of
    parsing the JSON, a third of the cluster operator's CPU while many
    clusters were built (docs/performance.md).
    """
    return data


# Passed to every dynamic-client call: answers come back as plain dicts.
PLAIN = {"serializer": _as_parsed}


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    name: str
    namespace: str | None = None

    def body(self) -> dict[str, Any]:
        """The least body naming the object (for bookkeeping keyed by ``applied.key``)."""
        meta = {"name": self.name, "namespace": self.namespace}
        return {"apiVersion": self.api_version, "kind": self.kind, "metadata": meta}


# Connections kept open to the API server. The library's default (5 per CPU:
# 10 here) is below the threads an operator runs requests in (the certificates
# operator has 16), and every request beyond it opened a new TLS connection and
# threw it away ("Connection pool is full" in the log).
POOL_SIZE = 32


def pooled(threads: int = 0) -> client.Configuration:
    """A client configuration keeping a connection for each of ``threads`` (POOL_SIZE at least)."""
    configuration = client.Configuration()
    configuration.connection_pool_maxsize = max(POOL_SIZE, threads)
    return configuration


def connect(threads: int = 0) -> client.ApiClient:
    """An API client from the pod's service account, else from $KUBECONFIG."""
    configuration = pooled(threads)
    try:
        config.load_incluster_config(client_configuration=configuration)
        return client.ApiClient(configuration)
    except config.ConfigException:
        # The client library reads $KUBECONFIG once, at import; read it now.
        return config.new_client_from_config(
            config_file=os.environ.get("KUBECONFIG"), client_configuration=pooled(threads)
        )


def connect_kubeconfig(text: str) -> client.ApiClient:
    """An API client for the cluster a kubeconfig document (e.g. a Secret's) describes."""
    # The client library reads kubeconfigs from files only; the file is gone
    # once the client has loaded it (certificates are copied out at load).
    with tempfile.NamedTemporaryFile("w", suffix=".kubeconfig") as handle:
        handle.write(text)
        handle.flush()
        return config.new_client_from_config(config_file=handle.name)


@contextmanager
def _api_errors() -> Iterator[None]:
    try:
        yield
    except ApiException as exc:
        raise _to_api_error(exc) from None


def _to_api_error(exc: ApiException) -> ApiError:
    status = int(exc.status or 0)
    reason = str(exc.reason or "")
    message = reason
    if exc.body:
        try:
            message = str(json.loads(exc.body).get("message", reason))
        except (ValueError, AttributeError):
            message = str(exc.body)[:500]
    return ApiError(status, reason, message)


def failing_checks(readyz: str) -> tuple[str, ...]:
    """The names of the ``[-]`` lines of a verbose health endpoint's answer."""
    return tuple(
        line[3:].split(" ", 1)[0] for line in readyz.splitlines() if line.startswith("[-]")
    )


class Kube:
    """Server-side apply and friends, on behalf of one field manager."""

    def __init__(
        self,
        api_client: client.ApiClient,
        field_manager: str,
        *,
        limit: TokenBucket | None = None,
        versions: Versions | None = None,
    ) -> None:
        self._client = api_client
        self._dynamic = dynamic.DynamicClient(api_client)
        self.field_manager = field_manager
        self._applied = Applied()
        # Shared by every Kube of one operator on one API server (ratelimit.py).
        self.limit = limit or TokenBucket(qps=0, burst=1)
        # What the operator's watches saw of its children (versions.py), for ensure().
        self.versions = versions

    def as_manager(self, field_manager: str) -> "Kube":
        """A client on the same connections and request limit, applying as ``field_manager``."""
        return Kube(self._client, field_manager, limit=self.limit)

    def _resource(self, api_version: str, kind: str) -> Any:
        with _api_errors():
            return self._dynamic.resources.get(api_version=api_version, kind=kind)

    def _call(self, fn: Callable[[], T], what: str = "") -> T:
        """Send one request (``what``: its verb and kind, for the request counter)."""
        self.limit.take(what)
        with _api_errors():
            return fn()

    def apply(
        self,
        obj: Mapping[str, Any],
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        current: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Server-side apply ``obj`` (force: this operator owns the fields it sets).

        The same body applied again to an object that still holds it (nobody
        touched it, or only fields outside the body, such as its status) is
        not sent: a read replaces the write (``shared.kube.applied``), so
        resyncs at rest write nothing. ``current``, the object as the caller
        just listed it, replaces that read too. ``dry_run`` returns what the
        API server would store (defaults, validation, admission) and stores
        nothing.
        """
        if dry_run:
            return self._apply(obj, subresource, dry_run=True)
        if subresource is None and self._applied.same_body(obj):
            if current is not None and self._applied.untouched(obj, current):
                return dict(current)
            meta = obj["metadata"]
            ref = ObjectRef(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
            read = self.get(ref)
            if self.versions is not None:
                self.versions.renew(read or obj, gone=read is None)
            if read is not None and self._applied.untouched(obj, read):
                # The body is still there at this version: the next ensure()
                # compares the watch's version with this one.
                self._applied.remember(obj, read)
                return read
        result = self._apply(obj, subresource)
        if self.versions is not None:
            self.versions.wrote(key(obj))
        if subresource is None:
            self._applied.remember(obj, result)
        return result

    def ensure(self, obj: Mapping[str, Any]) -> None:
        """Apply ``obj`` as ``apply`` does, sending nothing when the watch says it is in place.

        For callers that need no answer. The body last applied, on an object
        the operator's watch (``versions``) last saw at the resourceVersion
        this client's own apply or read left it at, is still there: not even
        the read ``apply`` makes is sent. Without ``versions``, or when the
        watch saw a change, or saw nothing for a while, this is ``apply``.
        """
        if self.versions is not None:
            told = self.versions.current(key(obj))
            if told is not None and told == self._applied.version(obj):
                return
        self.apply(obj)

    def _apply(
        self, obj: Mapping[str, Any], subresource: str | None, *, dry_run: bool = False
    ) -> dict[str, Any]:
        meta = obj["metadata"]
        resource = self._resource(obj["apiVersion"], obj["kind"])
        kwargs: dict[str, Any] = {
            "body": dict(obj),
            "name": meta["name"],
            "field_manager": self.field_manager,
            "force_conflicts": True,
            **PLAIN,
        }
        if dry_run:
            kwargs["dry_run"] = "All"
        if meta.get("namespace"):
            kwargs["namespace"] = meta["namespace"]
        if subresource == "status":
            result = self._call(
                lambda: resource.status.server_side_apply(**kwargs), f"APPLY {obj['kind']}/status"
            )
        else:
            result = self._call(
                lambda: resource.server_side_apply(**kwargs), f"APPLY {obj['kind']}"
            )
        return dict(result)

    def create(self, obj: Mapping[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Create ``obj``, failing with ApiError 409 if the name is taken.

        Create-only semantics make the API server the arbiter of uniqueness:
        of two writers creating the same name, exactly one succeeds.
        """
        meta = obj["metadata"]
        resource = self._resource(obj["apiVersion"], obj["kind"])
        extra: dict[str, Any] = {"dry_run": "All"} if dry_run else {}
        result = self._call(
            lambda: resource.create(
                body=dict(obj), namespace=meta.get("namespace"), **extra, **PLAIN
            ),
            f"CREATE {obj['kind']}",
        )
        return dict(result)

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        resource = self._resource(ref.api_version, ref.kind)
        try:
            result = self._call(
                lambda: resource.get(name=ref.name, namespace=ref.namespace, **PLAIN),
                f"GET {ref.kind}",
            )
        except ApiError as exc:
            if exc.status == HTTP_NOT_FOUND:
                return None
            raise
        return dict(result)

    def read(self, ref: ObjectRef) -> dict[str, Any] | None:
        """``get``, sending nothing while the operator's watch (``versions``) has told
        of no change since this client last read the object.

        For the operator's own children, which its watches follow; any other
        object is read as ``get`` reads it, and so is every object without
        ``versions``.
        """
        if self.versions is None:
            return self.get(ref)
        least = ref.body()
        kept = self.versions.body(key(least))
        if kept is not None:
            return kept
        found = self.get(ref)
        if found is None:
            self.versions.renew(least, gone=True)
        else:
            self.versions.renew(found)
            self.versions.keep(found)
        return found

    def list(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None,
        selector: str = "",
        field_selector: str = "",
    ) -> list[dict[str, Any]]:
        resource = self._resource(api_version, kind)
        result = self._call(
            lambda: resource.get(
                namespace=namespace,
                label_selector=selector,
                field_selector=field_selector,
                **PLAIN,
            ),
            f"LIST {kind}",
        )
        return [dict(item) for item in result.get("items") or []]

    def names(self, api_version: str, kind: str, *, namespace: str) -> set[str]:
        """The names of the objects of ``kind`` in ``namespace``, from a metadata-only
        listing (no Secret data, no specs travel)."""
        resource = self._resource(api_version, kind)
        result = self._call(
            lambda: resource.get(
                namespace=namespace, header_params={"Accept": METADATA_LIST}, **PLAIN
            ),
            f"LIST {kind} (metadata)",
        )
        return {str(item["metadata"]["name"]) for item in result.get("items") or []}

    def evict(self, name: str, namespace: str) -> None:
        """Evict a pod through the Eviction API, which honours PodDisruptionBudgets.

        A budget that forbids the eviction now surfaces as ApiError 429.
        """
        core = client.CoreV1Api(self._client)
        body = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
        }
        self._call(
            lambda: core.create_namespaced_pod_eviction(name, namespace, body),  # type: ignore[arg-type]
            "CREATE Eviction",
        )

    def delete(self, ref: ObjectRef, *, propagation: str = "Background") -> bool:
        """Delete; False if it was already gone.

        ``propagation="Foreground"`` keeps the object (with a deletionTimestamp)
        until the garbage collector has removed its dependents (shared.teardown).
        """
        resource = self._resource(ref.api_version, ref.kind)
        try:
            self._call(
                lambda: resource.delete(
                    name=ref.name, namespace=ref.namespace, propagation_policy=propagation, **PLAIN
                ),
                f"DELETE {ref.kind}",
            )
        except ApiError as exc:
            if exc.status == HTTP_NOT_FOUND:
                return False
            raise
        finally:
            self._wrote(ref)
        return True

    def patch(self, ref: ObjectRef, body: Mapping[str, Any]) -> dict[str, Any]:
        """Merge-patch ``body`` into an existing object; ApiError 404 if it is gone.

        Unlike ``apply`` it never creates the object, which is what a write to
        someone else's object (an annotation on an owner) needs.
        """
        resource = self._resource(ref.api_version, ref.kind)
        result = self._call(
            lambda: resource.patch(
                name=ref.name,
                namespace=ref.namespace,
                body=dict(body),
                content_type="application/merge-patch+json",
                **PLAIN,
            ),
            f"PATCH {ref.kind}",
        )
        self._wrote(ref)
        return dict(result)

    def _wrote(self, ref: ObjectRef) -> None:
        if self.versions is not None:
            self.versions.wrote(key(ref.body()))

    def unready_checks(self) -> tuple[str, ...]:
        """The API server's failing readiness checks (``GET /readyz?verbose``); () when ready.

        A Node can be Ready while its API server is still running its start
        hooks, and one of them (RBAC bootstrap) stops the server when it does
        not finish in time: "serving" is not yet "ready".
        """
        request = self._client.param_serialize(
            "GET", "/readyz", query_params=[("verbose", "true")], auth_settings=["BearerToken"]
        )
        response = self._call(lambda: self._client.call_api(*request), "GET /readyz")
        with _api_errors():
            response.read()
        body = (response.data or b"").decode(errors="replace")
        if response.status == HTTP_OK:
            return ()
        failing = failing_checks(body)
        if failing:
            return failing
        raise ApiError(response.status, str(response.reason or ""), body[:500])

    def service_account_token(self, name: str, namespace: str, seconds: int = 600) -> str:
        """A new token of ServiceAccount ``namespace/name`` (a TokenRequest), for the
        API server's own audiences; 600 s is the shortest the API server issues."""
        core = client.CoreV1Api(self._client)
        body = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=seconds)
        )
        answer = self._call(
            lambda: core.create_namespaced_service_account_token(name, namespace, body),
            "CREATE TokenRequest",
        )
        if answer.status is None or not answer.status.token:
            raise ApiError(
                HTTP_OK, "NoToken", f"the TokenRequest of {namespace}/{name} gave no token"
            )
        return str(answer.status.token)

    def server_certificate(self, timeout: float = 10.0) -> bytes:
        """The PEM certificate the API server presents, not verified: for a caller that
        asks who signed it (a CA rotation), not for trust."""
        url = urlsplit(str(self._client.configuration.host))
        port = url.port or 443
        return ssl.get_server_certificate((url.hostname or "", port), timeout=timeout).encode()

    def get_raw(self, path: str) -> str:
        """The body of ``GET path`` (a non-resource path such as ``/metrics``)."""
        request = self._client.param_serialize("GET", path, auth_settings=["BearerToken"])
        response = self._call(lambda: self._client.call_api(*request), f"GET {path}")
        with _api_errors():
            response.read()
        body = (response.data or b"").decode(errors="replace")
        if response.status != HTTP_OK:
            raise ApiError(response.status, str(response.reason or ""), body[:500])
        return body

    def patch_status(self, ref: ObjectRef, status: Mapping[str, Any]) -> dict[str, Any]:
        """Merge-patch ``status`` (for writes outside a kopf handler's own patch)."""
        resource = self._resource(ref.api_version, ref.kind)
        result = self._call(
            lambda: resource.status.patch(
                name=ref.name,
                namespace=ref.namespace,
                body={"status": dict(status)},
                content_type="application/merge-patch+json",
                **PLAIN,
            ),
            f"PATCH {ref.kind}/status",
        )
        return dict(result)

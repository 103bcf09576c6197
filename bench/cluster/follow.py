"""The benchmark's view of its Clusters: one list-and-watch per namespace.

The benchmark used to list its Clusters every second, which costs the API
server a serialisation of every Cluster each time: at 1,000 Clusters that is
a load on the machine that grows with the count and skews what it measures.
A watch costs what changes, and tells the time of each change to within the
event's delivery rather than a poll's second.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from shared.api.kinds import CLUSTER
from tests.e2e.cluster.helpers import is_ready, observed

HTTP_GONE = 410
# A watch ends after this long on the server's side and is started again, so a
# stop request is noticed within it.
WATCH_SECONDS = 5

Key = tuple[str, str]  # (namespace, name)


@dataclass
class Clusters:
    """What the watches have seen: when each Cluster was first Ready, which are there."""

    ready: dict[Key, float] = field(default_factory=dict)  # time.monotonic()
    present: set[Key] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def seen(self, item: dict[str, Any]) -> None:
        meta = item["metadata"]
        key = (meta["namespace"], meta["name"])
        with self.lock:
            self.present.add(key)
            if is_ready(item) and observed(item):
                self.ready.setdefault(key, time.monotonic())

    def gone(self, key: Key) -> None:
        with self.lock:
            self.present.discard(key)
            self.ready.pop(key, None)

    def listed(self, namespace: str, items: Sequence[dict[str, Any]]) -> None:
        """A fresh listing of ``namespace``: what it lacks is gone."""
        names = {(namespace, item["metadata"]["name"]) for item in items}
        with self.lock:
            stale = [k for k in self.present if k[0] == namespace and k not in names]
        for key in stale:
            self.gone(key)
        for item in items:
            self.seen(item)

    def ready_since(self, namespace: str, names: Sequence[str], since: float) -> dict[str, float]:
        """Seconds from ``since`` to Ready, of those of ``names`` that are Ready."""
        with self.lock:
            return {
                name: self.ready[(namespace, name)] - since
                for name in names
                if (namespace, name) in self.ready
            }

    def names_in(self, namespace: str) -> list[str]:
        """The Clusters of ``namespace`` that are there, by name."""
        with self.lock:
            return sorted(name for ns, name in self.present if ns == namespace)

    def count_in(self, namespaces: Sequence[str]) -> int:
        with self.lock:
            return sum(1 for namespace, _ in self.present if namespace in namespaces)


def _follow(
    api: client.CustomObjectsApi, namespace: str, seen: Clusters, stop: threading.Event
) -> None:
    def lister(**kwargs: Any) -> Any:
        return api.list_namespaced_custom_object(
            CLUSTER.group, CLUSTER.version, namespace, CLUSTER.plural, **kwargs
        )

    version = ""  # where the next watch starts; "" lists first
    while not stop.is_set():
        try:
            if not version:
                listed = json.loads(lister(_preload_content=False).data)
                seen.listed(namespace, listed["items"])
                version = listed["metadata"]["resourceVersion"]
            for event in watch.Watch().stream(
                lister,
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=WATCH_SECONDS,
                _request_timeout=WATCH_SECONDS + 30,
            ):
                body = event["raw_object"]
                version = body["metadata"]["resourceVersion"]
                if event["type"] == "DELETED":
                    seen.gone((namespace, body["metadata"]["name"]))
                elif event["type"] in ("ADDED", "MODIFIED"):
                    seen.seen(body)
        except ApiException as exc:
            version = ""
            if exc.status != HTTP_GONE:
                print(
                    f"... watch of Clusters in {namespace}: {exc.status} {exc.reason}", flush=True
                )
                time.sleep(1.0)


@contextlib.contextmanager
def following(kubeconfig: Path, namespaces: Sequence[str]) -> Iterator[Clusters]:
    """Watch the Clusters of ``namespaces`` in background threads while in the block."""
    api = client.CustomObjectsApi(config.new_client_from_config(config_file=str(kubeconfig)))
    seen, stop = Clusters(), threading.Event()
    threads = [
        threading.Thread(
            target=_follow, args=(api, ns, seen, stop), daemon=True, name=f"follow-{ns}"
        )
        for ns in namespaces
    ]
    for thread in threads:
        thread.start()
    try:
        yield seen
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=WATCH_SECONDS + 35)

"""Helpers of the cluster e2e tests: manifests, reads through kubectl, watches, the suite.

``Watch`` follows objects with ``kubectl get --watch`` against the real API
server and keeps every event with the time it arrived, so a test can replay
the exact sequence of states the API server went through (a rollout, a
deletion) instead of polling and hoping to catch the interesting moment.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.api import certificates as catalogue
from shared.api.kinds import ALL_KINDS
from tests.localenv import BIN, LocalEnv, find_json, get_json
from tests.operators import RunningOperator, running_operator, wait_for
from tests.volumes import running_provisioner

READY_TIMEOUT = 240.0
CHILD_KINDS = ("certificates", "etcdclusters", "clusternetworks", "kvmnodes")
CLUSTER_LABEL = "g8s.io/cluster"
PAUSED_ANNOTATION = "g8s.io/paused"

# The e2e tests read objects as helpers.get(env, namespace, *what).
get = get_json
find = find_json


def cluster(name: str, namespace: str, workers: int = 2, **spec: Any) -> dict[str, Any]:
    """A Cluster manifest; ``spec`` adds or overrides top-level spec fields."""
    return {
        "apiVersion": "g8s.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "baseDomain": f"{name}.g8s.local",
            "workers": {"replicas": workers},
            **spec,
        },
    }


def apply(env: LocalEnv, *objects: dict[str, Any]) -> None:
    """``kubectl apply`` of ``objects`` in one request batch (one kubectl call)."""
    items = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
    env.kubectl("apply", "-f", "-", input=json.dumps(items))


def patch(env: LocalEnv, namespace: str, name: str, change: dict[str, Any]) -> None:
    env.kubectl(
        "patch", "-n", namespace, "cluster.g8s.io", name, "--type=merge", "-p", json.dumps(change)
    )


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == type_:
            return dict(item)
    return {}


def events(env: LocalEnv, namespace: str, name: str, *, reason: str) -> list[str]:
    """The messages of the Events with ``reason`` about the object named ``name``."""
    selector = f"involvedObject.name={name},reason={reason}"
    listed = get(env, namespace, "events", "--field-selector", selector)
    return [str(e.get("message")) for e in listed["items"]]


def is_ready(obj: dict[str, Any]) -> bool:
    return condition(obj, "Ready").get("status") == "True"


def observed(obj: dict[str, Any]) -> bool:
    """The object's operator has seen its latest spec."""
    status = obj.get("status") or {}
    return bool(status.get("observedGeneration") == obj["metadata"].get("generation"))


def ready_cluster(env: LocalEnv, namespace: str, name: str) -> dict[str, Any] | None:
    obj = get(env, namespace, "cluster.g8s.io", name)
    return obj if is_ready(obj) and observed(obj) else None


def wait_ready(
    env: LocalEnv, namespace: str, name: str, timeout: float = READY_TIMEOUT
) -> dict[str, Any]:
    return wait_for(
        lambda: ready_cluster(env, namespace, name),
        timeout=timeout,
        what=f"Cluster {name} Ready",
        interval=1.0,
    )


def children(env: LocalEnv, namespace: str, name: str) -> dict[str, list[dict[str, Any]]]:
    """The child CRs labelled with cluster ``name``, by plural."""
    found = {}
    for plural in CHILD_KINDS:
        items = get(env, namespace, f"{plural}.g8s.io", "-l", f"{CLUSTER_LABEL}={name}")["items"]
        found[plural] = list(items)
    return found


def pause_marks(env: LocalEnv, namespace: str, name: str) -> list[str]:
    """The ``g8s.io/paused`` annotation of every child of cluster ``name`` ("" where absent).

    A node's kubelet Certificate is its KVMNode's child, not the Cluster's: pausing
    the KVMNode already stops what would change it.
    """
    return [
        str((child["metadata"].get("annotations") or {}).get(PAUSED_ANNOTATION, ""))
        for items in children(env, namespace, name).values()
        for child in items
        if (child.get("spec") or {}).get("component") != catalogue.NODE
    ]


def expected_children(name: str, control_plane: int, workers: int) -> dict[str, int]:
    """How many child CRs of each kind a Ready cluster has."""
    return {
        # The cluster's own, and a kubelet identity per node (kvm operator).
        "certificates": len(catalogue.COMPONENTS) + control_plane + workers,
        "etcdclusters": 1,
        "clusternetworks": 1,
        "kvmnodes": control_plane + workers,
    }


def delete_and_wait(env: LocalEnv, namespace: str, *names: str, timeout: float) -> None:
    """Delete Clusters while the operators run (their finalizers would keep them otherwise)."""
    env.kubectl("delete", "-n", namespace, "clusters.g8s.io", *names, "--wait=false")
    wait_for(
        lambda: not get(env, namespace, "clusters.g8s.io")["items"],
        timeout=timeout,
        what=f"Clusters {', '.join(names)} gone",
        interval=1.0,
    )


@contextlib.contextmanager
def suite(env: LocalEnv, namespace: str, log_dir: Path) -> Iterator[dict[str, RunningOperator]]:
    """The five operators as processes watching ``namespace``, and the volume provisioner.

    Their logs are printed when the test fails.
    """
    with contextlib.ExitStack() as stack:
        provisioner = stack.enter_context(running_provisioner(env, log_dir))
        running = {
            kind.operator: stack.enter_context(
                running_operator(kind.operator, env=env.env(), namespace=namespace, log_dir=log_dir)
            )
            for kind in ALL_KINDS
        }
        try:
            yield running
        except BaseException:
            for operator in running.values():
                print(f"===== {operator.name} log (tail) =====\n{operator.log()[-6000:]}")
            print(f"===== volume provisioner log (tail) =====\n{provisioner.log()[-3000:]}")
            _remove_clusters(env, namespace)
            raise
        for operator in running.values():
            assert operator.process.poll() is None, f"the {operator.name} operator exited"


def _remove_clusters(env: LocalEnv, namespace: str) -> None:
    """After a failure, delete the Clusters while the operators still run.

    Their finalizers would otherwise keep the namespace terminating for the
    rest of the session, its controller retrying all the while.
    """
    env.kubectl("delete", "clusters.g8s.io", "--all", "-n", namespace, "--wait=false", check=False)
    with contextlib.suppress(TimeoutError):
        wait_for(
            lambda: not get(env, namespace, "clusters.g8s.io")["items"],
            timeout=READY_TIMEOUT,
            what="Clusters gone after a failure",
            interval=2.0,
        )


# Watching -------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One watch event: when it arrived (time.monotonic), ADDED/MODIFIED/DELETED, the object."""

    at: float
    type: str
    obj: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])


class Watch:
    """Every event of ``kubectl get <resource> --watch`` in arrival order.

    kubectl prints one event per line (older releases print indented JSON
    over many lines): the reader thread gathers lines until they parse.
    """

    def __init__(self, env: LocalEnv, namespace: str, resource: str, selector: str = "") -> None:
        self._cache = tempfile.TemporaryDirectory(prefix="kubectl-cache-")
        args = [str(BIN / "kubectl"), "--kubeconfig", str(env.kubeconfig), "get", resource]
        args += ["-n", namespace, "--watch", "--output-watch-events", "-o", "json"]
        if selector:
            args += ["-l", selector]
        self._process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**env.env(), "KUBECACHEDIR": self._cache.name},
        )
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        lines: list[str] = []
        for line in self._process.stdout:
            lines.append(line)
            try:
                data = json.loads("".join(lines))
            except json.JSONDecodeError:
                continue
            lines = []
            event = Event(time.monotonic(), str(data["type"]), dict(data["object"]))
            with self._lock:
                self._events.append(event)

    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def current(self) -> dict[str, dict[str, Any]]:
        """The objects as the latest event left them, by name."""
        return replay(self.events())[-1][1] if self.events() else {}

    def wait_listed(self, count: int, timeout: float = 30.0) -> None:
        """Wait until the initial listing (``count`` objects) has arrived."""
        wait_for(
            lambda: len(self.current()) >= count,
            timeout=timeout,
            what=f"the watch to list {count} objects",
            interval=0.2,
        )

    def stop(self) -> str:
        """Stop kubectl; returns what it wrote on stderr (empty when all was well)."""
        self._process.terminate()
        try:
            _, stderr = self._process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            _, stderr = self._process.communicate(timeout=10)
        self._reader.join(timeout=10)
        self._cache.cleanup()
        return stderr or ""

    @property
    def alive(self) -> bool:
        return self._process.poll() is None


def replay(events: list[Event]) -> list[tuple[Event, dict[str, dict[str, Any]]]]:
    """Each event with the set of objects (by name) right after it."""
    state: dict[str, dict[str, Any]] = {}
    result = []
    for event in events:
        state = dict(state)
        if event.type == "DELETED":
            state.pop(event.name, None)
        else:
            state[event.name] = event.obj
        result.append((event, state))
    return result


@contextlib.contextmanager
def watching(env: LocalEnv, namespace: str, resource: str, selector: str = "") -> Iterator[Watch]:
    watch = Watch(env, namespace, resource, selector)
    try:
        yield watch
    finally:
        watch.stop()

"""Benchmark of the cluster operator with the four others: ``python -m bench.cluster``.

Prints figures, asserts nothing about time:

- (a) seconds from ``kubectl apply`` to Ready for one Cluster;
- (b) ``--count`` Clusters (default 50; 1 control-plane node and 1 worker
  each, 1-CPU VMs) applied at once: seconds until all are
  Ready, the per-cluster times (p50, p90) and their ratios to the
  one-cluster time;
- (c) API write requests per minute at rest with all those Clusters Ready and
  settled, from the API server's own ``apiserver_request_total`` (verbs POST,
  PUT, PATCH, DELETE, DELETECOLLECTION and APPLY) over ``--rest`` seconds,
  broken down by verb and resource, next to the same figure for the
  environment alone before any operator ran (its leases and node heartbeats).
  The metric has no client label, so the objects whose resourceVersion moved
  in the window are listed with the field managers that wrote them;
- (c) Vault requests at rest over the same window, from OpenBao's audit log;
- (d) resident memory (VmRSS) and CPU seconds of each operator process;
- the floor (``bench/floor.py``): one certificate issued with the bare
  clients (Vault ``sign``, Secret write, status patch), times the
  certificates of one cluster, and (a) and (b) as ratios to it;
- while (b) ran: API requests by verb and resource, Vault requests (from
  OpenBao's audit log) and failed-and-retried reconcile steps, each per
  cluster; with ``--profile``, where each operator's Python work went
  (``bench/cluster/profile.py``; docs/performance.md reads the figures);
  with ``--apiserver-profile``, the kube-apiserver's own CPU profile
  (``bench/cluster/apiprofile.py``), while building and while deleting;
- with several counts (``--count 10,100,1000``), each run after the other in
  fresh namespaces with freshly started operators, then the growth: each
  count's time to all Ready, per cluster and as ratios to the one-cluster time
  and to the floor, requests per cluster, RSS, time to all gone, and what each
  added cluster cost from one count to the next;
- and seconds from deleting every Cluster to all of them being gone, with
  where that time went (CPU per process, API requests by verb and resource
  and by operator), then what of them is left (objects labelled for them, volumes, Vault mounts,
  network allocation records): anything found is listed and the run fails.

Runs on the local environment ``g8s-bench`` (``$G8S_ENV_NAME`` or ``--env``
overrides), started if needed and given enough simulated hosts for the VM
pods (32 CPUs each); the CRDs are installed, and the test volume
provisioner (``tests.volumes``) gives the VM disks and etcd data their volumes.
``--count 3`` makes a quick smoke run. The benchmark follows its Clusters
through watches (``bench/cluster/follow.py``), not by listing them, so that
looking costs the API server little at any count.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import secrets
import signal
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client.parser import text_string_to_metric_families

from bench import floor as floors
from bench.cluster import apiprofile, clientrate, follow, profile
from shared.api.kinds import ALL_KINDS
from shared.api.kinds import CLUSTER as KIND
from shared.api.labels import CLUSTER
from tests import hostnode, localenv
from tests.e2e.cluster.helpers import cluster
from tests.operators import RunningOperator, running_operator
from tests.reliability import faults
from tests.volumes import running_provisioner

WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE", "DELETECOLLECTION", "APPLY"})
# Kinds whose objects are compared before and after the rest window.
WATCHED = (
    ",".join(f"{kind.plural}.{kind.group}" for kind in ALL_KINDS),
    "secrets,services,configmaps,persistentvolumeclaims,pods,events",
    "deployments.apps,statefulsets.apps,poddisruptionbudgets.policy",
    "networkpolicies.networking.k8s.io,leases.coordination.k8s.io,nodes",
)
# How often the benchmark looks at what its watches saw (bench/cluster/follow.py).
WAIT = 0.1
# A count of 1,000 takes most of an hour: say how far it is once a minute.
PROGRESS = 60.0
# Small VMs (1 CPU; 2048 MiB, the control plane's minimum): the simulated
# hosts have 32 CPUs each, and every VM pod requests its CPUs (plus the
# launcher's share).
VM = {"cpus": 1, "memoryMiB": 2048}
CLUSTERS_PER_HOST = 8
T = TypeVar("T")


# --- what the API server counts ------------------------------------------------


def write_counts(env: localenv.LocalEnv) -> Counter[tuple[str, str]]:
    """Write requests served so far, by (verb, resource[/subresource])."""
    return request_counts(env, WRITE_VERBS)


def request_counts(
    env: localenv.LocalEnv, verbs: frozenset[str] | None = None
) -> Counter[tuple[str, str]]:
    """Requests served so far, by (verb, resource[/subresource]); all verbs unless ``verbs``."""
    text = env.kubectl("get", "--raw", "/metrics").stdout
    counts: Counter[tuple[str, str]] = Counter()
    for family in text_string_to_metric_families(text):
        if family.name != "apiserver_request":
            continue
        for sample in family.samples:
            labels = sample.labels
            if not sample.name.endswith("_total") or (verbs and labels.get("verb") not in verbs):
                continue
            group = labels.get("group") or ""
            resource = labels.get("resource", "") + (f".{group}" if group else "")
            if labels.get("subresource"):
                resource += f"/{labels['subresource']}"
            counts[(labels["verb"], resource)] += int(sample.value)
    return counts


@dataclass(frozen=True)
class Rate:
    seconds: float
    delta: Counter[tuple[str, str]]

    @property
    def per_minute(self) -> float:
        return sum(self.delta.values()) * 60.0 / self.seconds

    def lines(self) -> list[str]:
        ordered = sorted(self.delta.items(), key=lambda kv: (-kv[1], kv[0]))
        return [
            f"    {verb:<7} {resource:<48} {count * 60.0 / self.seconds:8.1f} /min"
            for (verb, resource), count in ordered
            if count
        ]


def write_rate(env: localenv.LocalEnv, seconds: float) -> Rate:
    before = write_counts(env)
    time.sleep(seconds)
    after = write_counts(env)
    after.subtract(before)
    return Rate(seconds, +after)


# --- who wrote -------------------------------------------------------------------


def versions(env: localenv.LocalEnv) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Every object of the WATCHED kinds, by (kind, namespace, name)."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for kinds in WATCHED:
        out = env.kubectl("get", kinds, "-A", "-o", "json", "--show-managed-fields").stdout
        for item in json.loads(out)["items"]:
            meta = item["metadata"]
            found[(item["kind"], meta.get("namespace", ""), meta["name"])] = item
    return found


def writers(
    before: dict[tuple[str, str, str], dict[str, Any]],
    after: dict[tuple[str, str, str], dict[str, Any]],
    since: datetime,
) -> Counter[tuple[str, str]]:
    """(kind, field manager) of the objects created or changed since ``since``."""
    result: Counter[tuple[str, str]] = Counter()
    for key, obj in after.items():
        meta = obj["metadata"]
        old = before.get(key)
        if old is not None and old["metadata"]["resourceVersion"] == meta["resourceVersion"]:
            continue
        managers = {
            str(entry.get("manager"))
            for entry in meta.get("managedFields") or []
            if _parse(entry.get("time")) >= since
        }
        for manager in managers or {"(no managedFields entry in the window)"}:
            result[(key[0], manager)] += 1
    for key in before.keys() - after.keys():
        result[(key[0], "(deleted)")] += 1
    return result


def _parse(stamp: Any) -> datetime:
    if not stamp:
        return datetime.min.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))


# --- the operators' processes ------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    rss_mib: float
    cpu_seconds: float


def usage(operator: RunningOperator) -> Usage:
    pid = operator.process.pid
    rss = float("nan")
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    # Fields 14 and 15 of /proc/<pid>/stat (after the parenthesised name): utime, stime.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return Usage(rss, ticks / os.sysconf("SC_CLK_TCK"))


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process; 0.0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def environment_processes(env: localenv.LocalEnv) -> dict[int, str]:
    """The local environment's own processes (API server, etcd, kwok, OpenBao...), by pid:
    those whose command line names a path under its state directory."""
    marker = str(localenv.Paths(env.name).state).encode()
    found: dict[int, str] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in b" ".join(argv) and argv[0]:
            found[int(proc.name)] = Path(argv[0].decode(errors="replace")).name
    return found


def environment_cpu(pids: Mapping[int, str]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for pid, name in pids.items():
        totals[name] = totals.get(name, 0.0) + process_cpu(pid)
    return totals


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


# --- clusters ----------------------------------------------------------------------


def small_cluster(name: str, namespace: str) -> dict[str, Any]:
    manifest = cluster(name, namespace, workers=1, controlPlane={"replicas": 1, **VM})
    manifest["spec"]["workers"].update(VM)
    return manifest


def ready_times(
    env: localenv.LocalEnv,
    namespace: str,
    names: Sequence[str],
    timeout: float,
    seen: follow.Clusters,
) -> dict[str, float]:
    """Apply Clusters ``names`` at once; seconds from the apply until each is Ready."""
    started = time.monotonic()
    apply_all(env.kubectl, [small_cluster(name, namespace) for name in names])

    def awaited() -> str:
        ready = len(seen.ready_since(namespace, names, started))
        return f"{ready}/{len(names)} Clusters Ready" if ready < len(names) else ""

    until(started, timeout, awaited)
    return seen.ready_since(namespace, names, started)


def delete_all(
    env: localenv.LocalEnv, namespaces: Sequence[str], timeout: float, seen: follow.Clusters
) -> float:
    started = time.monotonic()
    for namespace in namespaces:
        delete_named(env.kubectl, namespace, seen.names_in(namespace))
    until(
        started,
        timeout,
        lambda: f"{left} Clusters left" if (left := seen.count_in(namespaces)) else "",
    )
    return time.monotonic() - started


# How the Clusters are applied and deleted: one kubectl per CHUNK Clusters,
# PARALLEL at once, as users making or deleting their clusters would. At
# 1,000 Clusters one kubectl for all outlasted the 120 s a kubectl may take
# here, both to apply them (it sends two requests per Cluster, one after the
# other, to an API server the operators keep busy) and to delete them; one
# DELETE of the collection was cut off by the API server's 60-s request limit
# (its --delete-collection-workers is 1: it marked about one a second on the
# busy machine). A chunk that fails is sent again, up to ATTEMPTS times: an
# apply is the same the second time, and a delete with --ignore-not-found
# takes what is already gone for no error.
CHUNK = 50
PARALLEL = 4
ATTEMPTS = 5


def in_chunks(
    items: Sequence[T],
    send: Callable[[list[T]], object],
    what: str,
    chunk: int = CHUNK,
    parallel: int = PARALLEL,
) -> int:
    """``send`` each chunk of ``items``, ``parallel`` at once, each up to ATTEMPTS
    times; the calls it took. The last failure of a chunk ends the run."""

    def sent(part: list[T]) -> int:
        for attempt in range(1, ATTEMPTS):
            try:
                send(part)
                return attempt
            except localenv.CommandError as exc:
                why = (exc.stderr or "").strip().splitlines()[-1:] or ["no answer"]
                print(f"    {what} {len(part)} Clusters failed ({why[0]}); again", flush=True)
        send(part)
        return ATTEMPTS

    chunks = [list(items[i : i + chunk]) for i in range(0, len(items), chunk)]
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return sum(pool.map(sent, chunks))


def apply_all(
    kubectl: Callable[..., object],
    manifests: Sequence[dict[str, Any]],
    chunk: int = CHUNK,
    parallel: int = PARALLEL,
) -> int:
    """``kubectl apply`` the Clusters ``manifests`` in chunks; the kubectl calls it took."""

    def send(part: list[dict[str, Any]]) -> object:
        listed = {"apiVersion": "v1", "kind": "List", "items": part}
        return kubectl("apply", "-f", "-", input=json.dumps(listed))

    return in_chunks(manifests, send, "applying", chunk, parallel)


def delete_named(
    kubectl: Callable[..., object],
    namespace: str,
    names: Sequence[str],
    chunk: int = CHUNK,
    parallel: int = PARALLEL,
) -> int:
    """Delete the Clusters ``names`` of ``namespace`` (not waiting for them to go);
    the kubectl calls it took."""
    kind = f"{KIND.plural}.{KIND.group}"

    def send(part: list[str]) -> object:
        return kubectl("delete", kind, "-n", namespace, "--wait=false", "--ignore-not-found", *part)

    return in_chunks(names, send, "deleting", chunk, parallel)


def until(started: float, timeout: float, awaited: Callable[[], str]) -> None:
    """Look at ``awaited`` (what is still awaited; "" once nothing is) until it is done.

    Says how far it is once a minute; TimeoutError ``timeout`` s after ``started``.
    """
    told = started
    while state := awaited():
        now = time.monotonic()
        if now - started > timeout:
            raise TimeoutError(f"{state} after {timeout:.0f} s")
        if now - told >= PROGRESS:
            told = now
            print(f"    {state} after {now - started:.0f} s", flush=True)
        time.sleep(WAIT)


def network_uids(env: localenv.LocalEnv, namespace: str) -> dict[str, str]:
    """Each cluster's ClusterNetwork uid, which names its allocation records."""
    return {
        item["metadata"]["labels"][CLUSTER]: item["metadata"]["uid"]
        for item in faults.items(env, namespace, "clusternetworks.g8s.io")
    }


def left_behind(env: localenv.LocalEnv, clusters: Mapping[str, Mapping[str, str]]) -> list[str]:
    """What is left of the deleted clusters (namespace -> cluster -> network uid)."""
    return [
        f"{namespace}/{cluster}: {thing}"
        for namespace, uids in clusters.items()
        for cluster, things in faults.leftovers_of(
            env, namespace, {name: [uid] for name, uid in uids.items()}
        ).items()
        for thing in things
    ]


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def table(rows: Sequence[tuple[str, str]]) -> str:
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"  {label:<{width}}  {value}" for label, value in rows)


@contextlib.contextmanager
def operators(
    env: localenv.LocalEnv,
    namespaces: Sequence[str],
    log_dir: Path,
    ports: Mapping[str, int],
    *,
    heap: bool = False,
) -> Iterator[list[RunningOperator]]:
    """The five operators, each with its metrics endpoint on ``ports[name]`` (loopback);
    ``heap``: each traces its heap (shared/heap.py) into ``<log_dir>/<name>.heap``."""
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(
                running_operator(
                    kind.operator,
                    env={
                        **env.env(),
                        **localenv.network_settings(env.name),
                        "G8S_METRICS_PORT": str(ports[kind.operator]),
                        "G8S_METRICS_ADDRESS": "127.0.0.1",
                        "G8S_HEAP_TRACE": str(heap_file(log_dir, kind.operator)) if heap else "",
                        "G8S_MEMORY_REPORT": str(memory_file(log_dir, kind.operator)),
                    },
                    namespace=",".join(namespaces),
                    log_dir=log_dir,
                )
            )
            for kind in ALL_KINDS
        ]


def heap_file(log_dir: Path, operator: str) -> Path:
    return log_dir / f"{operator}.heap"


def memory_file(log_dir: Path, operator: str) -> Path:
    return log_dir / f"{operator}.memory"


def asked(op: RunningOperator, signum: int, target: Path, within: float) -> str | None:
    """Signal ``op`` to write its report to ``target``; the report, None if none
    came ``within`` seconds."""
    target.unlink(missing_ok=True)
    op.process.send_signal(signum)
    deadline = time.monotonic() + within
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return target.read_text() if target.exists() else None


def holders(running: Sequence[RunningOperator], log_dir: Path) -> dict[str, str]:
    """Ask each operator what holds its resident memory (SIGUSR1, shared/resident.py)."""
    found: dict[str, str] = {}
    for op in running:
        text = asked(op, signal.SIGUSR1, memory_file(log_dir, op.name), within=30)
        found[op.name] = text.strip() if text is not None else "no answer in 30 s"
    return found


def heap_reports(running: Sequence[RunningOperator], log_dir: Path, top: int = 12) -> str:
    """Ask each operator for its heap report (SIGUSR2) and show its largest lines."""
    shown: list[str] = []
    for op in running:
        target = heap_file(log_dir, op.name)
        # A snapshot of a large heap takes a while.
        text = asked(op, signal.SIGUSR2, target, within=120)
        if text is None:
            shown.append(f"  {op.name}: no heap report within 120 s")
            continue
        lines = text.splitlines()
        by_line = lines[: lines.index("by filename:")] if "by filename:" in lines else lines
        shown.append(f"  {op.name}: {by_line[0]} (all of it in {target})")
        shown.extend(f"    {line.strip()}" for line in by_line[2 : 2 + top])
    return "\n".join(["heap, largest allocation sites by line:", *shown])


# kopf logs this once it has credentials; its watches start right after.
STARTED_LINE = "Initial authentication has finished."
WARMUP = 5.0


def scale_hosts(env: localenv.LocalEnv, clusters: int) -> int:
    """Enough simulated hosts for ``clusters`` clusters' pods (never fewer than the default)."""
    hosts = max(localenv.HOST_NODES, -(-clusters // CLUSTERS_PER_HOST))
    localenv.ensure_nodes(env, hosts)
    return hosts


def room(env: str, clusters: int) -> str:
    """Why environment ``env`` cannot hold ``clusters`` clusters; "" when it can."""
    node = hostnode.plan(env)
    hosts = -(-clusters // CLUSTERS_PER_HOST)
    if clusters > node.clusters:
        return (
            f"{env} has addresses for {node.clusters} clusters (guest subnets in"
            f" {node.guest_pool}, Services in {node.service_cidr}); the benchmark's own"
            f" environment, {hostnode.WIDE_ENV}, has room for"
            f" {hostnode.plan(hostnode.WIDE_ENV).clusters}"
        )
    if hosts > node.simulated_hosts:
        return f"{env} has addresses for {node.simulated_hosts} simulated hosts, not {hosts}"
    return ""


def wait_started(running: Sequence[RunningOperator], timeout: float = 60.0) -> None:
    """Wait until every operator is up, so that (a) does not time their start."""
    deadline = time.monotonic() + timeout
    while not all(STARTED_LINE in op.log() for op in running):
        if time.monotonic() > deadline:
            raise TimeoutError("the operators did not start")
        time.sleep(0.5)
    time.sleep(WARMUP)


def step(what: str, fn: Callable[[], T]) -> T:
    """Say what the benchmark is doing (a run takes minutes), then do it."""
    print(f"... {what}", flush=True)
    return fn()


@dataclass
class Figures:
    count: int
    rest_seconds: float
    one: float = 0.0
    many: dict[str, float] = field(default_factory=dict)
    baseline: Rate = field(default_factory=lambda: Rate(1.0, Counter()))
    rest: Rate = field(default_factory=lambda: Rate(1.0, Counter()))
    changed: Counter[tuple[str, str]] = field(default_factory=Counter)
    memory: dict[str, float] = field(default_factory=dict)
    # What holds each operator's resident memory at rest (shared/resident.py).
    holders: dict[str, str] = field(default_factory=dict)
    build_cpu: dict[str, float] = field(default_factory=dict)
    rest_cpu: dict[str, float] = field(default_factory=dict)
    rest_vault: Counter[str] = field(default_factory=Counter)
    # While the many were built: the environment's processes, and the whole machine.
    environment_cpu: dict[str, float] = field(default_factory=dict)
    machine_busy: float = 0.0
    machine_total: float = 0.0
    # Seconds those were counted over: the build, or the API server's profile if longer.
    window: float = 0.0
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    vault: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    # Each operator's own requests while the many were built (clientrate.py).
    client: clientrate.Rates = field(default_factory=clientrate.Rates)
    floor: floors.Floor | None = None
    # Certificates of one cluster: what the floor of a cluster multiplies.
    certificates: int = 0
    # Seconds from deleting every Cluster to all gone.
    deleted: float = 0.0


def measure(
    env: localenv.LocalEnv, args: argparse.Namespace, namespaces: Sequence[str], log_dir: Path
) -> Figures:
    one_ns, many_ns, floor_ns = namespaces
    figures = Figures(args.count, args.rest)
    figures.baseline = step(
        f"environment alone: counting writes for {args.baseline:.0f} s",
        lambda: write_rate(env, args.baseline),
    )
    watched = [one_ns, many_ns]
    ports = {kind.operator: clientrate.free_port() for kind in ALL_KINDS}
    with (
        follow.following(env.kubeconfig, watched) as seen,
        running_provisioner(env, log_dir),
        operators(env, watched, log_dir, ports, heap=args.heap) as running,
    ):
        wait_started(running)
        figures.one = step(
            "one Cluster", lambda: ready_times(env, one_ns, ["one"], args.timeout, seen)
        )["one"]
        figures.certificates = len(
            env.kubectl("get", "certificates.g8s.io", "-n", one_ns, "-o", "name").stdout.split()
        )
        figures.floor = step(
            "the floor: sign, Secret write and status patch with the bare clients",
            lambda: floors.measure(env, floor_ns),
        )
        cpu = {op.name: usage(op).cpu_seconds for op in running}
        pids = environment_processes(env)
        env_cpu, machine = environment_cpu(pids), machine_busy()
        names = [f"b{i:03d}" for i in range(args.count)]
        audit = localenv.Paths(env.name).vault_audit
        requests, offset = request_counts(env), profile.audit_size(audit)
        logs = profile.log_sizes(running)
        window = time.monotonic()
        with contextlib.ExitStack() as sampled:
            stacks = (
                sampled.enter_context(profile.sampling(running, log_dir / "profile"))
                if args.profile
                else {}
            )
            figures.client = sampled.enter_context(clientrate.sampling(ports))
            sampled.enter_context(
                apiprofile.sampling(env, args.apiserver_profile, log_dir / "apiserver-build.pprof")
            )
            figures.many = step(
                f"{args.count} Clusters at once",
                lambda: ready_times(env, many_ns, names, args.timeout, seen),
            )
        figures.environment_cpu = {
            name: seconds - env_cpu.get(name, 0.0)
            for name, seconds in environment_cpu(pids).items()
        }
        busy, total = machine_busy()
        figures.machine_busy, figures.machine_total = busy - machine[0], total - machine[1]
        figures.window = time.monotonic() - window
        figures.requests = request_counts(env) - requests
        figures.vault = profile.vault_requests(audit, offset)
        figures.retries = profile.retries(running, logs)
        if stacks:
            print(profile.report(stacks), flush=True)
        figures.build_cpu = {op.name: usage(op).cpu_seconds - cpu[op.name] for op in running}
        at_rest(env, args, running, figures, log_dir)
        if args.heap:
            print(heap_reports(running, log_dir), flush=True)
        # The figures first: deleting many clusters takes long, and may time out.
        show(figures, env.name)
        deleted = {ns: network_uids(env, ns) for ns in watched}
        figures.deleted = delete_profiled(
            env,
            seen=seen,
            running=running,
            ports=ports,
            pids=pids,
            namespaces=watched,
            args=args,
            build=max(figures.many.values()),
            log_dir=log_dir,
        )
        left = left_behind(env, deleted)
        print(f"left of the deleted clusters: {len(left)}", *left[:20], sep="\n    ")
        if left:
            raise SystemExit(f"{len(left)} objects of deleted clusters are left")
    return figures


def at_rest(
    env: localenv.LocalEnv,
    args: argparse.Namespace,
    running: Sequence[RunningOperator],
    figures: Figures,
    log_dir: Path,
) -> None:
    """(c) and (d): with every Cluster Ready and settled, what is written, asked and held."""
    time.sleep(args.settle)
    since = datetime.now(UTC).replace(microsecond=0)
    before = versions(env)
    cpu = {op.name: usage(op).cpu_seconds for op in running}
    audit = localenv.Paths(env.name).vault_audit
    offset = profile.audit_size(audit)
    figures.rest = step(
        f"{args.count + 1} Clusters Ready: counting writes for {args.rest:.0f} s",
        lambda: write_rate(env, args.rest),
    )
    figures.rest_cpu = {op.name: usage(op).cpu_seconds - cpu[op.name] for op in running}
    figures.rest_vault = profile.vault_requests(audit, offset)
    figures.changed = writers(before, versions(env), since)
    figures.memory = {op.name: usage(op).rss_mib for op in running}
    figures.holders = holders(running, log_dir)


def rows(f: Figures) -> list[tuple[str, str]]:
    times = list(f.many.values())
    last, p50, p90 = max(times), statistics.median(times), percentile(times, 0.9)
    result = [
        ("(a) apply -> Ready, 1 cluster", f"{f.one:.1f} s"),
        *floor_rows(f),
        (
            f"(b) apply -> all Ready, {f.count} clusters at once",
            f"{last:.1f} s ({last / f.one:.1f}x one cluster, "
            f"{f.count * 60.0 / last:.1f} clusters/min)",
        ),
        ("    per cluster p50", f"{p50:.1f} s ({p50 / f.one:.1f}x one cluster)"),
        ("    per cluster p90", f"{p90:.1f} s ({p90 / f.one:.1f}x one cluster)"),
        (
            "    all Ready / (count x one cluster)",
            f"{last / (f.count * f.one):.3f} (1.0: no gain from doing them at once)",
        ),
        (
            f"(c) API writes at rest, {f.count + 1} clusters",
            f"{f.rest.per_minute:.1f} /min over {f.rest_seconds:.0f} s",
        ),
        ("    environment alone (baseline)", f"{f.baseline.per_minute:.1f} /min"),
        ("    difference", f"{f.rest.per_minute - f.baseline.per_minute:.1f} /min"),
        (
            f"(c) Vault requests at rest, {f.count + 1} clusters",
            f"{sum(f.rest_vault.values())} over {f.rest_seconds:.0f} s",
        ),
    ]
    result += [
        (
            f"(d) {name} operator",
            f"{f.memory[name]:.1f} MiB RSS; CPU {f.build_cpu[name]:.1f} s for the "
            f"{f.count} clusters, {f.rest_cpu[name]:.2f} s at rest",
        )
        for name in f.memory
    ]
    result.append(("    all operators", f"{sum(f.memory.values()):.1f} MiB RSS"))
    result += [(f"    {name}", held) for name, held in f.holders.items()]
    result += [
        (f"(d) {name} (environment)", f"CPU {seconds:.1f} s for the {f.count} clusters")
        for name, seconds in sorted(f.environment_cpu.items(), key=lambda kv: -kv[1])
    ]
    if f.machine_total:
        cores = f.machine_total / f.window if f.window else 0.0
        result.append(
            (
                f"    machine while the {f.count} were built ({f.window:.0f} s)",
                f"{f.machine_busy:.1f} CPU s of {f.machine_total:.1f} "
                f"({100 * f.machine_busy / f.machine_total:.0f}% of {cores:.0f} cores busy)",
            )
        )
    return result


def floor_rows(f: Figures) -> list[tuple[str, str]]:
    """The one-cluster and all-Ready times as ratios to the floor (bench/floor.py)."""
    if f.floor is None or not f.certificates:
        return []
    one = f.floor.per_certificate * f.certificates
    last = max(f.many.values()) if f.many else 0.0
    return [
        ("    floor", f.floor.line()),
        (
            f"    floor of a cluster ({f.certificates} certificates, one after another)",
            f"{one:.2f} s; one cluster took {f.one / one:.1f}x that",
        ),
        (
            f"    floor of {f.count} clusters, one after another",
            f"{one * f.count:.1f} s; all Ready took {last / (one * f.count):.2f}x that",
        ),
    ]


def show(f: Figures, env_name: str) -> None:
    print(f"\ncluster benchmark, {f.count} clusters (environment {env_name})")
    print(table(rows(f)))
    print("\nwrites at rest by verb and resource, with the clusters:")
    print("\n".join(f.rest.lines()) or "    none")
    print("Vault requests at rest, by operation and path:")
    lines = [f"    {path:<56} {n:7d}" for path, n in f.rest_vault.most_common()]
    print("\n".join(lines) or "    none")
    print("writes by verb and resource, environment alone:")
    print("\n".join(f.baseline.lines()) or "    none")
    print(f"API requests while {f.count} clusters were built, by verb and resource:")
    requests = Counter({f"{verb:<7} {resource}": n for (verb, resource), n in f.requests.items()})
    print("\n".join(profile.per_cluster(requests, f.count)))
    print(f"API requests while {f.count} clusters were built, by operator (its own counter):")
    print("\n".join(f.client.lines(f.count)) or "    none")
    print(f"Vault requests while {f.count} clusters were built (its audit log):")
    print("\n".join(profile.per_cluster(f.vault, f.count)))
    print(f"steps that failed and were retried while {f.count} clusters were built:")
    print("\n".join(profile.per_cluster(f.retries, f.count)))
    print("objects changed at rest, by kind and field manager:")
    for (kind, manager), count in sorted(f.changed.items(), key=lambda kv: -kv[1]):
        print(f"    {kind:<24} {manager:<40} {count:5d}")
    if not f.changed:
        print("    none")


def delete_profiled(
    env: localenv.LocalEnv,
    *,
    running: Sequence[RunningOperator],
    ports: Mapping[str, int],
    pids: Mapping[int, str],
    namespaces: Sequence[str],
    args: argparse.Namespace,
    build: float,
    log_dir: Path,
    seen: follow.Clusters,
) -> float:
    """Delete every Cluster, print the time to all gone and where it went (``show_deletion``);
    return that time."""
    requests = request_counts(env)
    cpu = {op.name: usage(op).cpu_seconds for op in running}
    env_cpu, machine = environment_cpu(pids), machine_busy()
    with (
        clientrate.sampling(ports) as client,
        apiprofile.sampling(env, args.apiserver_profile, log_dir / "apiserver-delete.pprof"),
    ):
        gone = step(
            f"deleting {args.count + 1} Clusters",
            lambda: delete_all(env, namespaces, args.timeout, seen),
        )
    busy, total = machine_busy()
    print(
        f"delete {args.count + 1} clusters -> all gone: {gone:.1f} s"
        f" ({gone / build:.2f}x the time to build them)"
    )
    show_deletion(
        args.count + 1,
        requests=request_counts(env) - requests,
        client=client,
        cpu={
            **{f"{op.name} operator": usage(op).cpu_seconds - cpu[op.name] for op in running},
            **{
                name: seconds - env_cpu.get(name, 0.0)
                for name, seconds in environment_cpu(pids).items()
            },
        },
        machine=(busy - machine[0], total - machine[1]),
    )
    return gone


def show_deletion(
    count: int,
    *,
    requests: Counter[tuple[str, str]],
    client: clientrate.Rates,
    cpu: Mapping[str, float],
    machine: tuple[float, float],
) -> None:
    """Where the deletion's time went: CPU per process, API requests, each operator's own."""
    busy, total = machine
    print(f"CPU while {count} clusters were deleted, by process:")
    for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]):
        if seconds >= 0.1:
            print(f"    {name:<40} {seconds:8.1f} s")
    if total:
        print(f"    machine: {busy:.1f} CPU s of {total:.1f} ({100 * busy / total:.0f}% busy)")
    print(f"API requests while {count} clusters were deleted, by verb and resource:")
    named = Counter({f"{verb:<7} {resource}": n for (verb, resource), n in requests.items()})
    print("\n".join(profile.per_cluster(named, count)))
    print(f"API requests while {count} clusters were deleted, by operator (its own counter):")
    print("\n".join(client.lines(count)) or "    none")


def floor_of_cluster(f: Figures) -> float:
    """The floor of one cluster's certificates one after another; 0.0 when not measured."""
    return f.floor.per_certificate * f.certificates if f.floor and f.certificates else 0.0


def growth(runs: Sequence[Figures]) -> str:
    """The runs side by side, and what each added cluster cost between two counts."""
    head = (
        f"  {'clusters':>8}  {'all Ready':>10}  {'per cluster':>11}  {'x one':>6}  "
        f"{'x floor':>7}  {'p50':>8}  {'p90':>8}  {'requests/cluster':>16}  "
        f"{'RSS, 5 operators':>16}  {'deleted':>9}  {'x build':>7}"
    )
    lines = ["growth: each count applied at once, one count after another", head]
    for f in runs:
        times = list(f.many.values())
        last = max(times)
        floor = floor_of_cluster(f)
        lines.append(
            f"  {f.count:>8}  {last:>8.1f} s  {last / f.count:>9.2f} s  "
            f"{last / f.count / f.one:>6.2f}  "
            f"{(last / f.count / floor if floor else float('nan')):>7.1f}  "
            f"{statistics.median(times):>6.1f} s  {percentile(times, 0.9):>6.1f} s  "
            f"{sum(f.requests.values()) / f.count:>16.1f}  "
            f"{sum(f.memory.values()):>12.1f} MiB  {f.deleted:>7.1f} s  {f.deleted / last:>7.2f}"
        )
    lines.append("  RSS per operator (MiB): " + ", ".join(runs[0].memory))
    lines += [
        f"  {f.count:>8}  " + "  ".join(f"{mib:7.1f}" for mib in f.memory.values()) for f in runs
    ]
    for a, b in itertools.pairwise(runs):
        added = b.count - a.count
        lines.append(
            f"  per cluster added, {a.count} -> {b.count}: "
            f"{(max(b.many.values()) - max(a.many.values())) / added:.2f} s to all Ready, "
            f"{(sum(b.memory.values()) - sum(a.memory.values())) / added:.2f} MiB of RSS, "
            f"{(b.deleted - a.deleted) / added:.2f} s to all gone"
        )
    return "\n".join(lines)


def counts(text: str) -> list[int]:
    """``--count``: one count, or several ("10,100,1000") run one after another."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a count, or counts such as 10,100,1000")
    return values


def run(env: localenv.LocalEnv, args: argparse.Namespace) -> Figures:
    """One count in fresh namespaces, which are deleted afterwards whatever happened."""
    tag = secrets.token_hex(3)
    # The third is the floor's, which no operator watches.
    namespaces = [f"bench-one-{tag}", f"bench-many-{tag}", f"bench-floor-{tag}"]
    for namespace in namespaces:
        env.kubectl("create", "namespace", namespace)
    log_dir = localenv.ROOT / ".state" / "bench-cluster" / tag
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        return measure(env, args, namespaces, log_dir)
    finally:
        for namespace in namespaces:
            env.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        print(f"operator logs: {log_dir}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--count",
        type=counts,
        default=[50],
        help="Clusters applied at once; several counts (10,100,1000) run one after another"
        " and end with the growth from one to the next",
    )
    parser.add_argument("--rest", type=float, default=60.0, help="seconds writes are counted")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds before counting")
    parser.add_argument("--baseline", type=float, default=30.0, help="seconds, environment alone")
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="seconds the clusters of a count may take to be Ready, and again to be gone",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample each operator with py-spy while the clusters are built; print the top",
    )
    parser.add_argument(
        "--apiserver-profile",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="take the kube-apiserver's CPU profile for SECONDS while the clusters are built"
        " and again while they are deleted; print its top functions",
    )
    parser.add_argument(
        "--heap",
        action="store_true",
        help="trace each operator's heap (slower) and print its largest sites once all are Ready",
    )
    parser.add_argument("--env", default=os.environ.get(localenv.NAME_VARIABLE) or "g8s-bench")
    args = parser.parse_args()
    # Both benchmark namespaces' clusters and the floor's, counted before anything starts.
    largest = max(args.count) + 1
    why = room(args.env, largest)
    if why:
        parser.error(why)

    env = localenv.up(args.env)
    env.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(localenv.ROOT / "crds"))
    env.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
    hosts = scale_hosts(env, largest)
    print(f"... {hosts} simulated hosts", flush=True)
    runs: list[Figures] = []
    for count in args.count:
        runs.append(run(env, argparse.Namespace(**{**vars(args), "count": count})))
        if len(args.count) > 1:
            print(growth(runs), flush=True)


if __name__ == "__main__":
    main()

"""The ordered steps of one KVMNode reconciliation (no kopf here).

network -> identity -> certificates -> host services -> ignition -> disk ->
deployment -> observe. Each
step reads or writes through the context's Kubernetes adapter and records
what it saw on the ``Run``; ``status.report`` turns that into the status.
"""

import ipaddress
from base64 import b64decode
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from operators.kvm import policies
from operators.kvm.children import certificate, deployment, ignition, pvc, secret
from operators.kvm.context import KVMContext, KVMSettings, host_kind
from operators.kvm.model import KVMNodeSpec
from shared.api import API_VERSION, encryption, names
from shared.api.kinds import CLUSTER_NETWORK
from shared.children import owned
from shared.conditions import parse_timestamp, timestamp, utc_now
from shared.errors import Retry
from shared.kube import Kube, ObjectRef
from shared.placement import pod_placement
from shared.steps import Step
from shared.watched import Watched, WatchedSecrets, secret_data

OPERATOR = "kvm"
# While a node waits for what another operator is making (its network, its
# certificates, the etcd Service), the first look again comes this soon (it
# usually takes well under a second), later ones twice as far apart up to
# poll_interval. The delay itself must be short: kopf keeps a handler that
# failed asleep until its delay is over, whatever event comes meanwhile.
WAIT_FIRST_LOOK = 0.5


@dataclass(frozen=True)
class GuestNetwork:
    subnet: ipaddress.IPv4Network
    gateway: str
    bridge: str


@dataclass(frozen=True)
class GuestNode:
    """The guest Node as its API reports it; ``error`` when it could not be asked."""

    ready: bool | None = None
    message: str = ""
    error: str = ""
    # Set when the Node is Ready but this control plane's API server is not.
    api_unready: tuple[str, ...] = ()


@dataclass
class Run:
    spec: KVMNodeSpec
    body: Mapping[str, Any]
    kube: Kube
    settings: KVMSettings
    guest_client: Callable[[str], Kube] | None = None
    # Kept Secrets, networks, Services and host kinds (shared/watched.py); None: each one
    # read at every look.
    secrets: WatchedSecrets | None = None
    networks: Watched | None = None
    services: Watched | None = None
    host_kinds: Watched | None = None
    network: GuestNetwork | None = None
    address: ipaddress.IPv4Address | None = None
    certificates: dict[str, dict[str, str]] = field(default_factory=dict)
    ca_b64: str = ""
    # Names the guest resolves through /etc/hosts -> addresses.
    hosts: dict[str, str] = field(default_factory=dict)
    encryption_keys: tuple[encryption.Key, ...] = ()
    ignition_hash: str = ""
    live: tuple[ignition.LiveFile, ...] = ()
    pod: dict[str, Any] | None = None
    # The launcher pod's host says its pods are simulated (no VM really runs).
    simulated_host: str = ""
    guest: GuestNode | None = None
    # When this reconcile began: what status.firstReadyTime records.
    now: datetime = field(default_factory=utc_now)


def make_run(spec: KVMNodeSpec, body: Mapping[str, Any], ctx: KVMContext) -> Run:
    return Run(
        spec=spec,
        body=body,
        kube=ctx.client(),
        settings=ctx.settings,
        guest_client=ctx.guest_client,
        secrets=ctx.secrets,
        networks=ctx.networks,
        services=ctx.services,
        host_kinds=ctx.host_kinds,
        now=ctx.clock(),
    )


def _owned(run: Run, child: Mapping[str, Any]) -> dict[str, Any]:
    return owned(child, owner=run.body, operator=OPERATOR, cluster=run.spec.cluster)


def read_network(run: Run) -> None:
    if run.networks is not None:
        status: Mapping[str, Any] = run.networks.data(run.spec.namespace, run.spec.network)
    else:
        ref = ObjectRef(API_VERSION, CLUSTER_NETWORK.kind, run.spec.network, run.spec.namespace)
        status = (run.kube.get(ref) or {}).get("status") or {}
    subnet, gateway, bridge = status.get("subnet"), status.get("gateway"), status.get("bridge")
    if not (subnet and gateway and bridge):
        raise Retry(
            "NetworkNotReady",
            f"ClusterNetwork {run.spec.network} has no subnet, gateway and bridge yet",
            base=WAIT_FIRST_LOOK,
            ceiling=run.settings.poll_interval,
        )
    run.network = GuestNetwork(ipaddress.IPv4Network(subnet, strict=False), gateway, bridge)
    run.address = policies.node_address(run.spec, run.network.subnet)


def apply_identity(run: Run) -> None:
    assert run.address is not None
    run.kube.ensure(_owned(run, certificate.build(run.spec, str(run.address))))


def _certificate_data(run: Run, name: str) -> dict[str, str]:
    # The certificates operator labels every certificate Secret, so the watch
    # tells of one made after a look found it missing.
    return _secret_data(run, name, "CertificatesNotReady", labelled=True)


def _secret_data(run: Run, name: str, reason: str, *, labelled: bool = False) -> dict[str, str]:
    namespace = run.spec.namespace
    if run.secrets is not None:
        data = run.secrets.data(namespace, name, told_when_made=labelled)
    else:
        data = secret_data(run.kube.get(ObjectRef("v1", "Secret", name, namespace)))
    if not data:
        raise Retry(
            reason,
            f"Secret {name} is missing or empty",
            base=WAIT_FIRST_LOOK,
            ceiling=run.settings.poll_interval,
        )
    return data


def read_certificates(run: Run) -> None:
    ca = _certificate_data(run, names.ca_secret(run.spec.cluster))
    if "ca.crt" not in ca:
        raise Retry(
            "CertificatesNotReady", f"Secret {names.ca_secret(run.spec.cluster)} has no ca.crt"
        )
    run.ca_b64 = ca["ca.crt"]
    run.certificates = {
        component: _certificate_data(run, names.certificate(run.spec.cluster, component))
        for component in ignition.components(run.spec)
    }
    run.certificates[ignition.KUBELET] = _certificate_data(
        run, names.node_certificate(run.spec.name)
    )


def etcd_host(spec: KVMNodeSpec) -> str:
    """etcd's name in the guests' /etc/hosts: one the etcd server certificate carries."""
    return f"{names.etcd_client_service(spec.cluster)}.{spec.namespace}.svc"


def etcd_endpoint(spec: KVMNodeSpec) -> str:
    return f"https://{etcd_host(spec)}:2379"


def read_host_services(run: Run) -> None:
    """The addresses behind the names in /etc/hosts, and the control plane's encryption key.

    etcd and the API server are Services of the host cluster: their
    ClusterIPs are reachable from the guest network through the host's
    gateway, where kube-proxy takes them to the etcd pods and to the
    control-plane VMs there are now (the cluster operator writes the API
    Service's endpoints). The API's name named the first control-plane VM's
    address before: once that VM was replaced, no kubelet reached the API.
    """
    spec = run.spec
    run.hosts = {
        etcd_host(spec): _cluster_ip(run, names.etcd_client_service(spec.cluster), "EtcdNotReady"),
        policies.api_host(spec): _cluster_ip(
            run, names.apiserver_service(spec.cluster), "APIServiceNotReady"
        ),
    }
    if spec.is_controlplane:
        name = names.encryption_secret(spec.cluster)
        keys = encryption.keys_of(_secret_data(run, name, "EncryptionKeyMissing"))
        if not keys:
            raise Retry("EncryptionKeyMissing", f"Secret {name} has no key 'key' or 'keys'")
        run.encryption_keys = keys


def _cluster_ip(run: Run, service: str, reason: str) -> str:
    """Service ``service``'s ClusterIP (kept: it never changes while the Service lives)."""
    namespace = run.spec.namespace
    if run.services is not None:
        cluster_ip = run.services.data(namespace, service).get("clusterIP", "")
    else:
        found = run.kube.get(ObjectRef("v1", "Service", service, namespace)) or {}
        cluster_ip = str((found.get("spec") or {}).get("clusterIP") or "")
    if not cluster_ip or cluster_ip == "None":
        raise Retry(
            reason,
            f"Service {service} has no ClusterIP yet",
            base=WAIT_FIRST_LOOK,
            ceiling=run.settings.poll_interval,
        )
    return cluster_ip


def node_inputs(run: Run) -> ignition.NodeInputs:
    assert run.network is not None
    assert run.address is not None
    net = run.network
    return ignition.NodeInputs(
        network=ignition.NodeNetwork(
            address=str(run.address),
            prefix_length=net.subnet.prefixlen,
            gateway=net.gateway,
            mac=policies.mac_address(run.spec),
            dns=run.settings.guest_dns,
            pod_subnet=str(policies.node_pod_subnet(run.spec, net.subnet)),
            peer_routes=policies.peer_routes(run.spec, net.subnet),
        ),
        api_endpoint=policies.api_endpoint(run.spec),
        etcd_endpoint=etcd_endpoint(run.spec),
        certificates=run.certificates,
        ca_b64=run.ca_b64,
        images=ignition.Images(run.settings.image_registry, run.settings.kubelet_url),
        hosts=run.hosts,
        encryption_keys=run.encryption_keys,
    )


def apply_ignition(run: Run) -> None:
    inputs = node_inputs(run)
    config = ignition.render(ignition.build(run.spec, inputs))
    run.ignition_hash = secret.content_hash(config)
    run.live = ignition.live_files(run.spec, inputs)
    run.kube.ensure(_owned(run, secret.build(run.spec, config, run.live)))


def apply_disk(run: Run) -> None:
    run.kube.ensure(_owned(run, pvc.build(run.spec, run.settings.storage_class)))


def apply_deployment(run: Run) -> None:
    assert run.network is not None
    pod = deployment.LauncherPod(
        image=run.settings.launcher_image,
        resources=policies.pod_resources(
            run.spec,
            run.settings.qemu_overhead_mib,
            run.settings.qemu_overhead_millicpu,
            run.settings.cpu_allocation_ratio,
        ),
        bridge=run.network.bridge,
        mac=policies.mac_address(run.spec),
        ready_port=policies.ready_port(run.spec),
        shutdown_timeout=run.settings.shutdown_timeout,
        ignition_hash=run.ignition_hash,
        accel=run.settings.accel,
        guest_image=run.settings.guest_image_path,
        placement=pod_placement(run.settings.node_selector, run.settings.tolerations),
        live=run.live,
    )
    run.kube.ensure(_owned(run, deployment.build(run.spec, pod)))


def observe(run: Run) -> None:
    selector = ",".join(f"{k}={v}" for k, v in deployment.selector(run.spec).items())
    pods = run.kube.list("v1", "Pod", namespace=run.spec.namespace, selector=selector)
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    run.pod = live[0] if live else None
    run.simulated_host = simulated_host(run)
    if run.settings.guest_checks:
        run.guest = guest_node(run)


def simulated_host(run: Run) -> str:
    """The launcher pod's host Node if it is labelled simulated, else ""."""
    host = ((run.pod or {}).get("spec") or {}).get("nodeName")
    if not host:
        return ""
    if run.host_kinds is not None:
        kind = run.host_kinds.data("", str(host))
    else:
        kind = host_kind(run.kube.get(ObjectRef("v1", "Node", host)))
    return str(host) if kind.get("simulated") == "true" else ""


def guest_api(run: Run) -> Kube:
    """A client of the guest cluster, from its kubeconfig Secret."""
    if run.guest_client is None:
        raise Retry("GuestUnreachable", "no guest API client configured")
    name = names.kubeconfig_secret(run.spec.cluster)
    data = _secret_data(run, name, "GuestUnreachable")
    if "value" not in data:
        raise Retry("GuestUnreachable", f"Secret {name} has no key 'value'")
    return run.guest_client(b64decode(data["value"]).decode())


def role_label(spec: KVMNodeSpec) -> str:
    """The role label kubectl shows; NodeRestriction forbids a kubelet to set it itself."""
    return "node-role.kubernetes.io/" + ("control-plane" if spec.is_controlplane else "worker")


def guest_node(run: Run) -> GuestNode:
    try:
        guest = guest_api(run)
        node = guest.get(ObjectRef("v1", "Node", run.spec.name))
        labels_now = ((node or {}).get("metadata") or {}).get("labels") or {}
        if node is not None and role_label(run.spec) not in labels_now:
            guest.apply(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": run.spec.name, "labels": {role_label(run.spec): ""}},
                }
            )
        found = node_condition(node, run.spec.name, vm_started(run.pod))
        if found.ready and run.spec.is_controlplane:
            # The Service sends to any control plane: each must be ready, not only serving.
            unready = guest.unready_checks()
            if unready:
                message = "API server not ready: " + ", ".join(unready)
                return GuestNode(False, message, api_unready=unready)
    except Exception as exc:
        return GuestNode(error=f"{type(exc).__name__}: {exc}")
    return found


def vm_started(pod: Mapping[str, Any] | None) -> datetime | None:
    """When the launcher container now running started (and with it, this VM)."""
    for status in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
        running = (status.get("state") or {}).get("running") or {}
        started = parse_timestamp(running.get("startedAt"))
        if started is not None:
            return started
    return None


# The guest's clock is set from the host's at boot; this covers what they drift apart.
CLOCK_SKEW = timedelta(seconds=10)


def node_condition(
    node: Mapping[str, Any] | None, name: str, since: datetime | None = None
) -> GuestNode:
    """The Node's Ready condition, counted only when its kubelet reported it since the VM started.

    A kubelet reports its Node's status as it starts, so a Ready heartbeat
    older than the VM is another VM's: a Node of the same name restored from
    a backup, or left by the VM this one replaces. Trusting it would make a
    node Ready before its guest has even booted.
    """
    if node is None:
        return GuestNode(ready=False, message=f"Node {name} not registered yet")
    for found in (node.get("status") or {}).get("conditions") or []:
        if found.get("type") != "Ready":
            continue
        heartbeat = parse_timestamp(found.get("lastHeartbeatTime"))
        if since is not None and heartbeat is not None and heartbeat < since - CLOCK_SKEW:
            return GuestNode(
                ready=False,
                message=f"Node {name} last reported at {timestamp(heartbeat)}, "
                f"before this VM started: waiting for its kubelet",
            )
        return GuestNode(found.get("status") == "True", str(found.get("message") or ""))
    return GuestNode(ready=False, message="Node has no Ready condition yet")


STEPS: tuple[Step[Run], ...] = (
    Step("network", read_network),
    Step("identity", apply_identity),
    Step("certificates", read_certificates),
    Step("host-services", read_host_services),
    Step("ignition", apply_ignition),
    Step("disk", apply_disk),
    Step("deployment", apply_deployment),
    Step("observe", observe),
)

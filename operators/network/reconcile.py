"""The ordered steps of one ClusterNetwork reconciliation, and its release on deletion.

1. ``allocate``: the VNI and the subnet (held records first, then the
   request, then the pools); a conflict stops here with AllocationConflict.
2. ``policies``: the NetworkPolicies isolating the guest cluster's pods.
3. ``hosts``: host agents ready / total from ``status.hosts`` and the host nodes.

The host Nodes of 3 come from a listing the process shares
(operators/network/listings.py). The refresh every ``hosts_interval`` also
makes 1 from the shared listing of records, and allocates with reads of its
own only when that listing shows something to change.
"""

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from operators.network import names
from operators.network.allocation import Allocation, Allocator, Held, Owner, Pools, kept
from operators.network.children import networkpolicy
from operators.network.context import NetworkContext, NetworkSettings
from operators.network.hosts import HostCount, count
from operators.network.listings import Shared
from operators.network.model import ClusterNetworkSpec
from shared.children import owned
from shared.kube import Kube
from shared.steps import Step

OPERATOR = "network"


@dataclass
class Run:
    spec: ClusterNetworkSpec
    body: Mapping[str, Any]
    kube: Kube
    settings: NetworkSettings
    allocator: Allocator
    host_nodes: Shared[list[str]]
    records: Shared[list[Held]]
    allocation: Allocation | None = None
    hosts: HostCount | None = None
    policies: list[str] = field(default_factory=list)


def pools(settings: NetworkSettings) -> Pools:
    return Pools(
        vni_min=settings.vni_min,
        vni_max=settings.vni_max,
        subnet_pool=ipaddress.IPv4Network(settings.subnet_pool),
        subnet_prefix=settings.subnet_prefix,
    )


def allocator(ctx: NetworkContext) -> Allocator:
    return Allocator(
        ctx.record_store(),
        pools(ctx.settings),
        ctx.rng,
        ctx.settings.allocation_attempts,
        ctx.taken,
    )


def make_run(spec: ClusterNetworkSpec, body: Mapping[str, Any], ctx: NetworkContext) -> Run:
    return Run(spec, body, ctx.client(), ctx.settings, allocator(ctx), ctx.host_nodes, ctx.records)


def owner(spec: ClusterNetworkSpec) -> Owner:
    return Owner(spec.namespace, spec.name, spec.uid)


def allocate(run: Run) -> None:
    spec = run.spec
    run.allocation = run.allocator.allocate(
        owner(spec),
        vni=spec.vni,
        recorded_vni=spec.recorded_vni,
        subnet=spec.subnet,
        recorded_subnet=spec.recorded_subnet,
    )


def confirm_allocation(run: Run) -> None:
    """The refresh's allocation: kept as it is when the shared listing shows the network
    holding what it asks for, else made again with the allocator's own reads."""
    spec = run.spec
    run.allocation = kept(
        [h for h in run.records.get() if h.owner_uid == spec.uid],
        vni=spec.vni,
        recorded_vni=spec.recorded_vni,
        subnet=spec.subnet,
        recorded_subnet=spec.recorded_subnet,
        prefix=run.settings.subnet_prefix,
    )
    if run.allocation is None:
        # Also a network made after the listing: it lists its own records.
        allocate(run)


def apply_policies(run: Run) -> None:
    spec = run.spec
    built = (
        networkpolicy.isolation(
            name=names.isolation_policy(spec.cluster),
            cluster=spec.cluster,
            operator_selector=run.settings.operator_selector,
        ),
        networkpolicy.apiserver(
            name=names.apiserver_policy(spec.cluster),
            cluster=spec.cluster,
            port=run.settings.apiserver_port,
        ),
    )
    for policy in built:
        run.kube.apply(owned(policy, owner=run.body, operator=OPERATOR, cluster=spec.cluster))
        run.policies.append(policy["metadata"]["name"])


def observe_hosts(run: Run) -> None:
    entries = (run.body.get("status") or {}).get("hosts") or []
    generation = int(run.body["metadata"].get("generation") or 0)
    run.hosts = count(entries, run.host_nodes.get(), generation)


STEPS: tuple[Step[Run], ...] = (
    Step("allocate", allocate),
    Step("policies", apply_policies),
    Step("hosts", observe_hosts),
)


REFRESH_STEPS: tuple[Step[Run], ...] = (Step("allocate", confirm_allocation), STEPS[2])


def release(network: Owner, ctx: NetworkContext) -> list[str]:
    """Free every value the network holds (its NetworkPolicies go with it by ownership)."""
    return allocator(ctx).release(network)

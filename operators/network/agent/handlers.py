"""kopf registrations of the host agent; the logic lives in desired, plan and converge.

Watch handlers keep what the agent needs in its context (every
ClusterNetwork, every host node's tunnel endpoint) and wake the convergence
loop when something it depends on changed; the loop also runs every
``interval`` seconds, which repairs drift no API event announces (a device
deleted by hand). It is a loop started at operator start-up rather than a
kopf timer or daemon because kopf guards those with a finalizer on their
object: on a Node, that finalizer would block the node's deletion whenever
its agent is gone.
"""

import asyncio
import contextlib
from typing import Any

import kopf

from operators.network.agent import desired as d
from operators.network.agent.context import AgentContext, AgentSettings
from operators.network.agent.converge import Result, converge
from operators.network.agent.plan import DesiredNetwork, Host
from shared import logs
from shared.api.kinds import CLUSTER_NETWORK as KIND
from shared.errors import Retry
from shared.netlink import Netlink

DELETED = "DELETED"


def register(registry: kopf.OperatorRegistry, settings: AgentSettings) -> None:
    node = settings.node_name

    @kopf.on.event(KIND.group, KIND.version, KIND.plural, registry=registry, id="networks")
    def _network(body: kopf.Body, type: str | None, memo: Any, **_: Any) -> None:
        found = d.view(body, node)
        before = memo.networks.get(found.key)
        if type == DELETED:
            memo.networks.pop(found.key, None)
        else:
            memo.networks[found.key] = found
        # Other hosts' entries and the operator's fields are not in the view:
        # their writes wake no one.
        if memo.networks.get(found.key) != before:
            memo.wake.set()

    @kopf.on.event("", "v1", "nodes", registry=registry, id="vteps")
    def _node(
        body: kopf.Body,
        name: str,
        labels: kopf.Labels,
        type: str | None,
        memo: Any,
        **_: Any,
    ) -> None:
        address = d.internal_ip(body)
        keep = type != DELETED and address is not None
        keep = keep and d.matches(labels, settings.host_selector)
        before = memo.vteps.get(name)
        if keep:
            memo.vteps[name] = address
        else:
            memo.vteps.pop(name, None)
        # Node status heartbeats change nothing the agent uses: no wake-up.
        if memo.vteps.get(name) != before:
            memo.wake.set()

    @kopf.on.startup(registry=registry)
    async def _start(memo: Any, **_: Any) -> None:
        memo.wake = asyncio.Event()
        memo.loop_task = asyncio.create_task(convergence_loop(memo))

    @kopf.on.cleanup(registry=registry)
    async def _stop(memo: Any, **_: Any) -> None:
        if memo.loop_task is not None:
            memo.loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await memo.loop_task


async def convergence_loop(ctx: AgentContext) -> None:
    log = logs.get_logger("g8s.network.agent", node=ctx.settings.node_name)
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ctx.wake.wait(), ctx.settings.interval)
        ctx.wake.clear()
        try:
            await converge_once(ctx, dict(ctx.networks), dict(ctx.vteps))
        except Exception as exc:
            # The next pass (at the latest one interval later) tries again.
            log.warning("convergence failed", error=f"{type(exc).__name__}: {exc}")


async def converge_once(
    ctx: AgentContext, networks: dict[str, d.NetworkView], vteps: dict[str, str]
) -> None:
    settings = ctx.settings
    log = logs.get_logger("g8s.network.agent", node=settings.node_name)
    vtep = vteps.get(settings.node_name)
    if vtep is None:
        raise Retry("NoVtep", f"node {settings.node_name} has no InternalIP (yet)")
    views = list(networks.values())
    wanted = d.desired(views, vteps.values())
    result = await asyncio.to_thread(_converge_host, settings, vtep, wanted)
    if result.applied:
        log.info("converged", actions=len(result.applied), networks=len(wanted))
    await asyncio.to_thread(_report, ctx, views, vtep, result)


def _converge_host(settings: AgentSettings, vtep: str, wanted: list[DesiredNetwork]) -> Result:
    with Netlink(settings.netns or None) as netlink:
        underlay = settings.underlay_interface or netlink.underlay_of(vtep)
        if underlay is None:
            raise Retry("NoUnderlay", f"no device holds {vtep}")
        return converge(netlink, wanted, Host(settings.node_name, vtep, underlay))


def _report(ctx: AgentContext, views: list[d.NetworkView], vtep: str, result: Result) -> None:
    kube = ctx.client()
    for view in views:
        outcome = result.networks.get(view.key)
        if outcome is None:
            continue
        entry = d.entry(
            ctx.settings.node_name, vtep, view.generation, outcome.ready, outcome.message
        )
        if d.changed(view.reported, entry):
            kube.apply(d.status_body(view.namespace, view.name, entry), subresource="status")

"""The host agent's settings and context (kopf memo)."""

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.identity import OperatorIdentity
from shared.metrics import OperatorMetrics
from shared.runtime import OperatorContext, host_api
from shared.settings import RuntimeSettings, load

PREFIX = "G8S_AGENT_"


@dataclass(frozen=True)
class AgentSettings:
    """Settings of the host agent (prefix ``G8S_AGENT_``)."""

    # This host's Node name (the DaemonSet passes spec.nodeName).
    node_name: str = ""
    # The underlay device; empty: the device holding the node's InternalIP.
    underlay_interface: str = ""
    # Label selector of the host nodes (must match the operator's).
    host_selector: str = ""
    # Period of convergence (seconds): devices drift without API events too.
    interval: float = 10.0
    # Network namespace to converge in; empty: the agent's own (hostNetwork).
    netns: str = ""


def load_settings(environ: Mapping[str, str]) -> AgentSettings:
    settings = load(AgentSettings, environ, prefix=PREFIX)
    if not settings.node_name:
        raise SystemExit(f"{PREFIX}NODE_NAME must name this host's Node")
    return settings


@dataclass
class AgentContext(OperatorContext):
    settings: AgentSettings = field(default_factory=AgentSettings)
    # What the watches saw: every ClusterNetwork by "namespace/name" (see
    # desired.NetworkView) and every host node's tunnel endpoint by name.
    networks: dict[str, Any] = field(default_factory=dict)
    vteps: dict[str, str] = field(default_factory=dict)
    # Set by the watch handlers when something relevant changed; the
    # convergence loop waits on it (or on the interval).
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    loop_task: "asyncio.Task[None] | None" = None


def field_manager(identity: OperatorIdentity, node: str) -> str:
    """One field manager per host, so that each agent owns only its host's status entries."""
    return f"{identity.field_manager}-{node}"[:128]


def make_context(
    identity: OperatorIdentity,
    runtime: RuntimeSettings,
    metrics: OperatorMetrics,
    settings: AgentSettings,
) -> AgentContext:
    return AgentContext(
        identity=identity,
        runtime=runtime,
        metrics=metrics,
        settings=settings,
        kube=host_api(runtime, field_manager(identity, settings.node_name), metrics),
    )

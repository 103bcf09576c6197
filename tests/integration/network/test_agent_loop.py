"""The whole loop: the network operator and two host agents as real processes.

Two simulated hosts are network namespaces; each has a Node object (labelled
for this run, InternalIP = its underlay address) and an agent process
(``python -m operators.network.agent``) converging inside its namespace. The
operator requires every host: a new ClusterNetwork becomes Ready with
HostsConverged and hosts 2/2 only once both agents reported; both hosts then
have its bridge and VXLAN device with a flood entry to the other; deleting
the network removes the devices on both hosts. The agents put no finalizer
on their Nodes.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from operators.network import names
from shared.netlink import Netlink
from tests.integration.network.conftest import Namespaces
from tests.integration.network.hosts import SimHost, hosts
from tests.localenv import LocalEnv
from tests.operators import RunningOperator, running_operator, wait_for


def node(name: str, run: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"g8s.io/test-run": run}},
    }


@contextlib.contextmanager
def host_nodes(env: LocalEnv, sims: list[SimHost], run: str) -> Iterator[list[str]]:
    made = []
    try:
        for sim in sims:
            name = f"{run}-{sim.name}"
            env.kubectl("create", "-f", "-", input=json.dumps(node(name, run)))
            made.append(name)
            status = {"status": {"addresses": [{"type": "InternalIP", "address": sim.vtep}]}}
            env.kubectl(
                "patch",
                "node",
                name,
                "--subresource=status",
                "--type=merge",
                "-p",
                json.dumps(status),
            )
        yield made
    finally:
        for name in made:
            env.kubectl("delete", "node", name, "--wait=false", check=False)


def links(sim: SimHost) -> dict[str, Any]:
    with Netlink(sim.netns) as netlink:
        return {link.name: link for link in netlink.links()}


def show_logs(request: pytest.FixtureRequest, processes: list[RunningOperator]) -> None:
    report = getattr(request.node, "rep_call", None)
    if report is None or report.failed:
        for op in processes:
            print(f"--- {op.name} log (last 40 lines) ---")
            print("\n".join(op.log().splitlines()[-40:]))


def test_agents_converge_and_report(
    request: pytest.FixtureRequest,
    local_env: LocalEnv,
    namespaces: Namespaces,
    tmp_path: Path,
) -> None:
    run = f"g8t{secrets.token_hex(3)}"
    selector = f"g8s.io/test-run={run}"
    ns = namespaces.networks
    base = {**local_env.env(), "G8S_LOG_LEVEL": "INFO", "G8S_RETRY_DELAY": "1"}
    operator_env = {
        **base,
        "G8S_NETWORK_ALLOCATION_NAMESPACE": namespaces.records,
        "G8S_NETWORK_HOST_SELECTOR": selector,
        "G8S_NETWORK_HOSTS_INTERVAL": "1",
        # Real agents run here, unlike in the rest of the local environment.
        "G8S_NETWORK_REQUIRE_HOSTS": "true",
    }
    processes: list[RunningOperator] = []
    with contextlib.ExitStack() as stack, hosts(2) as sims:
        names_ = stack.enter_context(host_nodes(local_env, sims, run))
        processes.append(
            stack.enter_context(
                running_operator("network", env=operator_env, namespace=ns, log_dir=tmp_path)
            )
        )
        for sim, node_name in zip(sims, names_, strict=True):
            agent_env = {
                **base,
                "G8S_AGENT_NODE_NAME": node_name,
                "G8S_AGENT_NETNS": sim.netns,
                "G8S_AGENT_HOST_SELECTOR": selector,
                "G8S_AGENT_INTERVAL": "1",
            }
            log_dir = tmp_path / sim.name
            log_dir.mkdir()
            processes.append(
                stack.enter_context(
                    running_operator(
                        f"agent-{sim.name}",
                        env=agent_env,
                        namespace=ns,
                        log_dir=log_dir,
                        module="operators.network.agent",
                    )
                )
            )
        stack.callback(show_logs, request, processes)

        body = {
            "apiVersion": "g8s.io/v1alpha1",
            "kind": "ClusterNetwork",
            "metadata": {"name": "loop", "namespace": ns},
            "spec": {"mtu": 1400},
        }
        local_env.kubectl("create", "-f", "-", input=json.dumps(body))

        def ready() -> dict[str, Any] | None:
            for op in processes:
                assert op.process.poll() is None, f"{op.name} exited:\n{op.log()[-3000:]}"
            got = json.loads(
                local_env.kubectl("get", "clusternetwork", "loop", "-n", ns, "-o", "json").stdout
            )
            status = got.get("status") or {}
            conds = {c["type"]: c for c in status.get("conditions") or []}
            if conds.get("Ready", {}).get("status") == "True":
                return dict(status)
            return None

        status = wait_for(ready, timeout=90, what="the network Ready on both hosts")
        assert status["hostsReady"] == 2
        assert status["hostsTotal"] == 2
        assert {c["type"]: c for c in status["conditions"]}["Ready"]["reason"] == "HostsConverged"
        assert {h["name"] for h in status["hosts"]} == set(names_)
        vni = status["vni"]
        # The agents never hold their Nodes: no finalizer of theirs.
        for node_name in names_:
            got = json.loads(local_env.kubectl("get", "node", node_name, "-o", "json").stdout)
            assert not got["metadata"].get("finalizers"), got["metadata"]
        for sim, other in ((sims[0], sims[1]), (sims[1], sims[0])):
            found = links(sim)
            vx = found[names.vxlan(vni)]
            assert vx.flood == frozenset({other.vtep})
            assert vx.mtu == 1400
            assert found[names.bridge(vni)].alias == names.alias(ns, "loop")

        local_env.kubectl("delete", "clusternetwork", "loop", "-n", ns, "--wait=true", timeout=60)
        wait_for(
            lambda: all(names.bridge(vni) not in links(s) for s in sims),
            timeout=30,
            what="the devices removed on both hosts",
        )
        assert all(names.vxlan(vni) not in links(s) for s in sims)

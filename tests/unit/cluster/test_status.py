"""Aggregating the children's Ready conditions into the Cluster's conditions and phase."""

from operators.cluster import status
from operators.cluster.policies import WORKERS_WAIT, NodePlan, NodeState
from operators.cluster.status import ChildReady, Observed, child_ready
from shared.api import conditions as c
from shared.conditions import Observation
from shared.status import Report
from tests.unit.cluster.helpers import cluster_spec, ready


def all_ready(**overrides: object) -> Observed:
    base = dict(
        certificates=[ChildReady("Certificate", f"c1-x{i}", "True", "Issued") for i in range(13)],
        etcd=ChildReady("EtcdCluster", "c1", "True", "Running"),
        network=ChildReady("ClusterNetwork", "c1", "True", "Allocated"),
        network_status={"vni": 42, "subnet": "10.0.0.0/24"},
        nodes=[
            NodeState("cp0", "controlplane", 0, "1.34.4", True, "t"),
            NodeState("w0", "worker", 0, "1.34.4", True, "t"),
            NodeState("w1", "worker", 1, "1.34.4", True, "t"),
        ],
        kubeconfig=True,
    )
    base.update(overrides)
    return Observed(**base)  # type: ignore[arg-type]


def by_type(report_: Report) -> dict[str, Observation]:
    return {o.type: o for o in report_.observations}


def test_child_ready_reads_the_ready_condition() -> None:
    body = {"metadata": {"generation": 2}, "status": ready(generation=2)}
    assert child_ready("X", "x", body).ready
    assert child_ready("X", "x", None).reason == "NotCreated"
    stale = {"metadata": {"generation": 3}, "status": ready(generation=2)}
    assert child_ready("X", "x", stale).status == "Unknown"


def test_everything_ready() -> None:
    report = status.report(cluster_spec(), all_ready(), "https://e")
    conditions = by_type(report)
    assert report.observations[0].type == c.READY
    assert all(o.status == "True" for o in report.observations)
    assert report.phase == "Provisioned"
    assert report.fields["workers"] == {"replicas": 2, "readyReplicas": 2, "updatedReplicas": 2}
    assert report.fields["network"] == {"vni": 42, "subnet": "10.0.0.0/24"}
    assert report.fields["kubeconfigSecret"] == "c1-kubeconfig"
    assert report.fields["kubernetesVersion"] == "1.34.4"
    assert set(conditions) == {
        c.READY,
        c.CERTIFICATES_READY,
        c.ETCD_READY,
        c.NETWORK_READY,
        c.CONTROL_PLANE_READY,
        c.WORKERS_READY,
        c.UP_TO_DATE,
    }


def test_ready_names_the_first_child_not_ready() -> None:
    observed = all_ready(etcd=ChildReady("EtcdCluster", "c1", "False", "MembersUnhealthy", "1/3"))
    report = status.report(cluster_spec(), observed, "https://e")
    ready_ = report.observations[0]
    assert ready_.status == "False"
    assert ready_.reason == "EtcdClusterNotReady"
    assert "EtcdCluster c1" in ready_.message
    assert "MembersUnhealthy" in ready_.message
    assert report.phase == "Provisioning"


def test_missing_worker_is_reported() -> None:
    observed = all_ready(nodes=[NodeState("cp0", "controlplane", 0, "1.34.4", True, "t")])
    workers = by_type(status.report(cluster_spec(), observed, "e"))[c.WORKERS_READY]
    assert workers.status == "False"
    assert "0/2" in workers.message


def test_workers_waiting_for_the_control_plane_say_so() -> None:
    starting = [NodeState("cp0", "controlplane", 0, "1.34.4", False, "t")]
    plans = [NodePlan("controlplane"), NodePlan("worker", waiting=WORKERS_WAIT)]
    observed = all_ready(nodes=starting, plans=plans)
    workers = by_type(status.report(cluster_spec(), observed, "e"))[c.WORKERS_READY]
    assert (workers.status, workers.reason) == ("False", "Scaling")
    assert workers.message == f"0/2 worker nodes ready; {WORKERS_WAIT}"


def test_upgrading_phase_and_up_to_date() -> None:
    nodes = [
        NodeState("cp0", "controlplane", 0, "1.33.0", True, "t"),
        NodeState("w0", "worker", 0, "1.34.4", True, "t"),
        NodeState("w1", "worker", 1, "1.34.4", True, "t"),
    ]
    plan = NodePlan("controlplane", create=(1,), message="upgrading controlplane")
    report = status.report(cluster_spec(), all_ready(nodes=nodes, plans=[plan]), "e")
    assert report.phase == "Upgrading"
    up = by_type(report)[c.UP_TO_DATE]
    assert up.status == "False"
    assert up.reason == "RollingOut"
    assert "kubernetesVersion" not in report.fields


def test_an_old_node_still_going_away_ends_the_upgrade_everywhere_at_once() -> None:
    # The phase said Upgrading while UpToDate said True and the version was
    # reported: one status that contradicted itself until the node was gone.
    nodes = [
        NodeState("cp0", "controlplane", 0, "1.34.4", True, "t"),
        NodeState("w0", "worker", 0, "1.34.4", True, "t"),
        NodeState("w1", "worker", 1, "1.34.4", True, "t"),
        NodeState("w2", "worker", 2, "1.33.0", True, "t", deleting=True),
    ]
    report = status.report(cluster_spec(), all_ready(nodes=nodes), "e")
    assert by_type(report)[c.UP_TO_DATE].status == "True"
    assert report.fields["kubernetesVersion"] == "1.34.4"
    assert report.phase == "Provisioned"


def test_transitions_are_flips_only() -> None:
    before = [{"type": "Ready", "status": "False"}, {"type": "EtcdReady", "status": "True"}]
    after = [
        {"type": "Ready", "status": "True", "reason": "AllReady"},
        {"type": "EtcdReady", "status": "True"},
        {"type": "WorkersReady", "status": "True"},
    ]
    flips = status.transitions(before, after)
    assert [(t.type, t.status) for t in flips] == [("Ready", "True"), ("WorkersReady", "True")]


def test_deleting_condition_names_the_stage() -> None:
    obs = status.deleting("workers", 2)
    assert obs.type == c.DELETING
    assert "workers" in obs.message


def test_each_replacement_is_announced_even_without_a_flip() -> None:
    def health(message: str) -> dict[str, str]:
        return {
            "type": "NodesHealthy",
            "status": "False",
            "reason": "Remediating",
            "message": message,
        }

    first = [health("replacing w0: w0 not Ready since t0")]
    assert status.transitions([], first)[0].reason == "Remediating"
    assert status.transitions(first, first) == []
    second = [health("replacing w1: w1 not Ready since t1")]
    assert [t.message for t in status.transitions(first, second)] == [second[0]["message"]]

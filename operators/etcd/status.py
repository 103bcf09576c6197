"""Pure: what one reconciliation observed -> the EtcdCluster's conditions, phase and fields.

``MembersHealthy`` says which source it used: the etcd v3 API (reason
``MembersHealthy`` / ``MemberUnhealthy`` / ``EtcdUnreachable``) or, with
member probing off, the StatefulSet's pod readiness (``StatefulSetReady`` /
``PodsNotReady``). ``Ready`` needs healthy members and a settled membership;
a failed backup shows in ``BackupReady`` without making etcd unready, since
the guest cluster can run on without it.
"""

from typing import Any

from operators.etcd import policies
from operators.etcd.children import statefulset
from operators.etcd.model import EtcdClusterSpec
from operators.etcd.reconcile import Run
from shared.api import conditions as c
from shared.conditions import Observation, timestamp
from shared.status import Report
from shared.steps import Outcome

REQUEUE_STEP = "requeue"


def _pods(run: Run) -> str:
    wanted = (run.statefulset or {}).get("spec", {}).get("replicas", run.replicas)
    return f"StatefulSet: {run.ready_replicas}/{wanted} pods ready"


def members_healthy(run: Run) -> Observation:  # noqa: PLR0911 - one return per state
    t = c.MEMBERS_HEALTHY
    if run.statefulset is None:
        return Observation.unknown(t, "Creating", "the StatefulSet does not exist yet")
    if not run.settings.probe_members:
        message = f"member probing off, from pod readiness only: {_pods(run)}"
        if run.ready_replicas >= run.spec.replicas:
            return Observation.true(t, "StatefulSetReady", message)
        return Observation.false(t, "PodsNotReady", message)
    probe = run.probe
    if probe is None:
        return Observation.unknown(t, "NotProbed", f"members not asked yet; {_pods(run)}")
    if probe.members is None:
        return Observation.false(t, "EtcdUnreachable", f"etcd v3 API: {probe.error}; {_pods(run)}")
    voters = [m for m in probe.members if not m.learner]
    sick = [m for m in probe.members if not m.healthy and not m.learner]
    healthy = len(voters) - len(sick)
    summary = f"etcd v3 API: {healthy}/{len(voters)} voting members healthy"
    if sick:
        problems = probe.problems or {}
        detail = "; ".join(f"{m.name}: {problems.get(m.name, 'unhealthy')}" for m in sick)
        reason = "QuorumLost" if healthy < policies.quorum(len(voters)) else "MemberUnhealthy"
        return Observation.false(t, reason, f"{summary}; {detail}")
    return Observation.true(t, "MembersHealthy", f"{summary}, leader {probe.leader or 'unknown'}")


def backup_ready(spec: EtcdClusterSpec, run: Run) -> Observation:
    t = c.BACKUP_READY
    if run.backup_error:
        return Observation.false(t, "BackupFailed", run.backup_error)
    last = run.backup or run.status.get("lastBackup")
    if last:
        return Observation.true(
            t,
            "BackupSucceeded",
            f"last backup {last.get('location')} at {last.get('time')}: "
            f"{last.get('size')} bytes, revision {last.get('revision')}",
        )
    if spec.backup.schedule is None:
        return Observation.true(t, "NotScheduled", "no backup schedule; none requested")
    if run.store is None:
        return Observation.false(t, "NoBackupStore", "scheduled, but the operator has no store")
    following = spec.backup.schedule.next_after(run.created)
    return Observation.true(
        t, "NoBackupYet", f"first backup due {timestamp(following)} ({spec.backup.schedule_text})"
    )


def ready(run: Run, members: Observation) -> Observation:
    spec = run.spec
    if run.restore_error:
        return Observation.false(c.READY, "RestoreSourceMissing", run.restore_error)
    if members.status != c.TRUE:
        return Observation(c.READY, members.status, members.reason, members.message)
    if run.action_error:
        return Observation.false(c.READY, "MembershipChangeFailed", run.action_error)
    if run.probe is not None and run.probe.members is not None:
        voters = [m for m in run.probe.members if not m.learner]
        learners = [m for m in run.probe.members if m.learner]
        if len(voters) != spec.replicas or learners or run.action is not None:
            detail = run.action_result or "membership changing"
            return Observation.false(
                c.READY, "Scaling", f"{len(voters)} of {spec.replicas} voting members: {detail}"
            )
    source = "etcd v3 API" if run.settings.probe_members else "StatefulSet readiness"
    return Observation.true(c.READY, "MembersReady", f"{spec.replicas} members healthy ({source})")


def phase(run: Run, members: Observation, ready_: Observation) -> str:
    if run.statefulset is None or not run.bootstrapped:
        return "Restoring" if run.spec.restore is not None else "Creating"
    if ready_.reason == "Scaling":
        return "Scaling"
    if members.status != c.TRUE:
        return "Degraded"
    return "Running" if ready_.status == c.TRUE else "Pending"


def _members(run: Run) -> list[dict[str, Any]] | None:
    if run.probe is None or run.probe.members is None:
        return None
    result = []
    for member in run.probe.members:
        entry: dict[str, Any] = {
            "name": member.name,
            "id": f"{member.id:x}",
            "leader": member.leader,
            "learner": member.learner,
            "healthy": member.healthy,
        }
        if member.unhealthy_since is not None:
            entry["unhealthySince"] = timestamp(member.unhealthy_since)
        result.append(entry)
    return result


def report(spec: EtcdClusterSpec, run: Run, outcome: Outcome) -> Report:
    members = members_healthy(run)
    ready_ = ready(run, members)
    observations = [members, backup_ready(spec, run)]
    # A step that failed outright is reported by the kit as Ready=False with
    # the step's error; a requeue is ours and Ready says what is in progress.
    if outcome.ok or outcome.failed_step == REQUEUE_STEP:
        observations.insert(0, ready_)
    fields: dict[str, Any] = {
        "replicas": run.replicas if run.replicas is not None else spec.replicas,
        "readyReplicas": run.ready_replicas,
    }
    if run.bootstrapped:
        fields["bootstrapped"] = True
    listed = _members(run)
    if listed is not None:
        fields["members"] = listed
        fields["leader"] = run.probe.leader if run.probe else ""
    if run.backup is not None:
        fields["lastBackup"] = run.backup
    if run.backup_request_handled is not None:
        fields["lastBackupRequest"] = run.backup_request_handled
    if run.defragmented and not run.defrag_error:
        fields["lastDefragmentationTime"] = timestamp(run.now)
    # What the members loaded, for a CA rotation to wait on; None while they roll.
    fields["trustedCAs"] = statefulset.rolled_out(run.statefulset) or None
    return Report(phase=phase(run, members, ready_), observations=observations, fields=fields)

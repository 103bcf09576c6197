"""Scenario 3, Vault outage and sealing: nothing is lost, and all of it comes back alone.

One Cluster is Ready. Then OpenBao is taken away twice for ``OUTAGE``
seconds, once frozen (SIGSTOP: connections hang until the client's timeout)
and once sealed (every request answered 503). During each outage a new
Cluster is applied, and the admin Secret of a Ready one is deleted, which
forces its certificate to be issued again.

While Vault is away:

- the Certificates that need it say ``Ready=False`` with reason
  ``VaultUnavailable`` and a message;
- no TLS Secret of a Ready cluster is deleted, blanked or replaced (all but
  the one deleted by hand are byte for byte what they were).

When Vault is back, with no help: every Cluster Ready, the deleted admin
certificate issued again, every cluster's PKI intact (its CA unchanged,
every TLS Secret a matching key and certificate from that CA), no duplicate
child, and Vault signed one certificate per Certificate revision.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.e2e.cluster.helpers import apply, cluster
from tests.localenv import LocalEnv, find_json
from tests.operators import wait_for
from tests.reliability.faults import (
    Summary,
    ca_of,
    children_count,
    clusters,
    items,
    pki_damage,
    ready,
    signed_twice,
    supervised,
    tls_secrets,
    vault_sealed,
    vault_stopped,
)

OUTAGE = 60.0
READY_TIMEOUT = 300.0
UNAVAILABLE = "VaultUnavailable"
DUPLICATES = ("KVMNode", "EtcdCluster", "ClusterNetwork")


def certificates(env: LocalEnv, namespace: str) -> list[dict[str, Any]]:
    return items(env, namespace, "certificates.g8s.io")


def waiting_on_vault(env: LocalEnv, namespace: str) -> list[str]:
    """The Certificates that say Vault is unavailable, with the message they give."""
    found = []
    for cert in certificates(env, namespace):
        for cond in (cert.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "Ready" and cond.get("reason") == UNAVAILABLE:
                assert cond.get("message"), f"{cert['metadata']['name']}: {UNAVAILABLE}, no message"
                found.append(f"{cert['metadata']['name']}: {cond['message']}")
    return found


def certificates_of(env: LocalEnv, namespace: str, names: list[str]) -> dict[str, bytes]:
    """Every TLS Secret of the clusters ``names``: name -> its certificate and key."""
    found: dict[str, bytes] = {}
    for name in names:
        for secret_name, secret in tls_secrets(env, namespace, name).items():
            data = secret.get("data") or {}
            found[secret_name] = f"{data.get('tls.crt')}{data.get('tls.key')}".encode()
    return found


def test_vault_stopped_then_sealed_loses_nothing(
    local_env: LocalEnv, namespace: str, tmp_path: Path
) -> None:
    summary = Summary("vault-outage", clusters=3)
    ns = namespace
    outages: list[tuple[str, Callable[[LocalEnv], contextlib.AbstractContextManager[None]]]] = [
        ("stopped", vault_stopped),
        ("sealed", vault_sealed),
    ]
    names = ["steady"]

    def all_ready() -> bool:
        found = clusters(local_env, ns)
        return all(n in found and ready(found[n]) for n in names)

    def reissued(secret: str, before: bytes) -> Callable[[], bool]:
        def check() -> bool:
            now = find_json(local_env, ns, "secret", secret)
            return now is not None and f"{now['data']['tls.crt']}".encode() not in before

        return check

    with supervised(local_env, ns, tmp_path) as ops:
        apply(local_env, cluster("steady", ns, workers=0))
        wait_for(all_ready, timeout=READY_TIMEOUT, what="the first Cluster Ready", interval=2.0)
        cas = {"steady": ca_of(local_env, ns, "steady")}
        for what, outage in outages:
            newcomer, victim = f"during-{what}", f"{names[-1]}-admin"
            kept = certificates_of(local_env, ns, names)
            with outage(local_env), _timed(what):
                gone_at = time.monotonic() + OUTAGE
                apply(local_env, cluster(newcomer, ns, workers=0))
                local_env.kubectl("delete", "secret", victim, "-n", ns)
                said = wait_for(
                    lambda: waiting_on_vault(local_env, ns) or None,
                    timeout=OUTAGE,
                    what=f"a Certificate saying {UNAVAILABLE} while Vault is {what}",
                    interval=2.0,
                )
                print(f"vault {what}: {len(said)} Certificates say so, e.g. {said[0]}")
                time.sleep(max(0.0, gone_at - time.monotonic()))
                now = certificates_of(local_env, ns, names)
                summary.lost += [
                    f"{secret}: {'deleted' if secret not in now else 'changed'} while Vault "
                    f"was {what}"
                    for secret, data in kept.items()
                    if secret != victim and now.get(secret) != data
                ]
            summary.faults += 1
            back = time.monotonic()
            names.append(newcomer)
            wait_for(all_ready, timeout=READY_TIMEOUT, what=f"all Clusters Ready after {what}")
            wait_for(
                reissued(victim, kept[victim]),
                timeout=READY_TIMEOUT,
                what=f"{victim} issued again after Vault was {what}",
            )
            print(f"vault {what}: all converged {time.monotonic() - back:.0f} s after it came back")
            cas[newcomer] = ca_of(local_env, ns, newcomer)
        summary.converged = sum(ready(c) for c in clusters(local_env, ns).values())
        crashed = ops.crashed()
    assert not crashed, f"operators exited on their own: {crashed}"

    for name in names:
        summary.lost += pki_damage(local_env, ns, name, cas[name])
        counts = children_count(local_env, ns, name)
        summary.leaked += [
            f"{name}: {counts[kind]} {kind}" for kind in DUPLICATES if counts.get(kind, 0) > 1
        ]
        summary.leaked += signed_twice(local_env, ns, name)
    summary.check()


@contextlib.contextmanager
def _timed(what: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    print(f"vault {what} for {time.monotonic() - started:.0f} s")

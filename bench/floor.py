"""The floor: what issuing one certificate costs through the bare clients, no operator.

One certificate of a guest cluster, issued by hand with the adapters the
operators use, is three requests: Vault's ``sign`` of a CSR of a locally
made key, the Secret written (server-side apply, a real TLS Secret's size),
and the Certificate's status patched. Their medians, run one after another
on the same Vault and API server as the benchmark, are what no operator can
beat; the benchmarks print their times as ratios to them.
"""

from __future__ import annotations

import base64
import secrets
import statistics
import time
from dataclasses import dataclass
from typing import Any

from operators.certificates import keys
from shared.api import API_VERSION
from shared.api import certificates as catalogue
from shared.api.kinds import CERTIFICATE
from shared.kube import Kube, ObjectRef, connect_kubeconfig
from shared.vault import CA, Role, TokenAuth, Vault
from tests import localenv


@dataclass(frozen=True)
class Floor:
    """Median seconds of each request of one issuance."""

    sign: float
    secret_write: float
    status_patch: float
    samples: int

    @property
    def per_certificate(self) -> float:
        return self.sign + self.secret_write + self.status_patch

    def line(self) -> str:
        return (
            f"{self.per_certificate * 1000:.1f} ms per certificate: sign "
            f"{self.sign * 1000:.1f} + Secret write {self.secret_write * 1000:.1f} + status "
            f"patch {self.status_patch * 1000:.1f} ms (medians of {self.samples})"
        )


def sign_latencies(env: localenv.LocalEnv, count: int) -> list[float]:
    """Seconds per ``sign`` call, sequential, on the same Vault through the same adapter."""
    token = env.vault_token
    vault = Vault(env.vault_addr, TokenAuth(lambda: token))
    info = catalogue.ClusterInfo(
        f"s{secrets.token_hex(3)}", "bench", "sign.bench.test", "172.31.0.0/16"
    )
    mount = catalogue.mount_path(info.namespace, info.name)
    vault.ensure_pki(mount, CA("bench CA", "87600h"), max_ttl="87600h")
    profile = catalogue.profile(catalogue.API, info)
    vault.ensure_role(
        mount,
        Role(
            profile.component,
            (profile.common_name, *profile.dns_names),
            profile.organizations,
            profile.key_usages,
            profile.server,
            profile.client,
            "8760h",
            True,
        ),
    )
    csrs = [
        keys.csr_pem(keys.new_key(catalogue.ECDSA_P256), profile.common_name) for _ in range(count)
    ]
    result = []
    try:
        for csr in csrs:
            started = time.perf_counter()
            vault.sign(
                mount,
                profile.component,
                csr,
                common_name=profile.common_name,
                dns_names=profile.dns_names,
                ip_addresses=profile.ip_addresses,
                ttl="24h",
            )
            result.append(time.perf_counter() - started)
    finally:
        vault.unmount(mount)
    return result


def _tls_secret(name: str, namespace: str, revision: int) -> dict[str, Any]:
    key = keys.new_key(catalogue.ECDSA_P256)
    # A certificate's size without its signature: the write is what is timed.
    blob = base64.b64encode(secrets.token_bytes(700)).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": {"bench": str(revision)}},
        "type": "kubernetes.io/tls",
        "data": {
            "tls.key": base64.b64encode(keys.private_pem(key)).decode(),
            "tls.crt": base64.b64encode(blob.encode()).decode(),
            "ca.crt": base64.b64encode(blob.encode()).decode(),
        },
    }


def write_latencies(
    env: localenv.LocalEnv, namespace: str, count: int
) -> tuple[list[float], list[float]]:
    """Seconds per Secret apply and per Certificate status patch, sequential.

    ``namespace`` must be one no operator watches: the Certificate made here
    is never reconciled, only written.
    """
    kube = Kube(connect_kubeconfig(env.kubeconfig.read_text()), "g8s-bench-floor")
    name = f"floor-{secrets.token_hex(3)}"
    certificate = {
        "apiVersion": API_VERSION,
        "kind": CERTIFICATE.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"cluster": "floor", "component": catalogue.API},
    }
    kube.create(certificate)
    ref = ObjectRef(API_VERSION, CERTIFICATE.kind, name, namespace)
    secret_times, patch_times = [], []
    try:
        for revision in range(1, count + 1):
            secret = _tls_secret(name, namespace, revision)
            started = time.perf_counter()
            kube.apply(secret)
            secret_times.append(time.perf_counter() - started)
            status = {"revision": revision, "phase": "Issued", "observedGeneration": 1}
            started = time.perf_counter()
            kube.patch_status(ref, status)
            patch_times.append(time.perf_counter() - started)
    finally:
        kube.delete(ref)
        kube.delete(ObjectRef("v1", "Secret", name, namespace))
    return secret_times, patch_times


def measure(env: localenv.LocalEnv, namespace: str, count: int = 30) -> Floor:
    signs = sign_latencies(env, count)
    writes, patches = write_latencies(env, namespace, count)
    return Floor(
        sign=statistics.median(signs),
        secret_write=statistics.median(writes),
        status_patch=statistics.median(patches),
        samples=count,
    )

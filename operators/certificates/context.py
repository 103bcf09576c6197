"""Settings and dependencies of the certificates operator.

``CertificatesSettings`` comes from the environment (prefix ``G8S_``), with
``VAULT_ADDR``/``VAULT_TOKEN`` as fallbacks so that the usual Vault variables
work too. ``make_context`` turns them into the operator's context: the Vault
adapter (token from the environment, a file or a Secret; or Kubernetes auth),
the Kubernetes adapter and the metrics.

The Vault token (or the Kubernetes auth role's policy) needs, with the default
mount prefix::

    path "sys/mounts"        { capabilities = ["read"] }
    path "sys/mounts/pki-*"  { capabilities = ["create", "read", "update", "delete", "sudo"] }
    path "pki-*"             { capabilities = ["create", "read", "update", "delete", "list"] }
"""

import base64
import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from operators.certificates.metrics import CertificateMetrics
from operators.certificates.model import seconds
from operators.certificates.renewal import Schedule
from shared.identity import OperatorIdentity
from shared.kube import Kube, ObjectRef
from shared.metrics import OperatorMetrics
from shared.runtime import OperatorContext, host_api
from shared.settings import RuntimeSettings, SettingsError, load
from shared.vault import Auth, KubernetesAuth, TokenAuth, Vault, token_from_file

SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105 - a path


@dataclass(frozen=True)
class CertificatesSettings:
    vault_addr: str = ""
    # token: G8S_VAULT_TOKEN, else the file G8S_VAULT_TOKEN_FILE, else the
    # Secret G8S_VAULT_TOKEN_SECRET ("<namespace>/<name>", data key "token");
    # kubernetes: log in with the pod's service-account JWT.
    vault_auth: str = "token"
    vault_token: str = ""
    vault_token_file: str = ""
    vault_token_secret: str = ""
    vault_kubernetes_role: str = "g8s-certificates"
    vault_kubernetes_mount: str = "kubernetes"
    vault_jwt_file: str = SERVICE_ACCOUNT_TOKEN
    # CA bundle to verify Vault's TLS certificate; empty: the system's.
    vault_ca_file: str = ""
    vault_timeout: float = 10.0
    # Vault requests in flight at once (docs/operations.md#concurrency-settings).
    vault_parallelism: int = 8
    # Mounts are "<prefix>-<namespace>-<cluster>".
    pki_mount_prefix: str = "pki"
    pki_ca_ttl: str = "87600h"
    # The longest TTL a Certificate may ask for.
    pki_max_ttl: str = "8760h"
    pki_ca_key_type: str = "ec"
    # How often a sleeping renewal timer looks at its object's status again (in
    # memory, no API call), and how long it waits before asking a second time.
    renewal_check_interval: float = 60.0

    @property
    def max_ttl_seconds(self) -> int:
        return seconds(self.pki_max_ttl, "G8S_PKI_MAX_TTL")


def load_settings(environ: Mapping[str, str]) -> CertificatesSettings:
    loaded = load(CertificatesSettings, environ)
    fallbacks = {
        "vault_addr": environ.get("VAULT_ADDR", ""),
        "vault_token": environ.get("VAULT_TOKEN", ""),
    }
    updates = {k: v for k, v in fallbacks.items() if v and not getattr(loaded, k)}
    result = dataclasses.replace(loaded, **updates)  # type: ignore[arg-type]
    if result.vault_parallelism < 1:
        raise SettingsError(f"G8S_VAULT_PARALLELISM={result.vault_parallelism}: must be 1 or more")
    if not result.vault_addr:
        raise SettingsError("G8S_VAULT_ADDR (or VAULT_ADDR) must name the Vault server")
    if result.vault_auth not in ("token", "kubernetes"):
        raise SettingsError(f"G8S_VAULT_AUTH={result.vault_auth!r}: expected token or kubernetes")
    result.max_ttl_seconds  # noqa: B018 - fail at start-up on a malformed TTL
    return result


@dataclass
class CertificatesContext(OperatorContext):
    """The operator's context (kopf memo): the kit's plus Vault and metrics."""

    settings: CertificatesSettings = field(kw_only=True)
    vault: Vault = field(kw_only=True)
    certificate_metrics: CertificateMetrics = field(kw_only=True)
    # (namespace, cluster) -> (digest of the CA bundle, when) this process last
    # wrote the cluster's CA Secret: its Certificates all deliver the same one.
    ca_written: dict[tuple[str, str], tuple[str, datetime]] = field(
        default_factory=dict, kw_only=True
    )
    # Every watched Certificate's renewal time (operators/certificates/renewal.py).
    renewals: Schedule = field(default_factory=Schedule, kw_only=True)
    # The uids of Clusters seen being deleted: a deletion is never undone, so
    # the releases of their other Certificates need not read them again.
    going_clusters: set[str] = field(default_factory=set, kw_only=True)


def cached(source: Callable[[], str], seconds_valid: float) -> Callable[[], str]:
    """``source`` read at most once per ``seconds_valid`` (a Secret is not re-read per request)."""
    lock = threading.Lock()
    state: dict[str, tuple[float, str]] = {}

    def read() -> str:
        with lock:
            now = time.monotonic()
            hit = state.get("value")
            if hit is None or now - hit[0] > seconds_valid:
                hit = (now, source())
                state["value"] = hit
            return hit[1]

    return read


def secret_token(kube: Kube, reference: str) -> Callable[[], str]:
    namespace, _, name = reference.partition("/")
    if not namespace or not name:
        raise SettingsError(f"G8S_VAULT_TOKEN_SECRET={reference!r}: expected <namespace>/<name>")

    def read() -> str:
        secret = kube.get(ObjectRef("v1", "Secret", name, namespace)) or {}
        encoded = (secret.get("data") or {}).get("token", "")
        return base64.b64decode(encoded).decode()

    return cached(read, 60.0)


def vault_auth(settings: CertificatesSettings, kube: Kube) -> Auth:
    if settings.vault_auth == "kubernetes":
        return KubernetesAuth(
            settings.vault_kubernetes_role,
            Path(settings.vault_jwt_file),
            settings.vault_kubernetes_mount,
        )
    if settings.vault_token:
        token = settings.vault_token
        return TokenAuth(lambda: token)
    if settings.vault_token_file:
        return TokenAuth(token_from_file(Path(settings.vault_token_file)))
    if settings.vault_token_secret:
        return TokenAuth(secret_token(kube, settings.vault_token_secret))
    raise SettingsError(
        "no Vault token: set G8S_VAULT_TOKEN, G8S_VAULT_TOKEN_FILE or G8S_VAULT_TOKEN_SECRET, "
        "or G8S_VAULT_AUTH=kubernetes"
    )


def make_context(
    identity: OperatorIdentity,
    runtime: RuntimeSettings,
    metrics: OperatorMetrics,
    settings: CertificatesSettings,
) -> CertificatesContext:
    kube = host_api(runtime, identity.field_manager, metrics)
    vault = Vault(
        settings.vault_addr,
        vault_auth(settings, kube),
        timeout=settings.vault_timeout,
        verify=settings.vault_ca_file or True,
        parallelism=settings.vault_parallelism,
    )
    return CertificatesContext(
        identity=identity,
        runtime=runtime,
        metrics=metrics,
        settings=settings,
        vault=vault,
        kube=kube,
        certificate_metrics=CertificateMetrics(metrics.registry),
    )

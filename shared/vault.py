"""The Vault (OpenBao) adapter: the only module that imports hvac.

A narrow, synchronous interface for what the certificates operator does with
Vault: keep a PKI mount per guest cluster (root CA created once, one role per
component), sign CSRs, revoke, read the CRL and unmount; while a CA is
rotated, a second root issuer beside the first, signing moved to it, the
first retired. Call it from worker threads (sync steps), never from the
event loop.

Authentication is either a token (read from a source each time, so a rotated
token file is picked up) or Vault's Kubernetes auth method (a service-account
JWT exchanged for a token, logged in again before the token expires). Renewable
tokens are renewed when less than half of their TTL is left.

Failures come out as three kit-level errors, never as hvac or requests types:
``VaultUnavailable`` (unreachable, sealed, not initialised: retry with backoff),
``VaultRefused`` (Vault rejected what the object asks for: an invalid spec,
not retried) and ``VaultFailure`` (anything else: retry with backoff).
"""

import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import hvac
import requests
from hvac import exceptions as hvac_errors

from shared.errors import InvalidSpec, Retry

REASON_UNAVAILABLE = "VaultUnavailable"
REASON_REFUSED = "VaultRefused"
REASON_FAILURE = "VaultError"

HOSTNAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# Name of the root issuer in every mount: Vault refuses a second issuer of the
# same name, so two racing reconciles can never create two roots.
ROOT_ISSUER = "root"


# An outage ends by someone else's hand (a restart, an unseal), never by the
# object's; a Certificate waiting on it should see Vault back within this,
# not after a backoff grown to minutes. Asking a down Vault costs a refused
# connection or a 503.
UNAVAILABLE_CEILING = 30.0


# How Vault answers a request naming an issuer it does not have.
ISSUER_NOT_FOUND = "unable to find PKI issuer"

# How Vault refuses a sign on a role that does not exist.
UNKNOWN_ROLE = "unknown role"


class VaultUnavailable(Retry):
    """Vault cannot be reached or cannot serve (sealed, not initialised)."""

    def __init__(self, message: str, delay: float | None = None) -> None:
        super().__init__(REASON_UNAVAILABLE, message, delay, ceiling=UNAVAILABLE_CEILING)


class VaultFailure(Retry):
    """Vault answered with an error that may go away (permissions, internal errors)."""

    def __init__(self, message: str, delay: float | None = None) -> None:
        super().__init__(REASON_FAILURE, message, delay)


class VaultRefused(InvalidSpec):
    """Vault refused a request built from the object's spec; the same spec fails again."""

    def __init__(self, message: str) -> None:
        super().__init__("spec", message, reason=REASON_REFUSED)


@dataclass(frozen=True)
class Issued:
    """A certificate Vault signed: PEM certificate, PEM issuing CA, serial (hex, colons)."""

    certificate: str
    issuing_ca: str
    serial_number: str


@dataclass(frozen=True)
class Role:
    """A PKI role allowing exactly the listed names, organisations and usages."""

    name: str
    allowed_names: tuple[str, ...]
    organizations: tuple[str, ...]
    key_usages: tuple[str, ...]
    server: bool
    client: bool
    max_ttl: str
    allow_ip_sans: bool
    # The subject's common name the role issues for. When it is a hostname
    # (etcd's service names, kube-apiserver) Vault checks every CN against
    # ``allowed_names``; Kubernetes identities ("system:node:x") are not
    # hostnames, Vault cannot check them, and for those a certificate is held
    # to its cluster by that cluster's own CA alone.
    common_name: str = ""

    @property
    def checks_common_name(self) -> bool:
        return HOSTNAME.fullmatch(self.common_name) is not None

    def body(self) -> dict[str, Any]:
        return {
            # Bare names only: no subdomains, no globs, no "any name".
            "allowed_domains": list(self.allowed_names),
            "allow_bare_domains": True,
            "allow_subdomains": False,
            "allow_glob_domains": False,
            "allow_any_name": False,
            "allow_localhost": "localhost" in self.allowed_names,
            "allow_ip_sans": self.allow_ip_sans,
            "allowed_uri_sans": [],
            "allowed_other_sans": [],
            # Kubernetes identities ("system:node:x") are not hostnames.
            "enforce_hostnames": False,
            "cn_validations": ["hostname"] if self.checks_common_name else ["disabled"],
            "organization": list(self.organizations),
            "key_usage": list(self.key_usages),
            "ext_key_usage": [],
            "server_flag": self.server,
            "client_flag": self.client,
            "code_signing_flag": False,
            "email_protection_flag": False,
            "use_csr_common_name": False,
            "use_csr_sans": False,
            "require_cn": True,
            "max_ttl": self.max_ttl,
            # Vault keeps every leaf it signs: after a crash between the
            # signature and the Secret's write, the operator finds the one it
            # signed for the key it kept instead of signing a second.
            "no_store": False,
            "generate_lease": False,
            "key_type": "any",
        }


@dataclass(frozen=True)
class CA:
    """How a mount's root CA is made when it does not exist yet."""

    common_name: str
    ttl: str
    key_type: str = "ec"
    key_bits: int = 256
    organizational_unit: str = ""

    def body(self) -> dict[str, Any]:
        """What Vault's generate-root endpoints take to make this CA."""
        return {
            "common_name": self.common_name,
            "ou": self.organizational_unit,
            "ttl": self.ttl,
            "key_type": self.key_type,
            "key_bits": self.key_bits,
        }


class TokenAuth:
    """A token from ``source`` (a file, a Secret, the environment), read on every login."""

    def __init__(self, source: Callable[[], str]) -> None:
        self._source = source

    def token(self, client: Any) -> tuple[str, float | None]:
        del client
        return self._source().strip(), None


class KubernetesAuth:
    """Vault's Kubernetes auth method: the pod's service-account JWT for a Vault token."""

    def __init__(self, role: str, jwt_path: Path, mount: str = "kubernetes") -> None:
        self.role = role
        self.jwt_path = jwt_path
        self.mount = mount

    def token(self, client: Any) -> tuple[str, float | None]:
        jwt = self.jwt_path.read_text().strip()
        response = client.auth.kubernetes.login(
            self.role, jwt, use_token=False, mount_point=self.mount
        )
        auth = response["auth"]
        return str(auth["client_token"]), float(auth.get("lease_duration") or 0) or None


Auth = TokenAuth | KubernetesAuth


def token_from_file(path: Path) -> Callable[[], str]:
    return path.read_text


def _read(client: Any, *, path: str) -> Any:
    return client.read(path)


@contextmanager
def _vault_errors(addr: str) -> Iterator[None]:
    try:
        yield
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise VaultUnavailable(f"cannot reach Vault at {addr}: {type(exc).__name__}") from None
    except (hvac_errors.VaultDown, hvac_errors.VaultNotInitialized, hvac_errors.BadGateway):
        raise VaultUnavailable(f"Vault at {addr} is sealed or not initialised") from None
    except hvac_errors.InvalidRequest as exc:
        raise VaultRefused(_describe(exc)) from None
    except hvac_errors.VaultError as exc:
        raise VaultFailure(f"{type(exc).__name__}: {_describe(exc)}") from None


def _describe(exc: Any) -> str:
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list) and errors:
        return "; ".join(str(e) for e in errors)
    return str(exc) or type(exc).__name__


def _session(connections: int) -> requests.Session:
    """An HTTP session keeping ``connections`` open (requests keeps 10 by default,
    and opens and drops one more for each request beyond)."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=connections)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class Vault:
    """One Vault server, on behalf of one operator."""

    def __init__(
        self,
        addr: str,
        auth: Auth,
        *,
        timeout: float = 10.0,
        verify: bool | str = True,
        clock: Callable[[], float] = time.monotonic,
        parallelism: int = 8,
    ) -> None:
        self.addr = addr
        self._auth = auth
        self._clock = clock
        self._client = hvac.Client(
            url=addr, timeout=timeout, verify=verify, session=_session(parallelism)
        )
        # At most this many requests at once; the others wait their turn here
        # rather than in Vault (docs/operations.md#concurrency-settings).
        self._slots = threading.BoundedSemaphore(parallelism)
        # What this process has made sure of, so that every issuance does not
        # ask again (4 of an issuance's 5 requests did): mount -> (max TTL, CA
        # PEM), and (mount, role) -> the role's body. A failed request on a
        # mount, or a CA that is not the one known, forgets the mount's entries.
        self._pki_known: dict[str, tuple[str, str]] = {}
        self._roles_known: dict[tuple[str, str], dict[str, Any]] = {}
        # A mount's issuers (name -> PEM) and the name of its default.
        self._issuers_known: dict[str, tuple[dict[str, str], str]] = {}
        # Whether the last request sent got an answer (True before the first).
        self.answered = True
        self._login_lock = threading.Lock()
        self._mount_locks: dict[str, threading.RLock] = {}
        self._locks_lock = threading.Lock()
        self._token_expires: float | None = None
        self._token_checked: float | None = None
        self._token_ttl: float | None = None

    # --- authentication -----------------------------------------------------

    def _login(self) -> None:
        try:
            token, ttl = self._auth.token(self._client)
        except (hvac_errors.InvalidRequest, hvac_errors.Forbidden) as exc:
            # A refused login is the operator's configuration, never an object's spec.
            raise VaultFailure(f"login refused: {_describe(exc)}") from None
        self._client.token = token
        now = self._clock()
        self._token_checked = now
        self._token_ttl = ttl
        self._token_expires = now + ttl if ttl else None

    def _authenticated(self) -> Any:
        with self._login_lock, _vault_errors(self.addr):
            now = self._clock()
            if self._token_checked is None or isinstance(self._auth, TokenAuth):
                # A token source may have been rotated: read it again (cheap).
                if self._token_checked is None or self._client.token != self._peek_static():
                    self._login()
            elif self._token_expires is not None and self._token_ttl is not None:
                left = self._token_expires - now
                if left < self._token_ttl / 2:
                    self._renew_or_login()
        return self._client

    def _peek_static(self) -> str:
        assert isinstance(self._auth, TokenAuth)
        token, _ = self._auth.token(self._client)
        return token

    def _renew_or_login(self) -> None:
        try:
            response = self._client.auth.token.renew_self()
        except hvac_errors.VaultError:
            self._login()
            return
        ttl = float(response["auth"].get("lease_duration") or 0)
        if ttl <= 0 or (self._token_ttl and ttl < self._token_ttl / 2):
            # The token reached its max TTL: renewal no longer extends it.
            self._login()
            return
        now = self._clock()
        self._token_expires = now + ttl
        self._token_ttl = ttl

    def renew_token(self) -> float | None:
        """Renew a renewable token now; return its new TTL in seconds (None if not renewable)."""
        client = self._authenticated()
        with _vault_errors(self.addr):
            info = client.auth.token.lookup_self()["data"]
            if not info.get("renewable"):
                return None
            response = client.auth.token.renew_self()
        return float(response["auth"].get("lease_duration") or 0)

    def _call(self, fn: Callable[[Any], Any]) -> Any:
        try:
            result = self._answer(fn)
        except VaultUnavailable:
            self.answered = False
            raise
        except (VaultRefused, VaultFailure):
            self.answered = True  # a refusal is an answer too
            raise
        self.answered = True
        return result

    def _answer(self, fn: Callable[[Any], Any]) -> Any:
        client = self._authenticated()
        with self._slots, _vault_errors(self.addr):
            try:
                return fn(client)
            except hvac_errors.Forbidden:
                if isinstance(self._auth, TokenAuth):
                    raise
            # An expired login token: log in once more and try again.
            with self._login_lock:
                self._login()
            return fn(client)

    # --- health ---------------------------------------------------------------

    def available(self) -> bool:
        """True when Vault answers, is initialised and unsealed."""
        try:
            with _vault_errors(self.addr):
                status = self._client.sys.read_health_status(method="GET")
        except (VaultUnavailable, VaultFailure, VaultRefused):
            return False
        if isinstance(status, Mapping):
            return bool(status.get("initialized")) and not status.get("sealed")
        return bool(getattr(status, "ok", False))

    # --- mounts and CA ------------------------------------------------------

    def mounts(self, prefix: str = "") -> list[str]:
        """Paths (without the trailing slash) of the secrets engines starting with ``prefix``."""
        result = self._call(lambda c: c.sys.list_mounted_secrets_engines())
        table = result.get("data", result)
        return sorted(
            path.rstrip("/")
            for path, info in table.items()
            if isinstance(info, Mapping) and path.startswith(prefix)
        )

    def _mount_lock(self, mount: str) -> threading.RLock:
        """One lock per mount, held by every request on it.

        OpenBao 2.x hangs (the whole server, not just the mount) when a mount
        is disabled while another request on it is in flight; serialising a
        mount's requests in this process rules that out, and costs little since
        different clusters' mounts still work in parallel.
        """
        with self._locks_lock:
            return self._mount_locks.setdefault(mount, threading.RLock())

    def ensure_pki(self, mount: str, ca: CA, *, max_ttl: str) -> str:
        """Make ``mount`` a PKI engine with a root CA; return the CA certificate (PEM).

        The root is generated only when the mount has none: an existing CA is
        never replaced, so certificates already issued keep verifying.
        """
        known = self._pki_known.get(mount)
        if known is not None and known[0] == max_ttl:
            return known[1]
        with self._mount_lock(mount):
            pem = self._ensure_pki(mount, ca, max_ttl=max_ttl)
            self._pki_known[mount] = (max_ttl, pem)
            return pem

    def forget(self, mount: str) -> None:
        """Ask Vault again, next time, whether ``mount`` and its roles are as wanted."""
        self._pki_known.pop(mount, None)
        self._issuers_known.pop(mount, None)
        for key in [k for k in self._roles_known if k[0] == mount]:
            self._roles_known.pop(key, None)

    def _ensure_pki(self, mount: str, ca: CA, *, max_ttl: str) -> str:
        if mount not in self.mounts(mount):
            self._call(
                lambda c: c.sys.enable_secrets_engine(
                    "pki",
                    path=mount,
                    description="g8s guest cluster PKI",
                    config={"max_lease_ttl": max_ttl},
                )
            )
        else:
            self._call(lambda c: c.sys.tune_mount_configuration(mount, max_lease_ttl=max_ttl))
        existing = self.ca_certificate(mount)
        if existing:
            return existing
        refused: VaultRefused | None = None
        try:
            self._call(
                lambda c: c.write_data(
                    f"{mount}/root/generate/internal",
                    data={**ca.body(), "issuer_name": ROOT_ISSUER, "key_name": ROOT_ISSUER},
                )
            )
        except VaultRefused as exc:
            # Another process may have made the root between our read and
            # our write; if not, Vault's refusal says why.
            refused = exc
        created = self.ca_certificate(mount)
        if not created:
            if refused is not None:
                raise refused
            raise VaultFailure(f"mount {mount} has no CA after generating one")
        if refused is None:
            # Made here: the mount's one issuer is known without asking (three
            # requests fewer for each new cluster).
            self._issuers_known[mount] = ({ROOT_ISSUER: created}, ROOT_ISSUER)
        return created

    def ca_certificate(self, mount: str) -> str:
        """The mount's default issuer certificate (PEM), or "" when it has none."""
        try:
            result = self._call(lambda c: c.read(f"{mount}/cert/ca"))
        except VaultRefused:
            return ""
        data = (result or {}).get("data") or {}
        return str(data.get("certificate") or "").strip()

    # --- issuers: more than one CA in a mount, while the CA is rotated --------

    def issuers(self, mount: str) -> dict[str, str]:
        """The mount's issuers by name, each with its certificate (PEM)."""
        return dict(self._issuers(mount)[0])

    def default_issuer(self, mount: str) -> str:
        """The name of the issuer that signs (the mount's default); "" when it has none."""
        return self._issuers(mount)[1]

    def _issuers(self, mount: str) -> tuple[dict[str, str], str]:
        known = self._issuers_known.get(mount)
        if known is not None:
            return known

        def listed(client: Any) -> Any:
            try:
                return client.list(f"{mount}/issuers")
            except hvac_errors.InvalidPath:
                return None  # no issuer yet

        with self._mount_lock(mount):
            info = ((self._call(listed) or {}).get("data") or {}).get("key_info") or {}
            config = self._call(partial(_read, path=f"{mount}/config/issuers")) or {}
            default_id = str((config.get("data") or {}).get("default") or "")
            found: dict[str, str] = {}
            default = ""
            for issuer_id, about in info.items():
                read = self._call(partial(_read, path=f"{mount}/issuer/{issuer_id}")) or {}
                data = read.get("data") or {}
                name = str((about or {}).get("issuer_name") or data.get("issuer_name") or issuer_id)
                found[name] = str(data.get("certificate") or "").strip()
                if issuer_id == default_id:
                    default = name
            self._issuers_known[mount] = (found, default)
        return found, default

    def ensure_issuer(self, mount: str, name: str, ca: CA) -> str:
        """A root issuer ``name`` in ``mount``, made if missing, not signing; its certificate.

        Its key has the same name, so that retiring the issuer finds it.
        """
        existing = self.issuers(mount).get(name)
        if existing:
            return existing
        refused: VaultRefused | None = None
        with self._mount_lock(mount):
            try:
                self._call(
                    lambda c: c.write_data(
                        f"{mount}/issuers/generate/root/internal",
                        data={**ca.body(), "issuer_name": name, "key_name": name},
                    )
                )
            except VaultRefused as exc:
                refused = exc  # made by another process since we looked, or not: read
            self.forget(mount)
        made = self.issuers(mount).get(name)
        if not made:
            if refused is not None:
                raise refused
            raise VaultFailure(f"mount {mount} has no issuer {name} after generating it")
        return made

    def set_default_issuer(self, mount: str, name: str) -> None:
        """Make issuer ``name`` the one that signs; roles follow the mount's default."""
        with self._mount_lock(mount):
            self.forget(mount)
            self._call(lambda c: c.write_data(f"{mount}/config/issuers", data={"default": name}))

    def retire_issuer(self, mount: str, name: str) -> None:
        """Delete issuer ``name`` and its key; nothing if it is already gone."""
        with self._mount_lock(mount):
            self.forget(mount)
            try:
                read = self._call(partial(_read, path=f"{mount}/issuer/{name}")) or {}
            except (VaultRefused, VaultFailure) as exc:
                # Vault answers a missing issuer with a 500 and these words.
                if ISSUER_NOT_FOUND in str(exc):
                    return
                raise
            key_id = str((read.get("data") or {}).get("key_id") or "")
            self._call(lambda c: c.delete(f"{mount}/issuer/{name}"))
            if key_id:
                self._call(lambda c: c.delete(f"{mount}/key/{key_id}"))

    def ensure_role(self, mount: str, role: Role) -> None:
        body = role.body()
        if self._roles_known.get((mount, role.name)) == body:
            return
        with self._mount_lock(mount):
            self._call(lambda c: c.write_data(f"{mount}/roles/{role.name}", data=body))
            self._roles_known[(mount, role.name)] = body

    def delete_role(self, mount: str, name: str) -> None:
        """Remove role ``name``; deleting a role that does not exist is a no-op in Vault."""
        with self._mount_lock(mount):
            self._roles_known.pop((mount, name), None)
            self._call(lambda c: c.delete(f"{mount}/roles/{name}"))

    # --- certificates -------------------------------------------------------

    def sign(
        self,
        mount: str,
        role: str,
        csr_pem: str,
        *,
        common_name: str,
        dns_names: Sequence[str],
        ip_addresses: Sequence[str],
        ttl: str,
    ) -> Issued:
        """Sign ``csr_pem`` with ``role``; Vault never sees the private key."""
        params: dict[str, Any] = {
            "alt_names": ",".join(dns_names),
            "ip_sans": ",".join(ip_addresses),
            "ttl": ttl,
            "format": "pem",
            # A CN such as "kube-apiserver" is an identity, not a DNS name.
            "exclude_cn_from_sans": True,
        }
        with self._mount_lock(mount):
            try:
                result = self._call(
                    lambda c: c.secrets.pki.sign_certificate(
                        role, csr_pem, common_name, extra_params=params, mount_point=mount
                    )
                )
            except VaultRefused as exc:
                self.forget(mount)
                if UNKNOWN_ROLE in str(exc):
                    # Removed behind this process after it made sure of it:
                    # the next attempt makes it again, so not the spec's fault.
                    raise VaultFailure(f"{exc}; the role is made again") from None
                raise
            except Retry:
                # The mount may be gone or changed behind this process.
                self.forget(mount)
                raise
        data = result["data"]
        issued = Issued(
            certificate=str(data["certificate"]).strip(),
            issuing_ca=str(data["issuing_ca"]).strip(),
            serial_number=str(data["serial_number"]),
        )
        known = self._pki_known.get(mount)
        if known is not None and known[1] != issued.issuing_ca:
            self.forget(mount)
        return issued

    def signed_certificates(self, mount: str) -> Iterator[str]:
        """The certificates ``mount`` stored (PEM), the CA's among them; read one by one.

        Lazily: a caller looking for one certificate stops at it.
        """

        def serials(client: Any) -> Any:
            try:
                return client.list(f"{mount}/certs")
            except hvac_errors.InvalidPath:
                return None  # nothing stored yet

        with self._mount_lock(mount):
            listed = self._call(serials) or {}
        for serial in (listed.get("data") or {}).get("keys") or []:
            with self._mount_lock(mount):
                read = self._call(partial(_read, path=f"{mount}/cert/{serial}")) or {}
            pem = str((read.get("data") or {}).get("certificate") or "").strip()
            if pem:
                yield pem

    def revoke(self, mount: str, certificate_pem: str) -> None:
        """Revoke a certificate by its PEM.

        Nothing to do when the mount is gone: its CA went with it.
        """
        try:
            with self._mount_lock(mount):
                if mount not in self.mounts(mount):
                    return
                self._call(
                    lambda c: c.write_data(f"{mount}/revoke", data={"certificate": certificate_pem})
                )
        except VaultRefused as exc:
            # Expired or already revoked: nothing left to do.
            if "expired" in str(exc) or "already revoked" in str(exc):
                return
            raise

    def crl(self, mount: str) -> str:
        """The mount's current CRL (PEM)."""
        return str(self._call(lambda c: c.secrets.pki.read_crl(mount_point=mount)))

    def unmount(self, mount: str) -> None:
        """Remove ``mount`` with its CA, roles and CRL; nothing if it is already gone."""
        with self._mount_lock(mount):
            self.forget(mount)
            self._call(lambda c: c.sys.disable_secrets_engine(mount))

"""Small in-memory stand-ins for the Vault and Kubernetes adapters.

They are used only to test the logic above the adapters (steps, policies,
status); the adapters themselves are tested against real servers in
tests/integration/certificates.
"""

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.errors import ApiError
from shared.kube import ObjectRef
from shared.vault import CA, Issued, Role, VaultUnavailable


def certificate_body(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "g8s.io/v1alpha1",
        "kind": "Certificate",
        "metadata": {"name": "c1-api", "namespace": "ns1", "uid": "uid-1", "generation": 1},
        "spec": {
            "cluster": "c1",
            "component": "api",
            "baseDomain": "c1.example.org",
            "serviceCIDR": "172.31.0.0/16",
            **spec,
        },
    }


class FakeVault:
    """A PKI that signs with a local CA; ``down`` makes every call unavailable."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.down = False
        self.mounts_: dict[str, str] = {}
        self.roles: dict[tuple[str, str], Role] = {}
        self.revoked: list[int] = []
        self.signed = 0
        # How many signatures to lose, as a crash right after Vault signed would.
        self.lose_signatures = 0
        # How many signatures to refuse, as a crash just before Vault signed would.
        self.refuse_signatures = 0
        self.stored: dict[str, list[str]] = {}
        self._keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        # Each mount's issuers (name -> key, PEM) and the name of the one that signs.
        self.issuers_: dict[str, dict[str, tuple[ec.EllipticCurvePrivateKey, str]]] = {}
        self.default_: dict[str, str] = {}

    @property
    def answered(self) -> bool:
        return not self.down

    def _check(self) -> None:
        if self.down:
            raise VaultUnavailable("cannot reach Vault at fake: ConnectionError")

    def mounts(self, prefix: str = "") -> list[str]:
        self._check()
        return sorted(m for m in self.mounts_ if m.startswith(prefix))

    def ensure_pki(self, mount: str, ca: CA, *, max_ttl: str) -> str:
        self._check()
        if mount not in self.mounts_:
            self.issuers_[mount] = {"root": self._new_ca(ca.common_name)}
            self.set_default_issuer(mount, "root")
        return self.mounts_[mount]

    def _new_ca(self, common_name: str) -> tuple[ec.EllipticCurvePrivateKey, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now - timedelta(minutes=1))
            .not_valid_after(self.now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        return key, cert.public_bytes(serialization.Encoding.PEM).decode().strip()

    def issuers(self, mount: str) -> dict[str, str]:
        self._check()
        return {name: pem for name, (_, pem) in self.issuers_.get(mount, {}).items()}

    def default_issuer(self, mount: str) -> str:
        self._check()
        return self.default_.get(mount, "")

    def ensure_issuer(self, mount: str, name: str, ca: CA) -> str:
        self._check()
        if name not in self.issuers_[mount]:
            self.issuers_[mount][name] = self._new_ca(ca.common_name)
        return self.issuers_[mount][name][1]

    def set_default_issuer(self, mount: str, name: str) -> None:
        self._check()
        key, pem = self.issuers_[mount][name]
        self.default_[mount] = name
        self._keys[mount] = key
        self.mounts_[mount] = pem

    def retire_issuer(self, mount: str, name: str) -> None:
        self._check()
        self.issuers_.get(mount, {}).pop(name, None)

    def ensure_role(self, mount: str, role: Role) -> None:
        self._check()
        self.roles[(mount, role.name)] = role

    def delete_role(self, mount: str, name: str) -> None:
        self._check()
        self.roles.pop((mount, name), None)

    def sign(
        self,
        mount: str,
        role: str,
        csr_pem: str,
        *,
        common_name: str,
        dns_names: Any,
        ip_addresses: Any,
        ttl: str,
    ) -> Issued:
        self._check()
        if self.refuse_signatures:
            self.refuse_signatures -= 1
            raise VaultUnavailable("no answer")
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        ca = x509.load_pem_x509_certificate(self.mounts_[mount].encode())
        lifetime = timedelta(seconds=int(ttl.rstrip("s")))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now)
            .not_valid_after(self.now + lifetime)
            .sign(self._keys[mount], hashes.SHA256())
        )
        self.signed += 1
        pem = cert.public_bytes(serialization.Encoding.PEM).decode().strip()
        self.stored.setdefault(mount, [self.mounts_[mount]]).append(pem)
        if self.lose_signatures:
            self.lose_signatures -= 1
            raise VaultUnavailable("the answer was lost")
        return Issued(pem, self.mounts_[mount], f"{cert.serial_number:x}")

    def signed_certificates(self, mount: str) -> Any:
        self._check()
        yield from self.stored.get(mount, [])

    def revoke(self, mount: str, certificate_pem: str) -> None:
        self._check()
        self.revoked.append(x509.load_pem_x509_certificate(certificate_pem.encode()).serial_number)

    def unmount(self, mount: str) -> None:
        self._check()
        self.mounts_.pop(mount, None)
        self.stored.pop(mount, None)
        self.issuers_.pop(mount, None)
        self.default_.pop(mount, None)


class FakeKube:
    """Objects by (kind, namespace, name); apply merges metadata and replaces the rest."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self.applied = 0
        # How many TLS Secret writes to refuse (503), as an API server away would.
        self.refuse_tls_writes = 0

    def apply(self, obj: dict[str, Any], *, subresource: str | None = None) -> dict[str, Any]:
        if obj.get("type") == "kubernetes.io/tls" and self.refuse_tls_writes:
            self.refuse_tls_writes -= 1
            self.fail_with(503)
        meta = obj["metadata"]
        key = (obj["kind"], meta.get("namespace"), meta["name"])
        self.applied += 1
        current = self.objects.get(key)
        merged = copy.deepcopy(obj)
        if current is not None:
            merged_meta = copy.deepcopy(current["metadata"])
            for field in ("labels", "annotations"):
                merged_meta[field] = {**merged_meta.get(field, {}), **meta.get(field, {})}
            merged = {**copy.deepcopy(current), **merged, "metadata": merged_meta}
        self.objects[key] = merged
        return merged

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        if (obj["kind"], meta.get("namespace"), meta["name"]) in self.objects:
            self.fail_with(409)
        return self.apply(obj)

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        found = self.objects.get((ref.kind, ref.namespace, ref.name))
        return copy.deepcopy(found) if found is not None else None

    def list(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None,
        selector: str = "",
        field_selector: str = "",
    ) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(o)
            for (k, ns, _), o in self.objects.items()
            if k == kind
            and (namespace is None or ns == namespace)
            and fields_match(o, field_selector)
        ]

    def delete(self, ref: ObjectRef) -> bool:
        return self.objects.pop((ref.kind, ref.namespace, ref.name), None) is not None

    def fail_with(self, status: int) -> None:
        raise ApiError(status, "Boom", "injected")


def fields_match(obj: dict[str, Any], field_selector: str) -> bool:
    """The API server's field selection, for equality terms ("spec.cluster=c1,...")."""
    for term in filter(None, field_selector.split(",")):
        path, _, wanted = term.partition("=")
        value: Any = obj
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value != wanted:
            return False
    return True


def at(hours: float) -> datetime:
    return datetime(2030, 1, 1, tzinfo=UTC) + timedelta(hours=hours)

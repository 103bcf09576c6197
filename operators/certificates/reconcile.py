"""The ordered steps of one Certificate reconciliation, and of its release.

No kopf here. Every step is synchronous (hvac and the Kubernetes client
block) and so runs in a worker thread; the kit's step runner gives each the
same timing, metrics and error translation.

Reconcile: validate -> read the Secret -> ensure the cluster's PKI (mount, CA
created once, the component's role) -> write ``<cluster>-ca`` -> issue when a
policy says so (key made here, CSR signed by Vault, Secret written, previous
certificate revoked). Release: revoke -> when no other Certificate of the
cluster is left, unmount the cluster's PKI and delete ``<cluster>-ca``.
"""

import base64
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from operators.certificates import ca_rotation, keypair_rotation, keys, policies
from operators.certificates.children import (
    REVISION_ANNOTATION,
    SPEC_HASH_ANNOTATION,
    ca_secret,
    key_pair_secret,
    pending_key_secret,
    tls_secret,
)
from operators.certificates.context import CertificatesContext
from operators.certificates.model import CertificateSpec
from shared import logs, owners
from shared.api import API_VERSION, carotation, names
from shared.api import certificates as catalogue
from shared.api import serviceaccount as sa
from shared.api.kinds import CERTIFICATE, CLUSTER
from shared.children import owned
from shared.conditions import timestamp
from shared.errors import HTTP_CONFLICT, ApiError, InvalidSpec, Retry
from shared.kube import ObjectRef
from shared.steps import Step
from shared.vault import CA, Role, VaultUnavailable


@dataclass
class Run:
    """One reconciliation: its inputs, and what the steps found and did."""

    spec: CertificateSpec
    body: Mapping[str, Any]
    ctx: CertificatesContext
    now: datetime
    current: policies.Current | None = None
    # The CA that signs (the mount's default issuer), and every CA the
    # cluster's consumers trust: one, or two while the CA is rotated.
    ca_pem: str = ""
    ca_bundle: str = ""
    # The CA rotation phase this run made true of the mount, when one is asked.
    ca_phase: carotation.Phase | None = None
    decision: policies.Decision | None = None
    issued: policies.Current | None = None
    # The key signed for comes from an interrupted earlier run.
    resumed: bool = False
    # The Secret as read (a key pair's rotation rewrites what it holds).
    secret: Mapping[str, Any] | None = None

    @property
    def mount(self) -> str:
        return mount_of(self.ctx, self.spec.namespace, self.spec.cluster)

    @property
    def state(self) -> policies.Current | None:
        """The certificate in the Secret after this run."""
        return self.issued or self.current

    @property
    def uid(self) -> str:
        return str(self.body["metadata"].get("uid") or "")

    @property
    def labels(self) -> tuple[str, str, str, str]:
        return (self.spec.namespace, self.spec.name, self.spec.cluster, self.spec.component)


def make_run(spec: CertificateSpec, body: Mapping[str, Any], ctx: CertificatesContext) -> Run:
    return Run(spec=spec, body=body, ctx=ctx, now=ctx.clock())


def mount_of(ctx: CertificatesContext, namespace: str, cluster: str) -> str:
    return catalogue.mount_path(namespace, cluster, ctx.settings.pki_mount_prefix)


def secret_ref(spec: CertificateSpec) -> ObjectRef:
    return ObjectRef("v1", "Secret", spec.secret_name, spec.namespace)


def _decoded(data: Mapping[str, str], key: str) -> bytes:
    try:
        return base64.b64decode(data.get(key) or "")
    except ValueError:
        return b""


def secret_token(body: Mapping[str, Any]) -> str:
    """What a Certificate reads of its Secret: a digest of its data (never the data)."""
    data = body.get("data") or {}
    text = "\n".join(f"{k}={data[k]}" for k in sorted(data))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def read_current(secret: Mapping[str, Any] | None) -> policies.Current | None:
    """What an existing Secret holds, tolerating any damage (a broken Secret is re-issued)."""
    if secret is None:
        return None
    data: Mapping[str, str] = secret.get("data") or {}
    annotations: Mapping[str, str] = (secret.get("metadata") or {}).get("annotations") or {}
    try:
        revision = int(annotations.get(REVISION_ANNOTATION, "0"))
    except ValueError:
        revision = 0
    key = _decoded(data, "tls.key")
    cert_pem = _decoded(data, "tls.crt")
    ca_pem = _decoded(data, "ca.crt")
    info = keys.CertificateInfo.from_pem(cert_pem) if cert_pem else None
    return policies.Current(
        spec_hash=annotations.get(SPEC_HASH_ANNOTATION),
        ca_fingerprint=_signer_fingerprint(cert_pem, ca_pem) if info and ca_pem else None,
        key_algorithm=keys.key_algorithm_of(key) if key else None,
        not_before=info.not_before if info else None,
        not_after=info.not_after if info else None,
        serial_number=info.serial_number if info else None,
        revision=revision,
        certificate_pem=cert_pem.decode() if info else None,
        faults=keys.pair_faults(key, cert_pem, ca_pem) if key and info and ca_pem else "",
        trusted=keys.fingerprint(ca_pem) if ca_pem else None,
    )


def _signer_fingerprint(cert_pem: bytes, ca_pem: bytes) -> str:
    """The fingerprint of the CA in ``ca_pem`` that signed ``cert_pem``; of the whole
    ``ca_pem`` when none did (it then differs from every CA's: issued again)."""
    signer = carotation.signer_of(cert_pem, [ca_pem])
    return keys.fingerprint(signer if signer is not None else ca_pem)


def _vault_call_observed(run: Run, ok: bool) -> None:
    run.ctx.certificate_metrics.vault_up.set(1 if ok else 0)


# --- the steps ---------------------------------------------------------------


# Pure steps are coroutines: a thread hop would only queue them behind Vault calls.
async def validate(run: Run) -> None:
    policies.validate(run.spec, max_ttl_seconds=run.ctx.settings.max_ttl_seconds)


def expire(run: Run) -> None:
    """Delete an ``onExpiry: Delete`` Certificate at the end of its life; its
    release then removes the Secret (there is nothing left to revoke: Vault
    refuses to revoke an expired certificate)."""
    if not policies.lifetime_over(run.spec, run.now):
        return
    log = logs.get_logger("g8s.certificates", namespace=run.spec.namespace, name=run.spec.name)
    log.info("lifetime over, deleting the Certificate", ended=str(run.spec.lifetime_end))
    run.ctx.client().delete(
        ObjectRef(CERTIFICATE_API_VERSION, CERTIFICATE.kind, run.spec.name, run.spec.namespace)
    )


def controller_uid(obj: Mapping[str, Any] | None) -> str | None:
    refs = ((obj or {}).get("metadata") or {}).get("ownerReferences") or []
    return next((str(r.get("uid")) for r in refs if r.get("controller")), None)


def read_secret(run: Run) -> None:
    secret = run.ctx.client().get(secret_ref(run.spec))
    holder = controller_uid(secret)
    if holder is not None and holder != run.uid:
        # Another Certificate writes it: overwriting it would take that one's
        # key away, and releasing this one would revoke that one's certificate.
        raise InvalidSpec(
            "spec.secretName",
            f"Secret {run.spec.secret_name} is written by another Certificate; "
            "name a Secret of this Certificate's own",
            reason=policies.REASON_SECRET_TAKEN,
        )
    run.secret = secret
    run.current = read_current(secret)
    # Known before Vault is asked anything, so that a failure there still says
    # why an issuance was wanted; the issue step decides again with the CA.
    own_ca = run.current.ca_fingerprint if run.current else None
    run.decision = policies.issue_reason(
        run.spec, run.current, ca_fingerprint=own_ca or "", now=run.now
    )


CN_LIMIT = 64


def ensure_pki(run: Run) -> None:
    if run.spec.profile.key_pair_only:
        # No CA in a key pair: a CA rotation's phase is delivered as asked.
        run.ca_phase = asked_ca_phase(run.body)
        return
    settings = run.ctx.settings
    ca = CA(
        # X.509 limits a common name to 64 characters (Vault refuses longer):
        # the namespace, up to 63, goes into the organizational unit.
        common_name=f"{run.spec.cluster} CA"[:CN_LIMIT],
        organizational_unit=run.spec.namespace,
        ttl=settings.pki_ca_ttl,
        key_type=settings.pki_ca_key_type,
        key_bits=256 if settings.pki_ca_key_type == "ec" else 2048,
    )
    profile = run.spec.profile
    role = Role(
        name=run.spec.role,
        common_name=profile.common_name,
        allowed_names=(profile.common_name, *profile.dns_names),
        organizations=profile.organizations,
        key_usages=profile.key_usages,
        server=profile.server,
        client=profile.client,
        max_ttl=settings.pki_max_ttl,
        allow_ip_sans=bool(profile.ip_addresses),
    )
    vault = run.ctx.vault
    try:
        run.ca_pem = vault.ensure_pki(run.mount, ca, max_ttl=settings.pki_ca_ttl)
        run.ca_phase = asked_ca_phase(run.body)
        if run.ca_phase is not None:
            ca_rotation.make_phase(vault, run.mount, run.ca_phase, ca)
            run.ca_pem = vault.ensure_pki(run.mount, ca, max_ttl=settings.pki_ca_ttl)
        run.ca_bundle = ca_rotation.trusted_bundle(vault.issuers(run.mount)) or run.ca_pem
        vault.ensure_role(run.mount, role)
    except VaultUnavailable:
        _vault_call_observed(run, ok=False)
        raise
    # Known mounts and roles cost no request: the gauge then keeps what the
    # last request that was sent found.
    _vault_call_observed(run, ok=run.ctx.vault.answered)


def asked_ca_phase(body: Mapping[str, Any]) -> carotation.Phase | None:
    """The CA rotation phase the Certificate asks for (the cluster operator writes it)."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    return carotation.parse_phase(annotations.get(carotation.ROTATION_ANNOTATION))


# The fifteen or more Certificates of a cluster deliver the same CA Secret: a
# process writes a bundle once, and the same bundle again only after this long
# (so a CA Secret deleted by hand comes back, without a write at every look).
CA_SECRET_REWRITE = timedelta(minutes=10)


def write_ca_secret(run: Run) -> None:
    if not run.ca_bundle:
        return
    key = (run.spec.namespace, run.spec.cluster)
    digest = hashlib.sha256(run.ca_bundle.encode()).hexdigest()
    last = run.ctx.ca_written.get(key)
    if last is not None and last[0] == digest and run.now - last[1] < CA_SECRET_REWRITE:
        return
    secret = ca_secret.build(
        run.spec.cluster, run.spec.namespace, ca_pem=run.ca_bundle, operator=CERTIFICATE.operator
    )
    run.ctx.client().apply(secret)
    run.ctx.ca_written[key] = (digest, run.now)


def issue(run: Run) -> None:
    spec = run.spec
    run.decision = policies.issue_reason(
        spec, run.current, ca_fingerprint=keys.fingerprint(run.ca_pem), now=run.now
    )
    if run.decision is None:
        deliver_trust(run)
        return
    log = logs.get_logger("g8s.certificates", namespace=spec.namespace, name=spec.name)
    metrics = run.ctx.certificate_metrics
    started = time.perf_counter()
    try:
        secret, issued = _issue(run)
        secret = owned(secret, owner=run.body, operator=CERTIFICATE.operator, cluster=spec.cluster)
        # Our own write must not wake the Certificate through the Secret watch.
        run.ctx.sent[owners.child_key(secret)] = secret_token(secret)
        run.ctx.client().apply(secret)
        # Only now: the status's revision is the one a Secret holds (a revision
        # signed and not written is still to be delivered, under that number).
        run.issued = issued
    except Exception as exc:
        reason = getattr(exc, "reason", type(exc).__name__)
        metrics.issue_errors.labels(*run.labels, str(reason)).inc()
        if isinstance(exc, VaultUnavailable):
            _vault_call_observed(run, ok=False)
        raise
    metrics.issue_duration.observe(time.perf_counter() - started)
    metrics.issued.labels(*run.labels).inc()
    log.info(
        "issued",
        reason=run.decision.reason,
        serial=run.issued.serial_number,
        revision=run.issued.revision,
        **({"resumed": True} if run.resumed else {}),
    )
    if not spec.profile.key_pair_only:
        drop_pending_key(run)
    previous = run.current.certificate_pem if run.current else None
    if previous and run.current and run.current.serial_number != run.issued.serial_number:
        revoke_previous(run, previous)


def deliver_trust(run: Run) -> None:
    """Rewrite the Secret's ca.crt when the CAs to trust changed (a CA rotation's
    Trusted and Dropped phases); its key and certificate stay as they are."""
    current, secret = run.current, run.secret
    if current is None or secret is None or current.certificate_pem is None:
        return
    if current.trusted == keys.fingerprint(run.ca_bundle):
        return
    data = secret.get("data") or {}
    annotations = (secret.get("metadata") or {}).get("annotations") or {}
    rewritten = tls_secret.build(
        run.spec,
        key_pem=_decoded(data, "tls.key"),
        certificate_pem=current.certificate_pem,
        ca_pem=run.ca_bundle,
        spec_hash=str(annotations.get(SPEC_HASH_ANNOTATION) or ""),
        revision=current.revision,
    )
    rewritten = owned(
        rewritten, owner=run.body, operator=CERTIFICATE.operator, cluster=run.spec.cluster
    )
    run.ctx.sent[owners.child_key(rewritten)] = secret_token(rewritten)
    run.ctx.client().apply(rewritten)
    run.current = replace(current, trusted=keys.fingerprint(run.ca_bundle))
    log = logs.get_logger("g8s.certificates", namespace=run.spec.namespace, name=run.spec.name)
    log.info("trusted CAs delivered", cas=len(carotation.certificates_of(run.ca_bundle.encode())))


def revoke_previous(run: Run, certificate_pem: str) -> None:
    """Revoke the certificate the new one replaces; its Secret is already overwritten."""
    log = logs.get_logger("g8s.certificates", namespace=run.spec.namespace, name=run.spec.name)
    try:
        run.ctx.vault.revoke(run.mount, certificate_pem)
    except Retry as exc:
        # The new certificate is in place; a missed revocation must not undo it.
        log.warning("could not revoke the previous certificate", reason=exc.reason, error=str(exc))


def _issue(run: Run) -> tuple[dict[str, Any], policies.Current]:
    spec = run.spec
    profile = spec.profile
    digest = policies.spec_hash(spec)
    # The status remembers the revision when the Secret is gone or damaged.
    recorded = (run.body.get("status") or {}).get("revision")
    known = max(
        run.current.revision if run.current else 0, recorded if isinstance(recorded, int) else 0
    )
    revision = known + 1
    if profile.key_pair_only:
        key = keys.new_key(spec.key_algorithm)
        secret = key_pair_secret.build(
            spec,
            key_pem=keys.private_pem(key),
            public_pem=keys.public_pem(key),
            spec_hash=digest,
            revision=revision,
        )
        return secret, policies.Current(digest, None, spec.key_algorithm, revision=revision)
    pending = pending_key(run, revision, digest)
    certificate = signed_for(run, pending.key_pem) if run.resumed else None
    if certificate is not None:
        # Signed before an interruption: delivered as what it was signed for
        # (a spec changed since is a reason to issue the next revision).
        digest = pending.spec_hash
    else:
        if keys.key_algorithm_of(pending.key_pem) != spec.key_algorithm:
            pending = replace_pending_key(run, revision, digest)
        certificate = sign(run, pending.key_pem)
    info = keys.CertificateInfo.from_pem(certificate)
    if info is None:
        raise Retry("VaultError", "Vault returned a certificate that cannot be read")
    secret = tls_secret.build(
        spec,
        key_pem=pending.key_pem,
        certificate_pem=certificate,
        ca_pem=run.ca_bundle or run.ca_pem,
        spec_hash=digest,
        revision=revision,
    )
    state = policies.Current(
        spec_hash=digest,
        ca_fingerprint=keys.fingerprint(run.ca_pem),
        key_algorithm=spec.key_algorithm,
        not_before=info.not_before,
        not_after=info.not_after,
        serial_number=info.serial_number,
        revision=revision,
        certificate_pem=certificate,
        trusted=keys.fingerprint(run.ca_bundle or run.ca_pem),
    )
    return secret, state


# --- the pending key: no second signature for one revision -----------------------


def pending_ref(spec: CertificateSpec) -> ObjectRef:
    return ObjectRef("v1", "Secret", pending_key_secret.name_of(spec.secret_name), spec.namespace)


def pending_key(run: Run, revision: int, digest: str) -> pending_key_secret.Pending:
    """The key to sign for ``revision``, in its pending-key Secret before Vault signs.

    A new one normally. If an earlier run for this revision was interrupted
    (a crash, or the TLS Secret's write refused) its key is still there:
    ``run.resumed`` is set, and Vault may already have signed for it.
    """
    try:
        return write_pending_key(run, revision, digest)
    except ApiError as exc:
        if exc.status != HTTP_CONFLICT:
            raise
    found = run.ctx.client().get(pending_ref(run.spec))
    if found is None:
        raise Retry("Conflict", "the pending-key Secret went away while being written")
    if not pending_key_secret.is_pending_key(found):
        raise InvalidSpec(
            "spec.secretName",
            f"Secret {found['metadata']['name']} exists and is not this Certificate's "
            "pending key; name the Secret differently",
            reason=policies.REASON_SECRET_TAKEN,
        )
    left = pending_key_secret.read(found)
    if left is not None and controller_uid(found) == run.uid and left.revision == revision:
        run.resumed = True
        return left
    # Damaged, left by a revision that was delivered, or by an earlier
    # Certificate of that name: nothing waits on it.
    return replace_pending_key(run, revision, digest)


def replace_pending_key(run: Run, revision: int, digest: str) -> pending_key_secret.Pending:
    """A new key in place of one nothing was signed for (deleted first: its owner may differ).

    A conflict on the create (another writer) is retried by the step runner.
    """
    run.ctx.client().delete(pending_ref(run.spec))
    run.resumed = False
    return write_pending_key(run, revision, digest)


def write_pending_key(run: Run, revision: int, digest: str) -> pending_key_secret.Pending:
    """Create the pending-key Secret with a new key (ApiError 409 if it exists)."""
    fresh = keys.private_pem(keys.new_key(run.spec.key_algorithm))
    run.ctx.client().create(
        pending_key_secret.build(
            run.spec, key_pem=fresh, spec_hash=digest, revision=revision, owner=run.body
        )
    )
    return pending_key_secret.Pending(fresh, revision, digest)


def signed_for(run: Run, key_pem: bytes) -> str | None:
    """The certificate Vault stored for ``key_pem``'s public key, if it signed one."""
    for certificate in run.ctx.vault.signed_certificates(run.mount):
        if keys.pair_faults(key_pem, certificate.encode(), run.ca_pem.encode()) == "":
            return certificate
    return None


def sign(run: Run, key_pem: bytes) -> str:
    profile = run.spec.profile
    issued = run.ctx.vault.sign(
        run.mount,
        run.spec.role,
        keys.csr_pem(keys.load_private(key_pem), profile.common_name),
        common_name=profile.common_name,
        dns_names=profile.dns_names,
        ip_addresses=profile.ip_addresses,
        ttl=policies.issue_ttl(run.spec, run.now),
    )
    return issued.certificate


def drop_pending_key(run: Run) -> None:
    """The key is in the TLS Secret now. A failed delete leaves a copy in a Secret,
    which the next issuance replaces and the release deletes."""
    log = logs.get_logger("g8s.certificates", namespace=run.spec.namespace, name=run.spec.name)
    try:
        run.ctx.client().delete(pending_ref(run.spec))
    except ApiError as exc:
        log.warning("could not delete the pending-key Secret", error=exc.message)


async def record_metrics(run: Run) -> None:
    state = run.state
    if state is None or state.not_after is None or state.not_before is None:
        return
    metrics = run.ctx.certificate_metrics
    renewal = policies.renewal_time(
        state.not_before, state.not_after, run.spec.renew_before_seconds
    )
    metrics.expiry.labels(*run.labels).set(state.not_after.timestamp())
    metrics.renewal.labels(*run.labels).set(renewal.timestamp())


def rotate_key_pair(run: Run) -> None:
    """Take the step of a service-account key rotation the Certificate asks for
    (annotation ``g8s.io/key-rotation``; shared/api/serviceaccount.py), once."""
    spec = run.spec
    if not spec.profile.key_pair_only or run.issued is not None or run.secret is None:
        return  # a key pair made in this run is rotated at the next look
    asked = sa.parse_step(
        ((run.body.get("metadata") or {}).get("annotations") or {}).get(sa.ROTATION_ANNOTATION)
    )
    held = (run.secret.get("metadata") or {}).get("annotations") or {}
    reached = sa.parse_step(held.get(sa.ROTATION_ANNOTATION))
    if asked is None or not keypair_rotation.may_take(asked, reached):
        return
    data = {k: base64.b64decode(v) for k, v in (run.secret.get("data") or {}).items()}
    if sa.SIGNING_KEY not in data:
        return  # a damaged pair is issued again first (issue step)
    new_key = keys.private_pem(keys.new_key(spec.key_algorithm)) if asked.name == sa.ADDED else b""
    revision = (run.current.revision if run.current else 0) + 1
    secret = key_pair_secret.build_data(
        spec,
        data=keypair_rotation.step_data(data, asked.name, new_key),
        spec_hash=str(held.get(SPEC_HASH_ANNOTATION) or policies.spec_hash(spec)),
        revision=revision,
        annotations={
            sa.ROTATION_ANNOTATION: asked.text(),
            sa.ROTATION_TIME_ANNOTATION: timestamp(run.now),
        },
    )
    secret = owned(secret, owner=run.body, operator=CERTIFICATE.operator, cluster=spec.cluster)
    run.ctx.sent[owners.child_key(secret)] = secret_token(secret)
    run.ctx.client().apply(secret)
    run.issued = policies.Current(
        spec_hash=secret["metadata"]["annotations"][SPEC_HASH_ANNOTATION],
        ca_fingerprint=None,
        key_algorithm=spec.key_algorithm,
        revision=revision,
    )
    log = logs.get_logger("g8s.certificates", namespace=spec.namespace, name=spec.name)
    log.info("key rotation step", step=asked.text(), revision=revision)


STEPS: tuple[Step[Run], ...] = (
    Step("validate", validate),
    Step("expire", expire),
    Step("read-secret", read_secret),
    Step("ensure-pki", ensure_pki),
    Step("write-ca-secret", write_ca_secret),
    Step("issue", issue),
    Step("rotate-key-pair", rotate_key_pair),
    Step("record-metrics", record_metrics),
)


# --- release (deletion) --------------------------------------------------------


@dataclass
class Release:
    """The deletion of one Certificate."""

    namespace: str
    name: str
    cluster: str
    component: str
    ctx: CertificatesContext
    node: str = ""
    # spec.secretName when the Certificate names its own Secret.
    secret_name: str = ""
    uid: str = ""
    # The uid of the Cluster that owns the Certificate, if one does.
    owner_cluster: str = ""
    torn_down: bool = False
    cluster_going: bool = False

    @property
    def mount(self) -> str:
        return mount_of(self.ctx, self.namespace, self.cluster)


def cluster_going(release: Release) -> bool:
    """True when the Certificate's Cluster is being deleted.

    Its whole PKI mount then goes with its last Certificate (teardown_if_last),
    which invalidates every certificate it signed at once: revoking them one
    by one first would only make deleting a cluster slow. (The Cluster keeps
    its finalizer until its Certificates are gone.) A Certificate made without
    a Cluster object is revoked as usual.
    """
    going = release.ctx.going_clusters
    if release.owner_cluster and release.owner_cluster in going:
        return True
    cluster = release.ctx.client().get(
        ObjectRef(API_VERSION, CLUSTER.kind, release.cluster, release.namespace)
    )
    if cluster is None or not cluster["metadata"].get("deletionTimestamp"):
        return False
    going.add(str(cluster["metadata"].get("uid") or ""))
    return True


def revoke(release: Release) -> None:
    if release.cluster_going:
        return
    name = release.secret_name or catalogue.secret_name(
        release.cluster, release.component, release.node
    )
    secret = release.ctx.client().get(ObjectRef("v1", "Secret", name, release.namespace))
    holder = controller_uid(secret)
    if holder is not None and release.uid and holder != release.uid:
        return  # another Certificate's certificate: not this one's to revoke
    current = read_current(secret)
    if current is None or current.certificate_pem is None:
        return
    if current.not_after is not None and current.not_after <= release.ctx.clock():
        return  # expired: Vault refuses to revoke it, and nothing accepts it any more
    if release.mount not in release.ctx.vault.mounts(release.mount):
        return
    release.ctx.vault.revoke(release.mount, current.certificate_pem)


def others_of_cluster(release: Release) -> list[str]:
    """Names of the cluster's Certificates that are not being deleted."""
    # The field selector (the CRD's selectableFields): a namespace holding many
    # clusters, all deleted at once, would otherwise have every release read
    # every Certificate of every cluster.
    items = release.ctx.client().list(
        CERTIFICATE_API_VERSION,
        CERTIFICATE.kind,
        namespace=release.namespace,
        field_selector=f"spec.cluster={release.cluster}",
    )
    return [
        item["metadata"]["name"]
        for item in items
        if (item.get("spec") or {}).get("cluster") == release.cluster
        and item["metadata"]["name"] != release.name
        and not item["metadata"].get("deletionTimestamp")
    ]


def drop_node_role(release: Release) -> None:
    """A node's role dies with the node: nothing may sign its identity again."""
    if release.component != catalogue.NODE or not release.node or release.cluster_going:
        return
    if release.mount not in release.ctx.vault.mounts(release.mount):
        return
    role = catalogue.role_name(release.component, release.node)
    release.ctx.vault.delete_role(release.mount, role)


def teardown_if_last(release: Release) -> None:
    """Remove the cluster's mount, once no other Certificate of it is left.

    No tidy first: unmounting deletes the mount's whole store (certificates,
    revocation list, roles), which is all a tidy would have cleaned.
    """
    if others_of_cluster(release):
        return
    vault = release.ctx.vault
    if release.mount in vault.mounts(release.mount):
        vault.unmount(release.mount)
    release.ctx.client().delete(
        ObjectRef("v1", "Secret", names.ca_secret(release.cluster), release.namespace)
    )
    release.ctx.ca_written.pop((release.namespace, release.cluster), None)
    release.ctx.going_clusters.discard(release.owner_cluster)
    release.torn_down = True


async def forget_metrics(release: Release) -> None:
    release.ctx.certificate_metrics.forget(
        release.namespace, release.name, release.cluster, release.component
    )


CERTIFICATE_API_VERSION = f"{CERTIFICATE.group}/{CERTIFICATE.version}"


def look_at_cluster(release: Release) -> None:
    release.cluster_going = cluster_going(release)


RELEASE_STEPS: tuple[Step[Release], ...] = (
    Step("look-at-cluster", look_at_cluster),
    Step("revoke", revoke),
    Step("drop-node-role", drop_node_role),
    Step("teardown-if-last", teardown_if_last),
    Step("forget-metrics", forget_metrics),
)

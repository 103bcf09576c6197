"""The certificates operator's part of a CA rotation: the mount's issuers as a phase
wants them, and the CA bundle its Secrets then carry (shared/api/carotation.py has
the contract).

Every Certificate of the cluster is asked for the phase, and each makes it true
of the one mount: whichever comes first does the work in Vault, the others
find it done (each operation is made once and is safe to repeat).
"""

from datetime import datetime

from cryptography import x509

from shared.api import carotation
from shared.errors import InvalidSpec
from shared.vault import CA, Vault

REASON_OUT_OF_ORDER = "CARotationOutOfOrder"


def make_phase(vault: Vault, mount: str, phase: carotation.Phase, ca: CA) -> None:
    """Make the mount's issuers what ``phase`` wants: made, signing, retired."""
    new = carotation.issuer_name(phase.request)
    if phase.name in (carotation.TRUSTED, carotation.REISSUED):
        vault.ensure_issuer(mount, new, ca)
    elif new not in vault.issuers(mount):
        # Dropping every other CA before the new one signed would leave the
        # cluster's certificates trusted by nothing.
        raise InvalidSpec(
            "metadata.annotations",
            f"CA rotation {phase.request!r} asks for {phase.name} before Trusted:"
            " the new CA does not exist",
            reason=REASON_OUT_OF_ORDER,
        )
    signs_new = phase.index >= carotation.PHASES.index(carotation.REISSUED)
    if signs_new and vault.default_issuer(mount) != new:
        vault.set_default_issuer(mount, new)
    if phase.index >= carotation.PHASES.index(carotation.DROPPED):
        for name in vault.issuers(mount):
            if name != new:
                vault.retire_issuer(mount, name)


def trusted_bundle(issuers: dict[str, str]) -> str:
    """Every issuer's certificate, oldest first: what each ``ca.crt`` of the cluster holds."""
    return carotation.bundle(
        pem.encode() for pem in sorted(issuers.values(), key=_age_order)
    ).decode()


def _age_order(pem: str) -> tuple[datetime, str]:
    certificate = x509.load_pem_x509_certificate(pem.encode())
    return certificate.not_valid_before_utc, carotation.fingerprint(pem.encode())

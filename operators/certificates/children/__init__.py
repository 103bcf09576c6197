"""Pure builders of the objects the certificates operator writes, one module each."""

import base64

from shared.api import GROUP

# Annotations on a certificate's Secret: what it was issued for, and how many
# times (so the revision survives a lost status).
SPEC_HASH_ANNOTATION = f"{GROUP}/certificate-spec-hash"
REVISION_ANNOTATION = f"{GROUP}/certificate-revision"


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode()

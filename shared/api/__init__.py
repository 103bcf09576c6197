"""The API contract: what several g8s operators must agree on.

Pure data and pure functions only (no I/O, no client libraries), so that a
platform team can reimplement any one operator against this module alone.
"""

GROUP = "g8s.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "g8s"

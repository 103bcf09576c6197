"""``g8s kubeconfig <cluster> --ttl D``: a short-lived admin kubeconfig.

Instead of handing out the long-lived admin certificate, this asks the
certificates operator for one of its own: a Certificate
``<cluster>-kubeconfig-<random>`` of the admin component, with its own Secret,
``onExpiry: Delete`` and ``ttl: D``. It is never renewed; at the end of its
ttl the certificates operator deletes it and its Secret, and the guest API
refuses it from then on. Deleting it earlier (``kubectl delete certificate``)
revokes it. It is owned by the Cluster (not as its controller), so it goes
with the Cluster.
"""

import base64
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from operators.cluster.children import certificate, kubeconfig
from operators.cluster.model import parse
from shared import conditions as cond
from shared.api import API_VERSION, names
from shared.api import certificates as catalogue
from shared.api import conditions as c
from shared.api.kinds import CERTIFICATE, CLUSTER
from shared.api.labels import CLUSTER as CLUSTER_LABEL
from shared.api.labels import MANAGED_BY
from shared.kube import ObjectRef

CLI = "g8s-cli"
POLL_SECONDS = 1.0


class Client(Protocol):
    def get(self, ref: ObjectRef) -> dict[str, Any] | None: ...

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]: ...


def request(cluster: Mapping[str, Any], ttl: str, suffix: str) -> dict[str, Any]:
    """The Certificate to create; pure."""
    spec = parse(cluster)
    meta = cluster["metadata"]
    name = f"{spec.name}-kubeconfig-{suffix}"
    body = certificate.build(spec, catalogue.ADMIN)
    cert_spec = {k: v for k, v in body["spec"].items() if k != "renewBefore"}
    cert_spec |= {"ttl": ttl, "secretName": name, "onExpiry": "Delete"}
    return {
        "apiVersion": API_VERSION,
        "kind": CERTIFICATE.kind,
        "metadata": {
            "name": name,
            "namespace": spec.namespace,
            "labels": {CLUSTER_LABEL: spec.name, MANAGED_BY: CLI},
            # Goes with the Cluster; not its controller: the cluster operator
            # does not build it, and never changes it.
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": CLUSTER.kind,
                    "name": spec.name,
                    "uid": meta["uid"],
                    "controller": False,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "spec": cert_spec,
    }


def issued(body: Mapping[str, Any] | None) -> bool:
    status = (body or {}).get("status") or {}
    return cond.is_true(status.get("conditions") or [], c.READY)


def server_of(admin_kubeconfig: Mapping[str, Any] | None) -> str:
    """The guest API address of the cluster's admin kubeconfig (what the cluster
    operator found to work), so that both kubeconfigs reach the guest alike."""
    value = ((admin_kubeconfig or {}).get("data") or {}).get(kubeconfig.KEY)
    if not value:
        raise LookupError("the cluster's admin kubeconfig is not written yet: is it Ready?")
    config = json.loads(base64.b64decode(value))
    return str(config["clusters"][0]["cluster"]["server"])


def short_lived(
    kube: Client,
    name: str,
    namespace: str,
    *,
    ttl: str,
    timeout: float,
    say: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Create the Certificate, wait until it is issued; the kubeconfig text."""
    cluster = kube.get(ObjectRef(API_VERSION, CLUSTER.kind, name, namespace))
    if cluster is None:
        raise LookupError(f"Cluster {namespace}/{name} not found")
    server = server_of(
        kube.get(ObjectRef("v1", "Secret", names.kubeconfig_secret(name), namespace))
    )
    wanted = request(cluster, ttl, secrets.token_hex(3)[:5])
    cert_name = wanted["metadata"]["name"]
    kube.create(wanted)
    say(f"asked for Certificate {namespace}/{cert_name} (ttl {ttl}, deleted at its end)")
    ref = ObjectRef(API_VERSION, CERTIFICATE.kind, cert_name, namespace)
    deadline = clock() + timeout
    body = kube.get(ref)
    while not issued(body):
        if clock() >= deadline:
            raise TimeoutError(f"Certificate {cert_name} not issued within {timeout:.0f} s")
        sleep(POLL_SECONDS)
        body = kube.get(ref)
    secret = kube.get(ObjectRef("v1", "Secret", cert_name, namespace)) or {}
    ca_secret = kube.get(ObjectRef("v1", "Secret", names.ca_secret(name), namespace)) or {}
    data, ca = secret.get("data") or {}, (ca_secret.get("data") or {}).get("ca.crt")
    if not (data.get("tls.crt") and data.get("tls.key") and ca):
        raise LookupError(f"Secret {namespace}/{cert_name} or {names.ca_secret(name)} incomplete")
    say(f"valid until {((body or {}).get('status') or {}).get('notAfter')}")
    config = kubeconfig.kubeconfig(
        parse(cluster), server=server, ca=ca, cert=data["tls.crt"], key=data["tls.key"]
    )
    return json.dumps(config, indent=2)

"""Helpers of the certificates integration tests: objects, waiting, reading Secrets."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import yaml
from cryptography import x509

from shared.api import conditions as c
from tests.localenv import LocalEnv, find_json
from tests.operators import wait_for


def certificate(
    name: str, namespace: str, cluster: str, component: str, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "g8s.io/v1alpha1",
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"cluster": cluster, "component": component, **spec},
    }


def apply(env: LocalEnv, *objects: Mapping[str, Any]) -> None:
    env.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(list(objects)))


def get(env: LocalEnv, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    return find_json(env, namespace, kind, name)


def items(env: LocalEnv, kind: str, namespace: str) -> list[dict[str, Any]]:
    result = env.kubectl("get", kind, "-n", namespace, "-o", "json")
    found: list[dict[str, Any]] = json.loads(result.stdout)["items"]
    return found


def condition(obj: Mapping[str, Any] | None, type_: str) -> Mapping[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}


def wait_ready(
    env: LocalEnv, name: str, namespace: str, *, timeout: float = 60, revision: int = 1
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        obj = get(env, "certificates.g8s.io", name, namespace)
        ready = condition(obj, c.READY).get("status") == c.TRUE
        if obj and ready and int(obj["status"].get("revision") or 0) >= revision:
            return obj
        return None

    return wait_for(probe, timeout=timeout, what=f"Certificate {name} Ready (rev {revision})")


def secret_data(env: LocalEnv, name: str, namespace: str) -> dict[str, bytes]:
    secret = get(env, "secret", name, namespace)
    assert secret is not None, f"Secret {namespace}/{name} does not exist"
    return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}


def leaf(data: Mapping[str, bytes]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(data["tls.crt"])

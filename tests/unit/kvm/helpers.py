"""Bodies and inputs shared by the kvm unit tests."""

from base64 import b64encode
from typing import Any

from operators.kvm.children import ignition
from operators.kvm.model import KVMNodeSpec, parse
from shared.api import encryption


def body(role: str = "worker", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "g8s.io/v1alpha1",
        "kind": "KVMNode",
        "metadata": {
            "name": f"demo-{role[:1]}-abcde",
            "namespace": "ns",
            "uid": "u-1",
            "generation": 3,
        },
        "spec": {"cluster": "demo", "role": role, "index": 1, "network": "demo", **spec},
    }


def spec(role: str = "worker", **fields: Any) -> KVMNodeSpec:
    return parse(body(role, **fields))


def b64(text: str) -> str:
    return b64encode(text.encode()).decode()


def inputs(node: KVMNodeSpec, kubelet_url: str = "") -> ignition.NodeInputs:
    certs = {
        component: {
            "tls.crt": b64(f"CERT {component}"),
            "tls.key": b64(f"KEY {component}"),
            "ca.crt": b64("CA"),
        }
        for component in (*ignition.components(node), ignition.KUBELET)
    }
    if "service-account" in certs:
        certs["service-account"] = {"tls.pub": b64("PUB sa"), "tls.key": b64("KEY sa")}
    return ignition.NodeInputs(
        network=ignition.NodeNetwork(
            "10.100.3.51",
            24,
            "10.100.3.1",
            "52:54:00:00:00:01",
            "1.1.1.1",
            pod_subnet="10.2.51.0/24",
            peer_routes=(("10.2.10.0/24", "10.100.3.10"),),
        ),
        api_endpoint="https://demo-apiserver.ns.svc:6443",
        etcd_endpoint="https://demo-etcd.ns.svc:2379",
        certificates=certs,
        ca_b64=b64("CA"),
        images=ignition.Images("registry.example", kubelet_url),
        hosts={"demo-apiserver.ns.svc": "10.100.3.10", "demo-etcd.ns.svc": "172.16.0.7"},
        encryption_keys=(encryption.Key("key1", b64("k" * 32)),) if node.is_controlplane else (),
    )

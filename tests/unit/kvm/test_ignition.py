"""The Ignition builder: version, hostname, network, certificates as files, kubelet, static pods."""

import json
from base64 import b64decode
from typing import Any

from operators.kvm.children import ignition
from tests.unit.kvm.helpers import inputs, spec


def _files(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["path"]: f for f in config["storage"]["files"]}


def _content(entry: dict[str, Any]) -> str:
    source = entry["contents"]["source"]
    assert source.startswith("data:;base64,")
    return b64decode(source.removeprefix("data:;base64,")).decode()


def test_worker_config() -> None:
    node = spec("worker")
    config = ignition.build(node, inputs(node))
    assert config["ignition"] == {"version": "3.4.0"}
    files = _files(config)
    assert _content(files["/etc/hostname"]) == f"{node.name}\n"
    network = _content(files["/etc/systemd/network/00-g8s.network"])
    assert "MACAddress=52:54:00:00:00:01" in network
    assert "Address=10.100.3.51/24" in network
    assert "Gateway=10.100.3.1" in network
    assert _content(files["/etc/kubernetes/pki/ca.crt"]) == "CA"
    assert _content(files["/etc/kubernetes/pki/worker/tls.crt"]) == "CERT worker"
    assert files["/etc/kubernetes/pki/worker/tls.key"]["mode"] == 0o600
    assert files["/etc/kubernetes/pki/worker/tls.crt"]["mode"] == 0o644
    # ca.crt of each component Secret is not duplicated per component.
    assert "/etc/kubernetes/pki/worker/ca.crt" not in files
    # A worker gets no control-plane certificates or static pods.
    assert not any(p.startswith("/etc/kubernetes/manifests/") for p in files)
    assert "/etc/kubernetes/pki/api/tls.key" not in files
    kubeconfig = json.loads(_content(files[ignition.KUBELET_KUBECONFIG]))
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://10.100.3.10:6443"
    assert kubeconfig["users"][0]["name"] == f"system:node:{node.name}"
    assert files[ignition.KUBELET_KUBECONFIG]["mode"] == 0o600
    kubelet = json.loads(_content(files[ignition.KUBELET_CONFIG]))
    assert kubelet["kind"] == "KubeletConfiguration"
    assert kubelet["clusterDNS"] == ["172.31.0.10"]
    assert kubelet["staticPodPath"] == ""
    assert (
        files[ignition.KUBELET_BIN]["contents"]["source"]
        == "https://downloads.example/v1.34.2/kubelet"
    )
    unit = config["systemd"]["units"][0]
    assert unit["name"] == "kubelet.service"
    assert unit["enabled"] is True
    assert "--node-ip=10.100.3.51" in unit["contents"]
    assert "register-with-taints" not in unit["contents"]


def test_controlplane_static_pods() -> None:
    node = spec("controlplane")
    config = ignition.build(node, inputs(node))
    files = _files(config)
    for component in ignition.CONTROLPLANE_COMPONENTS:
        keys = ("tls.pub", "tls.key") if component == "service-account" else ("tls.crt", "tls.key")
        for key in keys:
            assert f"/etc/kubernetes/pki/{component}/{key}" in files
    api = json.loads(_content(files["/etc/kubernetes/manifests/kube-apiserver.yaml"]))
    assert api["kind"] == "Pod"
    assert api["spec"]["hostNetwork"] is True
    container = api["spec"]["containers"][0]
    assert container["image"] == "registry.example/kube-apiserver:v1.34.2"
    flags = container["command"]
    assert "--etcd-servers=https://demo-etcd.ns.svc.cluster.local:2379" in flags
    assert "--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client/tls.crt" in flags
    assert "--tls-cert-file=/etc/kubernetes/pki/api/tls.crt" in flags
    assert "--service-cluster-ip-range=172.31.0.0/16" in flags
    assert "--service-account-key-file=/etc/kubernetes/pki/service-account/tls.pub" in flags
    cm = json.loads(_content(files["/etc/kubernetes/manifests/kube-controller-manager.yaml"]))
    assert "--cluster-cidr=10.2.0.0/16" in cm["spec"]["containers"][0]["command"]
    sched = json.loads(_content(files["/etc/kubernetes/manifests/kube-scheduler.yaml"]))
    assert sched["spec"]["containers"][0]["image"] == "registry.example/kube-scheduler:v1.34.2"
    cm_kubeconfig = json.loads(_content(files["/etc/kubernetes/controller-manager.kubeconfig"]))
    assert cm_kubeconfig["clusters"][0]["cluster"]["server"] == "https://10.100.3.51:6443"
    kubelet = json.loads(_content(files[ignition.KUBELET_CONFIG]))
    assert kubelet["staticPodPath"] == ignition.MANIFESTS
    assert "register-with-taints" in config["systemd"]["units"][0]["contents"]


def test_render_is_stable_json() -> None:
    node = spec("worker")
    first = ignition.render(ignition.build(node, inputs(node)))
    second = ignition.render(ignition.build(node, inputs(node)))
    assert first == second
    assert json.loads(first)["ignition"]["version"] == "3.4.0"

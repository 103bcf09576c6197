"""The Ignition builder: version, hostname, network, kubelet, static pods; the live files."""

import dataclasses
import json
from base64 import b64decode
from typing import Any

from operators.kvm.children import ignition
from tests.unit.kvm.helpers import inputs, spec


def _files(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["path"]: f for f in config["storage"]["files"]}


def _live(node: Any) -> dict[str, ignition.LiveFile]:
    return {f.path: f for f in ignition.live_files(node, inputs(node))}


def _unit(config: dict[str, Any], name: str) -> dict[str, Any]:
    (unit,) = [u for u in config["systemd"]["units"] if u["name"] == name]
    return dict(unit)


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
    # Routes to the other nodes' pods, through their node addresses.
    assert "[Route]\nDestination=10.2.10.0/24\nGateway=10.100.3.10" in network
    hosts = _content(files["/etc/hosts"]).splitlines()
    assert "10.100.3.10 demo-apiserver.ns.svc" in hosts
    assert "172.16.0.7 demo-etcd.ns.svc" in hosts
    assert f"10.100.3.51 {node.name}" in hosts
    # Certificates and keys are live files of the share, never in the config.
    assert not any(p.startswith(ignition.PKI + "/") for p in files)
    live = _live(node)
    assert b64decode(live["ca.crt"].content_b64) == b"CA"
    # The node's own kubelet identity, not one shared by all workers.
    assert b64decode(live["kubelet/tls.crt"].content_b64) == b"CERT kubelet"
    assert live["kubelet/tls.key"].mode == 0o600
    assert live["kubelet/tls.crt"].mode == 0o644
    # ca.crt of each component Secret is not duplicated per component.
    assert "kubelet/ca.crt" not in live
    mount = _unit(config, ignition.PKI_MOUNT_UNIT)
    assert mount["enabled"] is True
    assert f"Where={ignition.PKI_SHARE}\n" in mount["contents"]
    assert "Type=9p\n" in mount["contents"]
    assert "ro," in mount["contents"]
    sync = _unit(config, ignition.PKI_SYNC_UNIT)
    assert f"ExecStart={ignition.PKI_SYNC_SCRIPT} watch\n" in sync["contents"]
    # Weakly: a failed mount must not fail the unit for good (pki-sync mounts again).
    assert f"Wants={ignition.PKI_MOUNT_UNIT}\nAfter={ignition.PKI_MOUNT_UNIT}\n" in sync["contents"]
    assert "RequiresMountsFor" not in sync["contents"]
    assert files[ignition.PKI_SYNC_SCRIPT]["mode"] == 0o755
    assert _content(files[ignition.PKI_SYNC_SCRIPT]).startswith("#!/bin/sh\n")
    cni = json.loads(_content(files[ignition.CNI_CONFIG]))
    assert cni["plugins"][0]["ipam"]["ranges"] == [[{"subnet": "10.2.51.0/24"}]]
    # A worker gets no control-plane certificates or static pods.
    assert not any(p.startswith("/etc/kubernetes/manifests/") for p in files)
    assert "api/tls.key" not in live
    assert not any(p.startswith("encryption/") for p in live)
    kubeconfig = json.loads(_content(files[ignition.KUBELET_KUBECONFIG]))
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://demo-apiserver.ns.svc:6443"
    assert kubeconfig["users"][0]["name"] == f"system:node:{node.name}"
    assert files[ignition.KUBELET_KUBECONFIG]["mode"] == 0o600
    kubelet = json.loads(_content(files[ignition.KUBELET_CONFIG]))
    assert kubelet["kind"] == "KubeletConfiguration"
    assert kubelet["clusterDNS"] == ["172.31.0.10"]
    assert kubelet["staticPodPath"] == ""
    assert kubelet["tlsCertFile"] == "/etc/kubernetes/pki/kubelet/tls.crt"
    # The guest image has its kubelet: nothing is downloaded.
    assert ignition.KUBELET_DOWNLOAD not in files
    unit = _unit(config, "kubelet.service")
    assert f"ExecStart={ignition.KUBELET_IN_IMAGE} " in unit["contents"]
    assert unit["enabled"] is True
    # No kubelet before its certificates are copied from the share.
    assert f"ExecStartPre={ignition.PKI_SYNC_SCRIPT} first\n" in unit["contents"]
    assert f"Wants={ignition.PKI_MOUNT_UNIT}\nAfter={ignition.PKI_MOUNT_UNIT}\n" in unit["contents"]
    assert "RequiresMountsFor" not in unit["contents"]
    assert "--node-ip=10.100.3.51" in unit["contents"]
    assert "register-with-taints" not in unit["contents"]


def test_controlplane_static_pods() -> None:
    node = spec("controlplane")
    config = ignition.build(node, inputs(node))
    files = _files(config)
    live = _live(node)
    for component in ignition.CONTROLPLANE_COMPONENTS:
        keys = ("tls.pub", "tls.key") if component == "service-account" else ("tls.crt", "tls.key")
        for key in keys:
            assert f"{component}/{key}" in live
    # Its kubelet reports to its own API server: through the API's Service the
    # VM would be sent back out of the bridge port it came in by.
    kubeconfig = json.loads(_content(files[ignition.KUBELET_KUBECONFIG]))
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    api = json.loads(_content(files["/etc/kubernetes/manifests/kube-apiserver.yaml"]))
    assert api["kind"] == "Pod"
    assert api["spec"]["hostNetwork"] is True
    container = api["spec"]["containers"][0]
    assert container["image"] == "registry.example/kube-apiserver:v1.34.4"
    flags = container["command"]
    assert "--etcd-servers=https://demo-etcd.ns.svc:2379" in flags
    assert f"--encryption-provider-config={ignition.ENCRYPTION_CONFIG}" in flags
    assert "--encryption-provider-config-automatic-reload=true" in flags
    entry = live[ignition.ENCRYPTION_CONFIG.removeprefix(ignition.PKI + "/")]
    encryption = json.loads(b64decode(entry.content_b64))
    assert entry.mode == 0o600
    provider = encryption["resources"][0]["providers"][0]["secretbox"]
    assert b64decode(provider["keys"][0]["secret"]) == b"k" * 32
    assert "--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client/tls.crt" in flags
    assert "--tls-cert-file=/etc/kubernetes/pki/api/tls.crt" in flags
    assert "--service-cluster-ip-range=172.31.0.0/16" in flags
    assert "--service-account-key-file=/etc/kubernetes/pki/service-account/tls.pub" in flags
    cm = json.loads(_content(files["/etc/kubernetes/manifests/kube-controller-manager.yaml"]))
    assert "--cluster-cidr=10.2.0.0/16" in cm["spec"]["containers"][0]["command"]
    sched = json.loads(_content(files["/etc/kubernetes/manifests/kube-scheduler.yaml"]))
    assert sched["spec"]["containers"][0]["image"] == "registry.example/kube-scheduler:v1.34.4"
    cm_kubeconfig = json.loads(_content(files["/etc/kubernetes/controller-manager.kubeconfig"]))
    assert cm_kubeconfig["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    kubelet = json.loads(_content(files[ignition.KUBELET_CONFIG]))
    assert kubelet["staticPodPath"] == ignition.MANIFESTS
    assert "register-with-taints" in _unit(config, "kubelet.service")["contents"]


def test_a_kubelet_url_downloads_the_kubelet() -> None:
    node = spec("worker")
    config = ignition.build(node, inputs(node, "https://downloads.example/v{version}/kubelet"))
    files = _files(config)
    source = files[ignition.KUBELET_DOWNLOAD]["contents"]["source"]
    assert source == "https://downloads.example/v1.34.4/kubelet"
    assert f"ExecStart={ignition.KUBELET_DOWNLOAD} " in _unit(config, "kubelet.service")["contents"]


def test_render_is_stable_json() -> None:
    node = spec("worker")
    first = ignition.render(ignition.build(node, inputs(node)))
    second = ignition.render(ignition.build(node, inputs(node)))
    assert first == second
    assert json.loads(first)["ignition"]["version"] == "3.4.0"


def _seconds(flags: list[str], name: str) -> float:
    (value,) = [f.split("=", 1)[1] for f in flags if f.startswith(f"--{name}=")]
    assert value.endswith("s")
    return float(value[:-1])


def test_leader_election_tolerates_a_slow_guest() -> None:
    """Lease timings client-go accepts, with a renew deadline far above kubeadm's 10 s."""
    node = spec("controlplane")
    files = _files(ignition.build(node, inputs(node)))
    for manifest in ("kube-controller-manager", "kube-scheduler"):
        pod = json.loads(_content(files[f"/etc/kubernetes/manifests/{manifest}.yaml"]))
        flags = pod["spec"]["containers"][0]["command"]
        assert "--leader-elect=true" in flags
        lease = _seconds(flags, "leader-elect-lease-duration")
        renew = _seconds(flags, "leader-elect-renew-deadline")
        retry = _seconds(flags, "leader-elect-retry-period")
        # client-go's own checks: lease > renew > retry * JitterFactor (1.2).
        assert lease > renew > retry * 1.2
        assert renew >= 30


def test_the_next_service_account_key_stays_out_of_the_guest() -> None:
    """A rotation's next key is not a live file: the set of live files, and so the
    launcher pod's template, is the same before, during and after a rotation."""
    node = spec("controlplane")
    given = inputs(node)
    pair = dict(given.certificates["service-account"])
    before = ignition.live_files(node, given)
    pair["next.key"] = pair["tls.key"]
    certificates = {**given.certificates, "service-account": pair}
    during = ignition.live_files(node, dataclasses.replace(given, certificates=certificates))
    assert [f.path for f in during] == [f.path for f in before]
    live = {f.path: f for f in during}
    assert "service-account/next.key" not in live
    assert live["service-account/tls.key"].mode == 0o600
    assert live["service-account/tls.pub"].mode == 0o644

"""Builders of the Secret, PVC and Deployment, field by field."""

import dataclasses
from base64 import b64decode

from operators.kvm.children import deployment, ignition, pvc, secret
from operators.kvm.policies import Resources
from shared.placement import pod_placement
from tests.unit.kvm.helpers import spec


def test_ignition_secret() -> None:
    node = spec()
    built = secret.build(node, b'{"ignition":{}}')
    assert built["kind"] == "Secret"
    assert built["metadata"]["name"] == f"{node.name}-ignition"
    assert built["metadata"]["namespace"] == "ns"
    assert b64decode(built["data"]["config.ign"]) == b'{"ignition":{}}'
    digest = secret.content_hash(b'{"ignition":{}}')
    assert built["metadata"]["annotations"][secret.HASH_ANNOTATION] == digest
    assert len(digest) == 64


def test_live_files_are_keys_of_their_own_outside_the_hash() -> None:
    node = spec()
    live = (
        ignition.LiveFile("ca.crt", "Q0E=", 0o644),
        ignition.LiveFile("apiserver-etcd-client/tls.key", "S0VZ", 0o600),
    )
    built = secret.build(node, b"{}", live)
    assert built["data"]["pki_ca.crt"] == "Q0E="
    assert built["data"]["pki_apiserver-etcd-client_tls.key"] == "S0VZ"
    # A renewal changes the live files only: the hash that rolls the VM stays.
    renewed = secret.build(node, b"{}", (live[0], dataclasses.replace(live[1], content_b64="TkVX")))
    hashes = [b["metadata"]["annotations"][secret.HASH_ANNOTATION] for b in (built, renewed)]
    assert hashes[0] == hashes[1]


def test_the_launcher_pod_shares_the_live_files_as_their_tree() -> None:
    node = spec()
    live = (
        ignition.LiveFile("ca.crt", "Q0E=", 0o644),
        ignition.LiveFile("kubelet/tls.key", "S0VZ", 0o600),
    )
    template = deployment.build(node, dataclasses.replace(POD, live=live))["spec"]["template"]
    (container,) = template["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["G8S_LAUNCHER_PKI_DIR"] == deployment.PKI_DIR
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["pki"] == {"name": "pki", "mountPath": deployment.PKI_DIR, "readOnly": True}
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    assert volumes["pki"]["secret"] == {
        "secretName": f"{node.name}-ignition",
        "items": [
            {"key": "pki_ca.crt", "path": "ca.crt", "mode": 0o644},
            {"key": "pki_kubelet_tls.key", "path": "kubelet/tls.key", "mode": 0o600},
        ],
    }
    # The boot config's volume holds the config alone, no key.
    assert volumes["ignition"]["secret"]["items"] == [{"key": "config.ign", "path": "config.ign"}]
    # No content of a live file is in the pod, only paths and modes.
    assert "S0VZ" not in str(template)


def test_disk_pvc() -> None:
    node = spec(diskGiB=40)
    built = pvc.build(node)
    assert built["metadata"]["name"] == f"{node.name}-disk"
    assert built["spec"]["resources"]["requests"]["storage"] == "40Gi"
    assert built["spec"]["accessModes"] == ["ReadWriteOnce"]
    # A filesystem for the qcow2 overlay: what hostPath and local-path volumes offer.
    assert built["spec"]["volumeMode"] == "Filesystem"
    assert "storageClassName" not in built["spec"]
    assert pvc.build(node, "fast")["spec"]["storageClassName"] == "fast"


POD = deployment.LauncherPod(
    image="launcher:1",
    resources=Resources(cpu="2250m", memory="4352Mi"),
    bridge="g8s-br-42",
    mac="52:54:00:00:00:01",
    ready_port=21000,
    shutdown_timeout=90,
    ignition_hash="abc",
)


def test_deployment() -> None:
    node = spec()
    built = deployment.build(node, POD)
    assert built["metadata"]["name"] == node.name
    dspec = built["spec"]
    assert dspec["replicas"] == 1
    assert dspec["strategy"] == {"type": "Recreate"}
    assert dspec["selector"]["matchLabels"] == {"g8s.io/kvm-node": node.name}
    template = dspec["template"]
    assert template["metadata"]["labels"]["g8s.io/kvm-node"] == node.name
    assert template["metadata"]["labels"]["g8s.io/cluster"] == "demo"
    assert template["metadata"]["labels"]["g8s.io/node-role"] == node.role
    assert template["metadata"]["annotations"][secret.HASH_ANNOTATION] == "abc"
    pod = template["spec"]
    assert pod["hostNetwork"] is True
    assert pod["terminationGracePeriodSeconds"] == 120
    term = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"]["g8s.io/cluster"] == "demo"
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    (container,) = pod["containers"]
    assert container["image"] == "launcher:1"
    assert container["command"] == ["python3", "-m", "operators.kvm.launcher"]
    assert container["resources"]["requests"] == container["resources"]["limits"]
    assert container["resources"]["limits"] == {"cpu": "2250m", "memory": "4352Mi"}
    # /dev/kvm is refused by the device cgroup to any unprivileged container.
    assert container["securityContext"] == {"privileged": True, "runAsUser": 0, "runAsGroup": 0}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 21000}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["G8S_LAUNCHER_CPUS"] == "2"
    assert env["G8S_LAUNCHER_MEMORY_MIB"] == "4096"
    assert env["G8S_LAUNCHER_BRIDGE"] == "g8s-br-42"
    assert env["G8S_LAUNCHER_MAC"] == "52:54:00:00:00:01"
    assert env["G8S_LAUNCHER_IGNITION"] == "/etc/g8s/ignition/config.ign"
    assert env["G8S_LAUNCHER_SHUTDOWN_TIMEOUT"] == "90"
    assert env["G8S_LAUNCHER_DISK_DIR"] == "/var/lib/g8s/disk"
    assert env["G8S_LAUNCHER_DISK_GIB"] == str(node.disk_gib)
    assert env["G8S_LAUNCHER_GUEST_DIR"] == "/var/lib/g8s/guest"
    assert env["G8S_LAUNCHER_ACCEL"] == "auto"
    assert "G8S_LAUNCHER_DISK" not in env
    assert "volumeDevices" not in container
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["disk"] == {"name": "disk", "mountPath": "/var/lib/g8s/disk"}
    assert mounts["ignition"]["readOnly"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["ignition"]["secret"]["secretName"] == f"{node.name}-ignition"
    assert volumes["disk"]["persistentVolumeClaim"]["claimName"] == f"{node.name}-disk"
    # No guest image directory set: the launcher image's own; devices come
    # with privileged, so a host without /dev/kvm still starts the pod.
    assert set(volumes) == set(mounts) == {"ignition", "disk", "run"}
    assert "nodeSelector" not in pod
    assert "tolerations" not in pod
    # Certificates travel only in the Secret: no ConfigMap anywhere.
    assert "configMap" not in str(pod)


def test_deployment_with_guest_image_accel_and_placement() -> None:
    node = spec()
    pod = dataclasses.replace(
        POD,
        accel="tcg",
        guest_image="/srv/g8s/guest",
        placement=pod_placement(["g8s.io/host=real"], ["g8s.io/real-host:NoSchedule"]),
    )
    template = deployment.build(node, pod)["spec"]["template"]["spec"]
    (container,) = template["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["G8S_LAUNCHER_ACCEL"] == "tcg"
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["guest"] == {"name": "guest", "mountPath": "/var/lib/g8s/guest", "readOnly": True}
    volumes = {v["name"]: v for v in template["volumes"]}
    assert volumes["guest"]["hostPath"] == {"path": "/srv/g8s/guest", "type": "Directory"}
    assert template["nodeSelector"] == {"g8s.io/host": "real"}
    assert template["tolerations"] == [
        {"key": "g8s.io/real-host", "operator": "Exists", "effect": "NoSchedule"}
    ]

"""Builders of the Secret, PVC and Deployment, field by field."""

from base64 import b64decode

from operators.kvm.children import deployment, pvc, secret
from operators.kvm.policies import Resources
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


def test_disk_pvc() -> None:
    node = spec(diskGiB=40)
    built = pvc.build(node)
    assert built["metadata"]["name"] == f"{node.name}-disk"
    assert built["spec"]["resources"]["requests"]["storage"] == "40Gi"
    assert built["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert built["spec"]["volumeMode"] == "Block"
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
    assert container["command"] == ["python", "-m", "operators.kvm.launcher"]
    assert container["resources"]["requests"] == container["resources"]["limits"]
    assert container["resources"]["limits"] == {"cpu": "2250m", "memory": "4352Mi"}
    assert container["securityContext"]["capabilities"]["add"] == ["NET_ADMIN"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 21000}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["G8S_LAUNCHER_CPUS"] == "2"
    assert env["G8S_LAUNCHER_MEMORY_MIB"] == "4096"
    assert env["G8S_LAUNCHER_BRIDGE"] == "g8s-br-42"
    assert env["G8S_LAUNCHER_MAC"] == "52:54:00:00:00:01"
    assert env["G8S_LAUNCHER_IGNITION"] == "/etc/g8s/ignition/config.ign"
    assert env["G8S_LAUNCHER_SHUTDOWN_TIMEOUT"] == "90"
    assert container["volumeDevices"] == [{"name": "disk", "devicePath": "/dev/g8s-disk"}]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["ignition"]["secret"]["secretName"] == f"{node.name}-ignition"
    assert volumes["disk"]["persistentVolumeClaim"]["claimName"] == f"{node.name}-disk"
    assert volumes["kvm"]["hostPath"] == {"path": "/dev/kvm", "type": "CharDevice"}
    assert volumes["tun"]["hostPath"] == {"path": "/dev/net/tun", "type": "CharDevice"}
    # Certificates travel only in the Secret: no ConfigMap anywhere.
    assert "configMap" not in str(pod)

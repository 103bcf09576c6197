"""Pure builders of the network operator: NetworkPolicies and allocation records.

Covers the isolation policy (same-cluster pods and the operators only), the
API server ingress policy (control-plane pods, API port only), and the
record (name = value, owner by UID label and data, immutable).
"""

from operators.network.children import networkpolicy, record


def test_isolation_admits_same_cluster_and_operators_only() -> None:
    policy = networkpolicy.isolation(
        name="c1-isolation", cluster="c1", operator_selector="app.kubernetes.io/part-of=g8s"
    )
    spec = policy["spec"]
    assert spec["podSelector"] == {"matchLabels": {"g8s.io/cluster": "c1"}}
    assert spec["policyTypes"] == ["Ingress"]
    same, operators = spec["ingress"]
    assert same == {"from": [{"podSelector": {"matchLabels": {"g8s.io/cluster": "c1"}}}]}
    assert operators["from"] == [
        {
            "namespaceSelector": {},
            "podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "g8s"}},
        }
    ]
    assert "ports" not in same


def test_operator_selector_supports_existence() -> None:
    policy = networkpolicy.isolation(
        name="x", cluster="c", operator_selector="a=b, g8s.io/operator"
    )
    selector = policy["spec"]["ingress"][1]["from"][0]["podSelector"]
    assert selector == {
        "matchLabels": {"a": "b"},
        "matchExpressions": [{"key": "g8s.io/operator", "operator": "Exists"}],
    }


def test_apiserver_ingress_is_the_api_port_of_control_plane_pods() -> None:
    policy = networkpolicy.apiserver(name="c1-apiserver-ingress", cluster="c1", port=6443)
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"] == {
        "g8s.io/cluster": "c1",
        "g8s.io/node-role": "controlplane",
    }
    assert spec["ingress"] == [{"ports": [{"protocol": "TCP", "port": 6443}]}]


def test_record_names_its_owner() -> None:
    built = record.build(
        name="g8s-vni-42", namespace="g8s-system", kind="vni", value="42", owner=("ns", "c1", "u1")
    )
    assert built["metadata"]["name"] == "g8s-vni-42"
    assert built["metadata"]["namespace"] == "g8s-system"
    assert built["metadata"]["labels"]["g8s.io/owner-uid"] == "u1"
    assert built["metadata"]["labels"]["g8s.io/allocation"] == "vni"
    assert built["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "g8s-network"
    assert built["data"] == {
        "kind": "vni",
        "value": "42",
        "namespace": "ns",
        "name": "c1",
        "uid": "u1",
    }
    assert built["immutable"] is True
    assert record.selector("vni", "u1") == (
        "app.kubernetes.io/managed-by=g8s-network,g8s.io/allocation=vni,g8s.io/owner-uid=u1"
    )
    assert record.selector() == "app.kubernetes.io/managed-by=g8s-network,g8s.io/allocation"

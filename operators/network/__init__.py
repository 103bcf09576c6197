"""The network operator and its host agent.

Owns ``ClusterNetwork`` (g8s.io/v1alpha1). Reads host ``Node`` objects (how
many hosts should converge each network). Writes, per network:

- allocation records: one ConfigMap per VNI (``g8s-vni-<n>``) and per subnet
  block (``g8s-subnet-<a-b-c-d>-<len>``) in the allocation namespace, created
  create-only so the API server keeps every value unique, even across two
  replicas (see ``allocation``); deleted by the finalizer;
- NetworkPolicies ``<cluster>-isolation`` and ``<cluster>-apiserver-ingress``
  (see ``children.networkpolicy`` for the selectors);
- its status: ``vni``, ``subnet``, ``gateway``, ``bridge``, ``vxlanDevice``,
  ``mtu``, hosts ready / total, conditions.

The host agent (``operators.network.agent``, one per host) converges the
devices and writes its own entry of ``status.hosts``.
"""

"""The network operator and its host agent.

Owns ``ClusterNetwork`` (g8s.io/v1alpha1). Allocates a VNI and a host subnet
per guest cluster and writes NetworkPolicies isolating its pods; the host
agent converges VXLAN and bridge devices on every host.
"""

"""The etcd operator.

Owns ``EtcdCluster`` (g8s.io/v1alpha1). Writes the members' StatefulSet, the
client and peer Services and a PodDisruptionBudget; reads the TLS Secrets the
EtcdCluster names; manages membership and backups through the etcd v3 API.
"""

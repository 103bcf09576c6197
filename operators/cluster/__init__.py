"""The cluster operator.

Owns ``Cluster`` (g8s.io/v1alpha1). Splits each Cluster into child objects
(Certificates, an EtcdCluster, a ClusterNetwork, KVMNodes) that the other
operators reconcile, reads their ``status.conditions``, and writes the
``<c>-kubeconfig`` and ``<c>-encryption`` Secrets and the ``<c>-apiserver`` Service.
"""

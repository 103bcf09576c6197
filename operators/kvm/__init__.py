"""The KVM node operator and its VM launcher.

Owns ``KVMNode`` (g8s.io/v1alpha1). Writes per node a Secret
``<node>-ignition`` holding the Ignition config (with the node's
certificates), a PVC ``<node>-disk`` and a Deployment ``<node>`` whose pod
runs the VM launcher (``operators.kvm.launcher``, QEMU). Reads the
``ClusterNetwork`` named in the spec (subnet, gateway, bridge), the
certificates operator's Secrets ``<cluster>-<component>`` and
``<cluster>-ca``, the launcher pods, and, through the guest cluster's
kubeconfig Secret ``<cluster>-kubeconfig``, the guest Node (readiness,
cordon and drain before deletion).
"""

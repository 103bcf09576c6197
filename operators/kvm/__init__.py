"""The KVM node operator and its VM launcher.

Owns ``KVMNode`` (g8s.io/v1alpha1). Writes per node a Secret holding the
Ignition config, a PVC for the disk and a Deployment whose pod runs the VM
launcher (QEMU); reads the certificates operator's Secrets.
"""

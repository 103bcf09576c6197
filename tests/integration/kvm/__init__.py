"""Integration tests of the kvm operator and its VM launcher (real QEMU, real API server)."""

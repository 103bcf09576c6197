"""Benchmarks of the kvm operator and its VM launcher (python -m bench.kvm)."""

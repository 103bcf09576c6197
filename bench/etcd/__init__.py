"""Benchmarks of the etcd operator (python -m bench.etcd)."""

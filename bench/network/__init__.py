"""Benchmarks of the network operator and its host agent (``python -m bench.network``)."""

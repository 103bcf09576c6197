"""Benchmark of the whole suite driven by Clusters (python -m bench.cluster)."""

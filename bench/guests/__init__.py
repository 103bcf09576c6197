"""Benchmark of real guest clusters (python -m bench.guests)."""

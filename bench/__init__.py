"""Benchmarks (not tests): each prints its figures; nothing asserts a wall-clock time."""

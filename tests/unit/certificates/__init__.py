"""Unit tests of the certificates operator and its API contract (no servers)."""

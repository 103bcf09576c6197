"""Benchmark of the certificates operator: ``python -m bench.certificates``.

Certificates per second from ``Certificate`` created to Secret written, for
200 certificates (every signed component of the catalogue, for 17 guest clusters), with the operator
running as a process against the local environment's API server and OpenBao;
and, as the floor, the latency of Vault's ``sign`` alone (sequential, through
the same adapter, on a CSR of a locally made ECDSA P-256 key). Prints both
and their ratio.
"""

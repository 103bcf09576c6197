"""Integration tests of the certificates operator: real OpenBao, real kube-apiserver."""

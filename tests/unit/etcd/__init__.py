"""Unit tests of the etcd operator: model, builders, policies, status, steps."""

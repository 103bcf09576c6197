"""Integration tests of the etcd operator against real etcd processes on loopback."""

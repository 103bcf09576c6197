"""Unit tests of the kvm operator and its VM launcher."""

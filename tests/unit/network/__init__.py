"""Unit tests of the network operator and its host agent (pure parts)."""

"""Integration tests: each exercises one real dependency started from .tools/."""

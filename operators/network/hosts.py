"""Hosts ready / total: pure aggregation of what the host agents reported.

Each host agent writes its own entry of ``status.hosts`` (server-side apply,
one field manager per host). The operator counts, among the host nodes that
exist now, those whose entry is ready for the current generation; entries of
vanished hosts are ignored.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HostCount:
    ready: int
    total: int
    not_ready: tuple[str, ...]

    @property
    def all_ready(self) -> bool:
        return self.total > 0 and self.ready == self.total


def count(
    entries: Iterable[Mapping[str, Any]], host_nodes: Iterable[str], generation: int
) -> HostCount:
    by_name = {str(e.get("name")): e for e in entries if isinstance(e, Mapping)}
    nodes = sorted(set(host_nodes))
    ready = [
        n
        for n in nodes
        if by_name.get(n, {}).get("ready") is True
        and int(by_name[n].get("observedGeneration") or 0) >= generation
    ]
    return HostCount(
        ready=len(ready), total=len(nodes), not_ready=tuple(n for n in nodes if n not in ready)
    )

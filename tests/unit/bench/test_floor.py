"""The floor the cluster benchmark divides by: its per-certificate sum and the ratios."""

import pytest

from bench.cluster.__main__ import Figures, floor_rows
from bench.floor import Floor


def test_the_floor_of_a_cluster_is_its_certificates_one_after_another() -> None:
    floor = Floor(sign=0.003, secret_write=0.004, status_patch=0.003, samples=30)
    assert floor.per_certificate == pytest.approx(0.010)
    assert "10.0 ms per certificate" in floor.line()
    figures = Figures(count=20, rest_seconds=30, one=4.0, many={"b0": 10.0, "b1": 20.0})
    assert floor_rows(figures) == []
    figures.floor, figures.certificates = floor, 20
    rows = dict(floor_rows(figures))
    assert rows["    floor of a cluster (20 certificates, one after another)"] == (
        "0.20 s; one cluster took 20.0x that"
    )
    assert rows["    floor of 20 clusters, one after another"] == (
        "4.0 s; all Ready took 5.00x that"
    )

"""Fragmentation (sim.fragmentation) on hand-computed cases."""

from __future__ import annotations

import pytest

import policies
from sim.engine import simulate
from sim.fragmentation import fragmentation_timeseries, mean_fragmentation, node_fragment, workload_classes
from sim.model import Cluster, Job, NodeSpec


def test_node_fragment_by_hand():
    classes = ((1, 1000, 0.5), (1, 500, 0.5))
    assert node_fragment([1000, 400], classes) == pytest.approx(0.5 * 400 + 0.5 * 400)
    assert node_fragment([300, 0], classes) == pytest.approx(0.5 * 300 + 0.5 * 300)
    assert node_fragment([1000, 1000], classes) == 0.0
    assert node_fragment([0, 0], classes) == 0.0
    assert node_fragment([1000, 1000], ((4, 1000, 1.0),)) == 2000  # a 4-GPU job cannot use a 2-GPU node


def test_workload_classes_are_frequencies():
    jobs = [Job("a", 0, 1, 1.0, gpu_milli=500), Job("b", 0, 1, 1.0, gpu_milli=500), Job("c", 0, 2, 1.0, gpu_milli=500)]
    assert workload_classes(jobs) == ((2, 1000, pytest.approx(1 / 3)), (1, 500, pytest.approx(2 / 3)))


def test_timeseries_from_the_event_log():
    cluster = Cluster((NodeSpec(2, "T4"),))
    jobs = [Job("a", 0, 1, 10.0, gpu_milli=600)]
    result = simulate(jobs, cluster, policies.make("fifo"), resources=True)
    series = fragmentation_timeseries(jobs, result.events, cluster)
    assert series == [(0.0, pytest.approx(0.4), pytest.approx(1.4)), (10.0, 0.0, 2.0)]
    assert mean_fragmentation(series, 20.0) == pytest.approx(0.4 * 10 / 20)

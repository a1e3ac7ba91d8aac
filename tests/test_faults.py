"""The fault model: distributions, schedules (drawn and from files), checkpoint arithmetic, config."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.errors import GpusimError
from sim.faults import Faults, Lifetime, Outage, from_settings, read_schedule


def test_lifetimes_parse_sample_and_refuse_bad_text():
    exp, wei = Lifetime.parse("exponential:100"), Lifetime.parse("weibull:0.7,1000")
    rng = np.random.default_rng(0)
    xs = [exp.sample(rng) for _ in range(20000)]
    assert np.mean(xs) == pytest.approx(100, rel=0.03)
    ys = [wei.sample(rng) for _ in range(20000)]
    assert np.mean(ys) == pytest.approx(wei.mean, rel=0.05) and wei.mean == pytest.approx(1000 * math.gamma(1 + 1 / 0.7))
    assert Lifetime.parse("constant:5").sample(rng) == 5.0
    for bad in ("normal:1,2", "exponential:", "weibull:1", "exponential:-3", "constant:x"):
        with pytest.raises(GpusimError):
            Lifetime.parse(bad)


def test_drawn_outages_are_per_node_streams_by_type():
    faults = Faults({"V100": Lifetime.parse("exponential:1000")}, {"*": Lifetime.parse("constant:50")})
    a = faults.outages(["V100", "K80", "V100"], seed=3)
    b = faults.outages(["V100", "K80", "V100"], seed=3)
    first = [next(a[0]) for _ in range(5)]
    assert first == [next(b[0]) for _ in range(5)]  # same seed, same outages
    assert list(a[1]) == []  # K80 has no failure distribution: never fails
    assert first != [next(a[2]) for _ in range(5)]  # each node its own stream
    for o, p in zip(first, first[1:]):
        assert o.repair_time == pytest.approx(o.fail_time + 50) and p.fail_time > o.repair_time
    # drawing node 0 further does not shift node 2 (independent streams)
    c, d = faults.outages(["V100", "K80", "V100"], 3), faults.outages(["V100", "K80", "V100"], 3)
    for _ in range(10):
        next(c[0])
    assert [next(c[2]) for _ in range(3)] == [next(d[2]) for _ in range(3)]


def test_schedules_check_nodes_and_overlaps(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("node,fail_time,repair_time\n1,100,200\n0,50,60\n1,300,400\n")
    schedule = read_schedule(path)
    its = Faults(schedule=schedule).outages(["a", "a"], 0)
    assert list(its[0]) == [Outage(0, 50.0, 60.0)]
    assert list(its[1]) == [Outage(1, 100.0, 200.0), Outage(1, 300.0, 400.0)]
    with pytest.raises(GpusimError, match="node 1 does not exist"):
        Faults(schedule=schedule).outages(["a"], 0)
    with pytest.raises(GpusimError, match="already down"):
        Faults(schedule=(Outage(0, 0, 10), Outage(0, 5, 20))).outages(["a"], 0)
    for text, line in (("node,fail_time\n", 1), ("node,fail_time,repair_time\n0,5,3\n", 2),
                       ("node,fail_time,repair_time\n0,1,2\nx,1,2\n", 3), ("node,fail_time,repair_time\n0,1\n", 2)):
        path.write_text(text)
        with pytest.raises(GpusimError, match=rf"f.csv:{line}:"):
            read_schedule(path)


def test_checkpoint_arithmetic():
    f = Faults(schedule=(), checkpoint_interval=100.0, checkpoint_cost=25.0)
    assert f.slowdown == pytest.approx(0.8)
    assert f.saved(0.0, 250.0) == 200.0 and f.saved(30.0, 250.0) == 230.0 and f.saved(30.0, 129.0) == 30.0
    assert Faults(schedule=()).saved(40.0, 500.0) == 40.0  # no checkpoints: back to where the run began
    assert Faults(schedule=()).slowdown == 1.0


def test_settings_tables_and_errors(tmp_path):
    f = from_settings({"mtbf": {"V100": "exponential:86400", "*": "weibull:0.8,50000"}, "repair": "constant:3600",
                       "checkpoint_interval": 1800, "restart_cost": 60})
    assert set(f.mtbf) == {"V100", "*"} and f.repair["*"].kind == "constant" and f.restart_cost == 60
    for settings, message in (({"mtbf": "exponential:10"}, "no time to repair"), ({}, "either distributions"),
                              ({"mtbf": "exponential:10", "repair": "constant:1", "bogus": 1}, "faults.bogus"),
                              ({"schedule": str(tmp_path / "none.csv")}, "cannot read"),
                              ({"mtbf": "exponential:10", "repair": "constant:1", "checkpoint_interval": 0}, "checkpoint_interval"),
                              ({"mtbf": "exponential:10", "repair": "constant:1", "checkpoint_cost": 5}, "needs a checkpoint_interval")):
        with pytest.raises(GpusimError, match=message):
            from_settings(settings)

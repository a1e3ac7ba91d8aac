"""Elastic clusters: the autoscaler turns nodes on and off; cost, capacity and the checker."""

from __future__ import annotations

import pytest

import policies
from sim import cli
from sim.autoscale import Autoscale, QueueAutoscaler, Scale, from_settings
from sim.check import check, verify
from sim.engine import simulate
from sim.errors import GpusimError
from sim.model import Cluster, Event, Job


def fifo():
    return policies.make("fifo", {})


def elastic(**kw) -> Autoscale:
    settings = {"interval": 50.0, "provisioning_delay": 100.0, "min_nodes": 1, "node_hour_cost": 3.6, **kw}
    return from_settings(settings)


def test_a_hand_built_scale_up_and_down():
    """One node on at first; the tick at 0 s sees both jobs queued and asks for node 1, which
    boots for 100 s; after the idle timeout with nothing queued the extra node is turned off."""
    jobs = [Job("a", 0.0, 4, 1000.0), Job("b", 0.0, 4, 500.0)]
    r = simulate(jobs, Cluster.parse("2x4"), fifo(), autoscale=elastic(idle_timeout=100.0))
    assert list(r.events) == [
        Event(0.0, "submit", "a"), Event(0.0, "submit", "b"), Event(0.0, "start", "a", (0, 1, 2, 3)),
        Event(100.0, "node_on", "", (4, 5, 6, 7)),
        Event(100.0, "start", "b", (4, 5, 6, 7)), Event(600.0, "finish", "b"),
        Event(700.0, "node_off", "", (4, 5, 6, 7)), Event(1000.0, "finish", "a"),
    ]
    s = r.summary()
    # node 0: 0..1000 s; node 1: asked at 0 s, off at 700 s -> 1,700 node-seconds at 3.6/h
    assert s["node_hours"] == pytest.approx(1700 / 3600) and s["cost"] == pytest.approx(1.7)
    assert s["peak_nodes"] == 2
    assert s["provisioned_utilization"] == pytest.approx((4 * 1000 + 4 * 500) / (4 * 1000 + 4 * 600))
    assert r.availability() == [(0.0, 4), (100.0, 8), (700.0, 4)]
    verify(r)


def test_never_below_min_nodes_and_the_checker_sees_starts_on_off_nodes():
    jobs = [Job("a", 0.0, 4, 100.0)]
    r = simulate(jobs, Cluster.parse("3x4"), fifo(), autoscale=elastic(min_nodes=2, idle_timeout=0.0))
    assert not any(e.kind == "node_off" for e in r.events)  # the two initial nodes stay on
    ev = list(r.events)
    bad = [e if e.kind != "start" else e._replace(gpus=(8, 9, 10, 11)) for e in ev]  # node 2 is off
    from dataclasses import replace

    assert any("failed node" in v.message or "off" in v.message for v in check(replace(r, events=bad)))


@pytest.mark.parametrize("policy", ["fifo", "fifo-backfill", "sjf", "tiresias"])
def test_elastic_runs_finish_check_and_cost_less_than_the_full_cluster(policy):
    from traces.synthetic import Workload

    jobs = Workload(jobs=150, load=0.4).generate(32, 5)
    full = simulate(jobs, Cluster.parse("4x8"), policies.make(policy, {}), seed=5)
    r = simulate(jobs, Cluster.parse("4x8"), policies.make(policy, {}), seed=5,
                 autoscale=elastic(interval=120.0, provisioning_delay=60.0, idle_timeout=600.0, node_hour_cost=1.0))
    verify(r)
    s = r.summary()
    assert s["unfinished"] == 0
    full_node_hours = 4 * full.summary()["makespan"] / 3600
    assert s["node_hours"] < full_node_hours
    assert s["provisioned_utilization"] > full.summary()["utilization"]


def test_a_stalled_run_stops_ticking():
    class Never:
        name = "never"

        def schedule(self, view, rng):
            return []

    r = simulate([Job("a", 0.0, 1, 10.0)], Cluster.parse("2x4"), Never(), autoscale=elastic())
    assert r.summary()["unfinished"] == 1 and r.events[-1].kind == "stop"


def test_outside_autoscalers_and_bad_settings(tmp_path, capsys):
    class Everything:
        interval = 10.0

        def scale(self, view):
            return Scale(on=tuple(i for i, s in enumerate(view.states) if s == "off"))

    a = Autoscale(Everything(), min_nodes=0, initial_nodes=0)
    r = simulate([Job("a", 5.0, 8, 10.0)], Cluster.parse("2x4"), fifo(), autoscale=a)
    assert [e.kind for e in r.events][:3] == ["submit", "node_on", "node_on"]
    for settings, message in (({"name": "magic"}, "unknown autoscaler"), ({"min_nodes": -1}, "min_nodes"),
                              ({"bogus": 1}, "autoscale.bogus"), ({"interval": 0}, "interval"),
                              ({"node_hour_cost": {"V100": "x"}}, "node_hour_cost.V100")):
        with pytest.raises(GpusimError, match=message):
            from_settings(settings)
    with pytest.raises(GpusimError, match="initial_nodes"):
        simulate([Job("a", 0.0, 1, 1.0)], Cluster.parse("2x4"), fifo(), autoscale=from_settings({"initial_nodes": 3}))
    assert cli.main(["run", "--synthetic", "50", "--cluster", "4x4", "--autoscale", "queue", "--autoscale-arg",
                     "min_nodes=1", "--check", "--out", str(tmp_path / "o")]) == 0
    assert "node_hours" in capsys.readouterr().out and (tmp_path / "o" / "availability.csv").exists()
    assert cli.main(["run", "--synthetic", "50", "--autoscale", "queue", "--mtbf", "exponential:100",
                     "--repair", "constant:1"]) == 2
    assert "cannot be combined" in capsys.readouterr().err
    assert isinstance(from_settings({}).scaler, QueueAutoscaler)

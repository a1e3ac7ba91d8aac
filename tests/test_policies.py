"""Hand-made scenarios for behaviour specific to one policy (the contract tests cover what all share)."""

from __future__ import annotations

import policies
from sim.engine import simulate
from sim.model import Cluster, Job


def runs(result) -> list[tuple[float, str, str]]:
    return [(e.time, e.kind, e.job_id) for e in result.events if e.kind != "submit"]


def test_tiresias_demotes_long_jobs_below_new_ones():
    """A job past its queue's threshold is demoted, so a later arrival in the top queue preempts it."""
    jobs = [Job("long", 0.0, 1, 100.0), Job("short", 20.0, 1, 5.0)]
    result = simulate(jobs, Cluster.parse("1x1"), policies.make("tiresias", {"thresholds": [10.0]}))
    assert runs(result) == [(0.0, "start", "long"), (20.0, "preempt", "long"), (20.0, "start", "short"),
                            (25.0, "finish", "short"), (25.0, "start", "long"), (105.0, "finish", "long")]


def test_tiresias_counts_gpu_seconds():
    """Attained service is GPU-seconds: a 4-GPU job crosses a 40 GPU-s threshold after 10 s, not 40 s."""
    jobs = [Job("wide", 0.0, 4, 100.0), Job("late", 15.0, 4, 1.0)]
    result = simulate(jobs, Cluster.parse("1x4"), policies.make("tiresias", {"thresholds": [40.0]}))
    assert (15.0, "preempt", "wide") in runs(result)


def test_tiresias_does_not_preempt_within_the_top_queue():
    """Two jobs below the first threshold: the later one waits (no preemption inside a queue)."""
    jobs = [Job("a", 0.0, 1, 8.0), Job("b", 2.0, 1, 1.0)]
    result = simulate(jobs, Cluster.parse("1x1"), policies.make("tiresias", {"thresholds": [10.0]}))
    assert runs(result) == [(0.0, "start", "a"), (8.0, "finish", "a"), (8.0, "start", "b"), (9.0, "finish", "b")]


def test_preemptive_priority_preempts_only_lower_classes():
    """A high-priority arrival preempts a low-priority job but not an equal-priority one."""
    cluster = Cluster.parse("1x1")
    low_then_high = [Job("low", 0.0, 1, 10.0, priority=0), Job("high", 2.0, 1, 1.0, priority=1)]
    result = simulate(low_then_high, cluster, policies.make("priority", {"preemptive": True}))
    assert runs(result)[:3] == [(0.0, "start", "low"), (2.0, "preempt", "low"), (2.0, "start", "high")]
    equal = [Job("first", 0.0, 1, 10.0, priority=1), Job("second", 2.0, 1, 1.0, priority=1)]
    result = simulate(equal, cluster, policies.make("priority", {"preemptive": True}))
    assert result.summary()["preemptions"] == 0
    non_preemptive = simulate(low_then_high, cluster, policies.make("priority"))
    assert non_preemptive.summary()["preemptions"] == 0


def test_random_order_comes_from_the_seed():
    """Which of two simultaneous jobs starts first on one GPU depends on the seed, and both orders occur."""
    jobs = [Job("a", 0.0, 1, 1.0), Job("b", 0.0, 1, 1.0)]
    firsts = set()
    for seed in range(16):
        result = simulate(jobs, Cluster.parse("1x1"), policies.make("random"), seed)
        again = simulate(jobs, Cluster.parse("1x1"), policies.make("random"), seed)
        assert result.events == again.events
        firsts.add(next(e.job_id for e in result.events if e.kind == "start"))
    assert firsts == {"a", "b"}

"""Hand-made scenarios for deadline-, fairness- and reservation-aware policies and their metrics."""

from __future__ import annotations

import dataclasses
import math

import pytest

import policies
from policies.fairshare import water_fill
from policies.reservation import parse_reserve
from sim import metrics
from sim.engine import simulate
from sim.errors import GpusimError
from sim.model import Cluster, Event, Job
from sim.placement import STRATEGIES
from test_contract import check_log, workload


def runs(result) -> list[tuple[float, str, str]]:
    return [(e.time, e.kind, e.job_id) for e in result.events if e.kind != "submit"]


def starts(result) -> list[tuple[float, str]]:
    return [(e.time, e.job_id) for e in result.events if e.kind == "start"]


# --- edf -------------------------------------------------------------------------------------


def test_edf_orders_by_deadline_then_no_deadline_in_arrival_order():
    """Behind a blocker, jobs start earliest deadline first and the deadline-less ones last, by arrival."""
    jobs = [Job("blocker", 0.0, 1, 10.0), Job("none1", 1.0, 1, 1.0), Job("late", 1.0, 1, 1.0, deadline=100.0),
            Job("none2", 1.0, 1, 1.0), Job("early", 2.0, 1, 1.0, deadline=50.0)]
    result = simulate(jobs, Cluster.parse("1x1"), policies.make("edf"))
    assert starts(result) == [(0.0, "blocker"), (10.0, "early"), (11.0, "late"), (12.0, "none1"), (13.0, "none2")]
    assert result.summary()["preemptions"] == 0


def test_edf_preempts_for_an_earlier_deadline_only_when_preemptive():
    """preemptive=true: an urgent arrival preempts a deadline-less job; equal deadlines never preempt."""
    jobs = [Job("a", 0.0, 1, 10.0), Job("b", 1.0, 1, 2.0, deadline=5.0)]
    result = simulate(jobs, Cluster.parse("1x1"), policies.make("edf", {"preemptive": True}))
    assert runs(result) == [(0.0, "start", "a"), (1.0, "preempt", "a"), (1.0, "start", "b"), (3.0, "finish", "b"),
                            (3.0, "start", "a"), (12.0, "finish", "a")]
    assert starts(simulate(jobs, Cluster.parse("1x1"), policies.make("edf"))) == [(0.0, "a"), (10.0, "b")]
    equal = [Job("c", 0.0, 1, 5.0, deadline=20.0), Job("d", 1.0, 1, 1.0, deadline=20.0)]
    result = simulate(equal, Cluster.parse("1x1"), policies.make("edf", {"preemptive": True}))
    assert result.summary()["preemptions"] == 0


# --- metrics ---------------------------------------------------------------------------------


def test_deadline_metrics_on_a_hand_written_log():
    """Misses and tardiness count finished deadline jobs only: a on time, b 4 s late, d unfinished."""
    jobs = [Job("a", 0.0, 1, 5.0, deadline=10.0), Job("b", 0.0, 1, 5.0, deadline=6.0), Job("c", 0.0, 1, 2.0),
            Job("d", 0.0, 1, 9.0, deadline=3.0)]
    events = [Event(0.0, "submit", j.job_id) for j in jobs] + [
        Event(0.0, "start", "a", (0,)), Event(5.0, "finish", "a"), Event(5.0, "start", "b", (0,)),
        Event(10.0, "finish", "b"), Event(10.0, "start", "c", (0,)), Event(12.0, "finish", "c"), Event(12.0, "stop", "")]
    s = metrics.summary(jobs, events, 1)
    assert (s["deadline_jobs"], s["deadline_miss_ratio"], s["avg_tardiness"]) == (2, 0.5, 2.0)
    assert tuple(s)[-4:] == ("deadline_jobs", "deadline_miss_ratio", "avg_tardiness", "jain_fairness")
    none = metrics.summary(jobs[2:3], events[2:3] + events[7:9], 1)
    assert none["deadline_jobs"] == 0 and math.isnan(none["deadline_miss_ratio"]) and math.isnan(none["avg_tardiness"])


def test_jain_index_hand_computed():
    """Equal shares give 1, one group taking everything gives 1/n, and (1, 3) gives 16/20."""
    assert metrics.jain_index([0.5, 0.5, 0.5]) == 1.0
    assert metrics.jain_index([3.0, 0.0, 0.0]) == pytest.approx(1 / 3)
    assert metrics.jain_index([1.0, 3.0]) == pytest.approx(0.8)
    assert math.isnan(metrics.jain_index([1.0])) and math.isnan(metrics.jain_index([0.0, 0.0]))


def test_jain_fairness_over_users_then_vcs():
    """Shares are each group's mean duration/JCT (users, else VCs): equal service → 1, one slowed → lower."""
    jobs = [Job("x", 0.0, 2, 10.0, user="u1", vc="v1"), Job("y", 0.0, 1, 10.0, user="u2", vc="v1")]
    # x runs at once (JCT 10, rate 1); y waits 30 s (JCT 40, rate 1/4).
    slowed = [Event(0.0, "submit", "x"), Event(0.0, "submit", "y"), Event(0.0, "start", "x", (0, 1)),
              Event(10.0, "finish", "x"), Event(30.0, "start", "y", (0,)), Event(40.0, "finish", "y")]
    assert metrics.group_shares(jobs, slowed) == {"u1": 1.0, "u2": 0.25}
    assert metrics.summary(jobs, slowed, 3)["jain_fairness"] == pytest.approx(1.25 ** 2 / (2 * (1 + 0.0625)))
    both = slowed[:3] + [Event(0.0, "start", "y", (2,)), Event(10.0, "finish", "x"), Event(10.0, "finish", "y")]
    assert metrics.summary(jobs, both, 3)["jain_fairness"] == pytest.approx(1.0)
    by_vc = [dataclasses.replace(j, user=None, vc=v) for j, v in zip(jobs, ["v1", "v2"])]
    assert metrics.group_shares(by_vc, slowed) == {"v1": 1.0, "v2": 0.25}
    one_vc = [dataclasses.replace(j, user=None) for j in jobs]
    assert math.isnan(metrics.summary(one_vc, both, 3)["jain_fairness"])
    assert math.isnan(metrics.summary([dataclasses.replace(j, user=None, vc=None) for j in jobs], both, 3)["jain_fairness"])


# --- fair-share ------------------------------------------------------------------------------


def test_water_fill_hand_computed():
    """Max-min shares: small demands are met in full and the rest is split equally among the others."""
    assert water_fill(12, {"a": 2, "b": 4, "c": 10}) == {"a": 2, "b": 4, "c": 6}
    shares = water_fill(10, {"a": 2, "b": 3, "c": 8, "d": 10})
    assert shares["a"] == 2 and all(shares[g] == pytest.approx(8 / 3) for g in "bcd")
    assert water_fill(16, {"a": 2, "b": 4}) == {"a": 2, "b": 4}


def test_fair_share_serves_a_new_user_before_a_hogs_queue():
    """When GPUs free up, a newcomer (share 2, holding 0) starts before the hog's queued jobs (share 2, holding 2)."""
    jobs = [Job("h1", 0.0, 2, 10.0, user="hog"), Job("h2", 0.0, 2, 20.0, user="hog"),
            Job("h3", 0.0, 2, 10.0, user="hog"), Job("h4", 0.0, 2, 10.0, user="hog"),
            Job("n1", 1.0, 2, 10.0, user="new")]
    result = simulate(jobs, Cluster.parse("1x4"), policies.make("fair-share"))
    assert starts(result) == [(0.0, "h1"), (0.0, "h2"), (10.0, "n1"), (20.0, "h3"), (20.0, "h4")]
    assert (10.0, "h3") in starts(simulate(jobs, Cluster.parse("1x4"), policies.make("fifo")))
    by_vc = [dataclasses.replace(j, user=None, vc=j.user) for j in jobs]
    assert starts(simulate(by_vc, Cluster.parse("1x4"), policies.make("fair-share", {"by": "vc"}))) == starts(result)


def test_fair_share_preempts_the_group_above_its_share():
    """preemptive=true: the hog holding all 4 GPUs (share 2) loses one job to the newcomer (share 2)."""
    jobs = [Job("h1", 0.0, 2, 10.0, user="hog"), Job("h2", 0.0, 2, 10.0, user="hog"), Job("n1", 1.0, 2, 2.0, user="new")]
    result = simulate(jobs, Cluster.parse("1x4"), policies.make("fair-share", {"preemptive": True}))
    assert runs(result)[:4] == [(0.0, "start", "h1"), (0.0, "start", "h2"), (1.0, "preempt", "h2"),
                                (1.0, "start", "n1")]
    assert starts(simulate(jobs, Cluster.parse("1x4"), policies.make("fair-share")))[-1] == (10.0, "n1")
    with pytest.raises(GpusimError, match="by must be"):
        policies.make("fair-share", {"by": "team"})


# --- priority-reserve ------------------------------------------------------------------------

LOW = [Job("l1", 0.0, 2, 10.0, priority=0), Job("l2", 0.0, 2, 10.0, priority=0)]
HIGH = Job("h", 5.0, 2, 1.0, priority=1)


def test_reservation_idles_without_borrowing_and_lends_with_it():
    """With 2 of 4 GPUs kept for class 1, class 0 gets only the 2 shared ones unless borrow=true."""
    strict = policies.make("priority-reserve", {"reserve": "1:2", "borrow": False})
    assert starts(simulate(LOW, Cluster.parse("1x4"), strict)) == [(0.0, "l1"), (10.0, "l2")]
    lend = policies.make("priority-reserve", {"reserve": {"1": 2}, "reclaim": False})
    assert starts(simulate(LOW + [HIGH], Cluster.parse("1x4"), lend)) == [(0.0, "l1"), (0.0, "l2"), (10.0, "h")]


def test_reservation_reclaims_by_preemption():
    """reclaim=true: the class-1 arrival preempts the latest borrower and runs at once on its reservation."""
    policy = policies.make("priority-reserve", {"reserve": "1:2"})
    result = simulate(LOW + [HIGH], Cluster.parse("1x4"), policy)
    assert runs(result) == [(0.0, "start", "l1"), (0.0, "start", "l2"), (5.0, "preempt", "l2"), (5.0, "start", "h"),
                            (6.0, "finish", "h"), (6.0, "start", "l2"), (10.0, "finish", "l1"), (11.0, "finish", "l2")]
    strict = policies.make("priority-reserve", {"reserve": "1:2", "borrow": False})
    assert starts(simulate(LOW + [HIGH], Cluster.parse("1x4"), strict)) == [(0.0, "l1"), (5.0, "h"), (10.0, "l2")]


def test_reserve_parsing_and_validation():
    """Reservations parse from a string or a TOML table with string keys; bad ones name the problem."""
    assert parse_reserve("1:16, 2:8") == {1: 16, 2: 8} == parse_reserve({"1": 16, "2": 8})
    assert parse_reserve("") == {}
    for bad, message in [("1=4", "not CLASS:GPUS"), ("x:2", "must be integers"), ("1:0", "positive"),
                         ("1:2,1:3", "twice"), ({"1": 2.5}, "whole number")]:
        with pytest.raises(GpusimError, match=message):
            policies.make("priority-reserve", {"reserve": bad})
    with pytest.raises(ValueError, match="more than the cluster's 4"):
        simulate(LOW, Cluster.parse("1x4"), policies.make("priority-reserve", {"reserve": "1:5"}))


# --- the contract, for the non-default settings ----------------------------------------------

VARIANTS = [("edf", {"preemptive": True}), ("fair-share", {"preemptive": True}), ("fair-share", {"by": "vc"}),
            ("priority-reserve", {"reserve": "2:4"}), ("priority-reserve", {"reserve": "1:1,2:1", "borrow": False}),
            ("priority-reserve", {"reserve": "2:4", "reclaim": False})]


@pytest.mark.parametrize("placement", STRATEGIES)
@pytest.mark.parametrize(("name", "args"), VARIANTS, ids=[f"{n}+{a}" for n, a in VARIANTS])
def test_variants_keep_the_contract(name, args, placement):
    """Non-default settings, on workloads with users, VCs and deadlines: legal, complete and deterministic."""
    for spec in ["2x8", "1x2,2x4"]:
        cluster = Cluster.parse(spec)
        for seed in [0, 1, 2]:
            jobs = [dataclasses.replace(j, user=f"u{i % 3}", vc=f"v{i % 2}", deadline=j.submit_time + 3 * j.duration)
                    for i, j in enumerate(workload(seed, cluster.num_gpus))]
            overhead = 0.0 if seed < 2 else 15.0
            run = [simulate(jobs, cluster, policies.make(name, args), seed, placement=placement,
                            restart_overhead=overhead) for _ in range(2)]
            check_log(jobs, run[0])
            assert run[0].events == run[1].events

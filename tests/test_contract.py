"""The contract every policy must keep, checked for every registered policy on seeded random workloads.

Only legal decisions (simulate raises otherwise), every job submitted and finished exactly once, the
same seed gives an identical event log, and no job completes faster than its work. Every run made
here is also replayed by the invariant checker (sim.check).
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import policies
from sim.check import check, explain
from sim.engine import simulate as _simulate
from sim.errors import GpusimError, PolicyError
from sim.model import EVENT_KINDS, Cluster, Job
from sim.placement import STRATEGIES
from sim.rng import stream

POLICY_NAMES = sorted(policies.available())
# Extra settings that make preemptive code paths run on these short workloads.
VARIANTS = [("tiresias", {"thresholds": [60.0, 400.0]}), ("priority", {"preemptive": True})]
CASES = [(name, {}) for name in POLICY_NAMES] + VARIANTS
CLUSTERS = ["2x8", "4x4", "1x2,2x4"]
SEEDS = [0, 1, 2, 3]


def simulate(*args, **kwargs):
    """sim.engine.simulate, with the run's event log replayed by the invariant checker."""
    result = _simulate(*args, **kwargs)
    violations = check(result)
    assert not violations, explain(violations)
    return result


def workload(seed: int, num_gpus: int, n: int = 50, load: float = 1.2) -> list[Job]:
    """Poisson arrivals at ``load`` × capacity, sizes 1/2/4/8, lognormal durations.

    Odd seeds put submissions and durations on a whole-second grid, so ties are common.
    """
    sizes = stream(seed, "sizes").choice([1, 2, 4, 8], size=n, p=[0.4, 0.3, 0.2, 0.1])
    durations = stream(seed, "durations").lognormal(np.log(60.0), 1.0, size=n)
    mean_work = (0.4 * 1 + 0.3 * 2 + 0.2 * 4 + 0.1 * 8) * 60.0 * np.exp(0.5)
    gaps = stream(seed, "arrivals").exponential(mean_work / (load * num_gpus), size=n)
    submits = np.cumsum(gaps) - gaps[0]
    priorities = stream(seed, "priorities").integers(0, 3, size=n)
    if seed % 2:
        submits, durations = np.floor(submits), np.maximum(1.0, np.round(durations))
    return [Job(f"j{i}", float(submits[i]), int(sizes[i]), float(durations[i]), priority=int(priorities[i]))
            for i in range(n)]


def check_log(jobs, result) -> None:
    """The per-job and per-instant invariants of a complete, legal run."""
    by_id = {j.job_id: j for j in jobs}
    events = result.events
    assert all(a.time <= b.time for a, b in zip(events, events[1:])), "log not in time order"
    rank = {k: i for i, k in enumerate(EVENT_KINDS)}
    for a, b in zip(events, events[1:]):
        if a.time == b.time:
            assert rank[a.kind] <= rank[b.kind], f"{a} logged before {b} within one instant"
    counts = Counter((e.kind, e.job_id) for e in events)
    for j in jobs:
        assert counts["submit", j.job_id] == 1
        assert counts["finish", j.job_id] == 1
        assert counts["start", j.job_id] == counts["preempt", j.job_id] + counts["resize", j.job_id] + 1
    assert not [e for e in events if e.kind == "stop"]
    for e in events:
        if e.kind == "submit":
            assert e.time == by_id[e.job_id].submit_time
        if e.kind == "start":
            assert len(e.gpus) == by_id[e.job_id].num_gpus
    first_start = {}
    for e in events:
        if e.kind == "start":
            first_start.setdefault(e.job_id, e.time)
    for row in result.job_table():
        j = by_id[row["job_id"]]
        # end = start + duration is rounded to the clock's resolution at the end time, so a difference
        # of absolute times may come out an ulp or two below the duration.
        rounding = 4 * math.ulp(row["end_time"])
        assert row["jct"] >= j.duration - rounding, row
        assert row["end_time"] - first_start[j.job_id] >= j.duration - rounding, row
    assert result.summary()["unfinished"] == 0
    assert result.summary()["utilization"] <= 1.0 + 1e-9


@pytest.mark.parametrize("placement", STRATEGIES)
@pytest.mark.parametrize(("name", "args"), CASES, ids=[n + ("+" + ",".join(a) if a else "") for n, a in CASES])
def test_policy_contract(name, args, placement):
    """Legal decisions, each job finishes once, JCT >= duration, and the same seed repeats the log exactly."""
    for spec in CLUSTERS:
        cluster = Cluster.parse(spec)
        for seed in SEEDS:
            jobs = workload(seed, cluster.num_gpus)
            overhead = 0.0 if seed < 2 else 15.0
            run = [simulate(jobs, cluster, policies.make(name, args), seed, placement=placement,
                            restart_overhead=overhead) for _ in range(2)]
            check_log(jobs, run[0])
            assert run[0].events == run[1].events, f"{name} on {spec}/{placement}, seed {seed}: not deterministic"
            assert run[0].policy == name


def test_every_registered_policy_is_covered():
    """The contract covers every registered policy, and the registry is not empty."""
    assert POLICY_NAMES, "no registered policy found"
    assert {name for name, _ in CASES} == set(POLICY_NAMES)
    for name, info in policies.available().items():
        assert info.summary, f"policy {name} has no one-line description"


def test_preemptive_variants_actually_preempt():
    """The preemptive settings used above do preempt on these workloads (so the contract exercises preemption)."""
    cluster = Cluster.parse("2x8")
    for name, args in VARIANTS + [("srtf", {})]:
        jobs = workload(0, cluster.num_gpus)
        result = simulate(jobs, cluster, policies.make(name, args), 0, placement="pool")
        assert result.summary()["preemptions"] > 0, name


def test_random_policy_depends_on_the_seed():
    """The random policy draws from the seed's policy stream: other seeds give other logs."""
    cluster = Cluster.parse("4x4")
    jobs = workload(0, cluster.num_gpus)
    logs = {tuple(simulate(jobs, cluster, policies.make("random"), seed).events) for seed in range(4)}
    assert len(logs) > 1


# --- an outside policy ----------------------------------------------------------------------


@pytest.fixture
def outside(monkeypatch):
    """Makes tests/outside_policy.py importable for the duration of one test."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))


def test_outside_policy_loads_and_keeps_the_contract(outside):
    """'outside_policy:LowestFirst' loads through policies.make and runs a whole workload legally."""
    cluster = Cluster.parse("2x8")
    jobs = workload(1, cluster.num_gpus)
    runs = [simulate(jobs, cluster, policies.make("outside_policy:LowestFirst"), 3) for _ in range(2)]
    check_log(jobs, runs[0])
    assert runs[0].events == runs[1].events
    assert runs[0].policy == "LowestFirst"


def test_outside_policy_parameters_are_checked_and_coerced(outside):
    """An outside dataclass policy gets its parameters coerced (int to float) and unknown ones rejected."""
    policy = policies.make("outside_policy:Patient", {"delay": 5})
    assert policy.delay == 5.0 and isinstance(policy.delay, float)
    jobs = [Job("a", 0.0, 1, 3.0), Job("b", 1.0, 1, 3.0)]
    result = simulate(jobs, Cluster.parse("1x2"), policy, placement="pool")
    assert [r["start_time"] for r in result.job_table()] == [5.0, 6.0]
    with pytest.raises(GpusimError, match="no parameter 'patience'"):
        policies.make("outside_policy:Patient", {"patience": 5})
    with pytest.raises(GpusimError, match="parameter 'delay'"):
        policies.make("outside_policy:Patient", {"delay": "soon"})


def test_outside_policy_errors_name_the_class(outside):
    """An illegal decision of an outside policy is reported under its class name."""
    policy = policies.make("outside_policy:Overeager")
    with pytest.raises(PolicyError, match=r"policy 'Overeager' at t=0s: illegal decision Start\(job_id='b'"):
        simulate([Job("a", 0.0, 1, 1.0), Job("b", 0.0, 1, 1.0)], Cluster.parse("1x2"), policy)


def test_unknown_outside_module_or_class():
    """A module:Class naming a missing module or class is a GpusimError, not an ImportError."""
    with pytest.raises(GpusimError, match="no module named"):
        policies.make("surely_not_a_module_xyz:Policy")
    with pytest.raises(GpusimError, match="has no 'Nope'"):
        policies.make("sim.model:Nope")
    with pytest.raises(GpusimError, match="unknown policy 'fifo2'"):
        policies.make("fifo2")

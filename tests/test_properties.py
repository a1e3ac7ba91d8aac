"""Property tests (Hypothesis) over random small workloads, clusters, placements, policies and overheads.

Each property is checked by replaying the event log, independently of the engine's own bookkeeping;
every run is also replayed by the invariant checker (sim.check), which must agree.
"""

from __future__ import annotations

import math
from collections import Counter

from hypothesis import event, given, settings
from hypothesis import strategies as st

import policies
from sim.check import check, explain
from sim.engine import check_fits, simulate
from sim.metrics import busy_gpu_seconds
from sim.model import Cluster, Job, NodeSpec, Preempt, Start, Wake
from sim.placement import STRATEGIES, Planner

SETTINGS = settings(max_examples=60, deadline=None)


class Chaos:
    """A legal but erratic policy: random preemptions (at most two per job), random starts, random wake-ups.

    It preempts jobs at arbitrary times, including during a restart overhead, which the registered
    policies rarely do.
    """

    name = "chaos"

    def schedule(self, view, rng):
        planner = view.planner()
        decisions = []
        for job in list(view.running):
            if job.preemptions < 2 and rng.random() < 0.3:
                decisions.append(Preempt(job.job_id))
                planner.release(job.gpus)
        pending = list(view.pending)
        preempted = {d.job_id for d in decisions}
        for i in rng.permutation(len(pending)):
            job = pending[i]
            if job.job_id in preempted or rng.random() < 0.2:
                continue
            gpus = planner.place(job.num_gpus)
            if gpus is not None:
                planner.take(gpus)
                decisions.append(Start(job.job_id, gpus if rng.random() < 0.5 else None))
        decisions.append(Wake(view.now + float(rng.exponential(3.0)) + 1e-3))
        return decisions


# chaos comes first: Hypothesis favours (and shrinks towards) the first choice, and chaos is the main
# source of preemptions, including preemptions during a restart overhead.
POLICY_CASES = [("chaos", {})] + [(name, {}) for name in sorted(policies.available())] + [
    ("tiresias", {"thresholds": [5.0, 40.0]}), ("priority", {"preemptive": True})]


def make_policy(name, args):
    return Chaos() if name == "chaos" else policies.make(name, args)


@st.composite
def scenarios(draw):
    """A cluster, a placement, a workload that fits it, a policy, a restart overhead and a seed."""
    caps = draw(st.lists(st.sampled_from([1, 2, 4, 8]), min_size=1, max_size=4))
    cluster = Cluster(tuple(NodeSpec(c) for c in caps))
    placement = draw(st.sampled_from(STRATEGIES))
    probe = [Job(str(n), 0.0, n, 1.0) for n in (1, 2, 3, 4, 5, 8, 12, 16)]
    too_big = {j.num_gpus for j in check_fits(probe, cluster, placement)}
    sizes = [j.num_gpus for j in probe if j.num_gpus not in too_big]
    on_grid = draw(st.booleans())  # whole seconds make simultaneous arrivals and completions common
    n = draw(st.integers(1, 12))
    jobs = []
    for i in range(n):
        if on_grid:
            submit, duration = float(draw(st.integers(0, 30))), float(draw(st.integers(1, 20)))
        else:
            submit = draw(st.floats(0.0, 100.0, allow_nan=False, allow_infinity=False))
            duration = draw(st.floats(0.01, 50.0, allow_nan=False, allow_infinity=False))
        jobs.append(Job(f"j{i}", submit, draw(st.sampled_from(sizes)), duration,
                        priority=draw(st.integers(0, 2))))
    policy = draw(st.sampled_from(POLICY_CASES))
    overhead = draw(st.sampled_from([0.0, 0.5, 3.0, 7.25]))
    seed = draw(st.integers(0, 2**16))
    return cluster, placement, jobs, policy, overhead, seed


def run(scenario):
    cluster, placement, jobs, (name, args), overhead, seed = scenario
    result = simulate(jobs, cluster, make_policy(name, args), seed, placement=placement, restart_overhead=overhead)
    violations = check(result)
    assert not violations, explain(violations)
    return result


def runs_of(events):
    """Each job's runs as (start, end) pairs, in order, from the start/preempt/finish events."""
    runs: dict[str, list[tuple[float, float]]] = {}
    open_at: dict[str, float] = {}
    for e in events:
        if e.kind == "start":
            assert e.job_id not in open_at
            open_at[e.job_id] = e.time
        elif e.kind in ("preempt", "finish"):
            runs.setdefault(e.job_id, []).append((open_at.pop(e.job_id), e.time))
    assert not open_at, f"runs never closed: {open_at}"
    return runs


@SETTINGS
@given(scenarios())
def test_no_gpu_is_held_by_two_jobs(scenario):
    """Replaying the log, every start takes existing, distinct, free GPUs and every stop returns exactly those."""
    cluster, _, jobs, _, _, _ = scenario
    result = run(scenario)
    size = {j.job_id: j.num_gpus for j in jobs}
    owner: dict[int, str] = {}
    held: dict[str, tuple[int, ...]] = {}
    for e in result.events:
        if e.kind == "start":
            assert len(e.gpus) == len(set(e.gpus)) == size[e.job_id]
            for g in e.gpus:
                assert 0 <= g < cluster.num_gpus
                assert g not in owner, f"t={e.time}: GPU {g} given to {e.job_id} while {owner.get(g)} holds it"
                owner[g] = e.job_id
            held[e.job_id] = e.gpus
        elif e.kind == "preempt":
            assert e.gpus == held[e.job_id]
        if e.kind in ("preempt", "finish"):
            for g in held.pop(e.job_id):
                assert owner.pop(g) == e.job_id
    assert not owner and not held


@SETTINGS
@given(scenarios())
def test_gpu_seconds_are_conserved(scenario):
    """Busy GPU-seconds = sum of num_gpus × (duration + overhead paid per restart); progress sums to the duration."""
    _, _, jobs, _, overhead, _ = scenario
    result = run(scenario)
    runs = runs_of(result.events)
    scale = max(1.0, max(t for r in runs.values() for _, t in r))
    expected = 0.0
    cut_in_overhead = False
    for j in jobs:
        job_runs = runs[j.job_id]
        lengths = [b - a for a, b in job_runs]
        # the first run makes progress at once; a restart first pays the overhead (or is cut during it)
        progress = lengths[0] + sum(max(0.0, x - overhead) for x in lengths[1:])
        assert math.isclose(progress, j.duration, rel_tol=1e-9, abs_tol=1e-9 * scale * len(lengths)), (j, job_runs)
        paid = sum(min(overhead, x) for x in lengths[1:])
        cut_in_overhead |= any(x < overhead for x in lengths[1:])
        expected += j.num_gpus * (j.duration + paid)
    event(f"preempted: {any(len(r) > 1 for r in runs.values())}, cut during overhead: {cut_in_overhead}")
    busy = busy_gpu_seconds(result.events)
    tol = 1e-9 * scale * len(result.events)
    assert math.isclose(busy, expected, rel_tol=1e-9, abs_tol=tol)
    if not cut_in_overhead:
        restarts = Counter(e.job_id for e in result.events if e.kind == "start")
        simple = sum(j.num_gpus * (j.duration + overhead * (restarts[j.job_id] - 1)) for j in jobs)
        assert math.isclose(busy, simple, rel_tol=1e-9, abs_tol=tol)


@SETTINGS
@given(scenarios())
def test_completion_never_beats_the_work(scenario):
    """No job's JCT, nor its time from first start to end, is below its duration (beyond clock rounding)."""
    _, _, jobs, _, _, _ = scenario
    result = run(scenario)
    by_id = {j.job_id: j for j in jobs}
    for row in result.job_table():
        j = by_id[row["job_id"]]
        rounding = 4 * math.ulp(row["end_time"])
        assert row["jct"] >= j.duration - rounding
        assert row["end_time"] - row["start_time"] >= j.duration - rounding
        assert row["wait"] >= 0.0


@SETTINGS
@given(scenarios())
def test_every_job_is_submitted_and_finishes_once(scenario):
    """Each job has one submit (at its submit time) and one finish, and starts once more than it is preempted."""
    _, _, jobs, _, _, _ = scenario
    result = run(scenario)
    counts = Counter((e.kind, e.job_id) for e in result.events)
    for j in jobs:
        assert counts["submit", j.job_id] == 1 and counts["finish", j.job_id] == 1
        assert counts["start", j.job_id] == counts["preempt", j.job_id] + 1
    assert [e.time for e in result.events if e.kind == "submit"] == sorted(j.submit_time for j in jobs)
    assert result.summary()["unfinished"] == 0


# --- placement on its own -------------------------------------------------------------------


@st.composite
def planner_states(draw):
    caps = draw(st.lists(st.integers(1, 8), min_size=1, max_size=5))
    p = Planner(caps, draw(st.sampled_from(STRATEGIES)))
    busy = draw(st.sets(st.integers(0, sum(caps) - 1)))
    p.take(sorted(busy))
    return p, caps, draw(st.integers(1, sum(caps) + 1))


@settings(max_examples=200, deadline=None)
@given(planner_states())
def test_place_gives_free_gpus_or_none_for_a_reason(state):
    """place returns n distinct free GPUs; pool/pack/spread refuse only when fewer than n are free."""
    p, caps, n = state
    gpus = p.place(n)
    if gpus is None:
        if p.strategy != "consolidated":
            assert n > p.free_total
        return
    assert len(gpus) == len(set(gpus)) == n and all(p.is_free(g) for g in gpus)
    per_node = Counter(p.node_of(g) for g in gpus)
    if p.strategy == "consolidated" and n <= max(caps):
        assert len(per_node) == 1
    if p.strategy == "pack" and any(f >= n for f in p.free_per_node()):
        assert len(per_node) == 1
    if p.strategy in ("pack", "spread"):
        # most-free-first splitting touches no more nodes than the fewest that could hold the job
        free_sorted = sorted(p.free_per_node(), reverse=True)
        fewest = next(k for k in range(1, len(free_sorted) + 1) if sum(free_sorted[:k]) >= n)
        assert len(per_node) == fewest

"""Review of the policies not cross-checked against another simulator: each against its textbook
definition, on hand-built workloads whose expected schedules are worked out by hand or by a plain
loop in the test (never by the code under test)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import policies
from policies._predict import Online, Query, UserHistory
from policies.genetic import GeneticScore
from sim.engine import simulate
from sim.model import Cluster, Job


def starts_and_resizes(result) -> list[tuple[float, str, str, tuple[int, ...]]]:
    return [(e.time, e.kind, e.job_id, e.gpus) for e in result.events if e.kind != "submit"]


# --- EASY backfilling ------------------------------------------------------------------------------


def easy_workload(seed: int, n: int = 300, num_gpus: int = 16) -> list[Job]:
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 81])))
    sizes = rng.choice([1, 2, 4, 8], size=n, p=[0.4, 0.3, 0.2, 0.1])
    durations = rng.exponential(20.0, n)
    submits = np.cumsum(rng.exponential(20.0 * sizes.mean() / (0.95 * num_gpus), n))
    return [Job(f"j{i}", float(submits[i]), int(sizes[i]), float(durations[i])) for i in range(n)]


def late_heads(jobs: list[Job], result, num_gpus: int) -> list[tuple[str, float, float, float]]:
    """(head, instant, its start, the reservation then) for every instant at which the queue head
    starts later than the earliest time enough GPUs free up by the running jobs' actual ends: the
    EASY guarantee (Mu'alem & Feitelson 2001), counted in GPUs as on a pool (the whole cluster as
    one node, ``late_heads_on_nodes``)."""
    return late_heads_on_nodes(jobs, result, num_gpus, 1)


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("kw", [{"placement": "pool"}, {"placement": "pool", "resources": True},
                                {"placement": "pool", "restart_overhead": 5.0}])
def test_easy_keeps_every_reservation_on_a_multi_node_pool(seed, kw):
    """Extends test_validation's 1x8 check: two nodes pooled, also under the resource model (the
    scan path instead of the GPU-count index) and with a restart overhead (EASY never preempts)."""
    jobs, cluster = easy_workload(seed), Cluster.parse("2x8")
    result = simulate(jobs, cluster, policies.make("fifo-backfill"), **kw)
    assert result.summary()["unfinished"] == 0
    assert late_heads(jobs, result, cluster.num_gpus) == []


def test_easy_backfills_only_what_fits_the_extra_gpus_or_ends_by_the_shadow():
    """Hand-worked EASY (Lifka 1995): on 4 GPUs, ``run`` (2 GPUs, ends 10) and head ``big`` (4 GPUs)
    reserved at 10 with 0 extra GPUs; ``short`` (2 GPUs, 5 s) ends by 10 and backfills; ``long``
    (1 GPU, 50 s) would hold a GPU the head needs at 10 and waits; after ``big`` ends (20) it runs."""
    jobs = [Job("run", 0.0, 2, 10.0), Job("big", 1.0, 4, 10.0), Job("long", 2.0, 1, 50.0),
            Job("short", 3.0, 2, 5.0)]
    result = simulate(jobs, Cluster.parse("1x4"), policies.make("fifo-backfill"), placement="pool")
    starts = {e.job_id: e.time for e in result.events if e.kind == "start"}
    assert starts == {"run": 0.0, "big": 10.0, "long": 20.0, "short": 3.0}


def late_heads_on_nodes(jobs: list[Job], result, node_size: int, nodes: int) -> list[tuple[str, float, float, float]]:
    """``late_heads`` with the reservation on nodes, for ``consolidated`` placement of jobs no larger
    than a node: the earliest actual end after which one node has the head's GPUs free."""
    end = {r["job_id"]: r["end_time"] for r in result.job_table()}
    start = {r["job_id"]: r["start_time"] for r in result.job_table()}
    order = {j.job_id: k for k, j in enumerate(jobs)}
    size = {j.job_id: j.num_gpus for j in jobs}
    pending: set[str] = set()
    running: dict[str, list[int]] = {}  # job → the node of each of its GPUs
    events, late = result.events, []
    for k, e in enumerate(events):
        if e.kind == "submit":
            pending.add(e.job_id)
        elif e.kind == "start":
            pending.discard(e.job_id)
            running[e.job_id] = [g // node_size for g in e.gpus]
        elif e.kind == "finish":
            del running[e.job_id]
        if (k + 1 < len(events) and events[k + 1].time == e.time) or not pending:
            continue
        head = min(pending, key=order.__getitem__)
        free = [node_size] * nodes
        for held in running.values():
            for node in held:
                free[node] -= 1
        shadow = e.time
        for r in sorted(running, key=end.__getitem__):
            if max(free) >= size[head]:
                break
            for node in running[r]:
                free[node] += 1
            shadow = end[r]
        if start[head] > shadow + 1e-9 * max(1.0, shadow):
            late.append((head, e.time, start[head], shadow))
    return late


def test_the_node_aware_reservation_check_passes_plain_fifo():
    """The checker below is sound: FIFO (no backfilling) never starts a head after its node reservation."""
    jobs, cluster = easy_workload(1), Cluster.parse("2x8")
    assert late_heads_on_nodes(jobs, simulate(jobs, cluster, policies.make("fifo")), 8, 2) == []


@pytest.mark.parametrize("seed, nodes", [(0, 2), (1, 2), (2, 2), (3, 4), (4, 4)])
def test_easy_keeps_reservations_under_consolidated_placement(seed, nodes):
    """Under the default placement the head is reserved a node, not a GPU count: a backfilled job
    that would still run then may not take the head's place (with counted GPUs, seed 1 on 2x8
    started heads up to ~100 s after their reservation)."""
    jobs, cluster = easy_workload(seed, num_gpus=8 * nodes), Cluster.parse(f"{nodes}x8")
    result = simulate(jobs, cluster, policies.make("fifo-backfill"))
    assert late_heads_on_nodes(jobs, result, 8, nodes) == []


@pytest.mark.xfail(strict=True, reason="with a speed model the oracle runtime of a backfill candidate is its "
                   "remaining work, not work / rate, so a slowed job backfilled 'to end by the shadow' ends "
                   "after it. The reference engine's plain EASY does the same: reported, not fixed")
def test_easy_keeps_reservations_with_a_speed_model():
    jobs, cluster = easy_workload(1), Cluster.parse("2x8")
    half_speed_odd = lambda job, gpus: 0.5 if int(job.job_id[1:]) % 2 else 1.0  # noqa: E731
    result = simulate(jobs, cluster, policies.make("fifo-backfill"), placement="pool", speed=half_speed_odd)
    assert late_heads(jobs, result, cluster.num_gpus) == []


# --- fair share ------------------------------------------------------------------------------------


def held_by_user(jobs: list[Job], result, t: float) -> dict[str, int]:
    """GPUs each user holds just after every event at time ``t``."""
    user, size = {j.job_id: j.user for j in jobs}, {j.job_id: j.num_gpus for j in jobs}
    running: set[str] = set()
    for e in result.events:
        if e.time > t:
            break
        if e.kind == "start":
            running.add(e.job_id)
        elif e.kind in ("finish", "preempt"):
            running.discard(e.job_id)
    held = Counter()
    for job_id in running:
        held[user[job_id]] += size[job_id]
    return dict(held)


def test_preemptive_fair_share_reaches_max_min_shares():
    """8 GPUs; A floods at 0 (8 × 1 GPU), B arrives at 10 (8 × 1 GPU), C at 20 (one 2-GPU job).
    Max-min shares by hand: 8 | 4, 4 | C's demand 2 is below 8/3, so C 2 and A, B (8 - 2)/2 = 3."""
    jobs = ([Job(f"a{i}", 0.0, 1, 100.0, user="A") for i in range(8)]
            + [Job(f"b{i}", 10.0, 1, 100.0, user="B") for i in range(8)] + [Job("c", 20.0, 2, 100.0, user="C")])
    result = simulate(jobs, Cluster.parse("1x8"), policies.make("fair-share", {"preemptive": True}))
    assert held_by_user(jobs, result, 5.0) == {"A": 8}
    assert held_by_user(jobs, result, 15.0) == {"A": 4, "B": 4}
    assert held_by_user(jobs, result, 25.0) == {"A": 3, "B": 3, "C": 2}
    plain = simulate(jobs, Cluster.parse("1x8"), policies.make("fair-share"))
    assert plain.summary()["preemptions"] == 0
    assert held_by_user(jobs, plain, 25.0) == {"A": 8}
    # at 100 all of A's jobs end: B (demand 8) and C (demand 2) split 8 as 6 and 2
    assert held_by_user(jobs, plain, 100.0) == {"B": 6, "C": 2}


# --- elastic ---------------------------------------------------------------------------------------


def test_elastic_shrinks_to_admit_when_free_gpus_are_split_across_nodes():
    """2x4, consolidated: e1 holds 3 GPUs of node 0, e2 (newest) 3 of node 1; ``h`` (rigid, 2 GPUs)
    arrives at 2. Two GPUs are free, one per node, so h fits no node; shrinking e2 by one GPU (the
    newest first, as documented) frees node 1's last two, and h starts there at once. When h ends
    at 12, e2 grows back. e2: 1 s of work at rate 1, 10 s at rate 2/3, then 100 - 1 - 20/3 at rate 1."""
    jobs = [Job("e1", 0.0, 3, 100.0, min_gpus=1, max_gpus=3), Job("r", 0.0, 4, 1.0),
            Job("e2", 1.0, 3, 100.0, min_gpus=2, max_gpus=3), Job("h", 2.0, 2, 10.0)]
    result = simulate(jobs, Cluster.parse("2x4"), policies.make("elastic"))
    assert starts_and_resizes(result) == [
        (0.0, "start", "e1", (0, 1, 2)), (0.0, "start", "r", (4, 5, 6, 7)), (1.0, "finish", "r", ()),
        (1.0, "start", "e2", (4, 5, 6)),
        (2.0, "resize", "e2", (4, 5, 6)), (2.0, "start", "e2", (4, 5)), (2.0, "start", "h", (6, 7)),
        (12.0, "finish", "h", ()), (12.0, "resize", "e2", (4, 5)), (12.0, "start", "e2", (4, 5, 6)),
        (100.0, "finish", "e1", ()), (pytest.approx(12.0 + 100.0 - 1.0 - 20.0 / 3.0), "finish", "e2", ()),
    ]


# --- predictions from finished jobs only -----------------------------------------------------------


class Observed(Online):
    """Wraps a predictor and records the ids it observes, in order."""

    def __init__(self, inner: Online) -> None:
        self.inner, self.seen = inner, []

    def predict(self, query: Query) -> float:
        return self.inner.predict(query)

    def observe(self, query: Query, duration: float) -> None:
        self.seen.append(query.job_id)
        self.inner.observe(query, duration)


class TimedScore(GeneticScore):
    """ga-score that notes, at each pass, the time and how many observations its predictor had made."""

    def schedule(self, view, rng):
        out = super().schedule(view, rng)
        self.marks = getattr(self, "marks", []) + [(view.now, len(self._learner.model.seen))]
        return out


def test_ga_score_predictor_learns_only_from_jobs_finished_by_the_pass():
    """Every job ga-score's predictor has observed by a pass at time t finished at or before t."""
    rng = np.random.default_rng(5)
    n = 120
    jobs = [Job(f"j{i}", float(t), int(rng.choice([1, 2, 4])), float(rng.exponential(40.0)), user=f"u{i % 3}")
            for i, t in enumerate(np.cumsum(rng.exponential(6.0, n)))]
    policy = TimedScore(predictor=Observed(UserHistory()))
    result = simulate(jobs, Cluster.parse("2x4"), policy, placement="pool")
    end = {r["job_id"]: r["end_time"] for r in result.job_table()}
    seen = policy._learner.model.seen
    assert len(seen) > n // 2
    for now, count in policy.marks:
        assert all(end[job_id] <= now for job_id in seen[:count])


# --- a policy instance reused for a second run ----------------------------------------------------


def mixed_workload(seed: int, num_gpus: int, n: int = 40) -> list[Job]:
    """Overloaded arrivals with users, priorities, deadlines and (every other job) elastic bounds."""
    rng = np.random.default_rng(seed)
    sizes = rng.choice([1, 2, 4, 8], size=n, p=[0.4, 0.3, 0.2, 0.1])
    durations = rng.lognormal(np.log(60.0), 1.0, size=n)
    submits = np.cumsum(rng.exponential(2.3 * 60.0 * 1.65 / (1.4 * num_gpus), size=n))
    jobs = []
    for i in range(n):
        size = int(sizes[i])
        bounds = {"min_gpus": max(1, size // 2), "max_gpus": 2 * size} if i % 2 else {}
        jobs.append(Job(f"j{i}", float(submits[i]), size, float(durations[i]), user=f"u{i % 3}", priority=i % 3,
                        deadline=float(submits[i]) + 200.0, **bounds))
    return jobs


@pytest.mark.parametrize("name", [n for n in policies.available() if n != "rl"])
def test_a_reused_policy_instance_gives_a_fresh_instances_log(name):
    """Like the predictors (test_predict's reuse test), every policy starts each run afresh: a second run
    with the same instance, on another cluster, logs what a new instance logs (same seed)."""
    reused = policies.make(name)
    simulate(mixed_workload(0, 16), Cluster.parse("2x8"), reused, 1)
    for spec in ("4x4", "2x8"):
        cluster = Cluster.parse(spec)
        jobs = mixed_workload(1, cluster.num_gpus)
        again = simulate(jobs, cluster, reused, 1)
        assert again.events == simulate(jobs, cluster, policies.make(name), 1).events


def test_a_reused_gavel_instance_ranks_the_new_clusters_gpu_types():
    """gavel-max-throughput reused on a cluster of other GPU types logs what a fresh instance logs."""
    rng = np.random.default_rng(0)
    models = ["A3C", "CycleGAN", "LM", "ResNet-18", "ResNet-50", "Transformer"]
    jobs = [Job(f"j{i}", float(t), int(rng.choice([1, 2, 4])), float(rng.exponential(100.0)), model=models[i % 6],
                batch_size=32) for i, t in enumerate(np.cumsum(rng.exponential(5.0, 60)))]
    reused = policies.make("gavel-max-throughput")
    simulate(jobs, Cluster.parse("1x4:V100,1x4:K80"), reused)
    cluster = Cluster.parse("2x4:P100,1x4:V100")
    again = simulate(jobs, cluster, reused)
    assert again.events == simulate(jobs, cluster, policies.make("gavel-max-throughput")).events


# --- preemptive planning by GPU count ---------------------------------------------------------------


@pytest.mark.xfail(strict=True, reason="preemptive_plan preempts by GPU count, then skips a chosen pending job "
                   "that cannot be placed on nodes: the job preempted for it sits idle next to idle GPUs until "
                   "the next event (here 99 s). Shared by edf, priority, srtf, fair-share and srtf-predicted; "
                   "the reference engine's plain preemptive_plan does the same: reported, not fixed")
def test_preemptive_edf_never_preempts_for_a_job_it_cannot_place():
    """2x4, consolidated. X and Y (3 GPUs each, deadline 5) fill a node each but one GPU; A (1 GPU,
    deadline 100) takes the last GPU of node 0. C (2 GPUs, deadline 10) arrives at 1: by count, C
    displaces A, but with A gone the free GPUs are one per node and C fits no node. A should keep
    running (it ends at 100), not wait until X and Y end at 100 and finish at 199."""
    jobs = [Job("X", 0.0, 3, 100.0, deadline=5.0), Job("A", 0.0, 1, 100.0, deadline=100.0),
            Job("Y", 0.0, 3, 100.0, deadline=5.0), Job("C", 1.0, 2, 10.0, deadline=10.0)]
    result = simulate(jobs, Cluster.parse("2x4"), policies.make("edf", {"preemptive": True}))
    assert result.summary()["preemptions"] == 0


def test_elastic_keeps_a_shrink_only_where_it_made_room():
    """2x4, consolidated. Node 0: eB (newest elastic, 3 GPUs, min 2) and rigid f; node 1: eA (3 GPUs,
    min 1) and a free GPU. ``h`` (3 GPUs) arrives at 2. Newest first, eB gives up a GPU, but node 0
    still lacks room; eA then gives up two and h starts on node 1. eB's freed GPU was no help: it
    keeps it (no resize), instead of idling it and paying a restart until h ends."""
    jobs = [Job("r1", 0.0, 4, 1.0), Job("eA", 0.0, 3, 100.0, min_gpus=1, max_gpus=3),
            Job("eB", 1.0, 3, 100.0, min_gpus=2, max_gpus=3), Job("f", 1.5, 1, 100.0), Job("h", 2.0, 3, 10.0)]
    result = simulate(jobs, Cluster.parse("2x4"), policies.make("elastic"))
    at_two = [event for event in starts_and_resizes(result) if event[0] == 2.0]
    assert at_two == [(2.0, "resize", "eA", (4, 5, 6)), (2.0, "start", "eA", (4,)), (2.0, "start", "h", (5, 6, 7))]
    assert not any(e.kind == "resize" and e.job_id == "eB" for e in result.events)

"""Validation against queueing theory and exact recursions, not against the simulator's own output.

Statistical checks run independent replications (seeds through ``sim.rng.stream``), drop a warm-up
prefix of jobs, and accept ``|estimate - theory| < 4 standard errors + 2 % of theory``: the standard
error comes from the spread of the replication means (so it already accounts for the strong
autocorrelation of waits within one run), 4 SE keeps a correct simulator from failing by chance, and
the 2 % slack covers what is left of the empty-start bias after the warm-up. Each check also asserts
that its standard error is small (< 10 % of theory), so that the band is tight enough for a wrong
simulator to fail it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

import policies
from sim.engine import simulate
from sim.metrics import timeseries
from sim.model import Cluster, Job
from sim.rng import stream

Z = 4.0
SLACK = 0.02


def erlang_c(c: int, rho: float, mu: float = 1.0) -> tuple[float, float]:
    """M/M/c with utilization ``rho``: (probability an arrival waits, mean wait in queue)."""
    a = c * rho  # offered load in Erlangs
    tail = a**c / math.factorial(c) / (1.0 - rho)
    p_wait = tail / (sum(a**k / math.factorial(k) for k in range(c)) + tail)
    return p_wait, p_wait / (c * mu - a * mu)


def pollaczek_khinchine(lam: float, mean_s: float, second_moment_s: float) -> float:
    """M/G/1 mean wait in queue: lam E[S^2] / (2 (1 - rho))."""
    return lam * second_moment_s / (2.0 * (1.0 - lam * mean_s))


def poisson_jobs(seed: int, n: int, rate: float, service: Callable[[np.random.Generator, int], np.ndarray],
                 num_gpus: int = 1) -> list[Job]:
    """``n`` jobs with Poisson(rate) arrivals from the 'arrivals' stream and services from 'durations'."""
    submits = np.cumsum(stream(seed, "arrivals").exponential(1.0 / rate, n))
    durations = service(stream(seed, "durations"), n)
    return [Job(f"j{i}", float(submits[i]), num_gpus, float(durations[i])) for i in range(n)]


def fifo_waits(jobs: list[Job], servers: int) -> np.ndarray:
    """Each job's wait under FIFO on a pool of ``servers`` GPUs, in job order."""
    result = simulate(jobs, Cluster.parse(f"1x{servers}"), policies.make("fifo"), placement="pool")
    return np.array([row["wait"] for row in result.job_table()])


def assert_agrees(samples: np.ndarray, theory: float, what: str) -> None:
    """Replication means agree with theory within Z standard errors plus SLACK, with a usefully small SE."""
    mean = float(np.mean(samples))
    se = float(np.std(samples, ddof=1) / math.sqrt(len(samples)))
    assert se < 0.1 * theory, f"{what}: SE {se:.4g} too large for a meaningful check of {theory:.4g}"
    assert abs(mean - theory) < Z * se + SLACK * theory, (
        f"{what}: simulated {mean:.4f} ± {se:.4f} (SE over {len(samples)} replications), theory {theory:.4f}"
    )


def test_erlang_c_helper_matches_closed_forms():
    """The Erlang C helper reduces to M/M/1 (rho, rho/(1-rho)) and M/M/2 (2rho^2/(1+rho), rho^2/(1-rho^2))."""
    for rho in (0.3, 0.5, 0.8):
        assert erlang_c(1, rho) == pytest.approx((rho, rho / (1 - rho)))
        assert erlang_c(2, rho) == pytest.approx((2 * rho**2 / (1 + rho), rho**2 / (1 - rho**2)))


# --- M/M/c against Erlang C -----------------------------------------------------------------

MMC_CASES = [
    pytest.param(c, 0.5, 10_000, 1_000, id=f"c{c}-rho0.5") for c in (1, 2, 4, 8)
] + [
    pytest.param(c, 0.8, 20_000, 2_000, id=f"c{c}-rho0.8", marks=pytest.mark.slow) for c in (1, 2, 4, 8)
]


@pytest.mark.parametrize(("c", "rho", "n", "warmup"), MMC_CASES)
def test_fifo_mmc_matches_erlang_c(c, rho, n, warmup):
    """FIFO with 1-GPU jobs on a pool of c GPUs matches Erlang C's mean wait and probability of waiting."""
    replications = 10
    mean_wait, p_wait = [], []
    for k in range(replications):
        seed = 10_000 * c + int(rho * 100) * 100 + k  # independent replications, distinct per case
        waits = fifo_waits(poisson_jobs(seed, n, c * rho, lambda g, m: g.exponential(1.0, m)), c)[warmup:]
        mean_wait.append(waits.mean())
        p_wait.append((waits > 0).mean())
    theory_p, theory_w = erlang_c(c, rho)
    assert_agrees(np.array(mean_wait), theory_w, f"M/M/{c} rho={rho} mean wait")
    assert_agrees(np.array(p_wait), theory_p, f"M/M/{c} rho={rho} P(wait > 0)")


# --- M/G/1 against Pollaczek-Khinchine ------------------------------------------------------


def test_fifo_md1_matches_pollaczek_khinchine():
    """FIFO on one GPU with deterministic 1 s jobs (M/D/1, rho 0.7) matches the P-K mean wait."""
    rho, n, warmup = 0.7, 10_000, 1_000
    means = [fifo_waits(poisson_jobs(500 + k, n, rho, lambda g, m: np.ones(m)), 1)[warmup:].mean()
             for k in range(10)]
    assert_agrees(np.array(means), pollaczek_khinchine(rho, 1.0, 1.0), "M/D/1 mean wait")


@pytest.mark.slow
def test_fifo_mg1_lognormal_matches_pollaczek_khinchine():
    """FIFO on one GPU with lognormal jobs (mean 1, sigma 1; M/G/1, rho 0.7) matches the P-K mean wait."""
    rho, sigma, n, warmup = 0.7, 1.0, 20_000, 2_000
    service = lambda g, m: g.lognormal(-sigma**2 / 2, sigma, m)  # noqa: E731 - mean exp(mu + s^2/2) = 1
    means = [fifo_waits(poisson_jobs(600 + k, n, rho, service), 1)[warmup:].mean() for k in range(10)]
    assert_agrees(np.array(means), pollaczek_khinchine(rho, 1.0, math.exp(sigma**2)), "M/G/1 mean wait")


# --- exact: FIFO on one GPU is Lindley's recursion ------------------------------------------


def lindley(submits: list[float], durations: list[float]) -> list[float]:
    """W_1 = 0, W_{n+1} = max(0, W_n + S_n - A_{n+1}) with A the interarrival times."""
    waits = [0.0]
    for k in range(1, len(submits)):
        waits.append(max(0.0, waits[-1] + durations[k - 1] - (submits[k] - submits[k - 1])))
    return waits


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("grid", [False, True], ids=["continuous", "whole-seconds"])
def test_fifo_on_one_gpu_is_lindley(seed, grid):
    """Every job's FIFO wait on one GPU equals Lindley's recursion, ties of arrivals and completions included."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, int(grid)])))
    n = 2_000
    rate = rng.uniform(0.5, 1.1)  # under- and overloaded queues alike
    gaps = rng.exponential(1.0 / rate, n)
    durations = rng.exponential(1.0, n) if not grid else np.maximum(1.0, np.round(rng.exponential(2.0, n)))
    if grid:
        gaps = np.round(gaps * 2.0)  # many simultaneous arrivals, and arrivals exactly at completions
    submits = list(np.cumsum(gaps))
    jobs = [Job(f"j{i}", float(submits[i]), 1, float(durations[i])) for i in range(n)]
    expected = lindley([float(s) for s in submits], [float(d) for d in durations])
    got = fifo_waits(jobs, 1)
    scale = max(submits)
    for k, (w_sim, w_exact) in enumerate(zip(got, expected)):
        # relative 1e-9; near zero, an absolute allowance of 1e-9 of the time scale for float rounding
        assert w_sim == pytest.approx(w_exact, rel=1e-9, abs=1e-9 * scale), f"job {k}"
    if grid:
        assert sum(1 for w in expected if w == 0.0) > 0 and sum(1 for w in expected if w > 0.0) > 0


# --- Little's law ---------------------------------------------------------------------------


def time_integral(events, step_of) -> tuple[float, float, float]:
    """(integral of a piecewise-constant count over time, first time, last time) from the log."""
    total, level, last, first = 0.0, 0, None, None
    for e in events:
        if last is not None:
            total += level * (e.time - last)
        else:
            first = e.time
        level += step_of(e)
        last = e.time
    assert level == 0
    return total, first, last


LITTLE_POLICIES = ["fifo", "sjf", "srtf", "fifo-backfill", "tiresias"]


@pytest.mark.parametrize("name", LITTLE_POLICIES)
def test_littles_law(name):
    """Time-average number in system from the log equals arrival rate × mean JCT, for any policy."""
    rng = np.random.Generator(np.random.PCG64(7))
    n = 1_500
    sizes = rng.choice([1, 2, 4], size=n)
    durations = rng.exponential(100.0, n)
    submits = np.cumsum(rng.exponential(100.0 * sizes.mean() / (0.8 * 8), n))
    jobs = [Job(f"j{i}", float(submits[i]), int(sizes[i]), float(durations[i])) for i in range(n)]
    result = simulate(jobs, Cluster.parse("2x4"), policies.make(name), placement="pack")
    in_system, t0, t1 = time_integral(result.events, lambda e: {"submit": 1, "finish": -1}.get(e.kind, 0))
    span = t1 - t0
    mean_number = in_system / span
    arrival_rate = n / span
    mean_jct = float(np.mean([row["jct"] for row in result.job_table()]))
    assert mean_number == pytest.approx(arrival_rate * mean_jct, rel=1e-9)
    # and the queue alone: for a non-preemptive policy, time-average queue length = rate × mean wait
    if result.summary()["preemptions"] == 0:
        rows = timeseries(result.events, {j.job_id: j.num_gpus for j in jobs})
        queue_area = sum(q * (b[0] - a[0]) for a, b, q in ((a, b, a[2]) for a, b in zip(rows, rows[1:])))
        mean_wait = result.summary()["avg_wait"]
        assert queue_area / span == pytest.approx(arrival_rate * mean_wait, rel=1e-9)


# --- SRTF is optimal for mean response time on one server -----------------------------------


def test_srtf_mean_jct_never_above_fifo_or_sjf_on_one_gpu():
    """On one GPU, preemptive SRTF's mean JCT is at most FIFO's and SJF's on the same jobs (SRPT optimality)."""
    strictly_better = 0
    for seed in range(12):
        rng = np.random.Generator(np.random.PCG64(1000 + seed))
        n = 300
        durations = rng.lognormal(0.0, 1.2, n)
        submits = np.cumsum(rng.exponential(durations.mean() / rng.uniform(0.6, 1.2), n))
        jobs = [Job(f"j{i}", float(submits[i]), 1, float(durations[i])) for i in range(n)]
        jct = {}
        for name in ("fifo", "sjf", "srtf"):
            result = simulate(jobs, Cluster.parse("1x1"), policies.make(name))
            assert result.summary()["unfinished"] == 0
            jct[name] = result.summary()["avg_jct"]
        tol = 1e-9 * jct["fifo"]
        assert jct["srtf"] <= jct["fifo"] + tol, (seed, jct)
        assert jct["srtf"] <= jct["sjf"] + tol, (seed, jct)
        strictly_better += jct["srtf"] < jct["fifo"] - tol
    assert strictly_better >= 10  # the comparison is not vacuous: SRTF usually wins outright


# --- exact: reference schedules computed independently of the engine ------------------------


def reference_fifo_pool(jobs: list[Job], gpus: int) -> list[float]:
    """Start times under strict FIFO with gangs on a pool of ``gpus``: job k starts at the first moment
    at or after its submission and job k-1's start when enough GPUs are free (head-of-line blocking)."""
    import heapq

    running: list[tuple[float, int]] = []  # (end time, GPUs)
    free, t, starts = gpus, 0.0, []
    for job in jobs:
        t = max(t, job.submit_time)
        while running and running[0][0] <= t:  # completions at t come before starts at t
            free += heapq.heappop(running)[1]
        while free < job.num_gpus:
            end, n = heapq.heappop(running)
            t, free = max(t, end), free + n
            while running and running[0][0] <= t:
                free += heapq.heappop(running)[1]
        starts.append(t)
        free -= job.num_gpus
        heapq.heappush(running, (t + job.duration, job.num_gpus))
    return starts


def reference_srpt(jobs: list[Job]) -> list[float]:
    """Completion times under preemptive shortest-remaining-time-first on one server (ties: arrival order)."""
    remaining = [j.duration for j in jobs]
    ends = [math.nan] * len(jobs)
    t, arrived, left = 0.0, 0, len(jobs)
    while left:
        while arrived < len(jobs) and jobs[arrived].submit_time <= t:
            arrived += 1
        ready = [k for k in range(arrived) if math.isnan(ends[k])]
        if not ready:
            t = jobs[arrived].submit_time
            continue
        k = min(ready, key=lambda i: (remaining[i], i))
        next_arrival = jobs[arrived].submit_time if arrived < len(jobs) else math.inf
        if t + remaining[k] <= next_arrival:
            t += remaining[k]
            remaining[k], ends[k], left = 0.0, t, left - 1
        else:
            remaining[k] -= next_arrival - t
            t = next_arrival
    return ends


@pytest.mark.parametrize("seed", range(4))
def test_fifo_with_gangs_matches_reference_schedule(seed):
    """FIFO with 1/2/4/8-GPU jobs on an 8-GPU pool starts every job when the head-of-line reference says."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 77])))
    n = 800
    sizes = rng.choice([1, 2, 4, 8], size=n, p=[0.4, 0.3, 0.2, 0.1])
    durations = np.maximum(1.0, np.round(rng.exponential(20.0, n))) if seed % 2 else rng.exponential(20.0, n)
    submits = np.cumsum(rng.exponential(20.0 * sizes.mean() / (0.9 * 8), n))
    if seed % 2:
        submits = np.floor(submits)  # ties between arrivals and completions
    jobs = [Job(f"j{i}", float(submits[i]), int(sizes[i]), float(durations[i])) for i in range(n)]
    result = simulate(jobs, Cluster.parse("1x8"), policies.make("fifo"), placement="pool")
    got = [row["start_time"] for row in result.job_table()]
    expected = reference_fifo_pool(jobs, 8)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9 * float(submits[-1]))


@pytest.mark.parametrize("seed", range(4))
def test_srtf_on_one_gpu_matches_reference_srpt(seed):
    """SRTF on one GPU completes every job when an independent SRPT computation says."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 78])))
    n = 400
    durations = rng.lognormal(0.0, 1.0, n) if seed % 2 == 0 else np.maximum(1.0, np.round(rng.exponential(3.0, n)))
    submits = np.cumsum(rng.exponential(durations.mean() / 0.9, n))
    if seed % 2:
        submits = np.floor(submits)
    jobs = [Job(f"j{i}", float(submits[i]), 1, float(durations[i])) for i in range(n)]
    result = simulate(jobs, Cluster.parse("1x1"), policies.make("srtf"))
    got = [row["end_time"] for row in result.job_table()]
    assert got == pytest.approx(reference_srpt(jobs), rel=1e-9, abs=1e-9 * float(submits[-1]))


def reference_list_schedule(jobs: list[Job], key) -> list[float]:
    """Start times on one server that, whenever it is free, starts the waiting job with the smallest ``key``."""
    starts = [math.nan] * len(jobs)
    t, arrived, waiting = 0.0, 0, []
    for _ in jobs:
        if not waiting:
            t = max(t, jobs[arrived].submit_time)
        while arrived < len(jobs) and jobs[arrived].submit_time <= t:
            waiting.append(arrived)
            arrived += 1
        k = min(waiting, key=lambda i: key(jobs[i], i))
        waiting.remove(k)
        starts[k] = t
        t += jobs[k].duration
    return starts


@pytest.mark.parametrize(("name", "key"), [
    ("fifo", lambda j, i: i),
    ("sjf", lambda j, i: (j.duration, i)),
    ("priority", lambda j, i: (-j.priority, i)),
    ("fifo-backfill", lambda j, i: i),  # nothing can be backfilled around a 1-GPU head on one GPU
])
def test_non_preemptive_order_on_one_gpu_matches_list_schedule(name, key):
    """On one GPU, fifo/sjf/priority start each job exactly when the list schedule with their order says."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([79])))
    n = 600
    durations = np.maximum(1.0, np.round(rng.exponential(3.0, n)))
    submits = np.floor(np.cumsum(rng.exponential(3.3, n)))
    priorities = rng.integers(0, 4, n)
    jobs = [Job(f"j{i}", float(submits[i]), 1, float(durations[i]), priority=int(priorities[i])) for i in range(n)]
    result = simulate(jobs, Cluster.parse("1x1"), policies.make(name))
    assert [row["start_time"] for row in result.job_table()] == reference_list_schedule(jobs, key)


@pytest.mark.parametrize("seed", range(3))
def test_easy_backfill_never_delays_the_head_past_its_reservation(seed):
    """EASY on a pool: the queue head starts no later than the reservation the running jobs imply while it is head."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 80])))
    n = 500
    sizes = rng.choice([1, 2, 4, 8], size=n, p=[0.4, 0.3, 0.2, 0.1])
    durations = rng.exponential(20.0, n)
    submits = np.cumsum(rng.exponential(20.0 * sizes.mean() / (0.95 * 8), n))
    jobs = [Job(f"j{i}", float(submits[i]), int(sizes[i]), float(durations[i])) for i in range(n)]
    result = simulate(jobs, Cluster.parse("1x8"), policies.make("fifo-backfill"), placement="pool")
    start = {r["job_id"]: r["start_time"] for r in result.job_table()}
    end = {r["job_id"]: r["end_time"] for r in result.job_table()}
    order = {j.job_id: k for k, j in enumerate(jobs)}
    size = {j.job_id: j.num_gpus for j in jobs}
    pending: set[str] = set()
    running: set[str] = set()
    events = result.events
    backfilled = 0
    for k, e in enumerate(events):
        if e.kind == "submit":
            pending.add(e.job_id)
        elif e.kind == "start":
            pending.discard(e.job_id)
            running.add(e.job_id)
            backfilled += any(order[p] < order[e.job_id] for p in pending)
        elif e.kind == "finish":
            running.discard(e.job_id)
        if k + 1 < len(events) and events[k + 1].time == e.time:
            continue  # look at the state after the whole instant
        if not pending:
            continue
        head = min(pending, key=order.__getitem__)
        free = 8 - sum(size[r] for r in running)
        shadow = e.time
        for r in sorted(running, key=end.__getitem__):
            if free >= size[head]:
                break
            free += size[r]
            shadow = end[r]
        assert start[head] <= shadow + 1e-9 * shadow, (head, e.time, start[head], shadow)
    assert backfilled > 20  # backfilling did happen, so the reservation was actually at stake

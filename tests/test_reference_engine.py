"""The engine against tests/reference_engine.py: identical event logs, byte for byte.

The engine is built for speed (SimPy calendar, passes run inside the last event of an instant,
bit-mask placement, indexes for policies, a columnar log); the reference is a plain loop over
lists. Each test runs both on seeded small workloads, with ties, restarts, stop times and a speed
model, and compares every event (times with ``repr``, so exactly).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import policies
import traces
from sim.engine import simulate
from sim.model import Cluster, Job, Start, Wake
from sim.placement import STRATEGIES, Planner
from sim.rng import stream
from traces.formats import read

import reference_engine as ref  # tests/ is on the path, as for outside_policy

CLUSTERS = ["2x8", "1x2,2x4", "3x4:A,1x8:B"]


def workload(seed: int, num_gpus: int, n: int = 60, load: float = 1.4) -> list[Job]:
    """Poisson arrivals above capacity (so queues form), lognormal durations, users, deadlines;
    odd seeds on a whole-second grid, so instants with several events are common."""
    sizes = stream(seed, "sizes").choice([1, 2, 4, 8], size=n, p=[0.4, 0.3, 0.2, 0.1])
    durations = stream(seed, "durations").lognormal(np.log(60.0), 1.0, size=n)
    gaps = stream(seed, "arrivals").exponential(2.3 * 60.0 * 1.65 / (load * num_gpus), size=n)
    submits = np.cumsum(gaps) - gaps[0]
    if seed % 2:
        submits, durations = np.floor(submits), np.maximum(1.0, np.round(durations))
    users = stream(seed, "users").integers(0, 3, size=n)
    return [Job(f"j{i}", float(submits[i]), int(sizes[i]), float(durations[i]), user=f"u{users[i]}",
                priority=int(users[i]), deadline=float(submits[i] + 3 * durations[i]) if i % 2 else None)
            for i in range(n)]


def slower_when_split(cluster: Cluster):
    """A speed model: rate 1 on one node, 0.8 across nodes, 1.25 on odd first GPUs."""
    planner = Planner([n.num_gpus for n in cluster.nodes])

    def speed(job, gpus):
        return (1.0 if len({planner.node_of(g) for g in gpus}) == 1 else 0.8) * (1.25 if gpus[0] % 2 else 1.0)
    return speed


def same_log(engine_result, reference_run) -> None:
    got = [(repr(e.time), e.kind, e.job_id, tuple(e.gpus)) for e in engine_result.events]
    want = [(repr(e.time), e.kind, e.job_id, tuple(e.gpus)) for e in reference_run.events]
    first_difference = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    assert got == want, f"logs differ from event {first_difference}: {got[first_difference:first_difference + 3]} " \
                        f"vs {want[first_difference:first_difference + 3]}"
    assert repr(engine_result.end_time) == repr(reference_run.end_time)


#: Arguments that make the policies' less common paths run.
ARGS = {"tiresias": [{"thresholds": (60.0, 400.0)}], "edf": [{}, {"preemptive": True}],
        "priority": [{}, {"preemptive": True}]}
SPED_UP = [(name, args) for name in sorted(ref.REFERENCE_POLICIES) for args in ARGS.get(name, [{}])]


@pytest.mark.parametrize(("name", "args"), SPED_UP)
@pytest.mark.parametrize("spec", CLUSTERS)
def test_sped_up_policies_match_their_plain_versions_on_the_plain_loop(name, args, spec):
    """The engine with each sped-up policy gives the reference loop's log with the policy's plain version,
    under every placement, with and without restart overheads and a speed model."""
    cluster = Cluster.parse(spec)
    for seed in range(3):
        jobs = workload(seed, cluster.num_gpus)
        for placement in STRATEGIES:
            for overhead, speed in ((0.0, None), (3.0, None), (0.0, slower_when_split(cluster))):
                got = simulate(jobs, cluster, policies.make(name, args), seed, placement=placement,
                               restart_overhead=overhead, speed=speed)
                want = ref.simulate(jobs, cluster, ref.REFERENCE_POLICIES[name](**args), seed, placement=placement,
                                    restart_overhead=overhead, speed=speed)
                same_log(got, want)


@pytest.mark.parametrize("name", [n for n in sorted(policies.available()) if n != "rl"])
def test_every_policy_gives_the_same_log_on_the_plain_loop(name):
    """Every registered policy, unchanged, on both loops: the engine's calendar, placement and indexes
    are what is compared."""
    for seed, spec in enumerate(CLUSTERS):
        cluster = Cluster.parse(spec)
        jobs = workload(seed, cluster.num_gpus, n=40)
        for placement in ("consolidated", "pool"):
            got = simulate(jobs, cluster, policies.make(name), seed, placement=placement, restart_overhead=2.0)
            want = ref.simulate(jobs, cluster, policies.make(name), seed, placement=placement, restart_overhead=2.0)
            same_log(got, want)


@pytest.mark.parametrize("name", ["fifo", "fifo-backfill", "srtf", "tiresias"])
def test_a_stop_time_cuts_both_logs_alike(name):
    """With ``until`` both loops apply every instant up to it and log the same stop."""
    cluster = Cluster.parse("2x4")
    jobs = workload(1, cluster.num_gpus)
    for until in (0.0, jobs[10].submit_time, jobs[30].submit_time + 0.5, 1e9):
        got = simulate(jobs, cluster, policies.make(name), 1, until=until)
        want = ref.simulate(jobs, cluster, ref.REFERENCE_POLICIES[name](), 1, until=until)
        same_log(got, want)


class EveryTenSeconds:
    """Starts pending jobs only on its rounds (every 10 s) and asks for a wake-up 3 s after each start."""

    round_interval = 10.0

    def schedule(self, view, rng):
        planner, out = view.planner(), []
        if view.now % 10.0 == 0.0:
            for job in view.pending:
                gpus = planner.claim(job.num_gpus)
                if gpus is not None:
                    out.append(Start(job.job_id, gpus))
        return out + [Wake(view.now + 3.0)] if out else out


def test_rounds_and_wakeups_come_due_alike():
    """Periodic rounds, stale wake-ups and an idle cluster (rounds stop) give the same log."""
    cluster = Cluster.parse("1x8")
    jobs = workload(3, cluster.num_gpus, n=30, load=0.6)
    same_log(simulate(jobs, cluster, EveryTenSeconds(), 0), ref.simulate(jobs, cluster, EveryTenSeconds(), 0))


@pytest.mark.parametrize("name", ["fifo", "fifo-backfill", "srtf", "tiresias"])
def test_the_bundled_philly_sample_starts_alike(name):
    """The first 300 jobs of the bundled Philly sample on 8x8 (long queues, real ties)."""
    jobs = read(traces.SAMPLE).jobs[:300]
    cluster = Cluster.parse("8x8")
    got = simulate(jobs, cluster, policies.make(name), 0, placement="consolidated", restart_overhead=10.0)
    want = ref.simulate(jobs, cluster, ref.REFERENCE_POLICIES[name](), 0, placement="consolidated",
                        restart_overhead=10.0)
    same_log(got, want)


def test_the_comparison_can_fail():
    """A changed rule shows: the reference with one restart overhead against the engine with another."""
    cluster = Cluster.parse("2x8")
    jobs = workload(0, cluster.num_gpus)
    got = simulate(jobs, cluster, policies.make("srtf"), 0, restart_overhead=1.0)
    want = ref.simulate(jobs, cluster, ref.ShortestRemainingTimeFirst(), 0, restart_overhead=2.0)
    with pytest.raises(AssertionError, match="logs differ"):
        same_log(got, want)
    assert not math.isnan(got.end_time)


@pytest.mark.parametrize(("name", "args"), SPED_UP)
def test_sped_up_policies_match_their_plain_versions_under_failures_and_autoscaling(name, args):
    """Where the reference loop has no model (node failures killing jobs, an autoscaler turning
    nodes on and off), the engine runs both versions of each sped-up policy: same logs. A failure
    stops a running job outside the policy's decisions, which incremental bookkeeping must notice."""
    from sim.autoscale import from_settings
    from sim.faults import Faults, Lifetime

    cluster = Cluster.parse("4x4")
    faults = Faults({"*": Lifetime.parse("exponential:1500")}, {"*": Lifetime.parse("constant:200")},
                    checkpoint_interval=100.0, restart_cost=10.0)
    elastic = from_settings({"name": "queue", "interval": 30.0, "min_nodes": 1})
    for seed in range(5):
        jobs = workload(seed, cluster.num_gpus, n=50)
        for settings in ({"faults": faults}, {"autoscale": elastic}):
            got = simulate(jobs, cluster, policies.make(name, args), seed, restart_overhead=5.0, **settings)
            want = simulate(jobs, cluster, ref.REFERENCE_POLICIES[name](**args), seed, restart_overhead=5.0, **settings)
            assert list(got.events) == list(want.events), (name, seed, settings)

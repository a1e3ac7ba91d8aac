"""Elastic jobs: min_gpus/max_gpus, the Resize decision, their rate, metrics, and the elastic policy."""

from __future__ import annotations

import math

import numpy as np
import pytest

import policies
from calibrate.profile import load
from calibrate.speed import Calibration
from sim.check import check, explain
from sim.engine import simulate
from sim.errors import GpusimError, PolicyError
from sim.model import Cluster, Job, Preempt, Resize, Start, Wake, ideal_rate
from sim.rng import stream

import reference_engine as ref  # tests/ is on the path
from test_reference_engine import same_log


def elastic_workload(seed: int, n: int = 40, num_gpus: int = 16) -> list[Job]:
    """Arrivals above capacity; about half the jobs elastic, between 1 and twice their size."""
    sizes = stream(seed, "sizes").choice([1, 2, 4, 8], size=n, p=[0.4, 0.3, 0.2, 0.1])
    durations = stream(seed, "durations").lognormal(np.log(60.0), 1.0, size=n)
    gaps = stream(seed, "arrivals").exponential(2.3 * 60.0 * 1.65 / (1.4 * num_gpus), size=n)
    submits = np.floor(np.cumsum(gaps) - gaps[0]) if seed % 2 else np.cumsum(gaps) - gaps[0]
    elastic = stream(seed, "elastic").random(n) < 0.5
    jobs = []
    for i in range(n):
        size = int(sizes[i])
        bounds = {"min_gpus": max(1, size // 2), "max_gpus": 2 * size} if elastic[i] else {}
        jobs.append(Job(f"j{i}", float(submits[i]), size, float(durations[i]), **bounds))
    return jobs


# --- the job -------------------------------------------------------------------------------


def test_a_job_is_elastic_with_either_bound_and_its_range_defaults_to_its_size():
    assert not Job("a", 0.0, 2, 10.0).elastic
    assert Job("a", 0.0, 2, 10.0).gpu_range == (2, 2)
    assert Job("a", 0.0, 2, 10.0, max_gpus=8).gpu_range == (2, 8)
    assert Job("a", 0.0, 2, 10.0, min_gpus=1).gpu_range == (1, 2)
    assert Job("a", 0.0, 2, 10.0, min_gpus=1).elastic


@pytest.mark.parametrize("bounds", [{"min_gpus": 3}, {"max_gpus": 1}, {"min_gpus": 0}, {"min_gpus": True},
                                    {"max_gpus": 2.5}])
def test_bounds_that_exclude_the_jobs_own_size_are_refused(bounds):
    with pytest.raises(ValueError, match="min_gpus <= num_gpus <= max_gpus"):
        Job("a", 0.0, 2, 10.0, **bounds)


def test_ideal_rate_is_one_on_the_jobs_own_size_and_proportional_otherwise():
    job = Job("a", 0.0, 4, 10.0, min_gpus=1, max_gpus=8)
    assert ideal_rate(job, (0, 1, 2, 3)) == 1.0
    assert ideal_rate(job, (0,)) == 0.25
    assert ideal_rate(job, tuple(range(8))) == 2.0


# --- the engine ----------------------------------------------------------------------------


def test_the_elastic_policy_grows_shrinks_to_admit_and_grows_back_exactly():
    """a (2 GPUs, 100 s, elastic 1-4) alone on 4 GPUs starts on all 4 (rate 2); b (rigid, 2 GPUs)
    arrives at 10 s and a shrinks to 2 (a restart: 5 s of overhead); when b ends at 60 s a grows
    back to 4 (another restart). a: 20 s of work by 10 s, 45 more by 60 s, the last 35 at rate 2
    after 5 s of overhead: ends at 82.5 s."""
    jobs = [Job("a", 0.0, 2, 100.0, min_gpus=1, max_gpus=4), Job("b", 10.0, 2, 50.0)]
    result = simulate(jobs, Cluster.parse("1x4"), policies.make("elastic"), restart_overhead=5.0)
    assert [(e.time, e.kind, e.job_id, e.gpus) for e in result.events] == [
        (0.0, "submit", "a", ()), (0.0, "start", "a", (0, 1, 2, 3)),
        (10.0, "submit", "b", ()), (10.0, "resize", "a", (0, 1, 2, 3)), (10.0, "start", "a", (0, 1)),
        (10.0, "start", "b", (2, 3)),
        (60.0, "finish", "b", ()), (60.0, "resize", "a", (0, 1)), (60.0, "start", "a", (0, 1, 2, 3)),
        (82.5, "finish", "a", ()),
    ]
    summary = result.summary()
    assert summary["preemptions"] == 0 and summary["resizes"] == 2
    assert [r["preemptions"] for r in result.job_table()] == [0, 0]
    # busy GPU-seconds by the GPUs actually held: 4 x 10 + 2 x 50 + 2 x 50 + 4 x 22.5
    assert summary["utilization"] == pytest.approx((40 + 100 + 100 + 90) / (4 * 82.5))
    assert result.timeseries() == [(0.0, 4, 0), (10.0, 4, 0), (60.0, 4, 0), (82.5, 0, 0)]
    assert check(result) == []


def test_a_run_without_resizes_reports_no_resize_count():
    result = simulate([Job("a", 0.0, 2, 10.0)], Cluster.parse("1x4"), policies.make("fifo"))
    assert "resizes" not in result.summary()


class Scripted:
    """Plays fixed decisions at given instants."""

    def __init__(self, plan):
        self.plan = plan

    def schedule(self, view, rng):
        return self.plan.get(view.now, [])


def run_script(plan, jobs=None, spec="2x2", **kw):
    jobs = jobs or [Job("a", 0.0, 2, 100.0, min_gpus=1, max_gpus=3), Job("b", 5.0, 1, 1.0)]
    return simulate(jobs, Cluster.parse(spec), Scripted(plan), **kw)


def test_a_rigid_job_may_move_to_other_gpus_of_its_size():
    jobs = [Job("a", 0.0, 2, 100.0), Job("b", 5.0, 1, 1.0)]
    result = run_script({0.0: [Start("a", (0, 1)), Wake(5.0)], 5.0: [Resize("a", (2, 3))]}, jobs)
    moves = [(e.kind, e.gpus) for e in result.events if e.job_id == "a" and e.time == 5.0]
    assert moves == [("resize", (0, 1)), ("start", (2, 3))]
    assert result.summary()["resizes"] == 1


@pytest.mark.parametrize(("plan", "why"), [
    ({0.0: [Resize("a", (0,))]}, "not running"),
    ({0.0: [Start("a", (0, 1)), Wake(1.0)], 1.0: [Resize("a", (0, 1, 2, 3))]}, "needs 1 to 3 GPUs, got 4"),
    ({0.0: [Start("a", (0, 1, 2, 3))]}, "needs 1 to 3 GPUs, got 4"),
    ({0.0: [Start("a", (0, 1)), Wake(1.0)], 1.0: [Resize("a", (0,)), Resize("a", (0, 1))]}, "resized twice"),
    ({0.0: [Start("a", (0, 1)), Wake(1.0)], 1.0: [Preempt("a"), Resize("a", (0,))]}, "preempted"),
    ({0.0: [Start("a", (0,)), Wake(5.0)], 5.0: [Start("b", (1,)), Resize("a", (0, 1))]}, None),
])
def test_illegal_resizes_are_policy_errors(plan, why):
    if why is None:  # resizes come before starts: a takes GPU 1, then b's start finds it busy
        with pytest.raises(PolicyError, match="GPU 1 .* is not free"):
            run_script(plan)
        return
    with pytest.raises(PolicyError, match=why):
        run_script(plan)


def test_a_rigid_job_may_not_change_size():
    jobs = [Job("a", 0.0, 2, 100.0)]
    with pytest.raises(PolicyError, match="needs 2 GPUs, got 1"):
        run_script({0.0: [Start("a", (0, 1)), Wake(1.0)], 1.0: [Resize("a", (0,))]}, jobs)


def test_elastic_jobs_are_refused_under_the_resource_model():
    with pytest.raises(GpusimError, match="elastic jobs .* resource model"):
        simulate([Job("a", 0.0, 1, 10.0, max_gpus=2)], Cluster.parse("1x4"), policies.make("elastic"), resources=True)


def test_a_shrunk_job_runs_at_the_ideal_rate_without_a_speed_model():
    """a (4 GPUs, 100 s) on 2 GPUs from the start runs at rate 1/2: 200 s."""
    jobs = [Job("a", 0.0, 4, 100.0, min_gpus=1)]
    result = run_script({0.0: [Start("a", (0, 1))]}, jobs)
    assert result.end_time == 200.0


# --- the calibrated scaling curve ------------------------------------------------------------


def test_an_elastic_jobs_rate_follows_the_calibrated_scaling_curve():
    """With a profile, k GPUs do step(reference, B, n) / step(type, B, k) of the work per second:
    sub-linear, and lower again when split across nodes."""
    cluster = Cluster.parse("2x4:V100")
    cal = Calibration(load("gavel"), cluster)
    job = Job("r", 0.0, 2, 1000.0, model="ResNet-50", batch_size=64, min_gpus=1, max_gpus=8)
    rates = {k: cal.speed(job, tuple(range(k))) for k in (1, 2, 4)}
    ref_step = cal.step_time("ResNet-50", cal.reference, 64, 2, True)
    for k, rate in rates.items():
        assert rate == pytest.approx(ref_step / cal.step_time("ResNet-50", "V100", 64, k, True))
    assert rates[1] < rates[2] < rates[4] < 2 * rates[2]  # more GPUs help, by less than linearly
    split = cal.speed(job, (0, 1, 4, 5))
    assert split < rates[4]  # the same 4 GPUs over two nodes pay the inter-node all-reduce
    result = simulate([job], cluster, Scripted({0.0: [Start("r", (0, 1, 2, 3))]}), speed=cal.speed)
    assert result.end_time == pytest.approx(1000.0 / rates[4])
    assert check(result, cal.speed) == []


def test_the_elastic_policy_gives_fewer_gpus_to_jobs_that_scale_worse():
    """Two elastic jobs on 8 GPUs: one whose rate is linear in its GPUs, one that barely gains
    past 2 (a made-up speed model): the first ends with more of the spare GPUs."""

    def speed(job, gpus):
        k = len(gpus)
        return k / job.num_gpus if job.job_id == "linear" else min(k, 2 + 0.01 * (k - 2)) / job.num_gpus

    jobs = [Job("linear", 0.0, 2, 100.0, min_gpus=1, max_gpus=8), Job("flat", 0.0, 2, 100.0, min_gpus=1, max_gpus=8)]
    result = simulate(jobs, Cluster.parse("1x8"), policies.make("elastic"), speed=speed)
    first = {e.job_id: len(e.gpus) for e in result.events if e.kind == "start" and e.time == 0.0}
    assert first == {"linear": 6, "flat": 2}


# --- properties over random elastic workloads --------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("name", ["elastic", "fifo", "srtf", "tiresias", "fifo-backfill"])
def test_random_elastic_workloads_keep_every_invariant_and_match_the_reference(seed, name):
    """Every job finishes, every start's size lies in its job's range, the independent checker finds
    nothing, and the plain reference loop gives the same log."""
    cluster = Cluster.parse(["2x8", "1x2,2x4", "4x4"][seed % 3])
    jobs = elastic_workload(seed, num_gpus=cluster.num_gpus)
    args = {"resize_interval": [0.0, 300.0][seed % 2]} if name == "elastic" else {}
    overhead = [0.0, 3.0][seed % 2]
    result = simulate(jobs, cluster, policies.make(name, args), seed, restart_overhead=overhead)
    assert result.summary()["unfinished"] == 0
    by_id = {j.job_id: j for j in jobs}
    for e in result.events:
        if e.kind == "start":
            low, high = by_id[e.job_id].gpu_range
            assert low <= len(e.gpus) <= high
    violations = check(result)
    assert not violations, explain(violations)
    want = ref.simulate(jobs, cluster, policies.make(name, args), seed, restart_overhead=overhead)
    same_log(result, want)
    if name != "elastic":  # policies that do not resize run elastic jobs at their own size
        assert "resizes" not in result.summary()


def test_the_elastic_policy_beats_fifo_on_mean_jct_when_jobs_can_grow():
    """On a lightly loaded cluster, growing elastic jobs into idle GPUs (ideal scaling, no
    overhead) finishes them sooner than running them at their requested size."""
    jobs = [Job(j.job_id, j.submit_time * 4, j.num_gpus, j.duration, min_gpus=1, max_gpus=16)
            for j in elastic_workload(3, n=60)]
    cluster = Cluster.parse("2x8")
    elastic = simulate(jobs, cluster, policies.make("elastic", {"resize_interval": 0.0})).summary()
    fifo = simulate(jobs, cluster, policies.make("fifo")).summary()
    assert elastic["avg_jct"] < 0.8 * fifo["avg_jct"]
    assert math.isfinite(elastic["utilization"])


@pytest.mark.parametrize("value", [-1.0, "x", True])
def test_bad_policy_parameters_are_refused(value):
    with pytest.raises((ValueError, GpusimError), match="min_gain"):
        policies.make("elastic", {"min_gain": value})


def test_the_elastic_example_runs_every_policy_to_the_end():
    """examples/elastic_jobs.py on the first 300 Philly jobs: every policy finishes every job, only
    the elastic one resizes, and a second run gives the same table."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "elastic_jobs.py"
    spec = importlib.util.spec_from_file_location("elastic_jobs_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    rows = example.table(300, "4x8:V100", 30.0, ideal=False)
    assert [r["policy"] for r in rows] == list(example.POLICIES)
    assert all(r["unfinished"] == 0 for r in rows)
    assert [r["resizes"] > 0 for r in rows] == [name == "elastic" for name in example.POLICIES]
    assert rows == example.table(300, "4x8:V100", 30.0, ideal=False)


def test_a_preemption_and_a_restart_at_one_instant_is_not_a_resize():
    """Through the stepper a job may be preempted and started again at the same instant: that is a
    preemption (logged as one), not a resize."""
    from sim.stepper import Stepper

    jobs = [Job("a", 0.0, 2, 100.0), Job("b", 10.0, 2, 5.0)]
    s = Stepper(jobs, Cluster.parse("1x2"), 0)
    view = s.start()
    view = s.decide([Start("a")])
    while view is not None and view.now < 10.0:
        view = s.decide([])
    view = s.decide([Preempt("a"), Start("b")])
    if view is not None and view.now == 10.0:
        view = s.decide([])
    while view is not None:
        view = s.decide([Start("a")] if any(j.job_id == "a" for j in view.pending) and view.free_gpus >= 2 else [])
    summary = s.result().summary()
    assert summary["preemptions"] == 1 and "resizes" not in summary


def test_trimmed_summaries_count_no_resizes_for_rigid_preemptive_policies():
    """srtf preempts rigid jobs; a summary over some of the jobs (a sweep's trim) shows no resizes."""
    from sim import metrics

    jobs = [Job("a", 0.0, 4, 100.0), Job("b", 10.0, 4, 10.0), Job("c", 50.0, 1, 10.0)]
    result = simulate(jobs, Cluster.parse("1x4"), policies.make("srtf"))
    assert result.summary()["preemptions"] == 2  # a, by b at 10 s and by c at 50 s
    assert "resizes" not in metrics.summary(jobs[2:], result.events, 4)

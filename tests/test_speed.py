"""The engine's speed hook: a job's rate on its GPUs scales how fast its work is done."""

import pytest

from policies import make
from sim.engine import simulate
from sim.errors import GpusimError
from sim.model import Cluster, Job, Preempt, Start, Wake


class Script:
    """Applies a fixed plan: decisions by scheduling time."""

    name = "script"

    def __init__(self, plan):
        self.plan = plan

    def schedule(self, view, rng):
        return list(self.plan.get(view.now, []))


def ends(result):
    return {e.job_id: e.time for e in result.events if e.kind == "finish"}


def test_rate_two_halves_the_running_time():
    """A job of 10 s of work at rate 2 finishes after 5 s."""
    result = simulate([Job("a", 0.0, 1, 10.0)], Cluster.parse("1x1"), make("fifo"), speed=lambda job, gpus: 2.0)
    assert ends(result) == {"a": 5.0}


def test_rate_depends_on_the_gpus_given():
    """The same job runs at the rate of the GPUs it was placed on (GPU 1 is twice as slow here)."""
    speed = lambda job, gpus: 1.0 if gpus == (0,) else 0.5  # noqa: E731
    plan = {0.0: [Start("a", (1,)), Start("b", (0,))]}
    result = simulate([Job("a", 0.0, 1, 8.0), Job("b", 0.0, 1, 8.0)], Cluster.parse("1x2"), Script(plan), speed=speed)
    assert ends(result) == {"a": 16.0, "b": 8.0}


def test_preempted_job_keeps_the_work_done_at_its_old_rate():
    """Work done before a preemption counts at the old placement's rate; the rest at the new one."""
    speed = lambda job, gpus: 2.0 if gpus == (0,) else 1.0  # noqa: E731
    # 3 s at rate 2 = 6 s of 10 done; resumed at t=5 on GPU 1 at rate 1: 4 s more, ends at 9.
    plan = {0.0: [Start("a", (0,)), Wake(3.0)], 3.0: [Preempt("a"), Wake(5.0)], 5.0: [Start("a", (1,))]}
    result = simulate([Job("a", 0.0, 1, 10.0)], Cluster.parse("1x2"), Script(plan), speed=speed)
    assert ends(result) == {"a": 9.0}


def test_attained_service_counts_running_time_not_work():
    """Tiresias-style attained service is GPU-seconds of running, whatever the rate."""
    seen = {}

    class Watch(Script):
        def schedule(self, view, rng):
            for job in view.running:
                seen[view.now] = (job.attained, job.remaining)
            return super().schedule(view, rng)

    plan = {0.0: [Start("a", (0, 1)), Wake(2.0)]}
    simulate([Job("a", 0.0, 2, 12.0)], Cluster.parse("1x2"), Watch(plan), speed=lambda job, gpus: 3.0)
    assert seen[2.0] == (4.0, 6.0)  # 2 s × 2 GPUs attained; 12 - 3 × 2 work left


def test_without_speed_the_log_is_unchanged():
    """speed=None and a speed of exactly 1 give identical event logs on a preemptive policy."""
    jobs = [Job(str(i), float(i * 7 % 13), 1 + i % 3, 5.0 + (i * 37 % 50)) for i in range(40)]
    cluster = Cluster.parse("2x4")
    plain = simulate(jobs, cluster, make("srtf"), seed=1, restart_overhead=2.0)
    unit = simulate(jobs, cluster, make("srtf"), seed=1, restart_overhead=2.0, speed=lambda job, gpus: 1.0)
    assert plain.events == unit.events


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), "fast"])
def test_a_bad_rate_is_a_clear_error(bad):
    """A speed model giving a non-positive, non-finite or non-numeric rate is refused, naming the job."""
    with pytest.raises(GpusimError, match="job a"):
        simulate([Job("a", 0.0, 1, 10.0)], Cluster.parse("1x1"), make("fifo"), speed=lambda job, gpus: bad)


def test_jobs_without_duration_need_a_calibration():
    """A job given only as model/batch_size/iterations cannot be simulated without a profile."""
    job = Job("a", 0.0, 1, None, model="mlp", batch_size=32, iterations=100.0)
    with pytest.raises(GpusimError, match="calibration"):
        simulate([job], Cluster.parse("1x1"), make("fifo"))


def test_progress_is_called_after_every_pass_with_finished_counts():
    """simulate's progress callback sees the clock and the count of finished jobs grow to the total."""
    calls = []
    jobs = [Job(str(i), float(i), 1, 3.0) for i in range(5)]
    simulate(jobs, Cluster.parse("1x2"), make("fifo"), progress=lambda now, done, total: calls.append((now, done, total)))
    assert calls[-1][1:] == (5, 5)
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    assert [c[1] for c in calls] == sorted(c[1] for c in calls) and calls[0][1] == 0

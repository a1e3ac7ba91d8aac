"""Scenario tests of sim.engine.simulate with small hand-built policies."""

from __future__ import annotations

import math
import re

import pytest

from sim.engine import check_fits, simulate
from sim.errors import GpusimError, PolicyError
from sim.model import Cluster, Event, Job, Preempt, Start, Wake
from sim.rng import stream


class Script:
    """Returns the decisions planned for the current time and records every call it gets."""

    name = "script"

    def __init__(self, plan=None):
        self.plan = plan or {}
        self.calls: list[tuple[float, tuple[str, ...], tuple[str, ...]]] = []

    def schedule(self, view, rng):
        self.calls.append((view.now, tuple(j.job_id for j in view.pending), tuple(j.job_id for j in view.running)))
        decide = self.plan.get(view.now, [])
        return decide(view) if callable(decide) else decide

    @property
    def times(self) -> list[float]:
        return [t for t, _, _ in self.calls]


class Greedy:
    """Starts pending jobs in arrival order on the run's placement; records the times it is called."""

    name = "greedy"

    def __init__(self):
        self.times: list[float] = []

    def schedule(self, view, rng):
        self.times.append(view.now)
        planner = view.planner()
        out = []
        for job in view.pending:
            gpus = planner.place(job.num_gpus)
            if gpus is None:
                break
            planner.take(gpus)
            out.append(Start(job.job_id, gpus))
        return out


def events_of(result, kind):
    return [e for e in result.events if e.kind == kind]


def finish_time(result, job_id):
    (e,) = [e for e in result.events if e.kind == "finish" and e.job_id == job_id]
    return e.time


ONE = [Job("a", 0.0, 1, 10.0)]


# --- illegal decisions ----------------------------------------------------------------------


def _illegal(jobs, cluster, plan, **kw):
    with pytest.raises(PolicyError) as info:
        simulate(jobs, Cluster.parse(cluster), Script(plan), **kw)
    return str(info.value)


def _names_everything(msg, t, decision):
    assert "'script'" in msg
    assert re.search(rf"\bt={t}s\b", msg), msg
    assert repr(decision) in msg


@pytest.mark.parametrize("bad", [Start("zzz"), Start("b"), Start("zzz", (0,))])
def test_start_of_unknown_or_unarrived_job(bad):
    """Starting an unknown job or one not yet submitted is illegal, and the message names policy, time and decision."""
    jobs = [Job("a", 0.0, 1, 5.0), Job("b", 50.0, 1, 5.0)]
    msg = _illegal(jobs, "1x2", {0.0: [bad]})
    _names_everything(msg, 0, bad)
    assert "not pending" in msg


def test_start_of_running_job():
    """Starting a job that is already running is illegal."""
    jobs = [Job("a", 0.0, 1, 10.0), Job("b", 2.0, 1, 1.0)]
    again = Start("a", (1,))
    msg = _illegal(jobs, "1x2", {0.0: [Start("a", (0,))], 2.0: [again]})
    _names_everything(msg, 2, again)
    assert "not pending" in msg


def test_start_twice_in_one_pass():
    """Starting the same job twice in one pass is illegal."""
    second = Start("a", (1,))
    msg = _illegal(ONE, "1x2", {0.0: [Start("a", (0,)), second]})
    _names_everything(msg, 0, second)


def test_start_of_finished_job():
    """Starting a job that has finished is illegal."""
    jobs = [Job("a", 0.0, 1, 1.0), Job("b", 3.0, 1, 1.0)]
    msg = _illegal(jobs, "1x1", {0.0: [Start("a", (0,))], 3.0: [Start("a", (0,))]})
    _names_everything(msg, 3, Start("a", (0,)))


def test_start_on_busy_gpu():
    """Starting a job on a GPU held by another job is illegal and names the busy GPU."""
    jobs = [Job("a", 0.0, 1, 10.0), Job("b", 1.5, 2, 10.0)]
    bad = Start("b", (1, 0))
    msg = _illegal(jobs, "1x4", {0.0: [Start("a", (0,))], 1.5: [bad]})
    _names_everything(msg, 1.5, bad)
    assert "GPU 0 (node 0) is not free" in msg


def test_two_starts_on_same_gpu_in_one_pass():
    """Two starts of one pass on the same GPU are illegal (starts are applied in order)."""
    jobs = [Job("a", 0.0, 1, 10.0), Job("b", 0.0, 1, 10.0)]
    bad = Start("b", (0,))
    msg = _illegal(jobs, "1x2", {0.0: [Start("a", (0,)), bad]})
    _names_everything(msg, 0, bad)
    assert "not free" in msg


@pytest.mark.parametrize("gpu", [4, -1, 99])
def test_start_on_gpu_out_of_range(gpu):
    """A GPU index outside the cluster is illegal."""
    bad = Start("a", (gpu,))
    msg = _illegal(ONE, "2x2", {0.0: [bad]})
    _names_everything(msg, 0, bad)
    assert "does not exist" in msg


@pytest.mark.parametrize("gpus", [(0,), (0, 1, 2), ()])
def test_start_with_wrong_gpu_count(gpus):
    """Giving a 2-GPU job other than 2 GPUs is illegal."""
    bad = Start("a", gpus)
    msg = _illegal([Job("a", 0.0, 2, 1.0)], "1x4", {0.0: [bad]})
    _names_everything(msg, 0, bad)
    assert f"needs 2 GPUs, got {len(gpus)}" in msg


def test_start_with_repeated_gpu():
    """Naming one GPU twice for a 2-GPU job is illegal."""
    bad = Start("a", (1, 1))
    msg = _illegal([Job("a", 0.0, 2, 1.0)], "1x4", {0.0: [bad]})
    _names_everything(msg, 0, bad)
    assert "twice" in msg


def test_start_with_numpy_integer_gpus_is_legal():
    """GPU indices may be numpy integers (e.g. drawn with rng.choice); they are logged as plain ints."""
    import numpy as np

    policy = Script({0.0: [Start("a", tuple(np.array([3, 1], dtype=np.int64)))]})
    result = simulate([Job("a", 0.0, 2, 1.0)], Cluster.parse("1x4"), policy)
    (start,) = events_of(result, "start")
    assert start.gpus == (3, 1) and all(type(g) is int for g in start.gpus)


@pytest.mark.parametrize("gpus", [(0.0, 1.0), ("0", "1")])
def test_start_with_non_integer_gpus(gpus):
    """GPU indices that are not integers are illegal."""
    bad = Start("a", gpus)
    msg = _illegal([Job("a", 0.0, 2, 1.0)], "1x4", {0.0: [bad]})
    _names_everything(msg, 0, bad)
    assert "integers" in msg


def test_engine_placed_start_larger_than_free():
    """An engine-placed start (gpus=None) of a job larger than the free GPUs is illegal."""
    jobs = [Job("a", 0.0, 3, 10.0), Job("b", 0.0, 2, 10.0)]
    bad = Start("b")
    msg = _illegal(jobs, "1x4", {0.0: [Start("a"), bad]})
    _names_everything(msg, 0, bad)
    assert "needs 2 GPUs, 1 free" in msg


@pytest.mark.parametrize("bad", [Preempt("a"), Preempt("nobody")])
def test_preempt_of_non_running_job(bad):
    """Preempting a pending or unknown job is illegal."""
    msg = _illegal(ONE, "1x1", {0.0: [bad]})
    _names_everything(msg, 0, bad)
    assert "not running" in msg


def test_preempt_twice_in_one_pass():
    """Preempting the same job twice in one pass is illegal."""
    jobs = [Job("a", 0.0, 1, 10.0), Job("b", 1.0, 1, 1.0)]
    msg = _illegal(jobs, "1x1", {0.0: [Start("a", (0,))], 1.0: [Preempt("a"), Preempt("a")]})
    _names_everything(msg, 1, Preempt("a"))


def test_preempt_of_finished_job():
    """Preempting a job that has finished is illegal."""
    jobs = [Job("a", 0.0, 1, 1.0), Job("b", 2.0, 1, 1.0)]
    msg = _illegal(jobs, "1x2", {0.0: [Start("a", (0,))], 2.0: [Preempt("a")]})
    _names_everything(msg, 2, Preempt("a"))


def test_restart_in_the_pass_that_preempts_is_illegal():
    """A job preempted in a pass cannot be started again in the same pass."""
    jobs = [Job("a", 0.0, 1, 10.0), Job("b", 1.0, 1, 1.0)]
    bad = Start("a", (1,))
    msg = _illegal(jobs, "1x2", {0.0: [Start("a", (0,))], 1.0: [Preempt("a"), bad]})
    _names_everything(msg, 1, bad)


@pytest.mark.parametrize("at", [2.0, 1.0, -5.0, math.inf, math.nan])
def test_wake_not_in_the_future(at):
    """A Wake at or before now, or not finite, is illegal."""
    jobs = [Job("a", 0.0, 1, 10.0), Job("b", 2.0, 1, 1.0)]
    bad = Wake(at)
    msg = _illegal(jobs, "1x2", {0.0: [Start("a", (0,))], 2.0: [bad]})
    _names_everything(msg, 2, bad)
    assert "wake-up time" in msg


def test_unknown_decision_type():
    """Anything that is not a Start, Preempt or Wake is illegal."""
    msg = _illegal(ONE, "1x1", {0.0: ["start a"]})
    assert "'script'" in msg and "t=0s" in msg and "'start a'" in msg


def test_policy_without_name_is_named_by_its_class():
    """A policy without a name attribute is named by its class in the error."""

    class Nameless:
        def schedule(self, view, rng):
            return [Start("ghost")]

    with pytest.raises(PolicyError, match=r"policy 'Nameless' at t=7s: illegal decision Start\(job_id='ghost'"):
        simulate([Job("a", 7.0, 1, 1.0)], Cluster.parse("1x1"), Nameless())


def test_not_a_policy():
    """An object without schedule() is rejected before the run."""
    with pytest.raises(GpusimError, match="not a policy"):
        simulate(ONE, Cluster.parse("1x1"), object())


# --- preemption and restart overhead --------------------------------------------------------

PREEMPT_PLAN = {0.0: [Start("a", (0,)), Wake(4.0)], 4.0: [Preempt("a"), Wake(6.0)], 6.0: [Start("a", (0,))]}


def test_preemption_keeps_progress():
    """A job preempted after 4 of 10 s and resumed at 6 finishes at 12, with two runs in the log."""
    result = simulate(ONE, Cluster.parse("1x1"), Script(PREEMPT_PLAN))
    assert [(e.time, e.kind) for e in result.events] == [
        (0.0, "submit"), (0.0, "start"), (4.0, "preempt"), (6.0, "start"), (12.0, "finish")]
    assert result.job_table()[0]["preemptions"] == 1
    assert result.job_table()[0]["start_time"] == 0.0


def test_restart_overhead_delays_completion_without_progress():
    """With a 3 s restart overhead the resumed job finishes 3 s later and makes no progress during it."""
    seen = {}

    def look(view):
        a = (*view.running, *view.pending)[0]
        seen[view.now] = a.remaining
        return [Wake(view.now + 1.0)] if view.now < 10.0 else []

    plan = dict(PREEMPT_PLAN)
    plan[6.0] = lambda view: [Start("a", (0,)), Wake(7.0)]
    for t in (7.0, 8.0, 9.0, 10.0):
        plan[t] = look
    result = simulate(ONE, Cluster.parse("1x1"), Script(plan), restart_overhead=3.0)
    assert finish_time(result, "a") == 6.0 + 3.0 + 6.0
    assert seen == {7.0: 6.0, 8.0: 6.0, 9.0: 6.0, 10.0: 5.0}
    # the GPU is held during the overhead: busy from 0..4 and 6..15
    assert result.summary()["utilization"] == pytest.approx((4 + 9) / 15)


def test_first_start_has_no_overhead():
    """The restart overhead applies to restarts only, not to a job's first start."""
    result = simulate(ONE, Cluster.parse("1x1"), Greedy(), restart_overhead=100.0)
    assert finish_time(result, "a") == 10.0


def test_preempt_frees_gpus_for_a_start_listed_before_it():
    """Preemptions are applied before starts, so a start may use GPUs freed by a later-listed preemption."""
    jobs = [Job("a", 0.0, 1, 10.0), Job("b", 2.0, 1, 3.0)]
    plan = {0.0: [Start("a", (0,))], 2.0: [Start("b", (0,)), Preempt("a")], 5.0: [Start("a", (0,))]}
    result = simulate(jobs, Cluster.parse("1x1"), Script(plan))
    assert finish_time(result, "b") == 5.0
    assert finish_time(result, "a") == 5.0 + 8.0


def test_preempted_job_rejoins_pending_at_its_arrival_position():
    """A preempted job is pending again in arrival order, ahead of later arrivals."""
    jobs = [Job("a", 0.0, 1, 10.0), Job("b", 1.0, 1, 10.0), Job("c", 2.0, 1, 10.0)]
    policy = Script({0.0: [Start("a", (0,))], 2.0: [Preempt("a"), Wake(3.0)]})
    simulate(jobs, Cluster.parse("1x1"), policy, until=3.0)
    assert policy.calls[-1] == (3.0, ("a", "b", "c"), ())


# --- ordering within an instant -------------------------------------------------------------


def test_completion_before_arrival_at_same_instant():
    """A job arriving exactly when another finishes starts at once on a 1-GPU cluster."""
    jobs = [Job("a", 0.0, 1, 5.0), Job("b", 5.0, 1, 2.0)]
    policy = Script({0.0: [Start("a", (0,))], 5.0: [Start("b", (0,))]})
    result = simulate(jobs, Cluster.parse("1x1"), policy)
    assert policy.calls == [(0.0, ("a",), ()), (5.0, ("b",), ())]
    assert [(e.time, e.kind, e.job_id) for e in result.events] == [
        (0.0, "submit", "a"), (0.0, "start", "a"), (5.0, "finish", "a"), (5.0, "submit", "b"),
        (5.0, "start", "b"), (7.0, "finish", "b")]


def test_scheduler_runs_once_per_instant():
    """Several arrivals, completions, a Wake and a round at one instant give one scheduling pass."""

    class Busy(Greedy):
        round_interval = 5.0

        def schedule(self, view, rng):
            out = super().schedule(view, rng)
            return out + [Wake(5.0)] if view.now < 5.0 else out

    jobs = [Job("a", 0.0, 1, 5.0), Job("b", 0.0, 1, 5.0), Job("c", 0.0, 1, 5.0),
            Job("d", 5.0, 1, 1.0), Job("e", 5.0, 1, 1.0), Job("f", 5.0, 1, 2.0)]
    policy = Busy()
    result = simulate(jobs, Cluster.parse("1x3"), policy)
    assert policy.times == [0.0, 5.0, 6.0]  # 6: d and e finish while f still runs
    assert [e.time for e in events_of(result, "finish")] == [5.0, 5.0, 5.0, 6.0, 6.0, 7.0]


def test_completions_applied_in_arrival_order():
    """Jobs finishing at the same instant are logged in arrival order, whatever their start order."""
    jobs = [Job("a", 0.0, 1, 4.0), Job("b", 1.0, 1, 3.0), Job("c", 2.0, 1, 2.0)]
    plan = {0.0: [Start("a", (0,))], 1.0: [Start("b", (1,))], 2.0: [Start("c", (2,))]}
    result = simulate(jobs, Cluster.parse("1x3"), Script(plan))
    assert [e.job_id for e in events_of(result, "finish")] == ["a", "b", "c"]


def test_unsorted_jobs_arrive_in_submit_order_ties_in_trace_order():
    """Jobs are taken in submit order; equal submit times keep their given order."""
    jobs = [Job("late", 5.0, 1, 1.0), Job("x", 0.0, 1, 1.0), Job("y", 0.0, 1, 1.0), Job("w", 0.0, 1, 1.0)]
    policy = Script()
    simulate(jobs, Cluster.parse("1x1"), policy, until=0.0)
    assert policy.calls == [(0.0, ("x", "y", "w"), ())]


# --- waking the policy ----------------------------------------------------------------------


def test_wake_wakes_the_policy():
    """A Wake makes the engine call the policy at exactly that time."""
    policy = Script({0.0: [Start("a", (0,)), Wake(7.5)], 7.5: [Wake(8.25)]})
    simulate(ONE, Cluster.parse("1x1"), policy)
    assert policy.times == [0.0, 7.5, 8.25]


def test_earliest_wake_of_a_pass_wins():
    """Of several Wakes in one pass the earliest counts; the pass it causes replaces the rest."""
    policy = Script({0.0: [Start("a", (0,)), Wake(6.0), Wake(3.0)]})
    simulate(ONE, Cluster.parse("1x1"), policy)
    assert policy.times == [0.0, 3.0]


def test_later_pass_replaces_earlier_wake():
    """A pass that asks for no Wake cancels the Wake asked for by an earlier pass."""
    jobs = [Job("a", 0.0, 1, 10.0), Job("b", 2.0, 1, 1.0)]
    policy = Script({0.0: [Start("a", (0,)), Wake(5.0)]})
    simulate(jobs, Cluster.parse("1x2"), policy)
    # b's arrival at 2 asked for nothing, so 5 never comes; a finishes at 10 with b still pending
    assert policy.times == [0.0, 2.0, 10.0]


def test_wake_after_everything_is_done_is_dropped():
    """A Wake beyond the last completion does not extend the run."""
    policy = Script({0.0: [Start("a", (0,)), Wake(500.0)]})
    result = simulate(ONE, Cluster.parse("1x1"), policy)
    assert policy.times == [0.0]
    assert result.end_time == 10.0


class Rounds(Script):
    round_interval = 10.0


def test_round_interval_triggers_periodic_passes():
    """A policy with round_interval is called at every multiple of it while jobs remain."""
    policy = Rounds({0.0: [Start("a", (0,))]})
    simulate([Job("a", 0.0, 1, 35.0)], Cluster.parse("1x1"), policy)
    assert policy.times == [0.0, 10.0, 20.0, 30.0]


def test_rounds_are_aligned_to_multiples_of_the_interval():
    """Rounds fall on multiples of round_interval, not on offsets from the first arrival."""
    policy = Rounds({3.0: [Start("a", (0,))]})
    simulate([Job("a", 3.0, 1, 20.0)], Cluster.parse("1x1"), policy)
    assert policy.times == [3.0, 10.0, 20.0]


def test_round_after_last_finish_does_not_extend_end_time():
    """end_time is the last completion even when a round was scheduled past it."""
    policy = Rounds({0.0: [Start("a", (0,))]})
    result = simulate([Job("a", 0.0, 1, 35.0)], Cluster.parse("1x1"), policy)
    assert result.end_time == 35.0


# --- until, sizes, ids ----------------------------------------------------------------------


def test_until_stops_the_clock_and_counts_unfinished():
    """until cuts the run: later events are absent, a stop event closes the log, unfinished jobs are counted."""
    jobs = [Job("a", 0.0, 1, 10.0), Job("b", 0.0, 1, 100.0), Job("c", 60.0, 1, 1.0), Job("d", 5.0, 1, 1.0)]
    result = simulate(jobs, Cluster.parse("1x1"), Greedy(), until=50.0)
    assert result.end_time == 50.0
    assert result.events[-1] == Event(50.0, "stop", "")
    assert all(e.time <= 50.0 for e in result.events)
    assert [e.job_id for e in events_of(result, "finish")] == ["a"]
    s = result.summary()
    assert s["unfinished"] == 3 and s["makespan"] == 50.0
    assert s["utilization"] == pytest.approx(1.0)  # the single GPU was busy throughout


def test_events_at_exactly_until_are_applied():
    """A completion and an arrival at exactly until are in the log."""
    jobs = [Job("a", 0.0, 1, 50.0), Job("b", 50.0, 1, 1.0)]
    result = simulate(jobs, Cluster.parse("1x1"), Greedy(), until=50.0)
    assert [(e.time, e.kind, e.job_id) for e in result.events[2:]] == [
        (50.0, "finish", "a"), (50.0, "submit", "b"), (50.0, "start", "b"), (50.0, "stop", "")]
    assert result.summary()["unfinished"] == 1


def test_until_before_the_first_submission():
    """A run stopped before any job arrives logs only the stop, counts every job unfinished, and has no makespan."""
    result = simulate([Job("a", 5.0, 1, 1.0)], Cluster.parse("1x1"), Greedy(), until=1.0)
    assert result.events == [Event(1.0, "stop", "")]
    assert result.end_time == 1.0
    s = result.summary()
    assert s["unfinished"] == 1 and s["makespan"] == 0.0


def test_until_after_the_end_changes_nothing():
    """With until beyond the last completion the log has no stop event and ends at the last finish."""
    result = simulate(ONE, Cluster.parse("1x1"), Greedy(), until=1000.0)
    assert result.end_time == 10.0
    assert [e.kind for e in result.events] == ["submit", "start", "finish"]


def test_oversize_jobs_raise_listing_ids():
    """Jobs larger than the cluster raise GpusimError naming each one and its size."""
    jobs = [Job("ok", 0.0, 8, 1.0), Job("big1", 0.0, 9, 1.0), Job("big2", 1.0, 16, 1.0)]
    with pytest.raises(GpusimError, match=r"2 job\(s\) can never fit .*big1 \(9 GPUs\), big2 \(16 GPUs\)"):
        simulate(jobs, Cluster.parse("2x4"), Greedy())
    assert [j.job_id for j in check_fits(jobs, Cluster.parse("2x4"))] == ["big1", "big2"]


def test_oversize_message_is_capped():
    """With more than ten oversize jobs the message lists ten and counts the rest."""
    jobs = [Job(f"j{i}", 0.0, 2, 1.0) for i in range(13)]
    with pytest.raises(GpusimError, match=r"13 job\(s\).*j9 \(2 GPUs\) and 3 more") as info:
        simulate(jobs, Cluster.parse("1x1"), Greedy())
    assert "j10" not in str(info.value)


def test_duplicate_ids_raise():
    """Two jobs with the same id are rejected, naming the id."""
    jobs = [Job("a", 0.0, 1, 1.0), Job("b", 0.0, 1, 1.0), Job("a", 3.0, 1, 1.0)]
    with pytest.raises(GpusimError, match="duplicate job ids: a"):
        simulate(jobs, Cluster.parse("1x1"), Greedy())


@pytest.mark.parametrize("kw", [{"restart_overhead": -1.0}, {"restart_overhead": math.inf},
                                {"until": -1.0}, {"until": math.nan}])
def test_bad_run_parameters_raise(kw):
    """Negative or non-finite restart_overhead / until are rejected."""
    with pytest.raises(GpusimError):
        simulate(ONE, Cluster.parse("1x1"), Greedy(), **kw)


def test_empty_workload():
    """No jobs: an empty log, no policy call, end time 0."""
    policy = Greedy()
    result = simulate([], Cluster.parse("1x1"), policy)
    assert result.events == [] and policy.times == [] and result.end_time == 0.0


# --- placement and views --------------------------------------------------------------------


def test_engine_placed_start_uses_the_run_placement():
    """Start without GPUs is placed by the run's strategy (spread here), not lowest index."""
    jobs = [Job("a", 0.0, 1, 10.0), Job("b", 0.0, 1, 10.0)]
    result = simulate(jobs, Cluster.parse("2x2"), Script({0.0: [Start("a"), Start("b")]}), placement="spread")
    assert [e.gpus for e in events_of(result, "start")] == [(0,), (2,)]


def test_unplaceable_engine_placed_start_is_skipped():
    """A gpus=None start that fits by count but not on nodes is skipped, and the job stays pending."""
    jobs = [Job("a", 0.0, 1, 10.0), Job("b", 0.0, 1, 10.0), Job("c", 0.0, 2, 1.0)]
    policy = Script({0.0: [Start("a", (0,)), Start("b", (2,)), Start("c")], 10.0: [Start("c")]})
    result = simulate(jobs, Cluster.parse("2x2"), policy, placement="consolidated")
    assert [(e.time, e.job_id) for e in events_of(result, "start")] == [(0.0, "a"), (0.0, "b"), (10.0, "c")]
    assert policy.calls[1] == (10.0, ("c",), ())


def test_view_planner_is_a_private_copy():
    """Taking GPUs on the planner a view hands out does not change the engine's free GPUs."""
    free_seen = []

    class Hoarder:
        def schedule(self, view, rng):
            free_seen.append((view.free_gpus, view.free_per_node()))
            view.planner().take(tuple(range(view.num_gpus)))
            return [Wake(view.now + 1.0)] if view.now < 2.0 else [Start("a")]

    simulate(ONE, Cluster.parse("2x2"), Hoarder())
    assert free_seen == [(4, (2, 2))] * 3


def test_policy_rng_is_the_policy_stream():
    """The rng given to the policy is the run's 'policy' stream of the seed."""
    draws = []

    class Draw(Greedy):
        def schedule(self, view, rng):
            draws.append(rng.random())
            return super().schedule(view, rng)

    simulate(ONE, Cluster.parse("1x1"), Draw(), seed=42)
    assert draws == [stream(42, "policy").random()]


def test_resuming_a_job_with_sub_ulp_work_left_keeps_one_pass_per_instant():
    """A job preempted a rounding error before its end and resumed later still gives one pass per instant."""
    # a starts at 0.1 for 0.2 s, so its end is 0.1 + 0.2 = 0.30000000000000004; preempted at 0.3 it
    # keeps 0.2 - (0.3 - 0.1) = 2.8e-17 s of work, which 1.0 + 2.8e-17 rounds away.
    jobs = [Job("b", 0.0, 1, 100.0), Job("a", 0.1, 1, 0.2)]
    plan = {0.1: [Start("a", (0,)), Wake(0.3)], 0.3: [Preempt("a"), Wake(1.0)], 1.0: [Start("a", (0,))]}
    policy = Script(plan)
    result = simulate(jobs, Cluster.parse("1x2"), policy, until=2.0)
    assert len(policy.times) == len(set(policy.times)), policy.times
    assert [e.kind for e in result.events if e.time == 1.0] == ["start"]
    assert 1.0 < finish_time(result, "a") <= 1.0 + 1e-12

"""Unit tests of sim.metrics on hand-written event logs, with every expected value worked out by hand."""

from __future__ import annotations

import math

import pytest

from sim import metrics
from sim.model import Event, Job

# A 3-GPU cluster. Timeline (per instant: finish, submit, preempt, start, as the engine logs them):
#   t=0  a submits, starts on GPUs 0,1        t=1  b submits, starts on GPU 2
#   t=2  c submits                            t=3  d submits
#   t=4  a finishes; d starts on GPUs 0,1     t=5  e submits
#   t=6  b preempted (ran 5 s); c starts on 2 t=8  c finishes; b restarts on 2 (15 s left)
#   t=23 b finishes; e starts on 2            t=28 e finishes
#   t=34 d finishes
JOBS = (
    Job("a", 0.0, 2, 4.0),
    Job("b", 1.0, 1, 20.0),
    Job("c", 2.0, 1, 2.0),
    Job("d", 3.0, 2, 30.0),
    Job("e", 5.0, 1, 5.0),
)
EVENTS = [
    Event(0.0, "submit", "a"), Event(0.0, "start", "a", (0, 1)),
    Event(1.0, "submit", "b"), Event(1.0, "start", "b", (2,)),
    Event(2.0, "submit", "c"),
    Event(3.0, "submit", "d"),
    Event(4.0, "finish", "a"), Event(4.0, "start", "d", (0, 1)),
    Event(5.0, "submit", "e"),
    Event(6.0, "preempt", "b", (2,)), Event(6.0, "start", "c", (2,)),
    Event(8.0, "finish", "c"), Event(8.0, "start", "b", (2,)),
    Event(23.0, "finish", "b"), Event(23.0, "start", "e", (2,)),
    Event(28.0, "finish", "e"),
    Event(34.0, "finish", "d"),
]
GPUS = {j.job_id: j.num_gpus for j in JOBS}

# Worked out by hand from the timeline above.
WAIT = {"a": 0.0, "b": 0.0, "c": 4.0, "d": 1.0, "e": 18.0}
END = {"a": 4.0, "b": 23.0, "c": 8.0, "d": 34.0, "e": 28.0}
JCT = {"a": 4.0, "b": 22.0, "c": 6.0, "d": 31.0, "e": 23.0}
SLOWDOWN = {"a": 1.0, "b": 1.1, "c": 3.0, "d": 31 / 30, "e": 4.6}
# max(1, jct / max(duration, 10)): a 4/10 -> 1; c 6/10 -> 1; e 23/10 = 2.3 (not 4.6)
BOUNDED = {"a": 1.0, "b": 1.1, "c": 1.0, "d": 31 / 30, "e": 2.3}
BUSY = 2 * 4 + (1 * 5 + 1 * 15) + 1 * 2 + 2 * 30 + 1 * 5  # a, b (two runs), c, d, e = 95


def _hand_percentile(sorted_xs, q):
    """Linear interpolation between closest ranks (the 'linear' method), computed without numpy."""
    pos = q / 100 * (len(sorted_xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (pos - lo) * (sorted_xs[hi] - sorted_xs[lo])


def test_job_table_values():
    """job_table gives start, end, wait, jct, slowdown, bounded slowdown and preemptions per job."""
    rows = {r["job_id"]: r for r in metrics.job_table(JOBS, EVENTS)}
    for j in JOBS:
        r = rows[j.job_id]
        assert r["submit_time"] == j.submit_time
        assert r["num_gpus"] == j.num_gpus and r["duration"] == j.duration
        assert r["start_time"] == j.submit_time + WAIT[j.job_id]
        assert r["end_time"] == END[j.job_id]
        assert r["wait"] == pytest.approx(WAIT[j.job_id])
        assert r["jct"] == pytest.approx(JCT[j.job_id])
        assert r["slowdown"] == pytest.approx(SLOWDOWN[j.job_id])
        assert r["bounded_slowdown"] == pytest.approx(BOUNDED[j.job_id])
        assert r["preemptions"] == (1 if j.job_id == "b" else 0)
    assert tuple(rows["a"]) == metrics.JOB_COLUMNS


def test_job_table_keeps_the_given_job_order():
    """Rows come in the order of the jobs passed in, not the order of the log."""
    order = ["e", "c", "a", "d", "b"]
    jobs = [next(j for j in JOBS if j.job_id == i) for i in order]
    assert [r["job_id"] for r in metrics.job_table(jobs, EVENTS)] == order


def test_wait_uses_first_start_not_restart():
    """A preempted job's wait is measured to its first start, not its restart."""
    rows = {r["job_id"]: r for r in metrics.job_table(JOBS, EVENTS)}
    assert rows["b"]["start_time"] == 1.0


def test_bounded_slowdown_floor_is_ten_seconds():
    """A 1 s job finishing 5 s after submission has bounded slowdown 1 (5/10 < 1), one 30 s late has 3."""
    jobs = [Job("x", 0.0, 1, 1.0), Job("y", 0.0, 1, 1.0)]
    events = [Event(0.0, "submit", "x"), Event(0.0, "submit", "y"), Event(4.0, "start", "x", (0,)),
              Event(5.0, "finish", "x"), Event(29.0, "start", "y", (0,)), Event(30.0, "finish", "y")]
    rows = metrics.job_table(jobs, events)
    assert [r["slowdown"] for r in rows] == [5.0, 30.0]
    assert [r["bounded_slowdown"] for r in rows] == [1.0, 3.0]
    assert metrics.BOUNDED_SLOWDOWN_FLOOR == 10.0


def test_busy_gpu_seconds():
    """Busy GPU-seconds sum each run's GPUs × length, preempted runs included."""
    assert metrics.busy_gpu_seconds(EVENTS) == BUSY == 95


def test_summary_values():
    """summary gives means, interpolated percentiles, makespan and utilization as worked out by hand."""
    s = metrics.summary(JOBS, EVENTS, num_gpus=3)
    jcts = sorted(JCT.values())  # [4, 6, 22, 23, 31]
    assert s["jobs"] == 5 and s["unfinished"] == 0
    assert s["avg_jct"] == pytest.approx(86 / 5)
    assert s["median_jct"] == 22.0
    assert s["p95_jct"] == pytest.approx(_hand_percentile(jcts, 95)) == pytest.approx(29.4)
    assert s["p99_jct"] == pytest.approx(_hand_percentile(jcts, 99)) == pytest.approx(30.68)
    assert s["avg_wait"] == pytest.approx(23 / 5)
    assert s["makespan"] == 34.0
    assert s["utilization"] == pytest.approx(95 / (3 * 34))
    assert s["avg_slowdown"] == pytest.approx(sum(SLOWDOWN.values()) / 5)
    assert s["avg_bounded_slowdown"] == pytest.approx(sum(BOUNDED.values()) / 5)
    assert s["preemptions"] == 1
    assert tuple(s) == metrics.SUMMARY_KEYS


def test_makespan_starts_at_first_submission():
    """makespan runs from the first submission, not from time 0."""
    jobs = [Job("x", 100.0, 1, 5.0), Job("y", 102.0, 1, 5.0)]
    events = [Event(100.0, "submit", "x"), Event(100.0, "start", "x", (0,)),
              Event(102.0, "submit", "y"), Event(105.0, "finish", "x"),
              Event(105.0, "start", "y", (0,)), Event(110.0, "finish", "y")]
    s = metrics.summary(jobs, events, num_gpus=2)
    assert s["makespan"] == 10.0
    assert s["utilization"] == pytest.approx(10 / (2 * 10))
    assert s["avg_wait"] == pytest.approx(1.5)


# The same run cut at t=10 by a stop event: a, c finished; b (running since 8), d (running since 4)
# and e (pending) are not.
STOPPED = [e for e in EVENTS if e.time <= 8.0] + [Event(10.0, "stop", "")]


def test_stop_closes_open_intervals():
    """The stop event ends the runs still open: b 8..10 and d 4..10 count as busy."""
    expected = 2 * 4 + 1 * 5 + 1 * 2 + 2 * (10 - 4) + 1 * (10 - 8)  # a, b's first run, c, d, b's second run
    assert metrics.busy_gpu_seconds(STOPPED) == expected == 29


def test_summary_with_stop_counts_unfinished():
    """With a stop event, statistics cover finished jobs, unfinished ones are counted, makespan ends at stop."""
    s = metrics.summary(JOBS, STOPPED, num_gpus=3)
    assert s["jobs"] == 5 and s["unfinished"] == 3
    assert s["avg_jct"] == pytest.approx((4 + 6) / 2)
    assert s["avg_wait"] == pytest.approx((0 + 4) / 2)
    assert s["makespan"] == 10.0
    assert s["utilization"] == pytest.approx(29 / 30)
    assert s["preemptions"] == 1


def test_job_table_unfinished_fields_are_none():
    """An unfinished job has no end, jct or slowdown; a never-started one has no start or wait either."""
    rows = {r["job_id"]: r for r in metrics.job_table(JOBS, STOPPED)}
    assert rows["b"]["start_time"] == 1.0 and rows["b"]["wait"] == 0.0
    for key in ("end_time", "jct", "slowdown", "bounded_slowdown"):
        assert rows["b"][key] is None and rows["e"][key] is None
    assert rows["e"]["start_time"] is None and rows["e"]["wait"] is None


def test_summary_without_finished_jobs_is_nan():
    """With no finished job the per-job statistics are NaN and nothing raises."""
    jobs = [Job("x", 0.0, 1, 5.0)]
    events = [Event(0.0, "submit", "x"), Event(0.0, "start", "x", (0,)), Event(2.0, "stop", "")]
    s = metrics.summary(jobs, events, num_gpus=4)
    assert s["unfinished"] == 1
    for key in ("avg_jct", "median_jct", "p95_jct", "p99_jct", "avg_wait", "avg_slowdown", "avg_bounded_slowdown"):
        assert math.isnan(s[key])
    assert s["makespan"] == 2.0
    assert s["utilization"] == pytest.approx(2 / (4 * 2))


def test_timeseries_one_row_per_instant():
    """timeseries gives busy GPUs and queue length after all events of each instant."""
    expected = [
        (0.0, 2, 0), (1.0, 3, 0), (2.0, 3, 1), (3.0, 3, 2), (4.0, 3, 1), (5.0, 3, 2),
        (6.0, 3, 2), (8.0, 3, 1), (23.0, 3, 0), (28.0, 2, 0), (34.0, 0, 0),
    ]
    assert metrics.timeseries(EVENTS, GPUS) == expected


def test_timeseries_preempt_returns_job_to_queue():
    """A preemption frees the job's GPUs and puts it back in the queue."""
    events = [Event(0.0, "submit", "x"), Event(0.0, "start", "x", (0, 1)), Event(3.0, "preempt", "x", (0, 1))]
    assert metrics.timeseries(events, {"x": 2}) == [(0.0, 2, 0), (3.0, 0, 1)]


def test_timeseries_stop_row():
    """The stop event adds a final row at the stop time that changes nothing."""
    rows = metrics.timeseries(STOPPED, GPUS)
    assert rows[-1] == (10.0, 3, 1)  # d on 2 GPUs and b on 1 running; e waiting


def test_makespan_is_never_negative():
    """A run stopped before any job was submitted has a makespan of zero, not stop time minus first submission."""
    jobs = [Job("x", 5.0, 1, 1.0)]
    events = [Event(1.0, "stop", "")]  # what simulate(jobs, ..., until=1.0) logs
    s = metrics.summary(jobs, events, num_gpus=1)
    assert s["makespan"] == 0.0
    assert s["unfinished"] == 1 and math.isnan(s["utilization"])

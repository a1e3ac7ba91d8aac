"""Tests from a review of the reported figures: each pins a defect found on hand-written inputs,
with every expected value worked out by hand (never by calling the code under test)."""

from __future__ import annotations

from sim import metrics, stats
from sim.model import Event, Job

# Two jobs on one GPU: a starts at 0, is preempted at 2 by b (10 s, to 12), then resumes and runs
# its last 8 s to 20. Only a was preempted.
TWO = [Job("a", 0.0, 1, 10.0), Job("b", 0.0, 1, 10.0)]
TWO_EVENTS = [Event(0.0, "submit", "a"), Event(0.0, "submit", "b"), Event(0.0, "start", "a", (0,)),
              Event(2.0, "preempt", "a", (0,)), Event(2.0, "start", "b", (0,)), Event(12.0, "finish", "b"),
              Event(12.0, "start", "a", (0,)), Event(20.0, "finish", "a")]


def test_summary_over_some_jobs_counts_only_their_preemptions():
    """A summary over some of the jobs (a sweep's trim) counts those jobs' preemptions, like every
    other job statistic: b was never preempted, a once."""
    assert metrics.summary(TWO, TWO_EVENTS, 1)["preemptions"] == 1
    assert metrics.summary(TWO[1:], TWO_EVENTS, 1)["preemptions"] == 0
    assert metrics.summary(TWO[:1], TWO_EVENTS, 1)["preemptions"] == 1


def test_share_timeseries_reads_a_one_pass_iterable():
    """timeseries takes any iterable of events: x holds half of GPU 0 from 0 to 3, y all of GPU 1
    from 1 to 4. Busy GPUs 1, 2, 1, 0; share-weighted 0.5, 1.5, 1.0, 0.0."""
    events = [Event(0.0, "submit", "x"), Event(0.0, "start", "x", (0,)), Event(1.0, "submit", "y"),
              Event(1.0, "start", "y", (1,)), Event(3.0, "finish", "x"), Event(4.0, "finish", "y")]
    expected = [(0.0, 1, 0, 0.5), (1.0, 2, 0, 1.5), (3.0, 1, 0, 1.0), (4.0, 0, 0, 0.0)]
    gpus = {"x": 1, "y": 1}
    assert metrics.timeseries(events, gpus, {"x": 500}) == expected
    assert metrics.timeseries(iter(events), gpus, {"x": 500}) == expected


def _row(run_id: str, seed: int, unfinished: int | None) -> dict:
    return {"run_id": run_id, "status": "ok", "error": None, "policy": "fifo", "trace": "t.csv", "cluster": "8x8",
            "placement": "pool", "load": 0.5, "seed": seed, "calibration": None, "jobs": 100,
            "unfinished": unfinished, "avg_jct": 10.0 + seed}


def test_notes_say_when_job_statistics_are_censored():
    """Runs stopped with unfinished jobs (2 of 3 here) average over finished jobs only: the notes
    that summarize and the report print say so; runs that finished every job get no such note."""
    rows = [_row("r0", 0, 0), _row("r1", 1, 7), _row("r2", 2, 3)]
    table = stats.summarize(rows, ["avg_jct"])
    censored = [n for n in stats.notes(rows, table) if "unfinished" in n]
    assert len(censored) == 1 and censored[0].startswith("2 of 3 ok runs stopped with unfinished jobs (up to 7)")
    finished = [_row("r0", 0, 0), _row("r1", 1, 0)]
    assert not [n for n in stats.notes(finished, stats.summarize(finished, ["avg_jct"])) if "unfinished" in n]

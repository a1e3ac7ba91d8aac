"""The invariant checker (sim.check): sound runs pass, and every rule catches a hand-corrupted log.

Each corruption starts from a real run's event log and changes one thing, so each test shows that
one check can fail, and on what.
"""

from __future__ import annotations

import dataclasses

import pytest

import policies
from calibrate.profile import Measurement, Profile
from calibrate.speed import Calibration
from sim import check as checker
from sim import cli
from sim.check import RULES, CheckError, check, explain, verify
from sim.engine import simulate
from sim.model import Cluster, Event, Job

CLUSTER = Cluster.parse("2x4")


def jobs():
    """Eight jobs on 8 GPUs that queue, so srtf preempts."""
    return [Job(f"j{i}", float(5 * i), (1, 2, 4, 8)[i % 4], float(30 + 17 * (i % 3))) for i in range(8)]


def run(policy="srtf", overhead=5.0, until=None, **kwargs):
    return simulate(jobs(), CLUSTER, policies.make(policy), 0, placement="pool", restart_overhead=overhead,
                    until=until, **kwargs)


def with_events(result, events):
    """The same run with another event log (and its end time recomputed the way the engine does)."""
    return dataclasses.replace(result, events=list(events))


def rules(violations):
    return {v.rule for v in violations}


@pytest.fixture
def sound():
    result = run()
    assert [e for e in result.events if e.kind == "preempt"], "the corruptions below need a preemption"
    return result


# --- sound runs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(policies.available()))
def test_every_policy_passes(name):
    """Every registered policy's run keeps every invariant, with and without restart overheads."""
    for overhead in (0.0, 5.0):
        assert check(run(name, overhead)) == []


def test_a_run_cut_by_until_passes():
    """Stopped at ``until``: unfinished jobs are reported by the stop event and counted, and their
    work stays below their durations."""
    result = run(until=40.0)
    assert result.summary()["unfinished"] > 0
    assert check(result) == []
    verify(result)


def test_a_calibrated_run_needs_its_speed_model():
    """With a speed model the work done per second differs from 1: the check passes with the same
    speed function and finds the work not conserved without it."""
    fit = {"per_type": {"FAST": {"a": 0.1, "b": 0.01}, "SLOW": {"a": 0.3, "b": 0.03}}, "comm": {"intra_s": 0.05}}
    profile = Profile("test", {}, (Measurement("net", "FAST", 32, 1, 0.42),), fits={"net": fit},
                      reference_gpu_type="FAST")
    cluster = Cluster.parse("1x2:FAST,1x2:SLOW")
    cal = Calibration(profile, cluster)
    work = cal.durations([Job(f"j{i}", float(i), 1 + i % 2, None, model="net", batch_size=32, iterations=100.0)
                          for i in range(6)])
    result = simulate(work, cluster, policies.make("fifo"), 0, placement="pool", speed=cal.speed)
    assert check(result, cal.speed) == []
    assert rules(check(result)) == {"work"}


# --- each rule catches its corruption -------------------------------------------------------------


def test_double_booked_gpu(sound):
    """A start on a GPU another running job holds is caught (rule gpu)."""
    events = list(sound.events)
    first = next(e for e in events if e.kind == "start")
    released = next(i for i, e in enumerate(events) if e.kind in ("finish", "preempt") and e.job_id == first.job_id)
    # another job started while the first still runs, moved onto one of the first job's GPUs
    i = next(i for i, e in enumerate(events[:released]) if e.kind == "start" and e.job_id != first.job_id)
    events[i] = events[i]._replace(gpus=(first.gpus[0], *events[i].gpus[1:]))
    found = check(with_events(sound, events))
    assert "gpu" in rules(found), explain(found)
    assert any("double-booked" in v.message for v in found)


def test_job_finished_twice(sound):
    """A second finish of a job is caught (rule finish)."""
    events = list(sound.events)
    i = next(i for i, e in enumerate(events) if e.kind == "finish")
    events.insert(i + 1, events[i])
    found = check(with_events(sound, events))
    assert [v.message for v in found if v.rule == "finish"] == ["finished more than once"], explain(found)


def test_missing_finish(sound):
    """A finish left out, with no stop event to report the job unfinished, is caught (rule finish)."""
    events = list(sound.events)
    i = max(i for i, e in enumerate(events) if e.kind == "finish")
    gone = events.pop(i)
    found = check(with_events(sound, events))
    assert any(v.rule == "finish" and v.job_id == gone.job_id and "never finished" in v.message for v in found), \
        explain(found)


def test_gpu_seconds_not_conserved(sound):
    """A finish moved earlier (the job did less work than its duration) is caught (rule work)."""
    events = list(sound.events)
    i = next(i for i, e in enumerate(events) if e.kind == "finish" and events[i - 1].time < e.time)
    events[i] = events[i]._replace(time=events[i - 1].time)
    found = check(with_events(sound, events))
    assert rules(found) == {"work"}, explain(found)
    assert found[0].job_id == events[i].job_id and "of work" in found[0].message


def test_unfinished_job_did_more_than_its_work():
    """A job reported unfinished whose runs did more than its duration is caught (rule work)."""
    result = run(until=40.0)
    running = {e.job_id for e in result.events if e.kind == "start"} - {e.job_id for e in result.events
                                                                         if e.kind == "finish"}
    shrunk = tuple(dataclasses.replace(j, duration=0.5) if j.job_id in running else j for j in result.jobs)
    found = check(dataclasses.replace(result, jobs=shrunk))
    assert rules(found) == {"work"} and all("unfinished after" in v.message for v in found), explain(found)


def test_busy_gpu_seconds_of_the_metrics_are_checked(sound, monkeypatch):
    """If the metrics counted other busy GPU-seconds than the runs held, the check says so."""
    from sim import metrics

    monkeypatch.setattr(metrics, "busy_gpu_seconds", lambda events: 1.0)
    found = check(sound)
    assert rules(found) == {"work"} and "busy GPU-seconds" in found[0].message


def test_unfinished_count_of_the_summary_is_checked(sound, monkeypatch):
    """If the summary reported another number of unfinished jobs than the log shows, the check says so."""
    from sim import metrics

    summary = metrics.summary
    monkeypatch.setattr(metrics, "summary", lambda *a, **k: {**summary(*a, **k), "unfinished": 1})
    found = check(sound)
    assert rules(found) == {"finish"} and "unfinished" in found[0].message


def test_gpus_held_beyond_the_cluster(sound, monkeypatch):
    """More GPU-seconds held than the cluster had over the makespan is caught (rule work)."""
    from sim import metrics

    summary = metrics.summary
    monkeypatch.setattr(metrics, "summary", lambda *a, **k: {**summary(*a, **k), "makespan": 1.0})
    assert any("more than the cluster's" in v.message for v in check(sound))


def _swapped_across_instants(events):
    i = next(i for i in range(len(events) - 1) if events[i].time < events[i + 1].time)
    return events[:i] + [events[i + 1], events[i]] + events[i + 2:]


def _submit_moved_earlier(events):
    """A submit logged a little before its job's submit time (still in time order)."""
    i = next(i for i, e in enumerate(events) if e.kind == "submit" and i and events[i - 1].time < e.time)
    return events[:i] + [events[i]._replace(time=(events[i - 1].time + events[i].time) / 2)] + events[i + 1:]


def _without_first_start_of_a_preempted_job(events):
    job = next(e.job_id for e in events if e.kind == "preempt")
    first = next(i for i, e in enumerate(events) if e.kind == "start" and e.job_id == job)
    return events[:first] + events[first + 1:]


@pytest.mark.parametrize("corrupt, rule, words", [
    (lambda ev: ev[:3] + [ev[3]._replace(kind="teleport")] + ev[4:], "event", "unknown event kind"),
    (lambda ev: ev[:3] + [ev[3]._replace(time=-1.0)] + ev[4:], "event", "has time -1.0"),
    (lambda ev: ev[:3] + [ev[3]._replace(time=float("nan"))] + ev[4:], "event", "has time nan"),
    (lambda ev: _swapped_across_instants(ev), "event", "goes back in time"),
    (lambda ev: ev + [Event(ev[-1].time, "stop", "")], "event", "but every job finished"),
    (lambda ev: ev[:2] + [Event(ev[1].time, "stop", "")] + ev[2:], "event", "after the stop event"),
    (lambda ev: ev[:1] + [Event(ev[0].time, "submit", "ghost")] + ev[1:], "event", "not in the run"),
    (lambda ev: [ev[0]._replace(gpus=(1,))] + ev[1:], "event", "submit event carries GPUs"),
    (lambda ev: [ev[0]] + [ev[0]] + ev[1:], "finish", "submitted more than once"),
    (lambda ev: _submit_moved_earlier(ev), "finish", "not at its submit time"),
    (lambda ev: [e for e in ev if not (e.kind == "submit" and e.job_id == "j1")], "finish", "not yet submitted"),
    (lambda ev: [e._replace(gpus=e.gpus[:-1]) if e.kind == "start" and len(e.gpus) > 1 else e for e in ev],
     "gpu", "needs"),
    (lambda ev: [e._replace(gpus=(99,) + e.gpus[1:]) if e.kind == "start" else e for e in ev], "gpu", "does not exist"),
    (lambda ev: [e._replace(gpus=(e.gpus[0],) * len(e.gpus)) if e.kind == "start" and len(e.gpus) > 1 else e
                 for e in ev], "gpu", "more than once"),
    (lambda ev: [e._replace(gpus=tuple(reversed(e.gpus)) + (7,)) if e.kind == "preempt" else e for e in ev],
     "gpu", "preemption returns GPUs"),
    (lambda ev: _without_first_start_of_a_preempted_job(ev), "finish", "preempted while pending"),
])
def test_each_malformed_log_is_caught(sound, corrupt, rule, words):
    """Malformed events and lives out of order are each caught, under the rule that names them."""
    events = corrupt(list(sound.events))
    assert events is not None, "this corruption does not apply to the run's log"
    found = check(with_events(sound, events))
    assert any(v.rule == rule and words in v.message for v in found), explain(found)


def test_end_time_and_until(sound):
    """An end time other than the last event's, and an event after ``until``, are caught (rule event)."""
    assert any("end time" in v.message for v in check(dataclasses.replace(sound, end_time=sound.end_time + 1)))
    cut = dataclasses.replace(sound, until=sound.events[-1].time / 2)
    assert any("after the run's until" in v.message for v in check(cut))


def test_every_rule_is_exercised():
    """The rules the tests above corrupt are all the rules there are."""
    assert RULES == ("event", "gpu", "finish", "work")


# --- verify and the command line ------------------------------------------------------------------


def test_verify_raises_one_line_naming_the_first_violation(sound):
    """verify is silent on a sound run and raises CheckError, one line, on a broken one."""
    verify(sound)
    events = list(sound.events)
    i = next(i for i, e in enumerate(events) if e.kind == "finish")
    events.insert(i + 1, events[i])
    with pytest.raises(CheckError, match=r"^check failed: 1 invariant violation\(s\) .* first: finish at t=") as err:
        verify(with_events(sound, events))
    assert len(str(err.value).splitlines()) == 1


def test_cli_check_passes_on_sound_runs(capsys, tmp_path):
    """gpusim run/compare --check replay every run's log (the calibrated demo with its speed model)
    and say so on stderr."""
    assert cli.main(["run", "--check"]) == 0
    assert "check passed" in capsys.readouterr().err
    assert cli.main(["compare", "--policies", "fifo,srtf", "--seeds", "2", "--synthetic", "200", "--cluster", "2x4",
                     "--restart-overhead", "5", "--check"]) == 0
    err = capsys.readouterr().err
    assert "check passed: " in err and "events of 4 run(s)" in err


def test_cli_check_failure_is_a_one_line_error(capsys, monkeypatch):
    """A violation found by --check is a one-line error and exit status 2, before any result is printed."""
    monkeypatch.setattr(checker, "check", lambda result, speed=None: [checker.Violation("gpu", 3.0, "j1", "boom")])
    assert cli.main(["run", "--synthetic", "50", "--check"]) == 2
    out, err = capsys.readouterr()
    assert err.splitlines()[-1] == ("gpusim: error: check failed: 1 invariant violation(s) in the event log of "
                                    "'fifo'; first: gpu at t=3s job j1: boom")
    assert "avg_jct" not in out

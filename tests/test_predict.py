"""Online duration predictors (policies/_predict.py) and the policies that use them (policies/predicted.py)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

import policies
from policies._predict import (PREDICTORS, LeastSquares, Online, Query, Requested, UserHistory, evaluate,
                               make_predictor, online_predictions)
from policies.predicted import BackfillPredicted, SjfPredicted, SrtfPredicted
from sim.engine import simulate
from sim.model import Cluster, Job
from traces import canonical

SAMPLE = Path(__file__).resolve().parents[1] / "traces" / "samples" / "philly_b436b2.csv"
POLICY_CLASSES = [SjfPredicted, SrtfPredicted, BackfillPredicted]


def workload(seed: int, n: int = 60, users: int = 4) -> list[Job]:
    """Poisson arrivals on 16 GPUs at load ~1.3; each user's jobs have their own typical duration."""
    rng = np.random.default_rng(seed)
    user = rng.integers(0, users, size=n)
    sizes = rng.choice([1, 2, 4, 8], size=n, p=[0.4, 0.3, 0.2, 0.1])
    durations = np.exp(np.log(30.0) + user + rng.normal(0, 0.3, size=n))
    submits = np.cumsum(rng.exponential(20.0, size=n))
    return [Job(f"j{i}", float(submits[i]), int(sizes[i]), float(durations[i]),
                user=f"u{user[i]}", vc=f"v{user[i] % 2}", estimate=float(durations[i] * 2) if i % 3 else None)
            for i in range(n)]


class Oracle(Online):
    """A stub that predicts each job's true duration (looked up by id): exact predictions."""

    def __init__(self, jobs, scale: float = 1.0) -> None:
        self.table = {j.job_id: j.duration * scale for j in jobs}

    def predict(self, query: Query) -> float:
        return self.table[query.job_id]

    def observe(self, query: Query, duration: float) -> None:
        pass


class Recording(Online):
    """Wraps a predictor and records every prediction and observation it makes, in order."""

    def __init__(self, inner: Online) -> None:
        self.inner, self.log = inner, []

    def predict(self, query: Query) -> float:
        value = self.inner.predict(query)
        self.log.append((query.job_id, value))
        return value

    def observe(self, query: Query, duration: float) -> None:
        self.log.append(("observe", query.job_id))
        self.inner.observe(query, duration)


def lengthen_after(jobs: list[Job], ends: dict[str, float], cut: float, factor: float = 3.0) -> list[Job]:
    """The same trace with every job not finished by ``cut`` (per ``ends``) ``factor`` times longer."""
    return [dataclasses.replace(j, duration=j.duration * factor) if ends[j.job_id] > cut else j for j in jobs]


# --- the online property --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PREDICTORS))
def test_replayed_prediction_ignores_unfinished_jobs(name):
    """In the replay, a job's prediction is the same whatever the durations of jobs unfinished at its submission."""
    jobs = workload(0, n=200)
    cut = jobs[120].submit_time
    changed = lengthen_after(jobs, {j.job_id: j.submit_time + j.duration for j in jobs}, cut)
    assert changed != jobs
    a = online_predictions(jobs, make_predictor(name))
    b = online_predictions(changed, make_predictor(name))
    early = [(ja.job_id, pa) for ja, pa in a if ja.submit_time <= cut]
    assert early == [(jb.job_id, pb) for jb, pb in b if jb.submit_time <= cut]
    assert len(early) > 100
    assert any(pa != pb for (_, pa), (_, pb) in zip(a, b)), "later predictions should learn the change"


@pytest.mark.parametrize("cls", POLICY_CLASSES)
@pytest.mark.parametrize("name", sorted(PREDICTORS))
def test_policy_decisions_ignore_durations_of_unfinished_jobs(cls, name):
    """Lengthening jobs that have not finished by time T leaves the run's log and predictions before T unchanged."""
    jobs, cluster = workload(1), Cluster.parse("2x8")
    first = simulate(jobs, cluster, cls(predictor=Recording(make_predictor(name))), placement="pool")
    ends = {row["job_id"]: row["end_time"] for row in first.job_table()}
    cut = sorted(ends.values())[len(ends) // 2]
    changed = lengthen_after(jobs, ends, cut)
    logs = []
    for trace in (jobs, changed):
        policy = cls(predictor=Recording(make_predictor(name)))
        result = simulate(trace, cluster, policy, placement="pool")
        recorder = policy._learner.model  # each run deep-copies the template: read the copy afterwards
        logs.append(([e for e in result.events if e.time < cut], recorder.log))
    assert logs[0][0] == logs[1][0]
    assert len(logs[0][0]) > 40
    # predictions until the first observation of a lengthened job are identical
    lengthened = {j.job_id for j in jobs if ends[j.job_id] > cut}
    stop = next(i for i, entry in enumerate(logs[0][1]) if entry[0] == "observe" and entry[1] in lengthened)
    assert logs[0][1][:stop] == logs[1][1][:stop]


@pytest.mark.parametrize("cls", [SrtfPredicted, BackfillPredicted])
def test_oracle_peeking_policy_fails_the_online_check(cls):
    """The check above can fail: a predictor reading true durations changes decisions before T."""
    jobs, cluster = workload(1), Cluster.parse("2x8")
    first = simulate(jobs, cluster, cls(predictor=Oracle(jobs)), placement="pool")
    ends = {row["job_id"]: row["end_time"] for row in first.job_table()}
    cut = sorted(ends.values())[len(ends) // 2]
    changed = lengthen_after(jobs, ends, cut, factor=50.0)
    second = simulate(changed, cluster, cls(predictor=Oracle(changed)), placement="pool")
    assert [e for e in first.events if e.time < cut] != [e for e in second.events if e.time < cut]


def test_policy_learns_only_after_a_job_leaves_the_view():
    """The policy observes a job at the first pass after it finished, never while it runs or waits."""
    jobs = [Job("a", 0.0, 1, 100.0, user="x"), Job("b", 10.0, 1, 5.0, user="x"), Job("c", 150.0, 1, 7.0, user="x")]
    policy = SjfPredicted(predictor=Recording(UserHistory(default=42.0)))
    simulate(jobs, Cluster.parse("1x1"), policy)
    log = policy._learner.model.log
    # a and b are predicted from nothing; a (finished at 100) is observed at the pass at 100, b (105)
    # at the pass at 105; c, arriving at 150, gets the median of 100 and 5
    assert log == [("a", 42.0), ("b", 42.0), ("observe", "a"), ("b", 100.0), ("observe", "b"), ("c", 52.5)]


# --- predictors on hand-made data -----------------------------------------------------------------


def q(job_id="x", user=None, vc=None, num_gpus=1, submit_time=0.0, estimate=None) -> Query:
    return Query(job_id, submit_time, num_gpus, user, vc, None, estimate)


def test_user_history_one_finished_job():
    """A user whose jobs take 100 s is predicted 100 s after one finished job; others fall back."""
    p = UserHistory(default=7.0)
    assert p.predict(q(user="alice")) == 7.0
    p.observe(q(user="alice", vc="v"), 100.0)
    assert p.predict(q(user="alice")) == 100.0
    assert p.predict(q(user="bob", vc="v")) == 100.0  # the VC's history
    p.observe(q(user="carol", vc="w"), 300.0)
    p.observe(q(user="carol", vc="w"), 500.0)
    assert p.predict(q(user="bob", vc="z")) == 300.0  # global median of 100, 300, 500
    assert p.predict(q(user="carol")) == 400.0


def test_user_history_keeps_the_last_k_and_the_mean():
    """Only the last k of a user's jobs count; stat='mean' averages them."""
    p = UserHistory(k=2, stat="mean")
    for d in (1000.0, 10.0, 30.0):
        p.observe(q(user="u"), d)
    assert p.predict(q(user="u")) == 20.0
    with pytest.raises(ValueError):
        UserHistory(stat="mode")


def test_least_squares_recovers_a_log_linear_relation():
    """Durations exactly 50 s × GPUs^0.7 × 1.5 for user 'slow' are learnt (small ridge)."""
    p = LeastSquares(ridge=1e-6)
    rng = np.random.default_rng(3)
    for i in range(200):
        g, user = int(rng.choice([1, 2, 4, 8, 16])), str(rng.choice(["fast", "slow"]))
        t = float(rng.uniform(0, 86400 * 3))
        p.observe(q(user=user, num_gpus=g, submit_time=t), 50.0 * g ** 0.7 * (1.5 if user == "slow" else 1.0))
    for g in (2, 8):
        assert p.predict(q(user="fast", num_gpus=g, submit_time=999.0)) == pytest.approx(50.0 * g ** 0.7, rel=1e-4)
        assert p.predict(q(user="slow", num_gpus=g)) == pytest.approx(75.0 * g ** 0.7, rel=1e-4)
    users, vcs, w = p.weights()
    assert sorted(users) == ["fast", "slow"] and vcs == []
    assert w[1] == pytest.approx(0.7, abs=1e-4)


def test_least_squares_uses_the_requested_time_and_clips():
    """Duration = requested / 2 is learnt from log requested time; predictions stay within the observed range."""
    p = LeastSquares(ridge=1e-6)
    assert p.predict(q(estimate=100.0)) == p.default
    for e in (100.0, 400.0, 1600.0, 6400.0, 200.0, 800.0):
        p.observe(q(estimate=e, submit_time=e), e / 2)
    assert p.predict(q(estimate=3200.0, submit_time=3200.0)) == pytest.approx(1600.0, rel=1e-3)
    assert p.predict(q(estimate=1e9)) == pytest.approx(3200.0)  # clipped to the longest seen


def test_requested_uses_the_estimate_else_the_history():
    """Requested predicts the SWF requested time when present, else the user's history."""
    p = Requested()
    p.observe(q(user="u"), 80.0)
    assert p.predict(q(user="u", estimate=500.0)) == 500.0
    assert p.predict(q(user="u")) == 80.0


def test_make_predictor_rejects_unknown_names():
    """An unknown predictor name fails when the policy is made, naming the known ones."""
    with pytest.raises(ValueError, match="least-squares"):
        make_predictor("crystal-ball")
    with pytest.raises(Exception, match="crystal-ball"):
        policies.make("sjf-predicted", {"predictor": "crystal-ball"})


# --- evaluate ---------------------------------------------------------------------------------------


def test_evaluate_on_a_hand_computed_case():
    """Three jobs of one user: predictions 3600 (default), 10 (a finished), 10 (b not yet finished)."""
    jobs = [Job("a", 0.0, 1, 10.0, user="u"), Job("b", 10.0, 1, 40.0, user="u"), Job("c", 20.0, 1, 4.0, user="u")]
    got = evaluate(jobs, UserHistory(default=3600.0))
    # errors: 3590, -30, 6 → |e| 3590, 30, 6
    assert got == {"mae": pytest.approx((3590 + 30 + 6) / 3), "median_abs_error": 30.0,
                   "under_ratio": pytest.approx(1 / 3), "over_ratio": pytest.approx(2 / 3), "n": 3}
    # a finishing exactly at b's submission is observed first; with c submitted at 50, b (ends 50) counts too
    later = [jobs[0], jobs[1], dataclasses.replace(jobs[2], submit_time=50.0)]
    assert [p for _, p in online_predictions(later, UserHistory())] == [3600.0, 10.0, 25.0]


# --- the policies -----------------------------------------------------------------------------------


def test_sjf_predicted_with_exact_predictions_is_sjf():
    """With a stub predicting the true durations, sjf-predicted's log equals sjf's; with wrong ones it differs."""
    jobs, cluster = workload(2), Cluster.parse("2x8")
    oracle = simulate(jobs, cluster, policies.make("sjf"), placement="pool").events
    exact = simulate(jobs, cluster, SjfPredicted(predictor=Oracle(jobs)), placement="pool").events
    assert exact == oracle
    reversed_ = Oracle(jobs)
    reversed_.table = {k: 1e6 - v for k, v in reversed_.table.items()}
    assert simulate(jobs, cluster, SjfPredicted(predictor=reversed_), placement="pool").events != oracle
    assert simulate(jobs, cluster, policies.make("sjf-predicted"), placement="pool").events != oracle


def test_srtf_predicted_with_exact_predictions_is_srtf():
    """With exact predictions (and a floor below any remaining time) srtf-predicted's log equals srtf's."""
    jobs, cluster = workload(2), Cluster.parse("2x8")
    oracle = simulate(jobs, cluster, policies.make("srtf"), placement="pool").events
    exact = simulate(jobs, cluster, SrtfPredicted(predictor=Oracle(jobs), floor=1e-9), placement="pool").events
    assert exact == oracle


def reservations_kept(jobs, policy) -> list[tuple[str, float, float]]:
    """Run ``policy`` on one 16-GPU pool; (head, reservation, start) for every reservation the head missed."""
    reserved: list[tuple[str, float]] = []
    schedule = policy.schedule

    def recording(view, rng):
        decisions = schedule(view, rng)
        if policy.last_reservation is not None:
            reserved.append(policy.last_reservation)
        return decisions

    policy.schedule = recording
    result = simulate(jobs, Cluster.parse("1x16"), policy, placement="pool")
    start = {row["job_id"]: row["start_time"] for row in result.job_table()}
    assert reserved, "no reservation was ever made"
    return [(head, at, start[head]) for head, at in reserved if start[head] > at + 1e-6 * max(1.0, at)]


def test_backfill_predicted_keeps_reservations_when_predictions_are_exact():
    """With exact predictions the head never starts later than any reservation it was given."""
    for seed in range(4):
        jobs = workload(seed)
        assert reservations_kept(jobs, BackfillPredicted(predictor=Oracle(jobs), floor=1e-9)) == []


def test_backfill_predicted_misses_reservations_when_predictions_are_low():
    """The check above can fail: predicting a tenth of every duration makes backfilled jobs overrun."""
    misses = 0
    for seed in range(4):
        jobs = workload(seed)
        misses += len(reservations_kept(jobs, BackfillPredicted(predictor=Oracle(jobs, scale=0.1))))
    assert misses > 0


def test_backfill_predicted_recovers_from_passed_reservations():
    """A job far outrunning its prediction (1 s predicted, 1000 s run) never stalls the queue."""
    jobs = [Job("long", 0.0, 2, 1000.0), Job("head", 1.0, 2, 10.0), Job("small", 2.0, 1, 10.0)]
    stub = Oracle(jobs)
    stub.table["long"] = 1.0
    result = simulate(jobs, Cluster.parse("1x2"), BackfillPredicted(predictor=stub), placement="pool")
    assert result.summary()["unfinished"] == 0
    start = {row["job_id"]: row["start_time"] for row in result.job_table()}
    assert start == {"long": 0.0, "head": 1000.0, "small": 1010.0}


def test_policy_reuse_starts_from_a_fresh_predictor():
    """Running one policy object twice gives the same log (each run learns from scratch)."""
    jobs, cluster = workload(3), Cluster.parse("2x8")
    policy = policies.make("backfill-predicted", {"predictor": "least-squares"})
    assert simulate(jobs, cluster, policy).events == simulate(jobs, cluster, policy).events


# --- the bundled Philly sample ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PREDICTORS))
def test_prediction_error_on_the_philly_sample(name):
    """Online prediction error on traces/samples/philly_b436b2.csv (printed; only sanity bounds checked)."""
    jobs = canonical.read(SAMPLE).jobs
    got = evaluate(jobs, make_predictor(name))
    print(f"\n{name}: {got}")
    assert got["n"] == len(jobs) == 7423
    assert math.isfinite(got["mae"]) and 0 < got["median_abs_error"] <= got["mae"]
    assert 0 <= got["under_ratio"] <= 1 and 0 <= got["over_ratio"] <= 1
    assert got["under_ratio"] + got["over_ratio"] <= 1 + 1e-12
    assert got["mae"] < max(j.duration for j in jobs)


@pytest.mark.parametrize("name", sorted(PREDICTORS))
@pytest.mark.parametrize("policy", ["sjf-predicted", "srtf-predicted", "backfill-predicted"])
def test_every_policy_and_predictor_finishes_every_job(policy, name):
    """Every predictor, with restart overheads and node placement, finishes all jobs, deterministically."""
    for seed in range(3):
        jobs, cluster = workload(seed), Cluster.parse("1x2,2x4,1x8")
        runs = [simulate(jobs, cluster, policies.make(policy, {"predictor": name}), seed, restart_overhead=15.0)
                for _ in range(2)]
        assert runs[0].summary()["unfinished"] == 0
        assert runs[0].events == runs[1].events

"""The genetic algorithms of sim/ga.py and the ga-score policy."""

from __future__ import annotations

import csv
import json
import math

import pytest

import policies
from policies.genetic import FEATURES, GeneticScore
from sim import ga
from sim.engine import simulate
from sim.errors import GpusimError
from sim.model import Cluster, Job
from sim.rng import stream


def batch(seed: int, n: int = 12, at_zero: bool = True) -> list[Job]:
    """A seeded batch: sizes 1/2/4, lognormal durations, all at time 0 unless ``at_zero`` is False."""
    sizes = stream(seed, "sizes").choice([1, 2, 4], size=n)
    durations = stream(seed, "durations").lognormal(math.log(100.0), 1.0, size=n)
    submits = [0.0] * n if at_zero else sorted(stream(seed, "arrivals").uniform(0, 300, size=n))
    return [Job(f"j{i}", float(submits[i]), int(sizes[i]), float(durations[i])) for i in range(n)]


def is_perm(p, n) -> bool:
    return sorted(p) == list(range(n))


def test_ox1_gives_permutations_keeping_a_slice_of_parent_one():
    """OX1 children are permutations and contain a contiguous slice of parent 1 at the same positions."""
    rng = stream(0, "test")
    for _ in range(200):
        n = int(rng.integers(2, 12))
        p1, p2 = tuple(int(x) for x in rng.permutation(n)), tuple(int(x) for x in rng.permutation(n))
        child = ga.ox1(p1, p2, rng)
        assert is_perm(child, n)
        # the kept slice is contiguous: some window [a, b) of length >= 1 matches p1 exactly
        assert any(child[a:b] == p1[a:b] for a in range(n) for b in range(a + 1, n + 1))


def test_ox1_textbook_example():
    """OX1 on the textbook example: 123|4567|89 × 452|1876|93 gives 218|4567|93."""
    p1, p2 = (1, 2, 3, 4, 5, 6, 7, 8, 9), (4, 5, 2, 1, 8, 7, 6, 9, 3)
    assert ga.ox1(p1, p2, None, cut=(3, 7)) == (2, 1, 8, 4, 5, 6, 7, 9, 3)


def test_mutations_keep_permutations():
    """Swap and insert mutations return permutations, and change the order."""
    rng = stream(2, "test")
    p = tuple(range(10))
    for op in (ga.swap_mutation, ga.insert_mutation):
        children = [op(p, rng) for _ in range(50)]
        assert all(is_perm(c, 10) for c in children)
        assert all(c != p for c in children)


def test_same_seed_same_result_and_workers_do_not_matter():
    """The same seed repeats the GA exactly, with one worker or two."""
    jobs, cluster = batch(3), Cluster.parse("1x4")
    kw = dict(population=12, generations=6, seed=5)
    a, b = ga.evolve(jobs, cluster, **kw), ga.evolve(jobs, cluster, **kw)
    c = ga.evolve(jobs, cluster, workers=2, **kw)
    assert a.best_order == b.best_order == c.best_order
    assert a.history == b.history == c.history
    assert ga.evolve(jobs, cluster, **{**kw, "seed": 6}).history != a.history


@pytest.mark.parametrize("objective", ga.OBJECTIVES)
def test_elitism_and_never_worse_than_fifo_or_sjf(objective):
    """The best fitness never rises across generations and ends at or below FIFO's and SJF's plans."""
    jobs = [j if i % 3 else Job(j.job_id, j.submit_time, j.num_gpus, j.duration, priority=2, deadline=150.0)
            for i, j in enumerate(batch(4, at_zero=False))]
    result = ga.evolve(jobs, Cluster.parse("2x2"), objective=objective, population=12, generations=8, seed=1)
    best = [b for b, _ in result.history]
    assert all(x >= y for x, y in zip(best, best[1:]))
    assert result.best_fitness == best[-1] == result.values["ga"]
    assert result.values["ga"] <= min(result.values["fifo"], result.values["sjf"])
    assert result.values["ga"] >= result.lower_bound[objective] - 1e-9


def test_elitism_keeps_the_best_under_heavy_variation():
    """With every child crossed and mutated, the best fitness still never rises (elitism)."""
    jobs = batch(8, n=14)
    result = ga.evolve(jobs, Cluster.parse("2x2"), population=10, generations=25, crossover=1.0, mutation=1.0,
                       elite=1, seed=2)
    best = [b for b, _ in result.history]
    assert all(x >= y for x, y in zip(best, best[1:]))
    assert best[-1] < best[0]


def test_ga_finds_spt_on_one_gpu():
    """On one GPU with all jobs at time 0, the GA reaches SPT's avg JCT (the optimum) within 1%."""
    jobs = [Job(f"j{i}", 0.0, 1, d) for i, d in enumerate([90.0, 10.0, 70.0, 30.0, 50.0, 20.0, 80.0, 40.0])]
    spt = sorted(jobs, key=lambda j: j.duration)
    optimum = sum(sum(j.duration for j in spt[:k + 1]) for k in range(len(spt))) / len(spt)
    result = ga.evolve(jobs, Cluster.parse("1x1"), population=30, generations=40, seed=0)
    assert result.best_fitness <= optimum * 1.01
    assert result.lower_bound["avg_jct"] <= optimum


def test_ga_improves_from_random_orders_alone(monkeypatch):
    """With FIFO and SJF left out of the start, the GA still converges to SPT on one GPU."""
    jobs = [Job(f"j{i}", 0.0, 1, d) for i, d in enumerate([90.0, 10.0, 70.0, 30.0, 50.0, 20.0, 80.0, 40.0])]
    optimum = sum(sum(sorted(j.duration for j in jobs)[:k + 1]) for k in range(8)) / 8
    worst = tuple(sorted(range(8), key=lambda i: -jobs[i].duration))
    monkeypatch.setattr(ga, "fifo_order", lambda js: worst)
    monkeypatch.setattr(ga, "sjf_order", lambda js: worst)
    result = ga.evolve(jobs, Cluster.parse("1x1"), population=30, generations=60, seed=0)
    assert result.history[0][0] > optimum * 1.01
    assert result.best_fitness <= optimum * 1.01


def test_makespan_lower_bound_holds_for_every_plan():
    """No decoded plan (random orders, either decoder) beats the makespan or avg-JCT lower bound."""
    rng = stream(7, "test")
    for seed in range(4):
        jobs, cluster = batch(seed, at_zero=seed % 2 == 0), Cluster.parse("2x4")
        lb = ga.lower_bounds(jobs, cluster)
        assert lb["makespan"] >= max(j.duration for j in jobs)
        for _ in range(10):
            ids = [jobs[int(i)].job_id for i in rng.permutation(len(jobs))]
            for list_scheduling in (False, True):
                s = simulate(jobs, cluster, ga.Planned(ids, list_scheduling), 0).summary()
                assert s["makespan"] >= lb["makespan"] - 1e-9
                assert s["avg_jct"] >= lb["avg_jct"] - 1e-9


def test_ga_score_with_remaining_time_weight_is_srtf_order():
    """Weights rewarding only short remaining time start jobs shortest-first (non-preemptive SRTF order)."""
    durations = [50.0, 10.0, 40.0, 20.0, 30.0]
    jobs = [Job("long", 0.0, 1, 1000.0)] + [Job(f"j{i}", 1.0, 1, d) for i, d in enumerate(durations)]
    weights = tuple(-1.0 if f == "remaining" else 0.0 for f in FEATURES)
    result = simulate(jobs, Cluster.parse("1x1"), GeneticScore(weights), 0)
    starts = [e.job_id for e in result.events if e.kind == "start"]
    assert starts == ["long", "j1", "j3", "j4", "j2", "j0"]
    assert sum(1 for e in result.events if e.kind == "preempt") == 0


def test_tuned_weights_improve_the_training_workload():
    """Tuning from deliberately bad weights (long jobs first) lowers avg JCT on the training workloads."""
    cluster = Cluster.parse("1x4")
    train = [batch(s, n=16) for s in (10, 11)]
    bad = (0.0, 1.0, 0.0, 0.0, 0.0)  # longest remaining time first
    tuned = ga.tune_weights(train, cluster, initial=bad, population=10, generations=5, seed=0, details=True)
    assert tuned.fitness < 0.95 and tuned.history[-1][0] <= tuned.history[0][0]

    def jct(w):
        return sum(simulate(j, cluster, GeneticScore(w), 0).summary()["avg_jct"] for j in train)

    assert jct(tuned.weights) < jct(bad)


def test_weights_round_trip_and_load_through_the_policy(tmp_path):
    """save_weights/load_weights round-trip exactly; ga-score's weights_file loads them; bad files are one-line errors."""
    w = (-0.25, -1.5, 0.125, 1e-3, 2.0)
    path = tmp_path / "w.json"
    ga.save_weights(w, path)
    assert ga.load_weights(path) == w
    assert policies.make("ga-score", {"weights_file": str(path)}).weights == w
    assert policies.make("ga-score", {"weights": [1, 2, 3, 4, 5]}).weights == (1.0, 2.0, 3.0, 4.0, 5.0)
    (tmp_path / "bad.json").write_text('{"weights": [1, 2]}')
    with pytest.raises(GpusimError, match="expected 5"):
        ga.load_weights(tmp_path / "bad.json")
    with pytest.raises(GpusimError, match="cannot read"):
        GeneticScore(weights_file=str(tmp_path / "missing.json"))


def test_main_writes_files(tmp_path, capsys):
    """gpusim ga writes history.csv (iteration,value,series), best_order.txt and summary.json, and prints the table."""
    out = tmp_path / "ga"
    assert ga.main(["--synthetic", "15", "--cluster", "1x4", "--population", "8", "--generations", "3",
                    "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "fifo" in text and "sjf" in text and "lower bound" in text
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert {r["series"] for r in rows} == {"best", "mean"} and len(rows) == 2 * 4
    order = (out / "best_order.txt").read_text().split()
    assert sorted(order) == sorted(f"j{i}" for i in range(15))
    data = json.loads((out / "summary.json").read_text())
    assert data["values"]["ga"] <= data["values"]["fifo"] and data["objective"] == "avg_jct"
    assert data["lower_bound"]["avg_jct"] <= data["values"]["ga"]


@pytest.mark.parametrize("argv", [
    ["--synthetic", "5", "--out", "X", "--objective", "speed"],
    ["--out", "X"],
    ["--synthetic", "5", "--population", "many", "--out", "X"],
    ["--synthetic", "5", "--population", "1", "--out", "X"],
    ["--synthetic", "5", "--cluster", "eight", "--out", "X"],
])
def test_main_bad_arguments_are_one_line_errors(argv, tmp_path):
    """Bad arguments raise a one-line GpusimError, not argparse's usage text or SystemExit."""
    argv = [str(tmp_path / "o") if a == "X" else a for a in argv]
    with pytest.raises(GpusimError) as err:
        ga.main(argv)
    assert "\n" not in str(err.value)


def test_ga_score_with_a_predictor_never_uses_the_future():
    """With predictor=..., lengthening jobs unfinished at T leaves every event before T unchanged
    (with oracle remaining times it does not: the check can fail)."""
    import dataclasses

    import numpy as np

    from policies import make
    from sim.engine import simulate
    from sim.model import Cluster, Job

    rng = np.random.default_rng(5)
    jobs = [Job(f"j{i}", float(i * 40), int(rng.choice([1, 2])), float(rng.lognormal(5, 1)), user=f"u{i % 3}")
            for i in range(80)]
    cluster = Cluster.parse("1x4")

    def before(policy_args, jobs, t):
        result = simulate(jobs, cluster, make("ga-score", policy_args), seed=1)
        return [e for e in result.events if e.time < t], result

    t = 1600.0
    _, first = before({"predictor": "least-squares"}, jobs, t)
    ends = {e.job_id: e.time for e in first.events if e.kind == "finish"}
    longer = [dataclasses.replace(j, duration=j.duration * 3) if ends[j.job_id] > t else j for j in jobs]
    assert before({"predictor": "least-squares"}, jobs, t)[0] == before({"predictor": "least-squares"}, longer, t)[0]
    _, oracle = before({}, jobs, t)
    ends = {e.job_id: e.time for e in oracle.events if e.kind == "finish"}
    longer = [dataclasses.replace(j, duration=j.duration * 3) if ends[j.job_id] > t else j for j in jobs]
    assert before({}, jobs, t)[0] != before({}, longer, t)[0]


def test_ray_backend_evolves_the_same_plan():
    """Fitness on Ray tasks gives the same best order and history as the local process."""
    ray = pytest.importorskip("ray")
    from sim.ga import evolve
    from sim.model import Cluster, Job

    jobs = [Job(f"j{i}", 0.0, 1 + i % 2, float(10 + (i * 37) % 90)) for i in range(10)]
    cluster = Cluster.parse("1x4")
    local = evolve(jobs, cluster, population=10, generations=4, seed=3)
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    remote = evolve(jobs, cluster, population=10, generations=4, seed=3, workers=2, backend="ray")
    assert remote.best_order == local.best_order and remote.history == local.history

"""Genetic algorithms over schedules: an offline job-order plan, and tuning of ga-score's weights.

Offline (``evolve``): an individual is a permutation of the batch's jobs, decoded into a schedule
by the simulator itself with the ``Planned`` policy; order crossover (OX1), swap and insert
mutation, tournament selection and elitism. Online (``tune_weights``): an individual is the weight
vector of the ``ga-score`` policy; blend crossover (BLX-α) and Gaussian mutation, same selection.
All randomness comes from ``sim.rng.stream(seed, "ga")``; fitness evaluations may run in a process
pool and give exactly what a single process gives. See docs/genetic.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from policies._common import greedy_starts
from policies.genetic import DEFAULT_WEIGHTS, FEATURES, GeneticScore, check_weights, load_weights
from sim.engine import simulate
from sim.errors import GpusimError
from sim.model import Cluster, Job
from sim.rng import stream

OBJECTIVES = ("avg_jct", "makespan", "weighted_jct", "deadline_misses")
DECODERS = ("greedy", "list")

__all__ = ["OBJECTIVES", "GAResult", "Planned", "evolve", "lower_bounds", "main", "objective_value", "ox1",
           "insert_mutation", "swap_mutation", "tune_weights", "save_weights", "load_weights", "write_history"]


# --- decoding a plan -------------------------------------------------------------------------


@dataclass
class Planned:
    """Start pending jobs in a fixed plan order (job ids); non-preemptive.

    ``greedy`` (default) starts every job of the plan that fits now, skipping those that do not (no
    head-of-line blocking); ``stop_at_first_misfit`` is list scheduling: stop at the first pending
    job of the plan that does not fit. Jobs missing from the plan go last, in arrival order.
    """

    order: Sequence[str]
    stop_at_first_misfit: bool = False
    name: str = "planned"

    def __post_init__(self) -> None:
        self._rank = {job_id: i for i, job_id in enumerate(self.order)}

    def schedule(self, view, rng):
        last = len(self._rank)
        order = sorted(view.pending, key=lambda j: (self._rank.get(j.job_id, last), j.index))
        return greedy_starts(view, order, self.stop_at_first_misfit)


def objective_value(jobs: Sequence[Job], events, objective: str) -> float:
    """The value to minimise of one run's event log (all jobs finished).

    ``weighted_jct`` weighs each job's JCT by ``priority + 1``; ``deadline_misses`` counts jobs that
    end after their deadline (jobs without one never miss).
    """
    end = {e.job_id: e.time for e in events if e.kind == "finish"}
    if objective == "makespan":
        return max(end.values()) - min(j.submit_time for j in jobs)
    if objective == "avg_jct":
        return math.fsum(end[j.job_id] - j.submit_time for j in jobs) / len(jobs)
    if objective == "weighted_jct":
        w = [j.priority + 1.0 for j in jobs]
        return math.fsum(wi * (end[j.job_id] - j.submit_time) for wi, j in zip(w, jobs)) / math.fsum(w)
    if objective == "deadline_misses":
        return float(sum(1 for j in jobs if j.deadline is not None and end[j.job_id] > j.deadline))
    raise GpusimError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")


def lower_bounds(jobs: Sequence[Job], cluster: Cluster) -> dict[str, float]:
    """Bounds no schedule can beat: makespan ≥ max(total GPU-work / GPUs, latest submit+duration −
    first submit) (so ≥ the longest job); avg JCT ≥ mean duration; weighted JCT ≥ weighted mean
    duration; deadline misses ≥ jobs whose deadline is before submit + duration."""
    first = min(j.submit_time for j in jobs)
    work = math.fsum(j.duration * j.num_gpus for j in jobs)
    w = [j.priority + 1.0 for j in jobs]
    return {
        "makespan": max(work / cluster.num_gpus, max(j.submit_time + j.duration for j in jobs) - first),
        "avg_jct": math.fsum(j.duration for j in jobs) / len(jobs),
        "weighted_jct": math.fsum(wi * j.duration for wi, j in zip(w, jobs)) / math.fsum(w),
        "deadline_misses": float(sum(1 for j in jobs if j.deadline is not None
                                     and j.submit_time + j.duration > j.deadline)),
    }


def _replay(jobs, cluster, order_ids, placement, list_scheduling):
    return simulate(jobs, cluster, Planned(tuple(order_ids), list_scheduling), 0, placement=placement)


def _eval_orders(ctx, orders):
    """Worker: objective values of several permutations (indices into ``jobs``)."""
    jobs, cluster, objective, placement, list_scheduling = ctx
    out = []
    for order in orders:
        result = _replay(jobs, cluster, [jobs[i].job_id for i in order], placement, list_scheduling)
        out.append(objective_value(jobs, result.events, objective))
    return out


def _eval_weights(ctx, vectors):
    """Worker: mean over workloads of avg JCT relative to the reference weights' avg JCT."""
    workloads, cluster, placement, reference = ctx
    out = []
    for w in vectors:
        ratios = []
        for jobs, ref in zip(workloads, reference):
            result = simulate(jobs, cluster, GeneticScore(tuple(w)), 0, placement=placement)
            ratios.append(objective_value(jobs, result.events, "avg_jct") / ref)
        out.append(math.fsum(ratios) / len(ratios))
    return out


# --- the generic GA loop ---------------------------------------------------------------------


class _Evaluator:
    """Fitness of individuals (hashable tuples), cached, in a process pool when workers > 1, or as
    Ray tasks with ``backend="ray"`` (the sweeps' two backends).

    The population is split into contiguous chunks and the results concatenated in order, so the
    values depend neither on the number of workers nor on the backend.
    """

    def __init__(self, fn: Callable, ctx, workers: int, backend: str = "local") -> None:
        if backend not in ("local", "ray"):
            raise GpusimError(f"backend must be local or ray, got {backend!r}")
        self.fn, self.ctx, self.workers = fn, ctx, workers
        self.cache: dict[tuple, float] = {}
        self.ray = None
        if backend == "ray":
            try:
                import ray
            except ImportError:
                raise GpusimError("the ray backend needs Ray: pip install 'gpusim[ray]'") from None
            if not ray.is_initialized():
                ray.init(num_cpus=workers, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
            self.ray, self.remote = ray, ray.remote(fn)
        self.pool = ProcessPoolExecutor(workers) if workers > 1 and self.ray is None else None
        self.evaluations = 0

    def __call__(self, population: list[tuple]) -> list[float]:
        todo = list(dict.fromkeys(ind for ind in population if ind not in self.cache))
        if todo:
            size = math.ceil(len(todo) / self.workers)
            chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
            if self.ray is not None:
                ctx = self.ray.put(self.ctx)
                parts = self.ray.get([self.remote.remote(ctx, chunk) for chunk in chunks])
                values = [v for part in parts for v in part]
            elif self.pool is None:
                values = self.fn(self.ctx, todo)
            else:
                values = [v for part in self.pool.map(self.fn, [self.ctx] * len(chunks), chunks) for v in part]
            self.cache.update(zip(todo, values))
            self.evaluations += len(todo)
        return [self.cache[ind] for ind in population]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def _tournament(rng: np.random.Generator, fitness: list[float], k: int) -> int:
    picks = rng.integers(0, len(fitness), size=k)
    return int(min(picks, key=lambda i: (fitness[i], i)))


def _ga(initial: list[tuple], evaluate: _Evaluator, rng, *, generations: int, crossover: float, mutation: float,
        tournament: int, elite: int, cross: Callable, mutate: Callable):
    """Evolve ``initial`` for ``generations``; returns (best, best fitness, history of (best, mean))."""
    population = list(initial)
    size = len(population)
    history: list[tuple[float, float]] = []
    for gen in range(generations + 1):
        fitness = evaluate(population)
        history.append((min(fitness), math.fsum(fitness) / len(fitness)))
        ranked = sorted(range(size), key=lambda i: (fitness[i], i))
        if gen == generations:
            return population[ranked[0]], fitness[ranked[0]], history
        nxt = [population[i] for i in ranked[:elite]]
        while len(nxt) < size:
            a = population[_tournament(rng, fitness, tournament)]
            b = population[_tournament(rng, fitness, tournament)]
            child = cross(a, b, rng) if rng.random() < crossover else a
            if rng.random() < mutation:
                child = mutate(child, rng)
            nxt.append(tuple(child))
        population = nxt
    raise AssertionError("unreachable")


# --- permutation operators -------------------------------------------------------------------


def ox1(p1: Sequence[int], p2: Sequence[int], rng: np.random.Generator | None,
        cut: tuple[int, int] | None = None) -> tuple:
    """Order crossover: the child keeps p1[a:b] in place (cut points drawn from ``rng`` unless
    ``cut`` gives them, 0 <= a < b <= n); the other genes follow p2's order starting at position b,
    filled from position b onwards (both wrapping around)."""
    n = len(p1)
    if n < 2:
        return tuple(p1)
    a, b = cut if cut is not None else sorted(int(x) for x in rng.choice(n + 1, size=2, replace=False))
    kept = set(p1[a:b])
    fill = [g for g in (p2[(b + i) % n] for i in range(n)) if g not in kept]
    child = [None] * n
    child[a:b] = p1[a:b]
    for pos, gene in zip([(b + i) % n for i in range(n - (b - a))], fill):
        child[pos] = gene
    return tuple(child)


def swap_mutation(p: Sequence[int], rng: np.random.Generator) -> tuple:
    """Exchange two positions."""
    p = list(p)
    if len(p) > 1:
        i, j = (int(x) for x in rng.choice(len(p), size=2, replace=False))
        p[i], p[j] = p[j], p[i]
    return tuple(p)


def insert_mutation(p: Sequence[int], rng: np.random.Generator) -> tuple:
    """Move one gene to another position."""
    p = list(p)
    if len(p) > 1:
        i, j = (int(x) for x in rng.choice(len(p), size=2, replace=False))
        p.insert(j, p.pop(i))
    return tuple(p)


def _mutate_perm(p, rng):
    return swap_mutation(p, rng) if rng.random() < 0.5 else insert_mutation(p, rng)


# --- offline plans ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GAResult:
    """An evolved plan: its job order (ids), fitness, per-generation (best, mean) history (entry 0
    is the initial population), the replayed summaries of the best plan and of the FIFO- and
    SJF-ordered plans (same decoder), their objective values, and the lower bounds."""

    best_order: tuple[str, ...]
    best_fitness: float
    objective: str
    history: list[tuple[float, float]]
    summaries: dict[str, dict] = field(repr=False)
    values: dict[str, float]
    lower_bound: dict[str, float]
    evaluations: int


def fifo_order(jobs: Sequence[Job]) -> tuple[int, ...]:
    return tuple(sorted(range(len(jobs)), key=lambda i: (jobs[i].submit_time, i)))


def sjf_order(jobs: Sequence[Job]) -> tuple[int, ...]:
    return tuple(sorted(range(len(jobs)), key=lambda i: (jobs[i].duration, i)))


def _check(population, generations, crossover, mutation, tournament, elite, workers):
    for name, v, lo in (("population", population, 2), ("generations", generations, 0), ("tournament", tournament, 1),
                        ("elite", elite, 0), ("workers", workers, 1)):
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise GpusimError(f"{name} must be an integer >= {lo}, got {v!r}")
    if elite >= population:
        raise GpusimError(f"elite ({elite}) must be smaller than the population ({population})")
    for name, v in (("crossover", crossover), ("mutation", mutation)):
        if not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
            raise GpusimError(f"{name} must be a probability in [0, 1], got {v!r}")


def evolve(jobs: Sequence[Job], cluster: Cluster, *, objective: str = "avg_jct", population: int = 40,
           generations: int = 50, crossover: float = 0.9, mutation: float = 0.2, tournament: int = 3,
           elite: int = 2, seed: int = 0, workers: int = 1, placement: str = "consolidated",
           decoder: str = "greedy", backend: str = "local") -> GAResult:
    """Evolve a job order for ``jobs`` that minimises ``objective`` (see ``objective_value``).

    The initial population is the FIFO (arrival) order, the SJF order and random permutations.
    Each order is decoded by simulating ``Planned`` (``decoder`` "greedy": every job that fits
    starts; "list": stop at the first misfit). Same seed, same result, for any ``workers``.
    """
    jobs = tuple(jobs)
    if not jobs:
        raise GpusimError("the GA needs at least one job")
    if objective not in OBJECTIVES:
        raise GpusimError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    if decoder not in DECODERS:
        raise GpusimError(f"unknown decoder {decoder!r}; choose one of {', '.join(DECODERS)}")
    _check(population, generations, crossover, mutation, tournament, elite, workers)
    rng = stream(seed, "ga")
    n = len(jobs)
    initial = [fifo_order(jobs), sjf_order(jobs)][:population]
    initial += [tuple(int(x) for x in rng.permutation(n)) for _ in range(population - len(initial))]
    list_scheduling = decoder == "list"
    evaluate = _Evaluator(_eval_orders, (jobs, cluster, objective, placement, list_scheduling), workers, backend)
    try:
        best, best_fit, history = _ga(initial, evaluate, rng, generations=generations, crossover=crossover,
                                      mutation=mutation, tournament=tournament, elite=elite, cross=ox1,
                                      mutate=_mutate_perm)
    finally:
        evaluate.close()
    ids = lambda order: [jobs[i].job_id for i in order]  # noqa: E731
    summaries, values = {}, {}
    for name, order in (("ga", best), ("fifo", fifo_order(jobs)), ("sjf", sjf_order(jobs))):
        result = _replay(jobs, cluster, ids(order), placement, list_scheduling)
        summaries[name] = result.summary()
        values[name] = objective_value(jobs, result.events, objective)
    return GAResult(tuple(ids(best)), best_fit, objective, history, summaries, values, lower_bounds(jobs, cluster),
                    evaluate.evaluations)


def write_history(result, path: str | Path) -> None:
    """``iteration,value,series`` CSV (series ``best`` and ``mean``) for ``gpusim plot --kind convergence``."""
    with Path(path).open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("iteration", "value", "series"))
        for i, (best, mean) in enumerate(result.history):
            w.writerow((i, repr(best), "best"))
            w.writerow((i, repr(mean), "mean"))


# --- tuning ga-score's weights ---------------------------------------------------------------


def _blend(alpha: float):
    def cross(a, b, rng):
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        d = hi - lo
        return tuple(float(x) for x in rng.uniform(lo - alpha * d, hi + alpha * d))
    return cross


def _gauss(sigma: float, rate: float):
    def mutate(w, rng):
        hit = rng.random(len(w)) < rate
        hit[int(rng.integers(len(w)))] = True  # at least one gene moves
        return tuple(float(x) for x in np.where(hit, np.asarray(w) + rng.normal(0.0, sigma, len(w)), w))
    return mutate


@dataclass(frozen=True)
class TuneResult:
    """Tuned weights, their fitness (mean avg-JCT ratio to the initial weights; 1 = no gain) and history."""

    weights: tuple[float, ...]
    fitness: float
    history: list[tuple[float, float]]


def tune_weights(train_workloads: Sequence[Sequence[Job]], cluster: Cluster, *, initial=DEFAULT_WEIGHTS,
                 population: int = 16, generations: int = 10, crossover: float = 0.9, mutation: float = 0.3,
                 tournament: int = 3, elite: int = 2, alpha: float = 0.5, sigma: float = 0.5, seed: int = 0,
                 workers: int = 1, placement: str = "consolidated", details: bool = False, backend: str = "local"):
    """Evolve ga-score's weights to minimise avg JCT on ``train_workloads``; returns the weights
    (or a TuneResult with ``details``).

    Fitness is the mean over workloads of avg JCT relative to ``initial``'s, so each workload counts
    equally. The population starts with ``initial`` and Gaussian perturbations of it (σ = ``sigma``);
    with elitism the result is never worse than ``initial`` on the training set. Evaluate the result
    on held-out workloads yourself (docs/genetic.md).
    """
    workloads = [tuple(w) for w in train_workloads]
    if not workloads or not all(workloads):
        raise GpusimError("tune_weights needs at least one non-empty training workload")
    initial = check_weights(initial)
    _check(population, generations, crossover, mutation, tournament, elite, workers)
    rng = stream(seed, "ga")
    reference = [objective_value(w, simulate(w, cluster, GeneticScore(initial), 0, placement=placement).events,
                                 "avg_jct") for w in workloads]
    pop = [initial] + [tuple(float(x) for x in np.asarray(initial) + rng.normal(0.0, sigma, len(initial)))
                       for _ in range(population - 1)]
    evaluate = _Evaluator(_eval_weights, (workloads, cluster, placement, reference), workers, backend)
    try:
        best, fit, history = _ga(pop, evaluate, rng, generations=generations, crossover=crossover,
                                 mutation=1.0, tournament=tournament, elite=elite, cross=_blend(alpha),
                                 mutate=_gauss(sigma, mutation))
    finally:
        evaluate.close()
    return TuneResult(tuple(best), fit, history) if details else tuple(best)


def save_weights(weights: Sequence[float], path: str | Path) -> None:
    """Write weights as JSON ``{"features": [...], "weights": [...]}`` (read by load_weights and ga-score)."""
    data = {"features": list(FEATURES), "weights": [float(w) for w in check_weights(weights)]}
    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


# --- command line ----------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + message
        raise GpusimError(f"ga: {message}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gpusim ga", description="Evolve an offline job order for a batch and compare it with "
                                              "FIFO, SJF and a lower bound.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--trace", metavar="FILE", help="trace file (any format gpusim reads)")
    src.add_argument("--synthetic", type=int, metavar="N", help="N synthetic jobs")
    p.add_argument("--load", type=float, default=0.8, help="offered load of the synthetic workload (default 0.8)")
    p.add_argument("--cluster", metavar="SPEC", help="NODESxGPUS[:TYPE],... (default: the trace's or 8x8)")
    p.add_argument("--objective", choices=OBJECTIVES, default="avg_jct", help="what to minimise (default avg_jct)")
    p.add_argument("--population", type=int, default=40, help="orders per generation (default 40)")
    p.add_argument("--generations", type=int, default=50, help="generations (default 50)")
    p.add_argument("--crossover", type=float, default=0.9, help="crossover probability (default 0.9)")
    p.add_argument("--mutation", type=float, default=0.2, help="mutation probability (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the workload and of the GA")
    p.add_argument("--workers", type=int, default=1, help="fitness evaluations in parallel (same result)")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="process pool (default) or Ray tasks, as for sweeps (same result)")
    p.add_argument("--placement", default="consolidated", help="placement strategy (default consolidated)")
    p.add_argument("--decoder", choices=DECODERS, default="greedy",
                   help="greedy: start every job that fits; list: stop at the first misfit")
    p.add_argument("--out", required=True, metavar="DIR", help="history.csv, best_order.txt, summary.json")
    p.add_argument("--force", action="store_true", help="write into a non-empty DIR")
    return p


def _fmt(x: float) -> str:
    if not (isinstance(x, (int, float)) and math.isfinite(x)):
        return "-"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


def main(argv: Sequence[str] | None = None) -> int:
    """``gpusim ga ...``: run the GA, print the comparison table, write DIR; raises GpusimError."""
    from sim.experiment import RunConfig, load_jobs, prepare_out, synthetic_workload

    args = build_parser().parse_args(argv)
    if args.seed < 0:
        raise GpusimError(f"ga: --seed must be a non-negative integer, got {args.seed}")
    synthetic = None if args.synthetic is None else synthetic_workload(args.synthetic, args.load)
    if args.synthetic is not None and args.synthetic < 1:
        raise GpusimError(f"ga: --synthetic needs at least 1 job, got {args.synthetic}")
    config = RunConfig(trace=args.trace, synthetic=synthetic, cluster=args.cluster, seed=args.seed,
                       placement=args.placement)
    config, jobs, notes = load_jobs(config)
    cluster = Cluster.parse(config.cluster)
    out = prepare_out(args.out, args.force)
    result = evolve(jobs, cluster, objective=args.objective, population=args.population,
                    generations=args.generations, crossover=args.crossover, mutation=args.mutation,
                    seed=args.seed, workers=args.workers, placement=args.placement, decoder=args.decoder,
                    backend=args.backend)
    for note in notes:
        print(f"note: {note}")
    print(f"{len(jobs)} jobs on {cluster.summary()}, objective {args.objective}, "
          f"{result.evaluations} evaluations")
    cols = tuple(c for c in ("avg_jct", "makespan", "avg_wait", "utilization") if c != args.objective)
    print(f"{'plan':<12}{args.objective:>16}" + "".join(f"{c:>14}" for c in cols))
    for name in ("ga", "fifo", "sjf"):
        s = result.summaries[name]
        print(f"{name:<12}{_fmt(result.values[name]):>16}" + "".join(f"{_fmt(s[c]):>14}" for c in cols))
    lb = result.lower_bound
    print(f"{'lower bound':<12}{_fmt(lb[args.objective]):>16}" + "".join(f"{_fmt(lb.get(c, math.nan)):>14}" for c in cols))
    write_history(result, out / "history.csv")
    (out / "best_order.txt").write_text("".join(f"{j}\n" for j in result.best_order), encoding="utf-8")
    clean = lambda v: v if not (isinstance(v, float) and not math.isfinite(v)) else None  # noqa: E731
    data = {"objective": args.objective, "best_fitness": result.best_fitness, "values": result.values,
            "lower_bound": result.lower_bound, "evaluations": result.evaluations,
            "summaries": {k: {m: clean(v) for m, v in s.items()} for k, s in result.summaries.items()},
            "config": {**{k: v for k, v in vars(args).items() if k not in ("out", "force")},
                       "cluster": str(cluster), "jobs": len(jobs)}}
    (out / "summary.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return 0

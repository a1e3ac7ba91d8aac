"""Online job-duration predictors: they learn only from jobs that have already finished.

A predictor never sees a job's true duration when asked to predict: ``predict`` gets a
:class:`Query` (what is known at submission: size, user, VC, model, requested time, submit time),
and a duration enters only through ``observe``, which a caller makes once the job has finished.
:class:`Learner` is that caller inside a policy; :func:`evaluate` is that caller over a trace.
All durations are seconds. The underscore keeps the policy registry from scanning this file.
"""

from __future__ import annotations

import copy
import heapq
import math
import statistics
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from sortedcontainers import SortedList

from sim.model import Job

DEFAULT_DURATION = 3600.0  # seconds predicted before anything has finished


class Query(NamedTuple):
    """What is known about a job at submission: everything but its duration."""

    job_id: str
    submit_time: float
    num_gpus: int
    user: str | None = None
    vc: str | None = None
    model: str | None = None
    estimate: float | None = None  # the user's requested run time (SWF), seconds

    @classmethod
    def of(cls, job: Job) -> Query:
        return cls(job.job_id, job.submit_time, job.num_gpus, job.user, job.vc, job.model, job.estimate)


class Online:
    """An online duration predictor: ``observe`` finished jobs, ``predict`` new ones (seconds, > 0)."""

    def predict(self, query: Query) -> float:
        raise NotImplementedError

    def observe(self, query: Query, duration: float) -> None:
        raise NotImplementedError


def _has_estimate(query: Query) -> bool:
    return query.estimate is not None and math.isfinite(query.estimate) and query.estimate > 0


@dataclass
class UserHistory(Online):
    """Mean or median of the user's last ``k`` finished jobs; else the VC's last ``k``; else the
    median of every finished job; else ``default``. O(log n) per observation, O(k) per prediction.
    """

    k: int = 10
    stat: str = "median"  # or "mean"
    default: float = DEFAULT_DURATION
    _users: dict[str, deque] = field(default_factory=dict, init=False, repr=False)
    _vcs: dict[str, deque] = field(default_factory=dict, init=False, repr=False)
    _all: SortedList = field(default_factory=SortedList, init=False, repr=False)
    _memo: dict = field(default_factory=dict, init=False, repr=False)  # (user, vc) -> prediction, until observe

    def __post_init__(self) -> None:
        if self.k < 1 or self.stat not in ("median", "mean") or not self.default > 0:
            raise ValueError(f"UserHistory needs k >= 1, stat 'median' or 'mean', default > 0; got {self}")

    def predict(self, query: Query) -> float:
        key = (query.user, query.vc)
        value = self._memo.get(key)
        if value is None:
            value = self._memo[key] = self._predict(query)
        return value

    def _predict(self, query: Query) -> float:
        summarize = statistics.median if self.stat == "median" else statistics.fmean
        for key, table in ((query.user, self._users), (query.vc, self._vcs)):
            if key is not None and key in table:
                return summarize(table[key])
        n = len(self._all)
        if n:
            return self._all[n // 2] if n % 2 else 0.5 * (self._all[n // 2 - 1] + self._all[n // 2])
        return self.default

    def observe(self, query: Query, duration: float) -> None:
        for key, table in ((query.user, self._users), (query.vc, self._vcs)):
            if key is not None:
                table.setdefault(key, deque(maxlen=self.k)).append(duration)
        self._all.add(duration)
        self._memo.clear()


@dataclass
class LeastSquares(Online):
    """Online ridge regression of log duration on features known at submission.

    Features: an intercept (not penalized), log GPUs, hour of day of submission (as sine and
    cosine of ``submit_time mod 1 day``: on traces rebased to start at 0 this is the hour since the
    trace's start), log requested time and a has-request flag, and one-hot columns for the ``top``
    users and ``top`` VCs with the most finished jobs so far. Observations update sufficient
    statistics in O(d²) (per user and per VC too, so the top sets can change without a replay);
    the d×d system is solved again at the first prediction after new observations. Predictions are
    clipped to the range of log durations observed, so a few points never extrapolate wildly.
    """

    ridge: float = 1.0
    top: int = 8
    default: float = DEFAULT_DURATION
    _n: int = field(default=0, init=False, repr=False)
    _xx: np.ndarray = field(default_factory=lambda: np.zeros((6, 6)), init=False, repr=False)
    _xy: np.ndarray = field(default_factory=lambda: np.zeros(6), init=False, repr=False)
    _group: dict = field(default_factory=dict, init=False, repr=False)  # ("u"|"v", name) -> [count, Σx, Σy]
    _pairs: Counter = field(default_factory=Counter, init=False, repr=False)  # (user, vc) -> count
    _lo: float = field(default=math.inf, init=False, repr=False)
    _hi: float = field(default=-math.inf, init=False, repr=False)
    _fit: tuple | None = field(default=None, init=False, repr=False)  # (users, vcs, weights), None when stale
    _features: dict = field(default_factory=dict, init=False, repr=False)  # Query -> base features

    def __post_init__(self) -> None:
        if not (self.ridge > 0 and self.top >= 0 and self.default > 0):
            raise ValueError(f"LeastSquares needs ridge > 0, top >= 0, default > 0; got {self}")

    @staticmethod
    def base_features(query: Query) -> np.ndarray:
        """The six numeric features (intercept first) of a job."""
        angle = 2 * math.pi * (query.submit_time % 86400.0) / 86400.0
        has = _has_estimate(query)
        return np.array([1.0, math.log(query.num_gpus), math.sin(angle), math.cos(angle),
                         math.log(query.estimate) if has else 0.0, 1.0 if has else 0.0])

    def observe(self, query: Query, duration: float) -> None:
        x, y = self.base_features(query), math.log(duration)
        self._n += 1
        self._xx += np.outer(x, x)
        self._xy += x * y
        for kind, name in (("u", query.user), ("v", query.vc)):
            if name is not None:
                stats = self._group.setdefault((kind, name), [0, np.zeros(6), 0.0])
                stats[0] += 1
                stats[1] += x
                stats[2] += y
        if query.user is not None and query.vc is not None:
            self._pairs[query.user, query.vc] += 1
        self._lo, self._hi = min(self._lo, y), max(self._hi, y)
        self._fit = None

    def _top(self, kind: str) -> list[str]:
        names = [(-stats[0], name) for (k, name), stats in self._group.items() if k == kind]
        return [name for _, name in sorted(names)[: self.top]]

    def weights(self) -> tuple[list[str], list[str], np.ndarray]:
        """The current fit: the one-hot users, the one-hot VCs, and the weights (base features first)."""
        if self._fit is None:
            users, vcs = self._top("u"), self._top("v")
            d = 6 + len(users) + len(vcs)
            a, b = np.zeros((d, d)), np.zeros(d)
            a[:6, :6], b[:6] = self._xx, self._xy
            cats = [("u", u) for u in users] + [("v", v) for v in vcs]
            for i, key in enumerate(cats, start=6):
                count, sum_x, sum_y = self._group[key]
                a[i, i], a[i, :6], a[:6, i], b[i] = count, sum_x, sum_x, sum_y
            for i, u in enumerate(users, start=6):
                for j, v in enumerate(vcs, start=6 + len(users)):
                    a[i, j] = a[j, i] = self._pairs.get((u, v), 0)
            a[np.arange(1, d), np.arange(1, d)] += self.ridge
            self._fit = (users, vcs, np.linalg.solve(a, b))
        return self._fit

    def predict(self, query: Query) -> float:
        if self._n == 0:
            return self.default
        users, vcs, w = self.weights()
        x = self._features.get(query)
        if x is None:
            x = self._features[query] = self.base_features(query)
        y = float(x @ w[:6])
        if query.user in users:
            y += w[6 + users.index(query.user)]
        if query.vc in vcs:
            y += w[6 + len(users) + vcs.index(query.vc)]
        return math.exp(min(max(y, self._lo), self._hi))


@dataclass
class Requested(Online):
    """The user's requested run time (``estimate``) when the job has one, else ``fallback``'s prediction."""

    fallback: Online = field(default_factory=UserHistory)

    def predict(self, query: Query) -> float:
        return float(query.estimate) if _has_estimate(query) else self.fallback.predict(query)

    def observe(self, query: Query, duration: float) -> None:
        self.fallback.observe(query, duration)


PREDICTORS: dict[str, type[Online]] = {"user-history": UserHistory, "least-squares": LeastSquares,
                                       "requested": Requested}


def make_predictor(spec: str | Online) -> Online:
    """A fresh predictor: by name (a key of :data:`PREDICTORS`), or a deep copy of an unused template."""
    if isinstance(spec, Online):
        return copy.deepcopy(spec)
    if spec not in PREDICTORS:
        raise ValueError(f"unknown predictor {spec!r}; known: {', '.join(PREDICTORS)}")
    return PREDICTORS[spec]()


class Learner:
    """A policy's predictor, fed only with jobs seen to leave the view (which means they finished).

    Call :meth:`update` at the start of every pass: jobs present in the last pass but gone now are
    observed, in arrival order, with their true duration; that is the first moment the policy may
    know it. A new run (another View object) starts from a fresh predictor.
    """

    def __init__(self, spec: str | Online) -> None:
        self._spec = spec
        self.model = make_predictor(spec)  # fails early on an unknown name
        self._view = None
        self._seen: dict[str, tuple[int, Job]] = {}
        self._queries: dict[str, Query] = {}
        self._cache: dict[str, float] = {}  # job id -> prediction, valid until the next observation

    def update(self, view) -> None:
        if view is not self._view:
            self._view, self.model, self._seen, self._cache = view, make_predictor(self._spec), {}, {}
        alive = {}
        for job in view.running:
            alive[job.job_id] = (job.index, job.job)
        for job in view.pending:
            alive[job.job_id] = (job.index, job.job)
        gone = sorted(v for k, v in self._seen.items() if k not in alive)
        for _, job in gone:
            self.model.observe(self._queries.pop(job.job_id, None) or Query.of(job), job.duration)
            self._cache.pop(job.job_id, None)
        self._seen = alive
        if gone:
            self._cache = {}

    def predict(self, state) -> float:
        """Predicted total duration (seconds) of a job in the view, as of this pass."""
        value = self._cache.get(state.job_id)
        if value is None:
            query = self._queries.get(state.job_id)
            if query is None:
                query = self._queries[state.job_id] = Query.of(state.job)
            value = self._cache[state.job_id] = self.model.predict(query)
        return value


def online_predictions(jobs: Iterable[Job], predictor: Online) -> list[tuple[Job, float]]:
    """Replay ``jobs`` in submission order (ties: given order) and predict each at its submission.

    Simplification: every job is taken to run at once, so it finishes at ``submit_time + duration``,
    and is observed then; a job finishing at the very instant another is submitted is observed first
    (as the engine applies completions before arrivals). A real queue would reveal durations later.
    """
    ordered = sorted(jobs, key=lambda j: j.submit_time)
    if any(j.duration is None for j in ordered):
        raise ValueError("evaluate needs every job's duration")
    finishing: list[tuple[float, int, Job]] = []
    out = []
    for i, job in enumerate(ordered):
        while finishing and finishing[0][0] <= job.submit_time:
            _, _, done = heapq.heappop(finishing)
            predictor.observe(Query.of(done), done.duration)
        out.append((job, predictor.predict(Query.of(job))))
        heapq.heappush(finishing, (job.submit_time + job.duration, i, job))
    return out


def evaluate(jobs: Sequence[Job], predictor: Online) -> dict[str, float]:
    """Prediction error of ``predictor`` replayed online over ``jobs`` (see :func:`online_predictions`).

    ``mae`` and ``median_abs_error`` are seconds; ``under_ratio`` and ``over_ratio`` are the fractions
    of jobs predicted shorter and longer than they ran (exact hits count in neither); ``n`` the jobs.
    """
    pairs = online_predictions(jobs, predictor)
    if not pairs:
        raise ValueError("evaluate needs at least one job")
    errors = np.array([pred - job.duration for job, pred in pairs])
    return {"mae": float(np.mean(np.abs(errors))), "median_abs_error": float(np.median(np.abs(errors))),
            "under_ratio": float(np.mean(errors < 0)), "over_ratio": float(np.mean(errors > 0)),
            "n": len(pairs)}

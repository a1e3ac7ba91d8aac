"""A linear priority score whose weights a genetic algorithm can tune (sim.ga.tune_weights)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from policies import register
from policies._common import greedy_starts
from sim.errors import GpusimError

#: The features, in weight order. Times are in hours, GPUs as a share of the cluster.
FEATURES = ("num_gpus", "remaining", "waiting", "attained", "priority")
#: Hand-picked default: small and short jobs first, some aging, then the job's priority class.
DEFAULT_WEIGHTS = (-1.0, -1.0, 0.1, 0.0, 0.5)


def check_weights(weights, where: str = "ga-score weights") -> tuple[float, ...]:
    """``weights`` as a tuple of len(FEATURES) finite floats, else a GpusimError."""
    try:
        out = tuple(float(w) for w in weights)
    except (TypeError, ValueError):
        raise GpusimError(f"{where}: expected {len(FEATURES)} numbers ({', '.join(FEATURES)}), got {weights!r}") from None
    if len(out) != len(FEATURES) or not all(math.isfinite(w) for w in out):
        raise GpusimError(f"{where}: expected {len(FEATURES)} finite numbers ({', '.join(FEATURES)}), got {weights!r}")
    return out


def load_weights(path: str | Path) -> tuple[float, ...]:
    """Read a weight vector from JSON: ``{"features": [...], "weights": [...]}`` or a bare list."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise GpusimError(f"{path}: cannot read: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise GpusimError(f"{path}: not valid JSON: {err}") from None
    if isinstance(data, dict):
        if data.get("features", list(FEATURES)) != list(FEATURES):
            raise GpusimError(f"{path}: features {data.get('features')!r} are not {list(FEATURES)!r}")
        data = data.get("weights")
    return check_weights(data, str(path))


def features(job, now: float, cluster_gpus: int, use_estimate: bool = False) -> tuple[float, ...]:
    """The feature vector of one pending job (a JobState) at time ``now``.

    ``remaining`` is the oracle remaining work (the job's true duration minus work done); with
    ``use_estimate`` a job that has a user estimate uses ``estimate - executed`` instead (at least 0).
    ``waiting`` is the time since submission, ``attained`` the GPU-hours of service so far.
    """
    remaining = job.remaining
    estimate = job.job.estimate
    if use_estimate and estimate is not None:
        remaining = max(0.0, estimate - job.executed)
    return (job.num_gpus / cluster_gpus, remaining / 3600.0, (now - job.submit_time) / 3600.0,
            job.attained / 3600.0, float(job.priority))


@register("ga-score")
@dataclass
class GeneticScore:
    """Linear score of GPUs, remaining time, waiting, attained service, priority; highest first, non-preemptive.

    score = Σ weights[i] × feature[i] (features in FEATURES order, see ``features``); pending jobs
    are started greedily by descending score (ties by arrival), skipping jobs that do not fit.
    ``weights_file`` (JSON from sim.ga.save_weights), when given, replaces ``weights``. With
    ``predictor`` (user-history, least-squares or requested: see policies/_predict.py) the
    remaining-time feature is the online prediction less the work done, instead of the oracle.
    O(q log q) per scheduling point, inherently: the waiting-time feature changes every score as
    time passes, so the queue is scored and sorted afresh.
    """

    weights: tuple[float, ...] = DEFAULT_WEIGHTS
    weights_file: str = ""
    use_estimate: bool = False
    predictor: str = ""
    _learner: object = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.weights = load_weights(self.weights_file) if self.weights_file else check_weights(self.weights)
        if self.predictor:
            from policies._predict import Learner

            self._learner = Learner(self.predictor)

    def score(self, job, now: float, cluster_gpus: int) -> float:
        f = features(job, now, cluster_gpus, self.use_estimate)
        if self._learner is not None:
            f = (f[0], max(0.0, self._learner.predict(job) - job.executed) / 3600.0, *f[2:])
        return math.fsum(w * x for w, x in zip(self.weights, f))

    def schedule(self, view, rng):
        if self._learner is not None:
            self._learner.update(view)
        now, gpus = view.now, view.num_gpus
        order = sorted(view.pending, key=lambda j: (-self.score(j, now, gpus), j.index))
        return greedy_starts(view, order)

"""Policies that order by predicted durations instead of the oracle's (see docs/prediction.md).

Each has a ``predictor`` parameter: "user-history", "least-squares" or "requested" (from Python, an
unused ``policies._predict.Online`` instance also works; each run gets a deep copy). The predictor
learns a job's true duration only at the first pass after the job has left the view, i.e. finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain

from policies import register
from policies._common import easy_backfill, greedy_starts, preemptive_plan
from policies._predict import Learner


@dataclass
class _Predicting:
    predictor: str = "user-history"
    _learner: Learner = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._learner = Learner(self.predictor)

    def _remaining(self, job, floor: float) -> float:
        """Predicted seconds of work left: the prediction less the work done, at least ``floor``."""
        return max(self._learner.predict(job) - job.executed, floor)


@register("sjf-predicted")
@dataclass
class SjfPredicted(_Predicting):
    """Shortest predicted duration first, non-preemptive; skips jobs that do not fit.

    O(q log q) per pass: predictions change as jobs finish (the predictor learns), so the queue is
    sorted afresh rather than kept in an index.
    """

    predictor: str = "user-history"

    def schedule(self, view, rng):
        self._learner.update(view)
        return greedy_starts(view, sorted(view.pending, key=lambda j: (self._learner.predict(j), j.index)))


@register("srtf-predicted")
@dataclass
class SrtfPredicted(_Predicting):
    """Preemptive shortest predicted remaining time first: max(prediction − executed, floor) seconds.

    A job that outlives its prediction gets the floor, so it looks nearly done and keeps its GPUs.
    O((q + r) log(q + r)) per pass: predictions change as jobs finish, so nothing can be indexed.
    """

    predictor: str = "user-history"
    floor: float = 1.0

    def schedule(self, view, rng):
        self._learner.update(view)
        jobs = sorted(chain(view.running, view.pending), key=lambda j: (self._remaining(j, self.floor), j.index))
        return preemptive_plan(view, jobs)[0]


@register("backfill-predicted")
@dataclass
class BackfillPredicted(_Predicting):
    """FIFO with EASY backfilling on predicted durations (queued) and predicted remaining times (running).

    As ``fifo-backfill``, but the head's reservation (``shadow``) comes from predicted ends, each at
    least ``floor`` seconds from now, so it never lies in the past: a reservation that passed because
    a job overran its prediction is recomputed at the next pass, which every finish brings. A
    misprediction can delay the head past its reservation, never deadlock it. ``last_reservation``
    is the (head id, shadow time) of the latest pass, or None. O(q + r log r) per pass.
    """

    predictor: str = "user-history"
    floor: float = 1.0
    last_reservation = None  # not a parameter: (head id, shadow time) of the latest pass, or None

    def schedule(self, view, rng):
        self._learner.update(view)
        now = view.now
        starts, self.last_reservation = easy_backfill(
            view, lambda job: self._remaining(job, self.floor), lambda job: now + self._remaining(job, self.floor))
        return starts

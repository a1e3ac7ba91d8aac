"""Shortest job first."""

from __future__ import annotations

from dataclasses import dataclass

from policies import register
from policies._common import greedy_starts


@register("sjf")
@dataclass
class ShortestJobFirst:
    """Shortest duration first (oracle durations), non-preemptive; skips jobs that do not fit.

    Sorts the queue at every scheduling point: O(q log q).
    """

    def schedule(self, view, rng):
        return greedy_starts(view, sorted(view.pending, key=lambda j: (j.duration, j.index)))

"""Shortest job first."""

from __future__ import annotations

from dataclasses import dataclass

from policies import register
from policies._common import starts_in_order


@register("sjf")
@dataclass
class ShortestJobFirst:
    """Shortest duration first (oracle durations), non-preemptive; skips jobs that do not fit.

    Walks the queue in order of duration through the engine's pending index rather than sorting
    it: O(GPU counts × log q) per job tried at a scheduling point.
    """

    def schedule(self, view, rng):
        return starts_in_order(view, "duration")

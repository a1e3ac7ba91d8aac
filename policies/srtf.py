"""Shortest remaining time first."""

from __future__ import annotations

from dataclasses import dataclass

from policies import register
from policies._common import chosen_in_order, preemptive_plan


@register("srtf")
@dataclass
class ShortestRemainingTimeFirst:
    """Preemptive shortest remaining time first (oracle); ties by arrival order.

    At every scheduling point all jobs, running and pending, are ordered by remaining time and
    given GPUs greedily; running jobs left out are preempted. The running jobs are sorted (their
    remaining times change as they run); the pending ones come in order from the engine's pending
    index: O(r log r + (r + GPU counts × log q) × jobs given GPUs) per point, not O(q log q).
    """

    def schedule(self, view, rng):
        running = sorted(view.running, key=lambda j: (j.remaining, j.index))
        return preemptive_plan(view, chosen_in_order(view, running, "remaining"))[0]

"""First in, first out."""

from __future__ import annotations

from dataclasses import dataclass

from policies import register
from policies._common import greedy_starts


@register("fifo")
@dataclass
class Fifo:
    """Strict arrival order, non-preemptive; stops at the first job that does not fit (no backfilling)."""

    def schedule(self, view, rng):
        return greedy_starts(view, view.pending, stop_at_first_misfit=True)

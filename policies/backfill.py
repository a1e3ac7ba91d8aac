"""EASY backfilling."""

from __future__ import annotations

from dataclasses import dataclass

from policies import register
from policies._common import easy_backfill


@register("fifo-backfill")
@dataclass
class EasyBackfill:
    """FIFO with EASY backfilling: later jobs may start only if they do not delay the head's reservation.

    The head of the queue is reserved the earliest time enough GPUs free up, from running jobs'
    known (oracle) remaining times; a later job starts now if it fits and either ends by then or
    uses only GPUs the head will not need. The reservation counts GPUs, not nodes. O(q + r log r).
    """

    def schedule(self, view, rng):
        return easy_backfill(view, lambda job: job.remaining, lambda job: job.expected_end)[0]

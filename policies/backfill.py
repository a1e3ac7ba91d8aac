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
    uses only GPUs the head will not need. On a pool the reservation counts GPUs; under placements
    that respect nodes it is a place on nodes (``policies._common.easy_backfill``). No scan of the
    queue: O((GPU counts × log q + log r) × jobs started) per scheduling point, using the engine's
    indexes of pending jobs by GPU count and of running jobs by end (under node-aware placements,
    plus a placement per running job given back until the head has a place).
    """

    def schedule(self, view, rng):
        return easy_backfill(view)[0]

"""Indexes over the engine's pending and running jobs, for policies that would otherwise scan them.

The engine builds each index the first time a policy asks for it (``View.pending_by_gpus()``,
``View.running_by_end()``) and keeps it up to date from then on, so policies that never ask pay
nothing. Both hold the engine's live job states; policies only read them.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence

from sortedcontainers import SortedDict, SortedList

from sim.model import JobState

_INF = math.inf


class Queue(Sequence):
    """The values of a ``SortedDict`` in key order, live and read-only: the engine's pending jobs
    in arrival order as ``View.pending`` shows them. Walking it maps the dict over its sorted keys
    in C, about twice as fast as ``SortedDict.values()``, whose walk is a Python generator (FIFO-like
    policies walk the queue at every instant)."""

    __slots__ = ("_dict", "_values")

    def __init__(self, jobs: SortedDict) -> None:
        self._dict = jobs
        self._values = jobs.values()

    def __len__(self) -> int:
        return len(self._dict)

    def __getitem__(self, i):
        return self._values[i]

    def __iter__(self) -> Iterator[JobState]:
        return map(self._dict.__getitem__, self._dict)

    def __reversed__(self) -> Iterator[JobState]:
        return reversed(self._values)

    def __repr__(self) -> str:
        return f"Queue({list(self)!r})"


class _Group:
    """The pending jobs of one GPU count, in arrival order, with a min-tree of their remaining work.

    Every job of the run with this GPU count has a slot, in arrival order (given all at once, so a
    job first seen pending late, after a preemption or a failure, still sits in order). Leaf
    ``slot`` of the tree holds the job's remaining work while it is pending and infinity
    otherwise; inner nodes hold the minimum of their children, so the first pending job after a
    slot whose work fits a deadline is found in O(log jobs). Orders by a key (``ORDERS``) are
    sorted lists of (key, arrival index, job), each kept once asked for.
    """

    __slots__ = ("jobs", "indices", "tree", "leaves", "count", "orders")

    def __init__(self, jobs: list[JobState]) -> None:
        self.jobs = jobs  # by slot
        self.indices = [job.index for job in jobs]  # increasing
        for slot, job in enumerate(jobs):
            job._slot = slot
        self.leaves = 1 << max(0, len(jobs) - 1).bit_length()
        self.tree = [_INF] * (2 * self.leaves)  # 1-based binary heap layout; leaves at [leaves, 2 * leaves)
        self.count = 0  # pending jobs
        self.orders: dict[str, SortedList] = {}

    def add(self, state: JobState) -> None:
        self._set(state._slot, state._remaining)
        self.count += 1
        for key, order in self.orders.items():
            order.add((ORDERS[key](state), state.index, state))

    def remove(self, state: JobState) -> None:
        self._set(state._slot, _INF)
        self.count -= 1
        for key, order in self.orders.items():
            order.remove((ORDERS[key](state), state.index, state))

    def order(self, key: str) -> SortedList:
        if key not in self.orders:
            leaves = self.tree[self.leaves:self.leaves + len(self.jobs)]
            self.orders[key] = SortedList((ORDERS[key](job), job.index, job)
                                          for job, leaf in zip(self.jobs, leaves) if leaf < _INF)
        return self.orders[key]

    def _set(self, slot: int, value: float) -> None:
        tree = self.tree
        i = slot + self.leaves
        tree[i] = value
        i >>= 1
        while i:
            low = min(tree[2 * i], tree[2 * i + 1])
            if tree[i] == low:
                break  # nothing above changes either
            tree[i] = low
            i >>= 1

    def first(self, after: int, now: float, done_by: float) -> JobState | None:
        """The earliest pending job with arrival index > ``after`` and ``now + remaining <= done_by``."""
        tree, leaves = self.tree, self.leaves
        lo = bisect_right(self.indices, after)
        if lo >= len(self.jobs):
            return None
        i = lo + leaves
        # Climb right until a subtree holds a match (its minimum matches: now + x grows with x) ...
        while not (tree[i] < _INF and now + tree[i] <= done_by):
            while i & 1:
                i >>= 1
            if i == 0:
                return None
            i += 1
        # ... then descend to its leftmost matching leaf.
        while i < leaves:
            i <<= 1
            if not (tree[i] < _INF and now + tree[i] <= done_by):
                i += 1
        return self.jobs[i - leaves]


#: Orders a pending group can be walked in, each by a value that is fixed while a job is pending:
#: remaining work, duration, deadline (none: last), priority (highest first).
ORDERS = {
    "remaining": lambda job: job._remaining,
    "duration": lambda job: job.job.duration,
    "deadline": lambda job: _INF if job.job.deadline is None else job.job.deadline,
    "priority": lambda job: -job.job.priority,
}


class PendingIndex:
    """The pending jobs grouped by GPU count; in each group, arrival order and a search by remaining
    work. The oracle backfilling policy uses it to find the next job that may start without a
    scan of the queue."""

    __slots__ = ("_groups", "_clock")

    def __init__(self, clock, jobs: Iterable[JobState]) -> None:
        """An index over ``jobs`` (every job of the run, in arrival order), none of them pending yet."""
        by_gpus: dict[int, list[JobState]] = {}
        for job in jobs:
            by_gpus.setdefault(job.job.num_gpus, []).append(job)
        self._groups = {n: _Group(group) for n, group in by_gpus.items()}
        self._clock = clock

    def add(self, state: JobState) -> None:
        self._groups[state.job.num_gpus].add(state)

    def remove(self, state: JobState) -> None:
        self._groups[state.job.num_gpus].remove(state)

    def in_order(self, num_gpus: int, key: str, after: tuple[float, int] | None = None) -> Iterator[JobState]:
        """The pending jobs of ``num_gpus`` GPUs in order of (``key``, arrival index), from the first
        after ``after`` (such a pair; None: from the start); ``key`` names one of ``ORDERS``.
        O(log jobs) to start, O(1) a job; valid until the queue changes."""
        group = self._groups.get(num_gpus)
        if group is None or not group.count:
            return iter(())
        order = group.order(key)
        start = 0 if after is None else order.bisect_left((after[0], after[1] + 1))
        return (entry[2] for entry in order.islice(start))

    def gpu_counts(self) -> list[int]:
        """The GPU counts of the pending jobs, ascending."""
        return sorted(n for n, group in self._groups.items() if group.count)

    def first(self, num_gpus: int, after: int = -1, done_by: float = _INF) -> JobState | None:
        """The earliest-arrived pending job of ``num_gpus`` GPUs with arrival index (``job.index``)
        above ``after`` whose remaining work, started now, is done by ``done_by``
        (``now + remaining <= done_by``); None if there is none. O(log jobs)."""
        group = self._groups.get(num_gpus)
        if group is None or not group.count:
            return None
        return group.first(after, self._clock.now, done_by)


class RunningByEnd:
    """The running jobs in order of expected end (then fewer GPUs first, then arrival)."""

    __slots__ = ("_sorted",)

    def __init__(self) -> None:
        self._sorted = SortedList()

    def add(self, state: JobState) -> None:
        self._sorted.add((state._expected_end, state.job.num_gpus, state.index, state))

    def remove(self, state: JobState) -> None:
        self._sorted.remove((state._expected_end, state.job.num_gpus, state.index, state))

    def __len__(self) -> int:
        return len(self._sorted)

    def __iter__(self) -> Iterator[JobState]:
        return (entry[3] for entry in self._sorted)


class Indexes:
    """The indexes the engine keeps for its policy, each built from the live jobs on first request
    and maintained by the engine from then on (``pending``/``running`` stay None until asked for)."""

    __slots__ = ("_clock", "_jobs", "_pending_jobs", "_running_jobs", "pending", "running")

    def __init__(self, clock, jobs: Iterable[JobState], pending_jobs: Iterable[JobState],
                 running_jobs: Iterable[JobState]) -> None:
        self._clock = clock
        self._jobs = jobs  # all of the run's, in arrival order
        self._pending_jobs = pending_jobs
        self._running_jobs = running_jobs
        self.pending: PendingIndex | None = None
        self.running: RunningByEnd | None = None

    def pending_by_gpus(self) -> PendingIndex:
        if self.pending is None:
            self.pending = PendingIndex(self._clock, self._jobs)
            for state in self._pending_jobs:
                self.pending.add(state)
        return self.pending

    def running_by_end(self) -> RunningByEnd:
        if self.running is None:
            self.running = RunningByEnd()
            for state in self._running_jobs:
                self.running.add(state)
        return self.running

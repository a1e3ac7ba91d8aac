"""The floor the engine is measured against: strict FIFO on a GPU pool as a bare heapq event loop.

No SimPy, no policy object, no placement of GPU ids, no event log: a heap of completions, a
queue, and a free-GPU count. It follows the engine's rules for one instant (completions first,
then arrivals in trace order, then start queued jobs in arrival order until the head does not
fit) and its completion time (``max(start + duration, the next float after start)``), so it
gives every job the same start and end times as ``simulate(..., policy fifo, placement="pool")``.
benchmarks/perf.py checks that they agree and states the engine's cost as a ratio to this loop.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Sequence

from sim.model import Job


def _columns(jobs: Sequence[Job]) -> tuple[list[int], list[float], list[int], list[float]]:
    """The jobs in arrival order (stable: trace order on ties) and their submit times, GPU counts
    and durations in that order."""
    order = sorted(range(len(jobs)), key=lambda i: jobs[i].submit_time)
    return (order, [jobs[i].submit_time for i in order], [jobs[i].num_gpus for i in order],
            [jobs[i].duration for i in order])


def _in_given_order(order: list[int], start: list[float], end: list[float]) -> tuple[list[float], list[float]]:
    """Per-job start and end times, from arrival order back to the order the jobs were given in."""
    out_start, out_end = [math.nan] * len(order), [math.nan] * len(order)
    for k, i in enumerate(order):
        out_start[i], out_end[i] = start[k], end[k]
    return out_start, out_end


def fifo_pool(jobs: Sequence[Job], num_gpus: int) -> tuple[list[float], list[float]]:
    """Start and end time of every job (in the given order) under strict FIFO on ``num_gpus`` GPUs."""
    order, submit, gpus, duration = _columns(jobs)
    n = len(order)
    start, end = [math.nan] * n, [math.nan] * n
    running: list[tuple[float, int]] = []  # (end time, arrival position)
    queue: deque[int] = deque()
    free, arrived = num_gpus, 0
    while arrived < n or running:
        now = running[0][0] if running else math.inf
        if arrived < n and submit[arrived] < now:
            now = submit[arrived]
        while running and running[0][0] == now:
            free += gpus[heapq.heappop(running)[1]]
        while arrived < n and submit[arrived] == now:
            queue.append(arrived)
            arrived += 1
        while queue and gpus[queue[0]] <= free:
            k = queue.popleft()
            free -= gpus[k]
            start[k] = now
            end[k] = max(now + duration[k], math.nextafter(now, math.inf))
            heapq.heappush(running, (end[k], k))
    return _in_given_order(order, start, end)


def _delay(now: float, at: float) -> float:
    """A delay that lands exactly on ``at`` (as the engine's calendar does)."""
    d = at - now
    while now + d < at:
        d = math.nextafter(d, math.inf)
    while now + d > at:
        d = math.nextafter(d, -math.inf)
    return d


def fifo_pool_simpy(jobs: Sequence[Job], num_gpus: int) -> tuple[list[float], list[float]]:
    """``fifo_pool`` on SimPy's calendar, as the engine uses it (one timeout per arrival instant and
    per completion, the pass in the instant's last callback) but nothing else of the engine: how
    much of the engine's cost is SimPy's."""
    import simpy

    order, submit, gpus, duration = _columns(jobs)
    n = len(order)
    start, end = [math.nan] * n, [math.nan] * n
    env = simpy.Environment()
    queue: deque[int] = deque()
    state = {"free": num_gpus, "arrived": 0}

    def settle() -> None:
        now = env.now
        if env.peek() > now:
            while queue and gpus[queue[0]] <= state["free"]:
                k = queue.popleft()
                state["free"] -= gpus[k]
                start[k] = now
                end[k] = max(now + duration[k], math.nextafter(now, math.inf))
                env.timeout(_delay(now, end[k]), k).callbacks.append(on_completion)

    def on_arrival(_event) -> None:
        now, k = env.now, state["arrived"]
        while k < n and submit[k] == now:
            queue.append(k)
            k += 1
        state["arrived"] = k
        if k < n:
            env.timeout(_delay(now, submit[k])).callbacks.append(on_arrival)
        settle()

    def on_completion(event) -> None:
        state["free"] += gpus[event.value]
        settle()

    if n:
        env.timeout(submit[0]).callbacks.append(on_arrival)
    env.run()
    return _in_given_order(order, start, end)


def fifo_pool_least_engine(jobs: Sequence[Job], num_gpus: int) -> tuple[list[float], list[float]]:
    """The least an engine of gpusim's shape can do, on SimPy: ``fifo_pool_simpy`` plus what any
    such engine must add, each in its cheapest form. Every instant's pass asks a policy (here a
    plain function) for start decisions against the free GPUs, checks each one (the job is queued,
    its GPUs are free), gives it concrete GPU ids (the lowest free ones, a bit mask), and logs
    submits, starts and finishes in columnar arrays. No job objects, no View, no placement
    strategies, no error messages, no indexes for other policies: a lower bound on the engine's
    ratio to the bare loop, not an engine."""
    import simpy
    from array import array

    order, submit, gpus, duration = _columns(jobs)
    n = len(order)
    start, end = [math.nan] * n, [math.nan] * n
    held: list[tuple[int, ...]] = [()] * n
    env = simpy.Environment()
    pending: dict[int, int] = {}  # queued job -> GPUs it needs, in arrival order
    arrived: list[int] = []
    finished: list[int] = []
    times, kinds, who = array("d"), array("b"), array("l")
    state = {"free": num_gpus, "mask": (1 << num_gpus) - 1, "arrived": 0, "due": False}

    def policy(queue: dict[int, int], free: int, mask: int) -> list[tuple[int, tuple[int, ...]]]:
        decisions = []
        for k, need in queue.items():
            if need > free:
                break
            ids = []
            for _ in range(need):
                low = mask & -mask
                ids.append(low.bit_length() - 1)
                mask ^= low
            free -= need
            decisions.append((k, tuple(ids)))
        return decisions

    def settle() -> None:
        if not state["due"] or env.peek() <= env.now:
            return
        state["due"] = False
        now = env.now
        for k in finished:
            mask = 0
            for g in held[k]:
                mask |= 1 << g
            state["mask"] |= mask
            state["free"] += len(held[k])
            times.append(now), kinds.append(2), who.append(k)
        finished.clear()
        for k in arrived:
            pending[k] = gpus[k]
            times.append(now), kinds.append(0), who.append(k)
        arrived.clear()
        for k, ids in policy(pending, state["free"], state["mask"]):
            mask = 0
            for g in ids:
                mask |= 1 << g
            if k not in pending or mask & ~state["mask"]:
                raise ValueError(f"illegal start of job {k} on {ids}")
            state["mask"] &= ~mask
            state["free"] -= len(ids)
            del pending[k]
            held[k], start[k] = ids, now
            end[k] = max(now + duration[k], math.nextafter(now, math.inf))
            env.timeout(_delay(now, end[k]), k).callbacks.append(on_completion)
            times.append(now), kinds.append(1), who.append(k)

    def on_arrival(_event) -> None:
        now, k = env.now, state["arrived"]
        while k < n and submit[k] == now:
            arrived.append(k)
            k += 1
        state["arrived"] = k
        if k < n:
            env.timeout(_delay(now, submit[k])).callbacks.append(on_arrival)
        state["due"] = True
        settle()

    def on_completion(event) -> None:
        finished.append(event.value)
        state["due"] = True
        settle()

    if n:
        env.timeout(submit[0]).callbacks.append(on_arrival)
    env.run()
    return _in_given_order(order, start, end)

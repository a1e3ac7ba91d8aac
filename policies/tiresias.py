"""Tiresias: discretized two-dimensional least-attained-service."""

from __future__ import annotations

import heapq
import math
from dataclasses import MISSING, dataclass, field, fields
from itertools import chain, count

from policies import register
from policies._common import greedy_starts, preemptive_plan
from sim.model import JobState, Wake

_TOLERANCE = 1e-9  # relative: attained service this close below a threshold counts as crossing it


@register("tiresias")
@dataclass
class Tiresias:
    """Discretized 2D-LAS: queues by attained GPU-seconds, demotion at thresholds, preemptive.

    A new job joins the end of the top queue; a running job whose attained service (executed
    seconds × GPUs) crosses its queue's threshold joins the end of the next queue down. Each
    scheduling point walks the queues top to bottom in list order and gives GPUs to every job that
    fits (by count, then placement); running jobs left out are preempted. Afterwards, in every queue
    the jobs that run move ahead of those that wait, each group keeping its order. The policy asks
    to be woken when the next running job will cross a threshold. A CPU-only job (resource model)
    attains no GPU-seconds, so it stays in the top queue.

    Cost: 2D-LAS is inherently O(jobs in the system) per scheduling point when the GPUs are short,
    since any running job may lose its GPUs: the walk then covers the queues until the GPUs run
    out. When every job in the system fits (the common case below saturation) the walk reduces to
    starting the waiting jobs in queue order, and demotions, finishes and the wake-up come from
    heaps: O((changes + waiting jobs) × log jobs).
    """

    thresholds: tuple[float, ...] = (3250.0, 7200.0)
    # Each queue is its running part then its waiting part (insertion-ordered dicts as ordered sets).
    _runs: list[dict[JobState, None]] = field(default_factory=list, init=False, repr=False)
    _waits: list[dict[JobState, None]] = field(default_factory=list, init=False, repr=False)
    _level: dict[JobState, int] = field(default_factory=dict, init=False, repr=False)
    _started: dict[JobState, float] = field(default_factory=dict, init=False, repr=False)  # run -> its start
    _demand: list[int] = field(default_factory=lambda: [0, 0], init=False, repr=False)  # GPUs: running, waiting
    _newest: int = field(default=-1, init=False, repr=False)  # highest arrival index queued so far
    _crossings: list = field(default_factory=list, init=False, repr=False)  # (bound, seq, job, level, start)
    _ends: list = field(default_factory=list, init=False, repr=False)  # (expected end, seq, job)
    _fresh: list[JobState] = field(default_factory=list, init=False, repr=False)  # started at the last pass
    _seq: count = field(default_factory=count, init=False, repr=False)
    _view: object = field(default=None, init=False, repr=False)  # the run the state above belongs to

    def __post_init__(self) -> None:
        if not self.thresholds or any(t <= 0 for t in self.thresholds) or list(self.thresholds) != sorted(set(self.thresholds)):
            raise ValueError(f"thresholds must be positive and strictly increasing, got {list(self.thresholds)}")
        self._runs = [{} for _ in range(len(self.thresholds) + 1)]
        self._waits = [{} for _ in range(len(self.thresholds) + 1)]

    def _crossed(self, job, level: int) -> bool:
        return level < len(self.thresholds) and job.attained >= self.thresholds[level] * (1 - _TOLERANCE)

    def _crossing(self, job, level: int, now: float) -> float:
        """When ``job`` will reach its queue's threshold, seen from ``now``: its wake-up time, which
        never decreases as time passes (so a value once computed bounds every later one below)."""
        return now + (self.thresholds[level] - job.attained) / job.num_gpus

    def _reset(self) -> None:
        """Every field but the parameters back to its initial value (a new run, the instance reused)."""
        for f in fields(self):
            if not f.init:
                setattr(self, f.name, f.default_factory() if f.default_factory is not MISSING else f.default)
        self.__post_init__()

    def schedule(self, view, rng):
        if view is not self._view:
            self._reset()
            self._view = view
        now = view.now
        # Far below any gap that matters, far above float rounding: margin of the heap searches.
        slack = 1e-7 * max(1.0, abs(now)) + 2 * _TOLERANCE * self.thresholds[-1]
        self._forget_finished(now)
        self._queue_arrivals(view.pending)
        demoted = self._demote(now, slack)
        known = sum(len(runs) for runs in self._runs) + sum(len(d) for d in demoted)
        if known == len(view.running) and sum(self._demand) <= view.num_gpus:
            decisions = self._start_waiting(view, demoted, now)
        else:
            decisions = self._walk(view, demoted, now)
        wake = self._next_crossing(now, slack)
        if wake < math.inf:
            decisions.append(Wake(max(wake, math.nextafter(now, math.inf))))
        return decisions

    # --- bookkeeping between passes -----------------------------------------------------------

    def _forget_finished(self, now: float) -> None:
        """Drop the jobs that finished since the last pass: they ran, and their run ended by now."""
        for job in self._fresh:  # expected ends are known once the engine has started them
            if job.end_time is not None:
                self._forget(job)
            elif job.is_running:
                heapq.heappush(self._ends, (job.expected_end, next(self._seq), job))
        self._fresh = []
        while self._ends and self._ends[0][0] <= now:
            job = heapq.heappop(self._ends)[2]
            if job.end_time is not None and job in self._level:
                self._forget(job)

    def _forget(self, job: JobState) -> None:
        level = self._level.pop(job)
        del self._runs[level][job]
        del self._started[job]
        self._demand[0] -= job.num_gpus

    def _queue_arrivals(self, pending) -> None:
        """New jobs, in arrival order, to the end of the top queue. They are the pending jobs that
        arrived after every job already queued: the tail of the pending queue."""
        new = []
        for job in reversed(pending):
            if job.index <= self._newest:
                break
            new.append(job)
        for job in reversed(new):
            self._level[job] = 0
            self._waits[0][job] = None
            self._demand[1] += job.num_gpus
        if new:
            self._newest = new[0].index

    def _demote(self, now: float, slack: float) -> list[list[JobState]]:
        """Running jobs that crossed their queue's threshold go down, top queue first, each queue in
        its order, to the first queue whose threshold they have not crossed. Candidates come from
        the crossing heap; returns, per queue, the jobs that joined its end (after its waiting part)."""
        crossed, not_yet = [], []
        while self._crossings and self._crossings[0][0] <= now + slack:
            entry = heapq.heappop(self._crossings)
            _, _, job, level, start = entry
            if self._level.get(job) == level and self._started.get(job) == start and job.is_running:
                (crossed if self._crossed(job, level) else not_yet).append(entry)
        for _, _, job, level, start in not_yet:
            self._push_crossing(job, level, start, now)
        if len(crossed) > 1:
            crossed.sort(key=lambda e: (e[3], self._position(e[2], e[3])))
        demoted: list[list[JobState]] = [[] for _ in self._runs]
        for _, _, job, level, start in crossed:
            del self._runs[level][job]
            while self._crossed(job, level):
                level += 1
            demoted[level].append(job)
            self._level[job] = level
            self._push_crossing(job, level, start, now)
        return demoted

    def _position(self, job: JobState, level: int) -> int:
        return next(i for i, other in enumerate(self._runs[level]) if other is job)

    def _push_crossing(self, job: JobState, level: int, start: float, now: float) -> None:
        # A CPU-only job (resource model) attains no GPU-seconds: it never crosses a threshold.
        if level < len(self.thresholds) and job.num_gpus:
            heapq.heappush(self._crossings, (self._crossing(job, level, now), next(self._seq), job, level, start))

    def _begin(self, started: list[JobState], now: float) -> None:
        """Record runs that start now (their crossing entries, and their ends at the next pass)."""
        for job in started:
            self._started[job] = now
            self._push_crossing(job, self._level[job], now, now)
        self._fresh.extend(started)

    # --- the two ways through a scheduling point ------------------------------------------------

    def _start_waiting(self, view, demoted: list[list[JobState]], now: float) -> list:
        """Every job fits by count, so the walk would keep every running job and start the waiting
        ones in queue order (each that places): just that. Started jobs join their queue's running
        part, after those already there; demoted ones follow. O(waiting jobs), and they fit in the
        free GPUs."""
        decisions = greedy_starts(view, chain.from_iterable(self._waits))
        by_id = {job.job_id: job for waits in self._waits for job in waits} if decisions else {}
        started = [by_id[d.job_id] for d in decisions]
        chosen = set(started)
        for level, waits in enumerate(self._waits):
            runs = self._runs[level]
            for job in [job for job in waits if job in chosen] if chosen else ():
                del waits[job]
                runs[job] = None
            for job in demoted[level]:
                runs[job] = None
        gpus = sum(job.num_gpus for job in started)
        self._demand[0] += gpus
        self._demand[1] -= gpus
        self._begin(started, now)
        return decisions

    def _walk(self, view, demoted: list[list[JobState]], now: float) -> list:
        """GPUs are short (or a running job stopped without finishing, on a failed node): the full
        walk over every queue, preempting running jobs left out. O(jobs in the system); a queue's
        waiting part is rebuilt only when one of its running jobs lost its GPUs."""
        order = chain.from_iterable(chain(runs, waits, extra)
                                    for runs, waits, extra in zip(self._runs, self._waits, demoted))
        decisions, runs = preemptive_plan(view, order)
        running = set(runs)
        started = [job for job in runs if not job.is_running]  # in walk order, so in queue order
        by_level: list[list[JobState]] = [[] for _ in self._runs]
        for job in started:
            by_level[self._level[job]].append(job)
        for level, (old_runs, waits, extra) in enumerate(zip(self._runs, self._waits, demoted)):
            stopped = [job for job in chain(old_runs, extra) if job not in running]
            self._runs[level] = dict.fromkeys(chain((j for j in old_runs if j in running), by_level[level],
                                                    (j for j in extra if j in running)))
            if stopped:  # stable partition: they go first among the waiting, in queue order
                self._waits[level] = dict.fromkeys(chain((j for j in old_runs if j not in running),
                                                         (j for j in waits if j not in running),
                                                         (j for j in extra if j not in running)))
            else:
                for job in by_level[level]:
                    waits.pop(job, None)  # not there if it sat among the runs: stopped by a failure
        for job in [job for job in self._started if job not in running]:
            del self._started[job]  # preempted, or stopped by a failure and not restarted
        total = sum(self._demand)  # jobs only change state within a pass
        self._demand[0] = sum(job.num_gpus for job in runs)
        self._demand[1] = total - self._demand[0]
        self._begin(started, now)
        return decisions

    # --- the wake-up ----------------------------------------------------------------------------

    def _next_crossing(self, now: float, slack: float) -> float:
        """The earliest time a job that runs after this pass reaches its queue's threshold: the
        minimum of ``_crossing`` over those jobs, found by popping bounds until they exceed it."""
        best, seen = math.inf, []
        while self._crossings and self._crossings[0][0] <= best + slack:
            entry = heapq.heappop(self._crossings)
            _, _, job, level, start = entry
            if self._level.get(job) != level or self._started.get(job) != start:
                continue  # stale
            seen.append(entry)
            best = min(best, self._crossing(job, level, now))
        for _, _, job, level, start in seen:
            self._push_crossing(job, level, start, now)
        return best

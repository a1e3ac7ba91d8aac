"""A plain reference implementation of the engine's semantics, to check sim/engine.py against.

No SimPy, no indexes, no bit masks, nothing clever: the calendar is a few lists searched for their
earliest entry, the free GPUs a list of sets, the pending queue a list in arrival order, the
View's indexes plain scans. It is slow (quadratic) and reads like the rules in sim/engine.py's
docstring:

- Jobs are taken in order of submission (trace order on ties). Something happens at an instant
  when jobs arrive, a running job's run completes, the latest Wake comes due or a round is due.
- At such an instant one scheduling pass: finishes (in arrival order), then submissions (in trace
  order), then, if any job is pending or running, the policy's decisions: preemptions first, then
  resizes (logged as a resize and a start of the job at once; not a preemption), then starts,
  each in the order given. Each pass's Wake replaces the last; with no job left, none is kept.
- A run started at ``now`` makes progress from ``now + restart overhead`` (overhead only on a
  restart) at the speed model's rate (without one: 1, or k / num_gpus on k GPUs) and completes
  at ``max(that + remaining / rate, the next float after now)``.
- ``until`` applies every instant up to and including it, then logs a stop if jobs are unfinished.

The reference policies below are the plain versions of the policies that sim/ uses indexes or
early exits for; tests/test_reference_engine.py runs the engine with the real policies and this
loop with these, and requires identical event logs.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import chain

from sim.errors import PolicyError
from sim.model import Clock, Cluster, Event, Job, JobState, Preempt, Resize, Start, Wake
from sim.rng import stream

# --- placement: per-node sets of free GPUs -------------------------------------------------


class Planner:
    """The placement strategies of sim/placement.py, on a list of free-GPU sets per node."""

    def __init__(self, caps: Sequence[int], strategy: str) -> None:
        self.caps, self.strategy = list(caps), strategy
        self.offsets = [sum(caps[:i]) for i in range(len(caps))]
        self.free = [set(range(o, o + c)) for o, c in zip(self.offsets, caps)]

    @property
    def num_gpus(self) -> int:
        return sum(self.caps)

    @property
    def free_total(self) -> int:
        return sum(len(f) for f in self.free)

    def copy(self) -> Planner:
        other = Planner(self.caps, self.strategy)
        other.free = [set(f) for f in self.free]
        return other

    def free_per_node(self) -> tuple[int, ...]:
        return tuple(len(f) for f in self.free)

    def free_on(self, node: int) -> int:
        return len(self.free[node])

    def node_of(self, gpu: int) -> int:
        return max(i for i, o in enumerate(self.offsets) if o <= gpu)

    def is_free(self, gpu: int) -> bool:
        return gpu in self.free[self.node_of(gpu)]

    def on_node(self, node: int, k: int) -> tuple[int, ...]:
        return tuple(sorted(self.free[node])[:k])

    def nodes_with(self, k: int) -> list[int]:
        return [i for i, f in enumerate(self.free) if len(f) >= k]

    def _best_fit(self, n: int, exclude=()) -> int | None:
        fits = [i for i, f in enumerate(self.free) if len(f) >= n and i not in exclude]
        return min(fits, key=lambda i: (len(self.free[i]), i)) if fits else None

    def _most_free_first(self, n: int):
        if self.free_total < n:
            return None
        out = []
        for node in sorted(range(len(self.free)), key=lambda i: (-len(self.free[i]), i)):
            take = min(len(self.free[node]), n)
            out.append((node, take))
            n -= take
            if n == 0:
                return out

    def _split(self, n: int):
        if self.strategy == "pool":
            out = []
            for node, f in enumerate(self.free):
                if f and n:
                    out.append((node, min(len(f), n)))
                    n -= out[-1][1]
            return out if n == 0 else None
        if self.strategy == "consolidated":
            if n <= max(self.caps):
                node = self._best_fit(n)
                return None if node is None else [(node, n)]
            out, chosen = [], set()
            whole = [i for i, f in enumerate(self.free) if len(f) == self.caps[i]]
            for node in sorted(whole, key=lambda i: (-self.caps[i], i)):
                if self.caps[node] <= n:
                    out.append((node, self.caps[node]))
                    chosen.add(node)
                    n -= self.caps[node]
                    if n == 0:
                        return out
            node = self._best_fit(n, exclude=chosen)
            return None if node is None else out + [(node, n)]
        if self.strategy == "balance":  # least busy/total first, exact fractions
            by_load = sorted((i for i, f in enumerate(self.free) if f),
                             key=lambda i: (Fraction(self.caps[i] - len(self.free[i]), self.caps[i]), i))
            one = [i for i in by_load if len(self.free[i]) >= n]
            if one:
                return [(one[0], n)]
            out = []
            for node in by_load:
                out.append((node, min(len(self.free[node]), n)))
                n -= out[-1][1]
                if n == 0:
                    return out
            return None
        if self.strategy == "pack":
            node = self._best_fit(n)
            return [(node, n)] if node is not None else self._most_free_first(n)
        return self._most_free_first(n)  # spread

    def place(self, n: int) -> tuple[int, ...] | None:
        if n > self.free_total:
            return None
        split = self._split(n)
        return None if split is None else tuple(sorted(g for node, k in split for g in self.on_node(node, k)))

    def take(self, gpus) -> None:
        gpus = self._checked(gpus)
        for g in gpus:
            if not self.is_free(g):
                raise ValueError(f"GPU {g} (node {self.node_of(g)}) is not free")
        for g in gpus:
            self.free[self.node_of(g)].remove(g)

    def release(self, gpus) -> None:
        gpus = self._checked(gpus)
        for g in gpus:
            if self.is_free(g):
                raise ValueError(f"GPU {g} (node {self.node_of(g)}) is already free")
        for g in gpus:
            self.free[self.node_of(g)].add(g)

    def claim(self, n: int) -> tuple[int, ...] | None:
        gpus = self.place(n)
        if gpus is not None:
            self.take(gpus)
        return gpus

    # the job-aware calls policies use (sim.placement.Planner): by count alone here
    def place_job(self, job) -> tuple[int, ...] | None:
        return self.place(job.num_gpus)

    def take_job(self, gpus, job) -> None:
        self.take(gpus)

    def claim_job(self, job) -> tuple[int, ...] | None:
        return self.claim(job.num_gpus)

    def release_job(self, gpus, job) -> None:
        self.release(gpus)

    def shares(self, job) -> bool:
        return False

    def has_room(self) -> bool:
        return self.free_total > 0

    def _checked(self, gpus) -> list[int]:
        out = []
        for g in gpus:
            if isinstance(g, bool):
                raise ValueError(f"GPU {g!r} is not a GPU index")
            try:
                g = operator.index(g)
            except TypeError:
                raise ValueError(f"GPU {g!r} is not a GPU index") from None
            if not 0 <= g < self.num_gpus:
                raise ValueError(f"GPU {g} does not exist (the cluster has GPUs 0..{self.num_gpus - 1})")
            out.append(g)
        if len(set(out)) != len(out):
            raise ValueError(f"GPUs {tuple(out)} name the same GPU twice")
        return out


# --- what a policy sees ---------------------------------------------------------------------


class PendingIndex:
    """The View's pending index as scans of the pending list."""

    def __init__(self, pending: list[JobState], clock: Clock) -> None:
        self.pending, self.clock = pending, clock

    def gpu_counts(self) -> list[int]:
        return sorted({job.num_gpus for job in self.pending})

    def first(self, num_gpus: int, after: int = -1, done_by: float = math.inf) -> JobState | None:
        return next((job for job in self.pending if job.num_gpus == num_gpus and job.index > after
                     and self.clock.now + job.remaining <= done_by), None)

    def in_order(self, num_gpus: int, key: str, after=None):
        value = {"remaining": lambda j: j.remaining, "duration": lambda j: j.duration,
                 "deadline": lambda j: math.inf if j.job.deadline is None else j.job.deadline,
                 "priority": lambda j: -j.priority}[key]
        return iter(sorted((job for job in self.pending if job.num_gpus == num_gpus
                            and (after is None or (value(job), job.index) > tuple(after))),
                           key=lambda j: (value(j), j.index)))


class View:
    def __init__(self, clock, pending, running, planner, cluster, placement) -> None:
        self._clock, self.pending, self.running, self._planner = clock, pending, running, planner
        self.cluster, self.placement = cluster, placement
        self._rate = None

    now = property(lambda self: self._clock.now)
    num_gpus = property(lambda self: self._planner.num_gpus)
    free_gpus = property(lambda self: self._planner.free_total)

    def free_per_node(self):
        return self._planner.free_per_node()

    def planner(self):
        return self._planner.copy()

    def pending_by_gpus(self) -> PendingIndex:
        return PendingIndex(self.pending, self._clock)

    def running_by_end(self):
        return iter(sorted(self.running, key=lambda j: (j.expected_end, j.num_gpus, j.index)))

    def rate(self, job, gpus) -> float:
        return self._rate(job.job, tuple(gpus))


# --- the loop -------------------------------------------------------------------------------


@dataclass
class Run:
    """What the reference loop produced."""

    events: list[Event]
    end_time: float


def simulate(jobs: Sequence[Job], cluster: Cluster, policy, seed: int = 0, *, placement: str = "consolidated",
             restart_overhead: float = 0.0, until: float | None = None,
             speed: Callable[[Job, tuple[int, ...]], float] | None = None) -> Run:
    """The event log of ``policy`` on ``jobs``: the same as sim.engine.simulate's (legal decisions assumed)."""
    clock = Clock()
    order = sorted(range(len(jobs)), key=lambda i: jobs[i].submit_time)
    states = [JobState(jobs[i], k, clock) for k, i in enumerate(order)]
    planner = Planner([n.num_gpus for n in cluster.nodes], placement)
    pending: list[JobState] = []  # arrival order
    running: list[JobState] = []  # start order
    view = View(clock, pending, running, planner, cluster, placement)

    def rate(job: Job, gpus: tuple[int, ...]) -> float:
        if speed is not None:
            return float(speed(job, gpus))
        return 1.0 if len(gpus) == job.num_gpus else len(gpus) / job.num_gpus

    view._rate = rate
    events: list[Event] = []
    rng = stream(seed, "policy")
    completions: list[tuple[float, JobState, int]] = []  # (time, job, run): stale when the job's run moved on
    wakes: list[tuple[float, int]] = []  # (time, version): only the latest version counts
    rounds: list[float] = []
    interval = getattr(policy, "round_interval", None)
    version, round_at, arrived = 0, None, 0
    last = math.inf if until is None else until

    def start(state: JobState, gpus: tuple[int, ...], now: float) -> None:
        overhead = restart_overhead if state._first_start is not None else 0.0
        pending.remove(state)
        running.append(state)
        state._running, state._gpus, state._start_time = True, gpus, now
        if state._first_start is None:
            state._first_start = now
        state._progress_from = now + overhead
        state._rate = rate(state.job, gpus)
        state._expected_end = max(state._progress_from + state._remaining / state._rate, math.nextafter(now, math.inf))
        state._run += 1
        completions.append((state._expected_end, state, state._run))
        events.append(Event(now, "start", state.job_id, gpus))

    def preempt(state: JobState, now: float, kind: str = "preempt") -> None:
        ran = max(0.0, now - state._progress_from)
        state._remaining = max(0.0, state._remaining - state._rate * ran)
        state._attained += len(state._gpus) * ran
        state._running, state._expected_end, state._start_time = False, None, None
        state._preemptions += kind == "preempt"
        state._run += 1
        planner.release(state._gpus)
        events.append(Event(now, kind, state.job_id, state._gpus))
        state._gpus = ()
        running.remove(state)
        pending.append(state)
        pending.sort(key=lambda s: s.index)

    def finish(state: JobState, now: float) -> None:
        state._attained += len(state._gpus) * max(0.0, now - state._progress_from)
        state._remaining, state._running, state._end_time, state._expected_end = 0.0, False, now, None
        state._run += 1
        planner.release(state._gpus)
        state._gpus, state._start_time = (), None
        running.remove(state)
        events.append(Event(now, "finish", state.job_id))

    while True:
        times = [t for t, _, _ in completions] + [t for t, _ in wakes] + rounds
        if arrived < len(states):
            times.append(states[arrived].submit_time)
        now = min(times, default=math.inf)
        if now == math.inf or now > last:
            break
        done = sorted((s for t, s, run in completions if t == now and s._run == run), key=lambda s: s.index)
        due = bool(done) or any(t == now and v == version for t, v in wakes) or now in rounds
        if now in rounds:
            round_at = None
        completions = [c for c in completions if c[0] != now]
        wakes = [w for w in wakes if w[0] != now]
        rounds = [r for r in rounds if r != now]
        new = []
        while arrived < len(states) and states[arrived].submit_time == now:
            new.append(states[arrived])
            arrived += 1
        if not (due or new):
            continue
        clock.now = now
        for state in done:
            finish(state, now)
        for state in new:
            pending.append(state)
            events.append(Event(now, "submit", state.job_id))
        if pending or running:
            decisions = list(policy.schedule(view, rng))
            preempted = [d.job_id for d in decisions if isinstance(d, Preempt)]
            for job_id in preempted:
                preempt(next(s for s in running if s.job_id == job_id), now)
            for d in (d for d in decisions if isinstance(d, Resize)):
                state = next(s for s in running if s.job_id == d.job_id)
                preempt(state, now, "resize")
                planner.take(tuple(d.gpus))
                start(state, tuple(d.gpus), now)
            for d in (d for d in decisions if isinstance(d, Start)):
                state = next((s for s in pending if s.job_id == d.job_id), None)
                if state is None or d.job_id in preempted:
                    raise PolicyError(f"illegal decision {d!r}: job is not pending")
                gpus = planner.place(state.num_gpus) if d.gpus is None else tuple(int(g) for g in d.gpus)
                if gpus is None:
                    continue  # fits by count but not on nodes: skipped
                planner.take(gpus)
                start(state, gpus, now)
            version += 1
            at = [d.at for d in decisions if isinstance(d, Wake)]
            if at:
                wakes.append((min(at), version))
        if not (pending or running):
            version += 1
        elif interval and round_at is None:
            round_at = (math.floor(now / interval) + 1) * interval
            rounds.append(round_at)
    unfinished = sum(1 for s in states if s._end_time is None)
    end = (events[-1].time if events else 0.0) if until is None or not unfinished else until
    if unfinished:
        events.append(Event(end, "stop", ""))
    return Run(events, end)


# --- reference policies: the plain versions of those sim/ speeds up -------------------------


def greedy_starts(view, order, stop_at_first_misfit: bool = False) -> list[Start]:
    planner, starts = view.planner(), []
    for job in order:
        gpus = planner.place(job.num_gpus)
        if gpus is None:
            if stop_at_first_misfit:
                break
            continue
        planner.take(gpus)
        starts.append(Start(job.job_id, gpus))
    return starts


def preemptive_plan(view, order) -> tuple[list, set[str]]:
    budget, chosen = view.num_gpus, []
    for job in order:
        if job.num_gpus <= budget:
            chosen.append(job)
            budget -= job.num_gpus
    keep = {job.job_id for job in chosen if job.is_running}
    decisions, planner = [], view.planner()
    for job in view.running:
        if job.job_id not in keep:
            decisions.append(Preempt(job.job_id))
            planner.release(job.gpus)
    runs = set(keep)
    for job in chosen:
        if not job.is_running:
            gpus = planner.place(job.num_gpus)
            if gpus is not None:
                planner.take(gpus)
                decisions.append(Start(job.job_id, gpus))
                runs.add(job.job_id)
    return decisions, runs


def easy_backfill(view, runtime, running_end) -> list[Start]:
    """EASY: on a pool the reservation counts GPUs; under other placements it is the first end at
    which the head can be placed, and a later job still running then must leave it a place."""
    planner, now = view.planner(), view.now
    by_nodes = view.placement != "pool"
    queue = iter(list(view.pending))
    starts, ends, head = [], [], None
    for job in queue:
        gpus = planner.place(job.num_gpus)
        if gpus is None:
            head = job
            break
        planner.take(gpus)
        starts.append(Start(job.job_id, gpus))
        ends.append((now + runtime(job), job.num_gpus, job.index, gpus))
    if head is None:
        return starts
    ends.extend((running_end(job), job.num_gpus, job.index, job.gpus) for job in view.running)
    future = planner.copy()  # the free GPUs at the reserved time
    free, shadow = planner.free_total, math.inf
    for end, num_gpus, _, gpus in sorted(ends):
        free += num_gpus
        future.release(gpus)
        if free >= head.num_gpus and (not by_nodes or future.place(head.num_gpus) is not None):
            shadow = end
            break
    spare = free - head.num_gpus
    for job in queue:
        if job.num_gpus > planner.free_total:
            continue
        ends_in_time = now + runtime(job) <= shadow
        if not ends_in_time and job.num_gpus > spare:
            continue
        gpus = planner.place(job.num_gpus)
        if gpus is None:
            continue
        if not ends_in_time and by_nodes:
            future.take(gpus)
            if future.place(head.num_gpus) is None:
                future.release(gpus)
                continue
        planner.take(gpus)
        starts.append(Start(job.job_id, gpus))
        if not ends_in_time:
            spare -= job.num_gpus
    return starts


class Fifo:
    def schedule(self, view, rng):
        return greedy_starts(view, view.pending, stop_at_first_misfit=True)


class EasyBackfill:
    def schedule(self, view, rng):
        return easy_backfill(view, lambda job: job.remaining, lambda job: job.expected_end)


class ShortestJobFirst:
    def schedule(self, view, rng):
        return greedy_starts(view, sorted(view.pending, key=lambda j: (j.duration, j.index)))


class ShortestRemainingTimeFirst:
    def schedule(self, view, rng):
        return preemptive_plan(view, sorted(chain(view.running, view.pending), key=lambda j: (j.remaining, j.index)))[0]


@dataclass
class Tiresias:
    """Discretized 2D-LAS as first written: every pass rebuilds its view of the queues from scratch."""

    thresholds: tuple[float, ...] = (3250.0, 7200.0)
    _queues: list[list[str]] = field(default_factory=list, init=False)
    _level: dict[str, int] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._queues = [[] for _ in range(len(self.thresholds) + 1)]

    def _crossed(self, job, level: int) -> bool:
        return level < len(self.thresholds) and job.attained >= self.thresholds[level] * (1 - 1e-9)

    def schedule(self, view, rng):
        alive = {job.job_id: job for job in view.running}
        alive.update((job.job_id, job) for job in view.pending)
        for queue in self._queues:
            queue[:] = [job_id for job_id in queue if job_id in alive]
        self._level = {job_id: lvl for job_id, lvl in self._level.items() if job_id in alive}
        for job in view.pending:
            if job.job_id not in self._level:
                self._level[job.job_id] = 0
                self._queues[0].append(job.job_id)
        for level, queue in enumerate(self._queues[:-1]):
            for job_id in [j for j in queue if alive[j].is_running and self._crossed(alive[j], level)]:
                queue.remove(job_id)
                lvl = level + 1
                while self._crossed(alive[job_id], lvl):
                    lvl += 1
                self._queues[lvl].append(job_id)
                self._level[job_id] = lvl
        order = [alive[job_id] for queue in self._queues for job_id in queue]
        decisions, runs = preemptive_plan(view, order)
        for queue in self._queues:
            queue[:] = [j for j in queue if j in runs] + [j for j in queue if j not in runs]
        wake = math.inf
        for job_id in runs:
            level = self._level[job_id]
            if level < len(self.thresholds):
                job = alive[job_id]
                wake = min(wake, view.now + (self.thresholds[level] - job.attained) / job.num_gpus)
        if wake < math.inf:
            decisions.append(Wake(max(wake, math.nextafter(view.now, math.inf))))
        return decisions


def _deadline(job) -> float:
    return math.inf if job.job.deadline is None else job.job.deadline


@dataclass
class EarliestDeadlineFirst:
    preemptive: bool = False

    def schedule(self, view, rng):
        if not self.preemptive:
            return greedy_starts(view, sorted(view.pending, key=lambda j: (_deadline(j), j.index)))
        jobs = sorted(chain(view.running, view.pending), key=lambda j: (_deadline(j), not j.is_running, j.index))
        return preemptive_plan(view, jobs)[0]


@dataclass
class PriorityOrder:
    preemptive: bool = False

    def schedule(self, view, rng):
        if not self.preemptive:
            return greedy_starts(view, sorted(view.pending, key=lambda j: (-j.priority, j.index)))
        jobs = sorted(chain(view.running, view.pending), key=lambda j: (-j.priority, not j.is_running, j.index))
        return preemptive_plan(view, jobs)[0]


#: Registered policy name → its plain reference version.
REFERENCE_POLICIES = {
    "edf": EarliestDeadlineFirst,
    "priority": PriorityOrder,
    "fifo": Fifo,
    "fifo-backfill": EasyBackfill,
    "sjf": ShortestJobFirst,
    "srtf": ShortestRemainingTimeFirst,
    "tiresias": Tiresias,
}

"""The discrete-event engine: the only module that touches SimPy.

Arrivals, completions, policy wake-ups and periodic rounds are SimPy timeouts. Whatever happens
at one instant is collected first; then a single scheduling pass applies completions (in arrival
order), then arrivals (in trace order), asks the policy, validates and applies its decisions
(preemptions, then resizes, then starts, each in the order given). SimPy orders same-time events
by insertion, so a run is deterministic; the pass runs in the callback of the instant's last event
(when SimPy's next event is later), so it follows every event due at that instant. Nothing polls.

The event log is columnar (``EventLog``); the free GPUs are indexed (``Planner``); indexes that
policies may ask for through the View (``sim.queues``) are kept only once asked for. The plain
loop in tests/reference_engine.py has the same semantics and must give the same event logs.
Node failures and autoscaling are mixed in from ``sim.faults.FaultHandling`` and
``sim.autoscale.Scaling``: they use this module's calendar, so SimPy is still touched only here.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import simpy
from sortedcontainers import SortedDict

from sim import metrics
from sim.errors import GpusimError, PolicyError
from sim.autoscale import Autoscale, Scaling
from sim.faults import FaultHandling, Faults, Outage
from sim.model import (FINISH, PREEMPT, RESIZE, START, STOP, SUBMIT, Cluster, Clock, Event, EventLog, Job, JobState, Policy,
                       Preempt, Resize, Start, View, Wake, ideal_rate)
from sim.placement import DEFAULT
from sim.resources import DEFAULT_SHARING, planner_for, why_never
from sim.queues import Indexes, Queue
from sim.rng import stream

#: A speed model: seconds of a job's ``duration`` done per second of running on the given GPUs
#: (their number included: an elastic job may run on more or fewer than ``num_gpus``).
Speed = Callable[[Job, tuple[int, ...]], float]


@dataclass(frozen=True)
class SimResult:
    """What one simulation produced: its inputs and the event log every metric is computed from."""

    jobs: tuple[Job, ...]
    cluster: Cluster
    events: Sequence[Event] = field(repr=False)  # an EventLog from simulate
    end_time: float
    policy: str
    placement: str
    seed: int
    restart_overhead: float
    until: float | None
    faults: dict | None = field(default=None, repr=False)  # the engine's fault counters, with faults
    autoscale: dict | None = field(default=None, repr=False)  # the autoscaler's counters, with one
    resources: bool = False  # whether the run honoured the resource model (shared GPUs: sim.resources)
    extra: dict | None = field(default=None, repr=False)  # more summary metrics from the outer ring (stragglers)

    def job_table(self) -> list[dict]:
        return metrics.job_table(self.jobs, self.events)

    def summary(self) -> dict:
        """The run's metrics (``sim.metrics.summary``), and with faults ``sim.metrics.fault_summary``'s."""
        out = metrics.summary(self.jobs, self.events, self.cluster.num_gpus)
        if self.resources:  # shares are honoured only under the resource model
            out.update(metrics.share_summary(self.jobs, self.events, self.cluster.num_gpus, out["makespan"]))
        if self.faults is not None:
            out.update(metrics.fault_summary(self.events, self.faults, self.cluster.num_gpus))
        if self.autoscale is not None:
            out.update(metrics.autoscale_summary(self.events, self.autoscale))
        if self.extra:
            out.update(self.extra)
        return out

    def availability(self) -> list[tuple[float, int]]:
        """(time, GPUs in the pool) from time 0 and after each instant at which a node failed, was
        repaired, or was turned on or off by the autoscaler."""
        start = self.cluster.num_gpus
        if self.autoscale is not None:
            start = sum(n.num_gpus for n in self.cluster.nodes[:self.autoscale["model"].initial])
        return metrics.availability(self.events, start)

    def timeseries(self) -> list[tuple]:
        """(time, busy GPUs, queue length[, share-weighted busy GPUs when some job shares a GPU
        under the resource model]) after each instant (``sim.metrics.timeseries``)."""
        shares = metrics.shares(self.jobs) if self.resources else None
        return metrics.timeseries(self.events, {j.job_id: j.num_gpus for j in self.jobs}, shares or None)


def check_fits(jobs: Iterable[Job], cluster: Cluster, placement: str = DEFAULT, resources: bool = False) -> list[Job]:
    """The jobs that could never run on ``cluster`` (placed on an empty cluster, they do not fit;
    with ``resources``, under the resource model: GPU type and memory, CPU and memory)."""
    jobs = list(jobs)
    empty = planner_for(cluster, placement, resources=resources)
    fits: dict = {}
    if not resources:
        for n in {j.num_gpus for j in jobs}:
            fits[n] = empty.place(n) is not None
        return [j for j in jobs if not fits[j.num_gpus]]
    key = lambda j: (j.num_gpus, j.gpu_type, j.gpu_milli, j.gpu_memory_mib, j.cpu_milli, j.memory_mib)  # noqa: E731
    for j in jobs:
        if key(j) not in fits:
            fits[key(j)] = empty.place_job(j) is not None
    return [j for j in jobs if not fits[key(j)]]


def _exact_delay(now: float, at: float) -> float:
    """A delay ``d`` with ``now + d == at`` exactly in floating point, so events land on ``at``."""
    d = at - now
    while now + d < at:
        d = math.nextafter(d, math.inf)
    while now + d > at:
        d = math.nextafter(d, -math.inf)
    return d


class _Engine(FaultHandling, Scaling):
    def __init__(self, jobs: Sequence[Job], cluster: Cluster, policy: Policy, seed: int,
                 placement: str, restart_overhead: float, speed: Speed | None = None,
                 progress: Callable[[float, int, int], None] | None = None, *, resources: bool = False,
                 sharing: str = DEFAULT_SHARING, faults: Faults | None = None,
                 autoscale: Autoscale | None = None) -> None:
        self.speed = speed
        self.progress = progress
        self.done = 0
        self.env = simpy.Environment()
        self.clock = Clock()
        self.cluster = cluster
        self.policy = policy
        self.name = getattr(policy, "name", type(policy).__name__)
        self.rng = stream(seed, "policy")
        self.overhead = restart_overhead
        self.planner = planner_for(cluster, placement, jobs, resources, sharing)
        order = sorted(range(len(jobs)), key=lambda i: jobs[i].submit_time)  # stable: trace order on ties
        self.states = [JobState(jobs[i], k, self.clock) for k, i in enumerate(order)]
        self.pending: SortedDict = SortedDict()
        self.running: dict[str, JobState] = {}
        self.by_id = {s.job_id: s for s in self.states}
        self.indexes = Indexes(self.clock, self.states, self.pending.values(), self.running.values())
        self.view = View(self.clock, Queue(self.pending), self.running.values(), self.planner, self.indexes,
                         cluster, placement, None if speed is None else self._checked_rate)
        self.events = EventLog([s.job_id for s in self.states])  # job numbers are arrival indices
        self.next_arrival = 0
        self.arrived: list[JobState] = []
        self.finished: list[JobState] = []
        self.pass_due = False
        self.wake_version = 0
        self.round_at: float | None = None
        self.interval = getattr(policy, "round_interval", None)
        self.faults, self.fault_stats, self.slowdown = faults, None, 1.0
        self.due_repairs: list[Outage] = []
        self.due_failures: list[Outage] = []
        self.autoscale, self.scale_stats, self.tick_due = autoscale, None, False
        self.due_boots: list[int] = []
        if faults is not None and autoscale is not None:
            raise GpusimError("node failures and an autoscaler cannot be combined yet")
        if autoscale is not None and (any(n.num_gpus == 0 for n in cluster.nodes) or any(j.num_gpus == 0 for j in jobs)):
            raise GpusimError("an autoscaler cannot run with CPU-only jobs or nodes yet (it turns nodes on and off "
                              "by their GPUs)")
        if faults is not None:
            self._setup_faults(seed)
        if autoscale is not None:
            self._setup_autoscale()

    # --- calendar ---------------------------------------------------------------------------
    # Every callback notes what happened and then calls _settle: the instant's scheduling pass runs
    # inside the callback of its last event, so a pass costs no calendar event of its own.

    def _at(self, at: float, callback, value=None) -> None:
        now = self.env.now
        delay = at - now
        if now + delay != at:  # rare: the difference rounded
            delay = _exact_delay(now, at)
        self.env.timeout(delay, value).callbacks.append(callback)

    def _settle(self) -> None:
        if self.pass_due and self.env.peek() > self.env.now:
            self._pass()

    def _schedule_arrivals(self) -> None:
        if self.next_arrival < len(self.states):
            self._at(self.states[self.next_arrival].job.submit_time, self._on_arrival)

    def _on_arrival(self, _event) -> None:
        now, states, k = self.env.now, self.states, self.next_arrival
        while k < len(states) and states[k].job.submit_time == now:
            self.arrived.append(states[k])
            k += 1
        self.next_arrival = k
        self._schedule_arrivals()
        self.pass_due = True
        self._settle()

    def _on_completion(self, event) -> None:
        state, run = event.value
        if state._run == run:  # else the run was preempted; this completion is stale
            self.finished.append(state)
            self.pass_due = True
        self._settle()

    def _on_wake(self, event) -> None:
        if event.value == self.wake_version:  # else a later pass replaced this wake-up
            self.pass_due = True
        self._settle()

    def _on_round(self, _event) -> None:
        self.round_at = None
        self.pass_due = True
        self._settle()

    # --- the scheduling pass ----------------------------------------------------------------

    def _pass(self) -> None:
        self.pass_due = False
        now = self.clock.now = self.env.now
        if self.finished:
            if len(self.finished) > 1:
                self.finished.sort(key=lambda s: s.index)
            for state in self.finished:
                self._finish(state, now)
            self.finished.clear()
        if self.due_repairs or self.due_failures:
            self._apply_outages(now)
        pending_index = self.indexes.pending
        for state in self.arrived:
            self.pending[state.index] = state
            if pending_index is not None:
                pending_index.add(state)
            self.events.add(now, SUBMIT, state.index)
        self.arrived.clear()
        if self.due_boots or self.tick_due:
            self._apply_scaling(now)
        if self.pending or self.running:
            self._apply(self.policy.schedule(self.view, self.rng), now)
        self._plan_wakeups(now)
        if self.progress is not None:
            self.progress(now, self.done, len(self.states))

    def _finish(self, state: JobState, now: float) -> None:
        if self.indexes.running is not None:
            self.indexes.running.remove(state)
        if self.fault_stats is not None:
            self._account(state, now)
        state._attained += len(state._gpus) * max(0.0, now - state._progress_from)
        state._remaining, state._running, state._end_time, state._expected_end = 0.0, False, now, None
        state._run += 1
        self.planner.release_job(state._gpus, state.job)
        state._gpus, state._start_time = (), None
        del self.running[state.job.job_id]
        self.done += 1
        self.events.add(now, FINISH, state.index)

    def _illegal(self, now: float, decision, why: str) -> PolicyError:
        return PolicyError(f"policy {self.name!r} at t={now:g}s: illegal decision {decision!r}: {why}")

    def _apply(self, decisions, now: float) -> None:
        starts, resizes, preempted, wake = [], [], set(), None
        for d in decisions:
            if isinstance(d, Start):
                starts.append(d)
            elif isinstance(d, Resize):
                resizes.append(d)
            elif isinstance(d, Preempt):
                state = self.running.get(d.job_id)
                if state is None or d.job_id in preempted:
                    raise self._illegal(now, d, "job is not running")
                preempted.add(d.job_id)
                self._preempt(state, now)
            elif isinstance(d, Wake):
                if not (isinstance(d.at, (int, float)) and math.isfinite(d.at) and d.at > now):
                    raise self._illegal(now, d, "wake-up time must be a finite time after now")
                wake = d.at if wake is None else min(wake, d.at)
            else:
                raise self._illegal(now, d, "not a Start, Preempt, Resize or Wake")
        if resizes:
            self._resize_all(resizes, preempted, now)
        for d in starts:
            state = self.by_id.get(d.job_id)
            if state is None or self.pending.get(state.index) is not state or d.job_id in preempted:
                raise self._illegal(now, d, "job is not pending")
            if d.gpus is None:
                if state.num_gpus > self.planner.free_total and not self.planner.shares(state.job):
                    raise self._illegal(now, d, f"needs {state.num_gpus} GPUs, {self.planner.free_total} free")
                gpus = self.planner.place_job(state.job)
                if gpus is None:
                    continue  # fits by count but not on nodes: skipped at this point, by design
            else:
                gpus = self._gpus_of(d, state, now)
            try:
                self.planner.take_job(gpus, state.job)
            except ValueError as err:
                raise self._illegal(now, d, str(err)) from None
            self._start(state, gpus, now)
        self.wake_version += 1
        if wake is not None:
            self._at(wake, self._on_wake, self.wake_version)

    def _resize_all(self, resizes: list[Resize], preempted: set, now: float) -> None:
        """Apply Resize decisions in order, after the pass's preemptions and before its starts:
        each running job gives its GPUs back and takes the new ones, a checkpoint and a restart."""
        moved = set()
        for d in resizes:
            state = self.running.get(d.job_id)
            if state is None or d.job_id in preempted or d.job_id in moved:
                raise self._illegal(now, d, "job is not running (or is preempted or resized twice in one pass)")
            if d.gpus is None:
                raise self._illegal(now, d, "a resize names its GPUs")
            moved.add(d.job_id)
            gpus = self._gpus_of(d, state, now)
            self._preempt(state, now, RESIZE)
            try:
                self.planner.take_job(gpus, state.job)
            except ValueError as err:
                raise self._illegal(now, d, str(err)) from None
            self._start(state, gpus, now)

    def _gpus_of(self, d: Start | Resize, state: JobState, now: float) -> tuple[int, ...]:
        """A decision's GPUs as a tuple of ints of a size the job may have (whether they are free is
        take's check)."""
        gpus = d.gpus
        if type(gpus) is tuple and len(gpus) == state.job.num_gpus:
            for g in gpus:
                if type(g) is not int:
                    break
            else:
                return gpus
        try:
            gpus = tuple(operator.index(g) for g in gpus)
        except TypeError:
            raise self._illegal(now, d, "gpus must be integers") from None
        if len(gpus) != state.num_gpus:
            low, high = state.job.gpu_range
            if not low <= len(gpus) <= high:
                size = f"{low} to {high}" if low < high else f"{state.num_gpus}"
                raise self._illegal(now, d, f"job needs {size} GPUs, got {len(gpus)}")
        return gpus

    def _start(self, state: JobState, gpus: tuple[int, ...], now: float) -> None:
        if state._first_start is None:
            overhead = 0.0
        elif self.fault_stats is not None and state.index in self.killed:
            overhead = self.faults.restart_cost  # restarting from a checkpoint after a node failure
            self.killed.discard(state.index)
        else:
            overhead = self.overhead
        job = state.job
        del self.pending[state.index]
        if self.indexes.pending is not None:
            self.indexes.pending.remove(state)
        self.running[job.job_id] = state
        state._running, state._gpus, state._start_time = True, gpus, now
        if state._first_start is None:
            state._first_start = now
        state._progress_from = now + overhead
        state._rate = 1.0 if self.speed is None and len(gpus) == job.num_gpus else self._checked_rate(job, gpus)
        if self.slowdown != 1.0:
            state._rate *= self.slowdown  # the time its checkpoints take
        # Work below the clock's resolution would complete within this instant and force a second
        # pass in it; it completes at the next representable time instead. (Without a speed model the
        # rate is exactly 1.0, so the division changes nothing.)
        state._expected_end = max(state._progress_from + state._remaining / state._rate, math.nextafter(now, math.inf))
        state._run += 1
        if self.indexes.running is not None:
            self.indexes.running.add(state)
        self._at(state._expected_end, self._on_completion, (state, state._run))
        self.events.add(now, START, state.index, gpus)

    def _checked_rate(self, job: Job, gpus: tuple[int, ...]) -> float:
        """The job's rate on ``gpus``: the speed model's, checked, or without one ``ideal_rate``."""
        if self.speed is None:
            return 1.0 if len(gpus) == job.num_gpus else ideal_rate(job, gpus)
        rate = self.speed(job, gpus)
        if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
            raise GpusimError(f"speed model gave job {job.job_id} on GPUs {gpus} the rate {rate!r}; "
                              "it must be a positive finite number")
        return float(rate)

    def _preempt(self, state: JobState, now: float, kind: int = PREEMPT) -> None:
        """Stop a running job, keeping its progress, and queue it again (``kind`` RESIZE: for a
        restart on other GPUs in this pass, not counted as a preemption)."""
        if self.indexes.running is not None:
            self.indexes.running.remove(state)
        if self.fault_stats is not None:
            self._account(state, now)
        running = max(0.0, now - state._progress_from)
        state._remaining = max(0.0, state._remaining - state._rate * running)
        state._attained += len(state._gpus) * running
        state._running, state._expected_end, state._start_time = False, None, None
        state._preemptions += kind == PREEMPT
        state._run += 1
        self.planner.release_job(state._gpus, state.job)
        self.events.add(now, kind, state.index, state._gpus)
        state._gpus = ()
        del self.running[state.job_id]
        self.pending[state.index] = state
        if self.indexes.pending is not None:
            self.indexes.pending.add(state)

    def _plan_wakeups(self, now: float) -> None:
        # With no job in the system nothing can be decided until the next arrival, which wakes the
        # scheduler itself: drop any wake-up and round rather than poll an empty cluster.
        if not (self.pending or self.running):
            self.wake_version += 1
        elif self.interval and self.round_at is None:
            self.round_at = (math.floor(now / self.interval) + 1) * self.interval
            self._at(self.round_at, self._on_round)

    # --- nodes: the GPUs of each (faults and autoscaling turn whole nodes off and on) ----------

    def _node_layout(self) -> None:
        first, self.node_gpus = 0, []
        for node in self.cluster.nodes:
            self.node_gpus.append(tuple(range(first, first + node.num_gpus)))
            first += node.num_gpus
        self.node_of_gpu = [i for i, gpus in enumerate(self.node_gpus) for _ in gpus]


    def run(self, until: float | None) -> float:
        self._schedule_arrivals()
        self.env.run(until=None if until is None else math.nextafter(until, math.inf))
        unfinished = len(self.states) - self.done
        last_event = self.events.times[-1] if self.events else 0.0  # a round after the last finish is no event
        end = last_event if until is None or not unfinished else until
        if unfinished:
            self.events.add(end, STOP, -1)
        if self.scale_stats is not None:
            for node in list(self.billed_from):
                self._bill(node, max(end, self.billed_from[node]))
        return end


def check_inputs(jobs: Sequence[Job], cluster: Cluster, placement: str, restart_overhead: float,
                 resources: bool = False) -> None:
    """The checks every run's inputs pass before simulation (shared with sim.stepper): a valid
    restart overhead, a duration for every job, unique ids, CPU-only jobs only with
    ``resources``, and no job that can never fit (with ``resources``, under the resource model,
    each such job's reason named)."""
    if resources and any(j.elastic for j in jobs):
        raise GpusimError("elastic jobs (min_gpus/max_gpus) cannot run under the resource model yet")
    if restart_overhead < 0 or not math.isfinite(restart_overhead):
        raise GpusimError(f"restart_overhead must be a non-negative number of seconds, got {restart_overhead!r}")
    no_duration = [j.job_id for j in jobs if j.duration is None]
    if no_duration:
        raise GpusimError(f"{len(no_duration)} job(s) have no duration, only model/batch_size/iterations "
                          f"({', '.join(no_duration[:10])}): give a calibration profile (--calibration)")
    seen: set[str] = set()
    duplicates = [j.job_id for j in jobs if j.job_id in seen or seen.add(j.job_id)]
    if duplicates:
        raise GpusimError(f"duplicate job ids: {', '.join(duplicates[:10])}")
    if not resources:
        cpu_only = [j.job_id for j in jobs if j.num_gpus == 0]
        if cpu_only:
            more = f" and {len(cpu_only) - 10} more" if len(cpu_only) > 10 else ""
            raise GpusimError(f"{len(cpu_only)} CPU-only job(s) (num_gpus 0) need --resources, the resource model: "
                              f"{', '.join(cpu_only[:10])}{more}")
    too_big = check_fits(jobs, cluster, placement, resources)
    if too_big:
        ids = ", ".join(f"{j.job_id} ({why_never(j, cluster) if resources else f'{j.num_gpus} GPUs'})"
                        for j in too_big[:10])
        more = f" and {len(too_big) - 10} more" if len(too_big) > 10 else ""
        raise GpusimError(
            f"{len(too_big)} job(s) can never fit the cluster {cluster} ({cluster.num_gpus} GPUs, "
            f"placement {placement}): {ids}{more}; use --drop-oversize to skip them"
        )


def simulate(jobs: Sequence[Job], cluster: Cluster, policy: Policy, seed: int = 0, *,
             placement: str = DEFAULT, restart_overhead: float = 0.0, until: float | None = None,
             speed: Speed | None = None, progress: Callable[[float, int, int], None] | None = None,
             resources: bool = False, sharing: str = DEFAULT_SHARING, faults: Faults | None = None,
             autoscale: Autoscale | None = None) -> SimResult:
    """Run ``policy`` on ``jobs`` over ``cluster`` and return the event log with its inputs.

    Jobs need not be sorted (ties keep their given order). A job that could never fit the cluster
    under ``placement`` is an error; filter such jobs first (``check_fits``) to drop them. The
    policy's randomness is the ``policy`` stream of ``seed``. ``until`` stops the clock at that
    simulated time (events at exactly ``until`` are still applied). ``speed(job, gpus)``, if given,
    says how many seconds of the job's ``duration`` one second of running on ``gpus`` does (a
    calibrated speed model: GPU types, node spread); without it every job runs at rate 1.
    ``progress(now, finished, total)``, if given, is called after every scheduling pass.
    ``resources`` turns the resource model on (``sim.resources``: GPU types and memory, shared GPUs
    placed by ``sharing``, CPU and memory per node); off, every job gets whole GPUs of any type.
    ``faults`` (``sim.faults.Faults``) makes nodes fail and be repaired, killing the jobs on them;
    the result's ``faults`` then holds the counters ``fault_summary`` reports. ``autoscale``
    (``sim.autoscale.Autoscale``) makes the cluster elastic: ``cluster`` is its largest size.
    """
    jobs = tuple(jobs)
    if not isinstance(policy, Policy):
        raise GpusimError(f"{policy!r} is not a policy: it has no schedule(view, rng) method")
    if until is not None and not (until >= 0 and math.isfinite(until)):
        raise GpusimError(f"until must be a non-negative number of seconds, got {until!r}")
    check_inputs(jobs, cluster, placement, restart_overhead, resources)
    engine = _Engine(jobs, cluster, policy, seed, placement, restart_overhead, speed, progress,
                     resources=resources, sharing=sharing, faults=faults, autoscale=autoscale)
    end = engine.run(until)
    return SimResult(jobs, cluster, engine.events, end, engine.name, placement, seed, restart_overhead, until,
                     engine.fault_stats, engine.scale_stats, resources)

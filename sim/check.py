"""Invariants of a finished run, checked by replaying its event log (``gpusim run --check``).

The check needs only what a SimResult holds (the log and the run's inputs: jobs, cluster, restart
overhead, ``until``) and, for a calibrated run, the speed function the engine used; it shares no
bookkeeping with the engine. It verifies four rules:

``event``
    Every event is well formed: a known kind, a finite time >= 0, times never decreasing and none
    after ``until``, the id of one of the run's jobs (the stop event and node events have none),
    GPUs only on start, preempt, kill, fail and repair, the stop event (at most one) last and at
    the run's end time.
``gpu``
    No GPU is double-booked: a start takes as many GPUs as the job needs, distinct, existing and
    free; a preemption (or a kill) returns exactly the GPUs its job holds; a finish returns them.
    With faults, no job starts on a failed node's GPUs, a failed node's jobs are killed in the
    instant it fails, and only a failed node is repaired. In a run under the resource model
    (``SimResult.resources``), one-GPU jobs with ``gpu_milli`` < 1000 may share a GPU as long as
    their shares on it sum to at most 1000 thousandths (``sim.fragmentation.job_share``); a GPU
    holding shares is still busy to a whole-GPU job. Under the resource model no node's CPU or
    memory is ever over its capacity: a job takes ``cpu_milli`` and ``memory_mib`` from each node
    it has GPUs on, in proportion (rounded up), and a CPU-only job (no GPUs; its start names none)
    takes them from the node the resource model's rule picks (``sim.resources``), which the replay
    finds again from its own bookkeeping: such a start needs a node that is up with room, and a
    CPU-only job is killed only when its node fails.
``finish``
    Every job lives in order and finishes once or is reported unfinished: submitted once, at its
    submit time (when that is before the run's end); started only while pending, preempted or
    finished only while running, finished at most once and then never seen again. A job without a
    finish needs the stop event, and the run's summary counts exactly those jobs as unfinished.
``work``
    GPU-seconds are conserved. Per job, the work its runs did (the time each run held its GPUs
    after the restart overhead, which every start but the first pays, times the speed rate of
    its GPUs: 1 without a speed model) equals its duration if it finished and stays below it if
    not. With faults, runs go at the checkpoint slowdown, a run after a kill pays the restart
    cost instead, and a killed run keeps only the work up to its last checkpoint (sim.faults). Over the run, the busy GPU-seconds the metrics report equal the sum over runs of GPUs x
    time held, and are at most the cluster's GPUs x the makespan (utilization <= 1; a shared
    job counts its share of a GPU there).

A new event kind must be taught to ``_Replay`` (an unknown kind is a violation, so that the
check never passes a log it cannot read).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from sim.errors import GpusimError
from sim.fragmentation import job_share
from sim.model import Job, ideal_rate

#: The rules a violation can break, in the order the module docstring explains them.
RULES = ("event", "gpu", "finish", "work")

#: Seconds of a job's ``duration`` done per second of running on some GPUs (calibrate.speed).
Speed = Callable[[Job, tuple[int, ...]], float]

# Relative slack for sums of floating-point times (the engine's own rounding is far smaller).
_REL = 1e-9


class Violation(NamedTuple):
    """One broken invariant: which rule, when (simulated seconds), which job ("" for none), what."""

    rule: str
    time: float
    job_id: str
    message: str

    def __str__(self) -> str:
        job = f" job {self.job_id}" if self.job_id else ""
        return f"{self.rule} at t={self.time:g}s{job}: {self.message}"


class CheckError(GpusimError):
    """A run broke its invariants; the message gives the count and the first violation."""


@dataclass
class _Job:
    """What the replay knows of one job: its state and the runs it made."""

    job: Job
    state: str = "new"  # new → pending ⇄ running → finished
    gpus: tuple[int, ...] = ()
    started: float = 0.0  # when the current run began
    node: int | None = None  # the node a running CPU-only job's CPU and memory are on
    held: dict[int, tuple[int, int]] = field(default_factory=dict)  # node → (CPU, memory) held now
    runs: list[tuple[float, float, tuple[int, ...]]] = field(default_factory=list)  # (start, end, gpus)


class _Replay:
    """One pass over the log, applying each event to the jobs' states and the GPUs' owners."""

    def __init__(self, result, speed: Speed | None) -> None:
        self.result, self.speed = result, speed
        self.num_gpus = result.cluster.num_gpus
        self.jobs = {j.job_id: _Job(j) for j in result.jobs}
        self.owner: dict[int, str] = {}  # GPU → the whole-GPU job holding it
        self.shared = bool(getattr(result, "resources", False))
        self.shares: dict[int, dict[str, int]] = {}  # GPU → {job: thousandths} of the jobs sharing it
        self.found: list[Violation] = []
        self.last = 0.0
        self.stop: float | None = None
        self.down: set[int] = set()
        faults = getattr(result, "faults", None)
        self.model = None if faults is None else faults.get("model")
        nodes = result.cluster.nodes
        self.node_of = [i for i, n in enumerate(nodes) for _ in range(n.num_gpus)]
        self.node_gpus, first = [], 0
        for n in nodes:
            self.node_gpus.append(range(first, first + n.num_gpus))
            first += n.num_gpus
        self.cpu_free = [math.inf if n.cpu_milli is None else n.cpu_milli for n in nodes]
        self.mem_free = [math.inf if n.memory_mib is None else n.memory_mib for n in nodes]
        scaling = getattr(result, "autoscale", None)
        if scaling is not None:  # nodes past the initial ones start off, without an event
            first = sum(n.num_gpus for n in result.cluster.nodes[:scaling["model"].initial])
            self.down.update(range(first, self.num_gpus))

    def flag(self, rule: str, time: float, job_id: str, message: str) -> None:
        self.found.append(Violation(rule, time, job_id, message))

    def run(self) -> list[Violation]:
        for i, e in enumerate(self.result.events):
            self.event(i, e)
        self.end()
        return self.found

    def event(self, i: int, e) -> None:
        t, kind, job_id = e.time, e.kind, e.job_id
        if not (isinstance(t, (int, float)) and math.isfinite(t) and t >= 0):
            self.flag("event", self.last, job_id, f"event {i} ({kind}) has time {t!r}")
            return
        if t < self.last:
            self.flag("event", t, job_id, f"event {i} ({kind}) goes back in time from t={self.last:g}s")
        if t > self.last and self.down:
            self.instant_over()
        self.last = max(self.last, t)
        if self.result.until is not None and t > self.result.until:
            self.flag("event", t, job_id, f"{kind} after the run's until={self.result.until:g}s")
        if self.stop is not None:
            self.flag("event", t, job_id, f"{kind} after the stop event")
        if kind == "stop":
            if job_id or e.gpus:
                self.flag("event", t, job_id, "the stop event names a job or GPUs")
            self.stop = t
            return
        if kind in ("fail", "repair", "node_on", "node_off"):
            self.node(t, "fail" if kind == "node_off" else "repair" if kind == "node_on" else kind, e)
            return
        state = self.jobs.get(job_id)
        if state is None:
            self.flag("event", t, job_id, f"{kind} of a job that is not in the run")
            return
        if kind not in ("start", "preempt", "resize", "kill") and e.gpus:
            self.flag("event", t, job_id, f"{kind} event carries GPUs {tuple(e.gpus)}")
        handler = {"submit": self.submit, "start": self.start, "preempt": self.preempt, "resize": self.preempt,
                   "finish": self.finish,
                   "kill": self.kill}.get(kind)
        if handler is None:
            self.flag("event", t, job_id, f"unknown event kind {kind!r}")
            return
        handler(t, state, e)

    # --- one handler per kind ---------------------------------------------------------------------

    def submit(self, t: float, s: _Job, e) -> None:
        if s.state != "new":
            self.flag("finish", t, s.job.job_id, "submitted more than once")
            return
        if t != s.job.submit_time:
            self.flag("finish", t, s.job.job_id, f"submitted at t={t!r}s, not at its submit time {s.job.submit_time!r}s")
        s.state = "pending"

    def start(self, t: float, s: _Job, e) -> None:
        job_id = s.job.job_id
        if s.state != "pending":
            self.flag("finish", t, job_id, f"started while {s.state if s.state != 'new' else 'not yet submitted'}")
            if s.state == "running":
                self._release(t, s, s.gpus, "preempt")  # treat it as a restart, so later events still line up
        try:
            gpus = tuple(operator.index(g) for g in e.gpus)
        except TypeError:
            self.flag("gpu", t, job_id, f"GPUs {tuple(e.gpus)!r} are not integers")
            gpus = ()
        low, high = s.job.gpu_range
        if not low <= len(gpus) <= high:
            size = f"{low} to {high}" if low < high else f"{s.job.num_gpus}"
            self.flag("gpu", t, job_id, f"started on {len(gpus)} GPU(s), needs {size}")
        if len(set(gpus)) != len(gpus):
            self.flag("gpu", t, job_id, f"started on a GPU more than once: {gpus}")
        share = self._share(s.job)
        for g in gpus:
            if not 0 <= g < self.num_gpus:
                self.flag("gpu", t, job_id, f"GPU {g} does not exist (the cluster has {self.num_gpus})")
            elif g in self.owner and self.owner[g] != job_id:
                self.flag("gpu", t, job_id, f"GPU {g} is double-booked: job {self.owner[g]} holds it")
            elif g in self.down:
                self.flag("gpu", t, job_id, f"started on GPU {g} of a failed node")
            elif self.shares.get(g) and share == 1000:
                self.flag("gpu", t, job_id, f"GPU {g} is double-booked: job {min(self.shares[g])} holds a share of it")
            elif self.shares.get(g) and sum(self.shares[g].values()) + share > 1000:
                self.flag("gpu", t, job_id, f"GPU {g} is over-shared: its shares would sum to "
                          f"{sum(self.shares[g].values()) + share} thousandths")
            if share < 1000:
                self.shares.setdefault(g, {})[job_id] = share
            else:
                self.owner[g] = job_id
        s.state, s.gpus, s.started = "running", gpus, t
        if self.shared and len(gpus) == s.job.num_gpus and all(0 <= g < self.num_gpus for g in gpus):
            self._take_resources(t, s)

    def _node_use(self, s: _Job) -> dict[int, tuple[int, int]]:
        """The CPU and memory a running job holds on each node (resource model)."""
        job = s.job
        cpu, mem = job.cpu_milli or 0, job.memory_mib or 0
        if not job.num_gpus:
            return {} if s.node is None else {s.node: (cpu, mem)}
        per_node: dict[int, int] = {}
        for g in s.gpus:
            per_node[self.node_of[g]] = per_node.get(self.node_of[g], 0) + 1
        return {n: (-(-cpu * k // job.num_gpus), -(-mem * k // job.num_gpus)) for n, k in per_node.items()}

    def _is_down(self, node: int) -> bool:
        gpus = self.node_gpus[node]
        return bool(gpus) and self.down.issuperset(gpus)

    def _take_resources(self, t: float, s: _Job) -> None:
        job = s.job
        if not job.num_gpus:  # the resource model's rule: a node without GPUs first, then best fit
            cpu, mem = job.cpu_milli or 0, job.memory_mib or 0
            room = [(len(self.node_gpus[n]) > 0, self.cpu_free[n] - cpu,
                     self.mem_free[n] - mem, n) for n in range(len(self.cpu_free))
                    if cpu <= self.cpu_free[n] and mem <= self.mem_free[n] and not self._is_down(n)]
            if not room:
                self.flag("gpu", t, job.job_id, f"CPU-only job started, but no node that is up has {cpu} CPU milli "
                          f"and {mem} MiB memory free")
                return
            s.node = min(room)[3]
        s.held = self._node_use(s)
        for n, (cpu, mem) in s.held.items():
            self.cpu_free[n] -= cpu
            self.mem_free[n] -= mem
            if self.cpu_free[n] < 0 or self.mem_free[n] < 0:
                self.flag("gpu", t, job.job_id, f"node {n} is over its CPU or memory: "
                          f"{self.cpu_free[n]:g} CPU milli and {self.mem_free[n]:g} MiB memory left")

    def preempt(self, t: float, s: _Job, e) -> None:
        """A preemption, or a resize (the job leaves its GPUs to start again at once on others)."""
        what = "resized" if e.kind == "resize" else "preempted"
        if s.state != "running":
            self.flag("finish", t, s.job.job_id, f"{what} while {s.state if s.state != 'new' else 'not submitted'}")
            return
        if tuple(e.gpus) != s.gpus:
            self.flag("gpu", t, s.job.job_id, f"{'resize' if e.kind == 'resize' else 'preemption'} returns GPUs "
                      f"{tuple(e.gpus)}, the job holds {s.gpus}")
        self._release(t, s, s.gpus, e.kind)
        s.state = "pending"

    def kill(self, t: float, s: _Job, e) -> None:
        if s.state != "running":
            self.flag("finish", t, s.job.job_id, f"killed while {s.state if s.state != 'new' else 'not submitted'}")
            return
        if tuple(e.gpus) != s.gpus:
            self.flag("gpu", t, s.job.job_id, f"kill returns GPUs {tuple(e.gpus)}, the job holds {s.gpus}")
        if s.job.num_gpus == 0 and self.shared:
            if s.node is None or not self._is_down(s.node):
                self.flag("gpu", t, s.job.job_id, "CPU-only job killed, though its node did not fail")
        elif not self.down.intersection(s.gpus):
            self.flag("gpu", t, s.job.job_id, "killed, though none of its GPUs' nodes failed")
        self._release(t, s, s.gpus, "kill")
        s.state = "pending"

    def node(self, t: float, kind: str, e) -> None:
        gpus = tuple(e.gpus)
        if e.job_id or not gpus or not all(isinstance(g, int) and 0 <= g < self.num_gpus for g in gpus):
            self.flag("event", t, e.job_id, f"{kind} of a node must name its existing GPUs and no job, got {gpus}")
            return
        if kind == "fail":
            if self.down.intersection(gpus):
                self.flag("gpu", t, "", f"GPUs {gpus} fail while already down")
            self.down.update(gpus)
        else:
            if not self.down.issuperset(gpus):
                self.flag("gpu", t, "", f"GPUs {gpus} are repaired but were not down")
            self.down.difference_update(gpus)

    def instant_over(self) -> None:
        """After an instant: no job may still hold a failed node's GPU (its jobs were killed)."""
        for g in sorted(self.down):
            for holder in ([self.owner[g]] if g in self.owner else []) + sorted(self.shares.get(g, ())):
                self.flag("gpu", self.last, holder, f"still holds GPU {g} of a node that failed")
        for s in self.jobs.values():
            if s.node is not None and self._is_down(s.node):
                self.flag("gpu", self.last, s.job.job_id, f"CPU-only job still on node {s.node}, which failed")

    def finish(self, t: float, s: _Job, e) -> None:
        if s.state == "finished":
            self.flag("finish", t, s.job.job_id, "finished more than once")
            return
        if s.state != "running":
            self.flag("finish", t, s.job.job_id, f"finished while {s.state if s.state != 'new' else 'not submitted'}")
        else:
            self._release(t, s, s.gpus, "finish")
        s.state = "finished"

    def _release(self, t: float, s: _Job, gpus: tuple[int, ...], how: str = "") -> None:
        s.runs.append((s.started, t, gpus, how))
        for n, (cpu, mem) in s.held.items():
            self.cpu_free[n] += cpu
            self.mem_free[n] += mem
        s.held, s.node = {}, None
        for g in gpus:
            if s.job.job_id in self.shares.get(g, ()):
                del self.shares[g][s.job.job_id]
                if not self.shares[g]:
                    del self.shares[g]
            elif self.owner.get(g) == s.job.job_id:
                del self.owner[g]
            else:
                self.flag("gpu", t, s.job.job_id, f"returns GPU {g}, which job {self.owner.get(g)} holds")
        s.gpus = ()

    # --- after the last event ---------------------------------------------------------------------

    def end(self) -> None:
        if self.down:
            self.instant_over()
        result = self.result
        end = self.stop if self.stop is not None else self.last
        if result.end_time != end:
            self.flag("event", end, "", f"the run's end time {result.end_time!r}s is not its last event's {end!r}s")
        for s in self.jobs.values():
            if s.state == "running":  # held its GPUs up to the stop
                s.runs.append((s.started, end, s.gpus, "stop"))
            if s.state != "finished" and self.stop is None:
                self.flag("finish", end, s.job.job_id, "never finished, and no stop event reports it unfinished")
            if s.state == "new" and s.job.submit_time <= end:
                self.flag("finish", end, s.job.job_id, f"never submitted, though its submit time "
                          f"{s.job.submit_time:g}s is within the run")
        if self.stop is not None and all(s.state == "finished" for s in self.jobs.values()):
            self.flag("event", self.stop, "", "a stop event, but every job finished")
        self.work(end)

    def work(self, end: float) -> None:
        overhead = self.result.restart_overhead
        model = self.model
        slowdown = 1.0 if model is None else model.slowdown
        held_total = used_total = 0.0
        for s in self.jobs.values():
            done = slack = 0.0
            how_before = ""
            share = self._share(s.job) / 1000
            for k, (a, b, gpus, how) in enumerate(s.runs):
                held_total += len(gpus) * (b - a)
                used_total += share * len(gpus) * (b - a)
                low, high = s.job.gpu_range
                rate = 1.0 if len(gpus) == s.job.num_gpus else ideal_rate(s.job, gpus)
                if self.speed is not None and low <= len(gpus) <= high and all(0 <= g < self.num_gpus for g in gpus):
                    rate = float(self.speed(s.job, gpus))
                lost = 0.0 if not k else (model.restart_cost if how_before == "kill" and model else overhead)
                before = done
                done += rate * slowdown * max(0.0, b - a - lost)
                if how == "kill" and model is not None:
                    done = model.saved(before, done)
                how_before = how
                slack += rate * 8 * math.ulp(max(abs(b), 1.0))  # the clock's rounding at the run's end
            duration = s.job.duration
            if duration is None:
                continue
            tol = _REL * duration + slack
            if s.state == "finished" and s.runs and not math.isclose(done, duration, rel_tol=0, abs_tol=tol):
                self.flag("work", end, s.job.job_id, f"its runs did {done!r}s of work; its duration is {duration!r}s")
            elif s.state != "finished" and done > duration + tol:
                self.flag("work", end, s.job.job_id, f"unfinished after {done!r}s of work, over its duration "
                          f"{duration!r}s")
        if self.found:
            return  # the metrics below assume a well-formed log
        self.accounting(end, held_total, used_total)

    def _share(self, job: Job) -> int:
        """The thousandths of each of its GPUs a job takes: below 1000 only for a shared job under
        the resource model."""
        return job_share(job) if self.shared else 1000

    def accounting(self, end: float, held: float, used: float) -> None:
        """The metrics' totals against the replay's: busy GPU-seconds (a shared job counted as its
        whole GPU, as the metrics do), unfinished jobs, and the GPU capacity used (shares counted as
        shares) against the cluster's."""
        from sim import metrics

        result = self.result
        try:
            busy = metrics.busy_gpu_seconds(result.events)
            summary = result.summary()
        except Exception as err:  # a metric that cannot read this log is itself a finding
            self.flag("work", end, "", f"the metrics fail on this log: {type(err).__name__}: {err}")
            return
        if not math.isclose(busy, held, rel_tol=_REL, abs_tol=_REL * max(1.0, end) * max(1, len(result.jobs))):
            self.flag("work", end, "", f"the metrics count {busy!r} busy GPU-seconds; the runs held {held!r}")
        unfinished = sum(s.state != "finished" for s in self.jobs.values())
        if summary["unfinished"] != unfinished:
            self.flag("finish", end, "", f"the summary reports {summary['unfinished']} unfinished job(s); "
                      f"the log has {unfinished}")
        capacity = self.num_gpus * summary["makespan"]
        if used > capacity * (1 + _REL) + _REL:
            self.flag("work", end, "", f"the runs held {used!r} GPU-seconds, more than the cluster's {capacity!r} "
                      f"({self.num_gpus} GPUs x makespan {summary['makespan']!r}s)")


def check(result, speed: Speed | None = None) -> list[Violation]:
    """Every violation of the run's invariants (see the module docstring), in log order; empty
    when the run is sound. ``speed`` is the speed model a calibrated run used (None: rate 1)."""
    return _Replay(result, speed).run()


def verify(result, speed: Speed | None = None) -> None:
    """Raise CheckError (one line: how many violations, and the first) unless the run is sound."""
    found = check(result, speed)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise CheckError(f"check failed: {len(found)} invariant violation(s) in the event log of {result.policy!r}; "
                         f"first: {found[0]}{more}")


def explain(violations: Sequence[Violation]) -> str:
    """Violations one per line (for tests and debugging)."""
    return "\n".join(map(str, violations))

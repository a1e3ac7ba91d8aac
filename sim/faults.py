"""Node failures and checkpoint/restart: the fault model the engine applies (``simulate(faults=)``).

A node is up, fails, and is repaired; while it is down its GPUs leave the pool. Outages come
either from distributions per GPU type (time between failures = up time, and time to repair:
``exponential:MEAN``, ``weibull:SHAPE,SCALE`` or ``constant:S``, in seconds; type ``*`` is the
default) drawn from the ``failures`` streams of the run's seed, one independent stream per node
(``failures/node<i>``), so every policy run with the same seed sees the same failures; or from a
schedule file (CSV ``node,fail_time,repair_time``: node index from 0, seconds).

A job running on a failing node (on any of its nodes) is killed and requeued. It resumes from its
last checkpoint: a run checkpoints every ``checkpoint_interval`` seconds of work (of the job's
``duration``) since it began (none: a killed job goes back to where its run began: the start, or
where a policy's preemption left it, as preemption keeps progress), each checkpoint costing ``checkpoint_cost`` seconds
in which it makes no progress (so it runs at ``interval / (interval + cost)`` of its speed), and a
job restarted after a failure spends ``restart_cost`` seconds before it makes progress again.
Preemption by a policy is unchanged (a preempted job keeps its progress, as without faults).

``FaultHandling`` (at the end) is the engine's side of all this, mixed into ``sim.engine._Engine``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.errors import GpusimError
from sim.model import FAIL, KILL, REPAIR, JobState
from sim.rng import stream

KINDS = ("exponential", "weibull", "constant")


@dataclass(frozen=True)
class Lifetime:
    """A distribution of positive durations in seconds."""

    kind: str
    params: tuple[float, ...]

    def __post_init__(self) -> None:
        wanted = {"exponential": 1, "weibull": 2, "constant": 1}.get(self.kind)
        if wanted is None:
            raise GpusimError(f"unknown distribution {self.kind!r}; choose one of {', '.join(KINDS)}")
        if len(self.params) != wanted or not all(isinstance(p, (int, float)) and math.isfinite(p) and p > 0
                                                 for p in self.params):
            raise GpusimError(f"{self.kind} takes {wanted} positive number(s), got {list(self.params)}")

    @classmethod
    def parse(cls, text: str) -> Lifetime:
        """``exponential:MEAN``, ``weibull:SHAPE,SCALE`` or ``constant:S``."""
        if not isinstance(text, str):
            raise GpusimError(f"expected a distribution such as 'exponential:86400', got {text!r}")
        kind, _, rest = text.partition(":")
        try:
            params = tuple(float(p) for p in rest.split(",")) if rest.strip() else ()
        except ValueError:
            raise GpusimError(f"distribution {text!r}: parameters must be numbers") from None
        return cls(kind.strip(), params)

    def sample(self, rng: np.random.Generator) -> float:
        if self.kind == "exponential":
            return float(rng.exponential(self.params[0]))
        if self.kind == "weibull":
            shape, scale = self.params
            return float(scale * rng.weibull(shape))
        return float(self.params[0])

    @property
    def mean(self) -> float:
        if self.kind == "weibull":
            shape, scale = self.params
            return scale * math.gamma(1 + 1 / shape)
        return self.params[0]

    def __str__(self) -> str:
        return f"{self.kind}:{','.join(f'{p:g}' for p in self.params)}"


@dataclass(frozen=True)
class Outage:
    """Node ``node`` (index) is down from ``fail_time`` until ``repair_time`` (seconds)."""

    node: int
    fail_time: float
    repair_time: float


@dataclass(frozen=True)
class Faults:
    """The fault model of a run; see the module docstring. ``mtbf`` and ``repair`` map GPU types
    (and ``*``) to distributions; ``schedule`` replaces them with fixed outages."""

    mtbf: Mapping[str, Lifetime] = field(default_factory=dict)
    repair: Mapping[str, Lifetime] = field(default_factory=dict)
    schedule: tuple[Outage, ...] | None = None
    checkpoint_interval: float | None = None
    checkpoint_cost: float = 0.0
    restart_cost: float = 0.0

    def __post_init__(self) -> None:
        if self.schedule is None and not self.mtbf:
            raise GpusimError("faults need either distributions (mtbf and repair) or a schedule")
        if self.schedule is not None and self.mtbf:
            raise GpusimError("faults take distributions or a schedule, not both")
        for t in self.mtbf:
            if t not in self.repair and "*" not in self.repair:
                raise GpusimError(f"faults: GPU type {t!r} has a time between failures but no time to repair")
        if self.checkpoint_interval is not None and not (_number(self.checkpoint_interval) and self.checkpoint_interval > 0):
            raise GpusimError(f"checkpoint_interval must be a positive number of seconds, got {self.checkpoint_interval!r}")
        for name in ("checkpoint_cost", "restart_cost"):
            value = getattr(self, name)
            if not (_number(value) and value >= 0):
                raise GpusimError(f"{name} must be a non-negative number of seconds, got {value!r}")
        if self.checkpoint_cost and self.checkpoint_interval is None:
            raise GpusimError("checkpoint_cost needs a checkpoint_interval")

    # --- outages ------------------------------------------------------------------------------

    def outages(self, node_types: Sequence[str], seed: int) -> list[Iterator[Outage]]:
        """One iterator per node over its outages in time order (lazy: drawn when asked for)."""
        if self.schedule is not None:
            for o in self.schedule:
                if o.node >= len(node_types):
                    raise GpusimError(f"failure schedule: node {o.node} does not exist (the cluster has "
                                      f"{len(node_types)} nodes, numbered from 0)")
            by_node: list[list[Outage]] = [[] for _ in node_types]
            for o in sorted(self.schedule, key=lambda o: (o.node, o.fail_time)):
                if by_node[o.node] and o.fail_time < by_node[o.node][-1].repair_time:
                    raise GpusimError(f"failure schedule: node {o.node} fails at {o.fail_time:g} s while already "
                                      f"down until {by_node[o.node][-1].repair_time:g} s")
                by_node[o.node].append(o)
            return [iter(outs) for outs in by_node]
        return [self._drawn(i, t, seed) for i, t in enumerate(node_types)]

    def _drawn(self, node: int, gpu_type: str, seed: int) -> Iterator[Outage]:
        up = self.mtbf.get(gpu_type, self.mtbf.get("*"))
        if up is None:
            return iter(())
        down = self.repair.get(gpu_type, self.repair["*"] if "*" in self.repair else None)
        rng = stream(seed, f"failures/node{node}")

        def gen() -> Iterator[Outage]:
            t = 0.0
            while True:
                fail = t + up.sample(rng)
                t = fail + down.sample(rng)
                yield Outage(node, fail, t)

        return gen()

    # --- checkpoints --------------------------------------------------------------------------

    @property
    def slowdown(self) -> float:
        """The fraction of its speed a job keeps while paying for checkpoints."""
        if self.checkpoint_interval is None or not self.checkpoint_cost:
            return 1.0
        return self.checkpoint_interval / (self.checkpoint_interval + self.checkpoint_cost)

    def saved(self, base: float, work_done: float) -> float:
        """The work (seconds of duration) a failed job keeps: it had ``work_done`` and its run began
        from ``base`` (a checkpoint: 0, or where a restore or a policy's preemption left it), and it
        checkpointed every ``checkpoint_interval`` seconds of work since."""
        if self.checkpoint_interval is None:
            return base
        # A tiny tolerance: work that reached a checkpoint boundary up to float rounding counts.
        k = math.floor((work_done - base) / self.checkpoint_interval * (1 + 1e-12))
        return min(work_done, base + max(0, k) * self.checkpoint_interval)

    def hopeless(self, jobs: Sequence, node_types: Sequence[str], node_sizes: Sequence[int],
                 attempts: float = 1e6) -> list[tuple[object, float, int, float]]:
        """Jobs that would need more than ``attempts`` tries on average to do one stretch of work
        between failures, even on the cluster's most reliable nodes: (job, seconds of work that
        must run unbroken, the fewest nodes it spans, the mean time between failures used).

        With exponential failures at rate ``nodes / mtbf``, finishing ``w`` unbroken seconds takes
        ``exp(nodes × w / mtbf)`` tries on average; ``w`` is the job's duration (or its checkpoint
        interval, if shorter) plus the restore after a kill. A run with such jobs may never end.
        Empty for a schedule (finitely many outages) or when some node never fails."""
        if self.schedule is not None or not node_types:
            return []
        means = [self.mtbf.get(t, self.mtbf.get("*")) for t in node_types]
        if any(m is None for m in means):
            return []
        mtbf, largest = max(m.mean for m in means), max(node_sizes)
        out = []
        for job in jobs:
            work = job.duration if self.checkpoint_interval is None else min(job.duration, self.checkpoint_interval)
            nodes = max(1, math.ceil(job.num_gpus / largest))
            if nodes * (work + self.restart_cost) / mtbf > math.log(attempts):
                out.append((job, work + self.restart_cost, nodes, mtbf))
        return out


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def read_schedule(path: str | Path) -> tuple[Outage, ...]:
    """A failure schedule: CSV with header ``node,fail_time,repair_time``; errors name the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise GpusimError(f"{path}: cannot read: {getattr(err, 'strerror', None) or err}") from None
    rows = csv.reader(text.splitlines())
    header = next(rows, None)
    if header is None or [h.strip() for h in header] != ["node", "fail_time", "repair_time"]:
        raise GpusimError(f"{path}:1: expected the header node,fail_time,repair_time")
    out = []
    for line, row in enumerate(rows, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 3:
            raise GpusimError(f"{path}:{line}: expected 3 fields, got {len(row)}")
        try:
            node, fail, repair = int(row[0]), float(row[1]), float(row[2])
        except ValueError:
            raise GpusimError(f"{path}:{line}: node must be an integer and times numbers, got {','.join(row)}") from None
        if node < 0 or not (math.isfinite(fail) and math.isfinite(repair)) or fail < 0 or repair <= fail:
            raise GpusimError(f"{path}:{line}: need node >= 0 and 0 <= fail_time < repair_time, got {','.join(row)}")
        out.append(Outage(node, fail, repair))
    return tuple(out)


def from_settings(settings: Mapping, where: str = "faults") -> Faults:
    """Faults from a config table: ``mtbf``/``repair`` (a distribution, or a table by GPU type),
    ``schedule`` (a file), ``checkpoint_interval``, ``checkpoint_cost``, ``restart_cost``."""
    known = {"mtbf", "repair", "schedule", "checkpoint_interval", "checkpoint_cost", "restart_cost"}
    bad = set(settings) - known
    if bad:
        raise GpusimError(f"unknown key {where + '.' + sorted(map(str, bad))[0]!r} (known: {', '.join(sorted(known))})")

    def lifetimes(key: str) -> dict[str, Lifetime]:
        value = settings.get(key)
        if value is None:
            return {}
        if isinstance(value, str):
            return {"*": Lifetime.parse(value)}
        if isinstance(value, Mapping):
            return {str(k): Lifetime.parse(v) for k, v in value.items()}
        raise GpusimError(f"'{where}.{key}' must be a distribution or a table of them by GPU type, got {value!r}")

    if settings.get("schedule") is not None and not isinstance(settings["schedule"], str):
        raise GpusimError(f"'{where}.schedule' must be the path of a CSV file, got {settings['schedule']!r}")
    schedule = read_schedule(settings["schedule"]) if settings.get("schedule") is not None else None
    try:
        return Faults(lifetimes("mtbf"), lifetimes("repair"), schedule, settings.get("checkpoint_interval"),
                      settings.get("checkpoint_cost", 0.0), settings.get("restart_cost", 0.0))
    except GpusimError as err:
        raise GpusimError(f"{where}: {err}") from None


class FaultHandling:
    """The engine's side of node failures, mixed into ``sim.engine._Engine`` (which owns the
    calendar, the planner, the queues and the log these methods work on): outages come due from
    each node's stream or the schedule, a failing node's jobs are killed and resume from their last
    checkpoint, its GPUs leave the pool until it is repaired, and the counters ``fault_summary``
    reports are kept. Set up only in runs with faults."""

    def _apply_outages(self, now: float) -> None:
        """An instant's repairs, then its failures (and kills), before its arrivals."""
        if self.due_repairs:
            self._apply_repairs(now)
        if self.due_failures:
            self._apply_failures(now)

    def _setup_faults(self, seed: int) -> None:
        self._node_layout()
        self.down: set[int] = set()
        self.killed: set[int] = set()
        self.slowdown = self.faults.slowdown
        self.fault_stats = {"failures": 0, "kills": 0, "jobs_hit": set(), "lost_work_gpu_s": 0.0,
                            "overhead_gpu_s": 0.0, "model": self.faults}
        self.outage_streams = self.faults.outages([n.gpu_type for n in self.cluster.nodes], seed)
        # A node without GPUs (CPU-only, resource model) never fails: the log names a node by its GPUs.
        bare = {node for node, gpus in enumerate(self.node_gpus) if not gpus}
        wrong = sorted({o.node for o in self.faults.schedule or () if o.node in bare})
        if wrong:
            raise GpusimError(f"failure schedule: node(s) {', '.join(map(str, wrong[:10]))} have no GPUs; "
                              "CPU-only nodes do not fail in this model")
        for node in range(len(self.node_gpus)):
            if node not in bare:
                self._next_outage(node)

    def _next_outage(self, node: int) -> None:
        outage = next(self.outage_streams[node], None)
        if outage is not None:
            self._at(max(outage.fail_time, self.env.now), self._on_fail, outage)

    def _on_fail(self, event) -> None:
        # Failures stop once every job has finished, and when nothing could ever change any more
        # (nothing running or to arrive, every node up: a policy that starts nothing on the whole
        # cluster would otherwise be woken by failures forever).
        stalled = not (self.running or self.down or self.arrived or self.finished) \
            and self.next_arrival == len(self.states)
        if self.done < len(self.states) and not stalled:
            self.due_failures.append(event.value)
            self._at(event.value.repair_time, self._on_repair, event.value)
            self.pass_due = True
        self._settle()

    def _on_repair(self, event) -> None:
        self.due_repairs.append(event.value)
        self.pass_due = True
        if self.done < len(self.states):
            self._next_outage(event.value.node)
        self._settle()

    def _apply_repairs(self, now: float) -> None:
        for outage in sorted(self.due_repairs, key=lambda o: o.node):
            self.down.discard(outage.node)
            self.planner.release(self.node_gpus[outage.node])
            if hasattr(self.planner, "set_down"):
                self.planner.set_down(outage.node, False)
            self.events.add(now, REPAIR, -1, self.node_gpus[outage.node])
        self.due_repairs.clear()

    def _apply_failures(self, now: float) -> None:
        """A failing node's jobs are killed (multi-node jobs too, and CPU-only jobs the resource
        model put there), then its GPUs are taken out of the pool until it is repaired."""
        failing = sorted({o.node for o in self.due_failures})
        self.due_failures.clear()
        for node in failing:
            self.events.add(now, FAIL, -1, self.node_gpus[node])
            self.fault_stats["failures"] += 1
        hit = set(failing)
        pod_node = getattr(self.planner, "pod_node", None)  # where a CPU-only job holds CPU and memory
        for state in [s for s in self.running.values() if any(self.node_of_gpu[g] in hit for g in s._gpus)
                      or (not s._gpus and pod_node is not None and pod_node(s.job_id) in hit)]:
            self._kill(state, now)
        for node in failing:
            self.planner.take(self.node_gpus[node])
            if pod_node is not None:
                self.planner.set_down(node, True)
            self.down.add(node)

    def _account(self, state: JobState, now: float) -> float:
        """Fold a run that ends now into the fault statistics; returns the work it had done (s of
        duration). Overhead: its restart time and checkpoint time; lost: work a kill throws away."""
        progress = max(0.0, now - state._progress_from)
        waiting = max(0.0, min(now, state._progress_from) - state._start_time)
        stats = self.fault_stats
        stats["overhead_gpu_s"] += len(state._gpus) * (waiting + progress * (1.0 - self.slowdown))
        return state.job.duration - state._remaining + state._rate * progress

    def _kill(self, state: JobState, now: float) -> None:
        if self.indexes.running is not None:
            self.indexes.running.remove(state)
        base = state.job.duration - state._remaining
        done = self._account(state, now)
        saved = self.faults.saved(base, done)
        speed = state._rate / self.slowdown
        stats = self.fault_stats
        stats["lost_work_gpu_s"] += len(state._gpus) * (done - saved) / speed
        stats["kills"] += 1
        stats["jobs_hit"].add(state.job_id)
        state._attained += len(state._gpus) * max(0.0, now - state._progress_from)
        state._remaining = state.job.duration - saved
        state._running, state._expected_end, state._start_time = False, None, None
        state._run += 1
        self.killed.add(state.index)
        self.planner.release_job(state._gpus, state.job)
        self.events.add(now, KILL, state.index, state._gpus)
        state._gpus = ()
        del self.running[state.job_id]
        self.pending[state.index] = state
        if self.indexes.pending is not None:
            self.indexes.pending.add(state)

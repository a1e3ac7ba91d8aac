"""Priority classes with GPUs reserved for some of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from policies import register
from sim.model import Preempt, Start


def parse_reserve(spec: str | Mapping) -> dict[int, int]:
    """``"1:16,2:8"`` or a TOML table ``{"1" = 16, "2" = 8}`` → {priority class: reserved GPUs}."""
    if isinstance(spec, Mapping):
        items = [(str(k), v) for k, v in spec.items()]
    else:
        items = []
        for part in filter(None, (p.strip() for p in spec.split(","))):
            cls, sep, gpus = part.partition(":")
            if not sep:
                raise ValueError(f"reserve {spec!r}: {part!r} is not CLASS:GPUS, e.g. reserve=\"1:16,2:8\"")
            items.append((cls.strip(), gpus.strip()))
    table: dict[int, int] = {}
    for cls, gpus in items:
        try:
            c, n = int(cls), int(gpus)
        except (TypeError, ValueError):
            raise ValueError(f"reserve: class {cls!r} and GPUs {gpus!r} must be integers") from None
        if isinstance(gpus, (bool, float)) or n < 1:
            raise ValueError(f"reserve: class {c} needs a positive whole number of GPUs, got {gpus!r}")
        if c in table:
            raise ValueError(f"reserve: class {c} is given twice")
        table[c] = n
    return table


@register("priority-reserve")
@dataclass
class PriorityReserve:
    """Priority classes, with GPUs reserved per class; idle reserved GPUs lent out and reclaimed.

    ``reserve`` maps a priority class (``Job.priority``) to the GPUs kept for it: ``"1:16,2:8"`` or a
    TOML table ``{"1" = 16}``; the rest of the cluster is shared by all classes. A scheduling point
    first starts, per reserved class in priority-then-arrival order, the jobs that fit in what is left
    of its reservation; then every other pending job in that order, on the shared GPUs or, with
    ``borrow=true``, also on idle reserved GPUs of other classes. With ``reclaim=true`` a job of a
    reserved class that fits in its reservation but not on the free GPUs preempts borrowing jobs
    (lowest class, then latest started first) until it can be placed. A class's jobs count against its
    reservation first, then the shared GPUs, then borrowed ones. With ``borrow=false`` a job needing
    more than the shared GPUs plus its own class's reservation never starts (the run ends with it
    unfinished): size reservations accordingly. O(J log J + R·J) per scheduling point for J jobs in
    the system and R reclaims.
    """

    reserve: str | dict = ""
    borrow: bool = True
    reclaim: bool = True
    _table: dict[int, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._table = parse_reserve(self.reserve)

    def _borrowed(self, used: Mapping[int, int], shared: int) -> int:
        """GPUs held beyond every class's reservation and the shared GPUs."""
        overflow = sum(max(0, n - self._table.get(c, 0)) for c, n in used.items())
        return max(0, overflow - shared)

    def schedule(self, view, rng):
        shared = view.num_gpus - sum(self._table.values())
        if shared < 0:
            raise ValueError(f"reserve {self._table} keeps {sum(self._table.values())} GPUs, "
                             f"more than the cluster's {view.num_gpus}")
        used: dict[int, int] = {}
        for job in view.running:
            used[job.priority] = used.get(job.priority, 0) + job.num_gpus
        running = list(view.running)
        planner = view.planner()
        decisions: list = []
        started: set[str] = set()
        order = sorted(view.pending, key=lambda j: (-j.priority, j.index))

        def start(job, gpus) -> None:
            planner.take_job(gpus, job)
            decisions.append(Start(job.job_id, gpus))
            started.add(job.job_id)
            used[job.priority] = used.get(job.priority, 0) + job.num_gpus

        for job in order:  # reserved classes within their reservations
            c = job.priority
            if c not in self._table or used.get(c, 0) + job.num_gpus > self._table[c]:
                continue
            gpus = _place(planner, job)
            if gpus is None and self.reclaim:
                planner, gpus = self._reclaim(job, planner, running, used, shared, decisions)
            if gpus is not None:
                start(job, gpus)
        for job in order:  # everyone else, on shared (and, borrowing, idle reserved) GPUs
            if job.job_id in started or (job.num_gpus > planner.free_total and not planner.shares(job)):
                continue
            if not self.borrow:
                used[job.priority] = used.get(job.priority, 0) + job.num_gpus
                over = self._borrowed(used, shared) > 0
                used[job.priority] -= job.num_gpus
                if over:
                    continue
            gpus = planner.place_job(job)
            if gpus is not None:
                start(job, gpus)
        return decisions

    def _reclaim(self, job, planner, running, used, shared, decisions):
        """Preempt borrowers until ``job`` can be placed; unchanged state if it never can."""
        trial, trial_used, victims = planner.copy(), dict(used), []
        candidates = sorted((r for r in running if r.priority != job.priority),
                            key=lambda r: (r.priority, -running.index(r)))
        for victim in candidates:
            c = victim.priority
            if self._borrowed(trial_used, shared) == 0:
                break
            if trial_used[c] <= self._table.get(c, 0):
                continue  # within its own reservation: not a borrower
            trial.release_job(victim.gpus, victim)
            trial_used[c] -= victim.num_gpus
            victims.append(victim)
            gpus = _place(trial, job)
            if gpus is not None:
                for v in victims:
                    running.remove(v)
                    decisions.append(Preempt(v.job_id))
                used.clear()
                used.update(trial_used)
                return trial, gpus
        return planner, None


def _place(planner, job):
    """The GPUs the run's placement would give ``job`` now (its own demands under the resource
    model), or None."""
    return planner.place_job(job) if job.num_gpus <= planner.free_total or planner.shares(job) else None

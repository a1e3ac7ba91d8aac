"""The engine with the policy turned inside out: it stops at every decision point and hands the
View to the caller, who answers with ``decide``. This is what an RL environment drives.

Protocol (one episode; ``s = Stepper(jobs, cluster, seed)``):

1. ``view = s.start()`` runs the simulation up to the first decision point and returns the View
   there (``None`` if there is none: no jobs).
2. A *decision point* is exactly where ``sim.engine.simulate`` would call ``policy.schedule``:
   a scheduling pass, after that instant's completions (in arrival order) and arrivals (in trace
   order) have been applied, with at least one job pending or running.
3. ``view = s.decide(decisions)`` validates and applies ``decisions`` with the engine's own
   ``_apply`` (same rules, same ``PolicyError`` on an illegal decision; the stepper's name in
   errors is ``"agent"``). Then:

   - if the decisions started at least one job and some pending job could still be placed now,
     it returns the View again *at the same instant* (the pass goes on; decide one job at a time
     if you like);
   - otherwise (no start, e.g. ``decide([])`` = "wait", or nothing more fits) the pass ends and
     the simulation runs to the next decision point, whose View it returns;
   - ``None`` means no event is left: the episode is over (``s.all_finished`` says whether every job
     finished; an agent that waits while nothing runs and nothing is still to arrive stalls it).

   A ``Wake`` counts only if given in the last ``decide`` of an instant (each call replaces the
   last call's wake-up, as each engine pass does). Preempted jobs may be restarted by a later
   ``decide`` at the same instant.
4. ``s.result()`` gives the ``SimResult`` (event log and inputs), as ``simulate`` would.

Driving the stepper with ``decide(policy.schedule(view, s.rng))`` at every point gives the same
event log as ``simulate(jobs, cluster, policy, seed)`` for any policy that, called again at the
same instant, starts nothing new. Everything is deterministic: same inputs and decisions, same
episode. The stepper subclasses the engine's private ``_Engine`` (it reuses its scheduling pass
with a stand-in policy that only marks the pause), so it stays in step with the engine's rules.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sim.engine import SimResult, Speed, _Engine, check_inputs
from sim.errors import GpusimError
from sim.model import Cluster, Decision, Event, Job, View
from sim.placement import DEFAULT


class _Pause:
    """Stand-in policy: marks that a decision is due and decides nothing (the caller will)."""

    name = "agent"
    round_interval = None

    def __init__(self) -> None:
        self.due = False

    def schedule(self, view: View, rng) -> tuple:
        self.due = True
        return ()


class Stepper(_Engine):
    """A simulation advanced decision point by decision point; see the module docstring."""

    def __init__(self, jobs: Sequence[Job], cluster: Cluster, seed: int = 0, *, placement: str = DEFAULT,
                 restart_overhead: float = 0.0, speed: Speed | None = None) -> None:
        jobs = tuple(jobs)
        _check(jobs, cluster, placement, restart_overhead)
        self._pause = _Pause()
        super().__init__(jobs, cluster, self._pause, seed, placement, restart_overhead, speed)
        self.jobs, self.seed, self.placement_name = jobs, seed, placement
        self._started = False
        self._over = False

    @property
    def now(self) -> float:
        return self.clock.now

    @property
    def all_finished(self) -> bool:
        """Whether every job has finished."""
        return self.done == len(self.states)

    @property
    def over(self) -> bool:
        """Whether the episode is over (no event left)."""
        return self._over

    def start(self) -> View | None:
        """Run to the first decision point; its View, or None if there is none."""
        if self._started:
            raise GpusimError("the stepper has already started; make a new one for a new episode")
        self._started = True
        self._schedule_arrivals()
        return self._advance()

    def decide(self, decisions: Sequence[Decision]) -> View | None:
        """Apply ``decisions`` at the current decision point; the next View, or None at the end."""
        if not self._pause.due:
            raise GpusimError("no decision is due: call start() first" if not self._started else "the episode is over")
        now = self.clock.now
        before = len(self.events)
        self._apply(decisions, now)
        self._plan_wakeups(now)
        started = any(e.kind == "start" for e in self.events[before:])
        if started and self.can_start_any():
            return self.view
        self._pause.due = False
        return self._advance()

    def can_start_any(self) -> bool:
        """Whether some pending job could be placed on the free GPUs now."""
        tried: set[int] = set()
        for state in self.pending.values():
            n = state.num_gpus
            if n not in tried:
                if n <= self.planner.free_total and self.planner.place(n) is not None:
                    return True
                tried.add(n)
        return False

    def _advance(self) -> View | None:
        # One SimPy event at a time: the pass that reaches a decision point is a single event, so
        # stopping right after it leaves the calendar exactly as the engine would have it.
        while not self._pause.due:
            if self.env.peek() == math.inf:
                self._over = True
                return None
            self.env.step()
        return self.view

    def result(self) -> SimResult:
        """The run so far as a SimResult; a stalled episode gets a ``stop`` event, as ``simulate`` does."""
        events = list(self.events)
        end = events[-1].time if events else 0.0
        if self._over and not self.all_finished:
            events.append(Event(end, "stop", ""))
        return SimResult(self.jobs, self.cluster, events, end, self.name, self.placement_name, self.seed,
                         self.overhead, None)


def _check(jobs: tuple[Job, ...], cluster: Cluster, placement: str, restart_overhead: float) -> None:
    """The input checks of ``simulate`` (one definition, in sim.engine)."""
    check_inputs(jobs, cluster, placement, restart_overhead)

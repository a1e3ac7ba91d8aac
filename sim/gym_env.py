"""A Gymnasium environment over the stepped engine (``sim.stepper``): the agent is the scheduler.

Importing this module imports gymnasium and registers ``"gpusim/GpuCluster-v0"`` (entry point
``"sim.gym_env:GpuClusterEnv"``); nothing else in gpusim imports it. Without importing it first,
``gymnasium.make("sim.gym_env:gpusim/GpuCluster-v0", ...)`` imports and registers it.

Step. One step is one decision at a decision point of the stepper: action ``i < K`` starts the
i-th pending job (arrival order, preempted jobs never occur: the agent cannot preempt) of the
window of the first ``K``, placed by the run's placement strategy; action ``K`` waits. An action
the mask forbids (empty slot, the job cannot be placed now, or waiting on an idle cluster) is
treated as a wait. Decision points where only waiting is possible (no job of the window fits) are
passed by the environment itself with a wait, so every observation the agent gets has at least one
valid start, or is the last. ``wait=False`` makes the agent work-conserving: waiting is valid only
when no job of the window fits (so such points are all passed by the environment).

Observation and mask: ``sim.observation.Encoder`` (the window's job features, free GPUs per
node, global and time features; the same encoder drives a trained agent as a policy).

Reward, over the simulated time from this decision to the next one (or the episode's end):

- ``"slowdown"``: minus Σ over jobs in the system (submitted, not finished) of the time each
  spent in the system during that interval divided by its duration. The undiscounted return of
  an episode is exactly minus Σ_j (finish_j − submit_j) / duration_j, the total slowdown (the
  first step also carries any time before the first decision; there is none for jobs arriving at
  time 0 or later, as the first decision is at the first arrival).
- ``"jct"``: the same without the division: the return is minus Σ_j JCT_j, in seconds.
- ``"utilization"``: plus the busy GPU-seconds in the interval; the return is Σ_j num_gpus_j ×
  duration_j whatever the agent does (no preemption, no overheads), so it only shapes *when*
  work is done, under discounting.

Rewards are in raw seconds (no scaling); wrap with ``gymnasium.wrappers.NormalizeReward`` if wanted.

Episodes. ``jobs`` is a number of synthetic jobs (``traces.synthetic.Workload(jobs, load)``, or
the given ``workload``) or a fixed list of ``Job``. ``reset(seed=s)`` makes the episode's workload
with seed ``s`` (``Workload.generate(G, s)``, whose named streams give common random numbers with
``simulate(..., seed=s)``); later resets without a seed use ``s + 1``, ``s + 2``, ... ; a first
reset without a seed draws ``s`` from the environment's ``np_random``. ``terminated`` when every
job has finished; ``truncated`` only when the agent waited with nothing running and nothing left
to arrive (the simulation has no event left: a stall). ``info``: ``action_mask`` (bool, K + 1,
waiting is invalid only on an idle cluster where a job could start), ``time`` (simulated seconds), ``job_id`` of each window slot. The stepper of
the current episode is ``env.stepper`` (its ``result()`` is the usual SimResult).
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium
import numpy as np
from gymnasium import spaces

from sim.model import Cluster, Job, Start, View
from sim.observation import Encoder
from sim.placement import DEFAULT
from sim.stepper import Stepper

ENV_ID = "gpusim/GpuCluster-v0"
REWARDS = ("slowdown", "jct", "utilization")


class GpuClusterEnv(gymnasium.Env):
    """The cluster scheduler as an agent; see the module docstring for spaces, rewards, episodes."""

    metadata = {"render_modes": []}

    def __init__(self, cluster: Cluster | str = "2x8", jobs: int | Sequence[Job] = 100, load: float = 0.8, *,
                 workload=None, window: int = 16, reward: str = "slowdown", oracle: bool = True, wait: bool = True,
                 placement: str = DEFAULT, time_scale: float = 3600.0) -> None:
        self.cluster = Cluster.parse(cluster) if isinstance(cluster, str) else cluster
        if reward not in REWARDS:
            raise ValueError(f"unknown reward {reward!r}; choose one of {', '.join(REWARDS)}")
        self.encoder = Encoder([n.num_gpus for n in self.cluster.nodes], window, time_scale, oracle, wait)
        if isinstance(jobs, int):
            if workload is None:
                from traces.synthetic import Workload  # outer ring: only for synthetic episodes
                workload = Workload(jobs=jobs, load=load)
            self.fixed_jobs: tuple[Job, ...] | None = None
        else:
            self.fixed_jobs = tuple(jobs)
        self.workload = workload
        self.window, self.reward_kind, self.oracle = window, reward, oracle
        self.placement, self.time_scale = placement, float(time_scale)
        self.num_gpus = self.cluster.num_gpus
        self.observation_space = spaces.Box(0.0, np.inf, shape=(self.encoder.size,), dtype=np.float32)
        self.action_space = spaces.Discrete(window + 1)
        self.stepper: Stepper | None = None
        self._next_seed: int | None = None

    # --- gymnasium API ----------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._next_seed = int(seed)
        elif self._next_seed is None:
            self._next_seed = int(self.np_random.integers(2**31))
        episode_seed, self._next_seed = self._next_seed, self._next_seed + 1
        jobs = self.fixed_jobs if self.fixed_jobs is not None else self.workload.generate(self.num_gpus, episode_seed)
        self.stepper = Stepper(jobs, self.cluster, episode_seed, placement=self.placement)
        self._weight = {j.job_id: self._weight_of(j) for j in jobs}
        self._submit = {j.job_id: j.submit_time for j in jobs}
        self._gpus_of = {j.job_id: j.num_gpus for j in jobs}
        self._seen = 0  # events of the log already folded into the cost
        self._closed = 0.0  # cost of intervals that ended (finished jobs / finished runs)
        self._open_w = 0.0  # Σ weight of the open intervals (jobs in system / running)
        self._open_ws = 0.0  # Σ weight × interval start
        self._run_start: dict[str, float] = {}
        self._cost_then = 0.0  # not the cost at the first decision: any earlier cost goes to step one
        self._view = view = self._skip_waits(self.stepper.start())
        self._last_decision = self.stepper.now
        return self._observe(view, 0.0), self._info(view)

    def step(self, action):
        if self.stepper is None or self._view is None:
            raise RuntimeError("call reset() before step(), and again after the episode ends")
        action = int(action)
        mask = self._mask(self._view)
        if action < self.window and mask[action]:
            view = self.stepper.decide([Start(self._view.pending[action].job_id)])
        else:
            view = self.stepper.decide([])
        view = self._skip_waits(view)
        self._view = view
        cost = self._cost()
        reward = cost - self._cost_then if self.reward_kind == "utilization" else self._cost_then - cost
        self._cost_then = cost
        since, self._last_decision = self.stepper.now - self._last_decision, self.stepper.now
        terminated = view is None and self.stepper.all_finished
        truncated = view is None and not terminated
        return self._observe(view, since), float(reward), terminated, truncated, self._info(view)

    def action_masks(self) -> np.ndarray:
        """The current action mask (the ``MaskablePPO`` convention of sb3-contrib)."""
        return self._mask(self._view)

    # --- internals --------------------------------------------------------------------------

    def _weight_of(self, job: Job) -> float:
        if self.reward_kind == "slowdown":
            return 1.0 / job.duration
        if self.reward_kind == "jct":
            return 1.0
        return float(job.num_gpus)

    def _skip_waits(self, view: View | None) -> View | None:
        """Pass decision points where no job of the window can start (waiting is the only valid action)."""
        while view is not None and not self._mask(view)[:-1].any():
            view = self.stepper.decide([])
        return view

    def _cost(self) -> float:
        """Σ weight × time inside the counted intervals up to now: time in the system (slowdown,
        jct) or time running (utilization), folded in from the event log incrementally."""
        events = self.stepper.events
        opens, closes = (("submit",), ("finish",)) if self.reward_kind != "utilization" else (("start",), ("finish", "preempt", "resize", "kill"))
        for e in events[self._seen:]:
            w = self._weight[e.job_id] if e.job_id else 0.0
            if e.kind in opens:
                self._open_w += w
                self._open_ws += w * e.time
            elif e.kind in closes:
                start = self._submit[e.job_id] if self.reward_kind != "utilization" else self._run_start.pop(e.job_id)
                self._open_w -= w
                self._open_ws -= w * start
                self._closed += w * (e.time - start)
            if self.reward_kind == "utilization" and e.kind == "start":
                self._run_start[e.job_id] = e.time
        self._seen = len(events)
        return self._closed + self._open_w * self.stepper.now - self._open_ws

    def _mask(self, view: View | None) -> np.ndarray:
        if view is None:
            return self.encoder.mask((), None)
        return self.encoder.mask(view.pending, view.planner(), len(view.running))

    def _observe(self, view: View | None, since: float) -> np.ndarray:
        if view is None:
            return self.encoder.encode(self.stepper.now, since, (), self.encoder.node_gpus, 0)
        return self.encoder.encode(self.stepper.now, since, view.pending, view.free_per_node(), len(view.running))

    def _info(self, view: View | None) -> dict:
        ids = [] if view is None else [job.job_id for _, job in zip(range(self.window), view.pending)]
        return {"action_mask": self._mask(view), "time": self.stepper.now, "job_ids": ids}


if ENV_ID not in gymnasium.registry:
    gymnasium.register(ENV_ID, entry_point="sim.gym_env:GpuClusterEnv")

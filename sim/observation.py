"""What a learning scheduler sees: one fixed-size vector per decision, and the valid actions.

One definition, used by the Gymnasium environment (``sim.gym_env``, while training) and by the
trained agent as a policy (``policies/rl.py``, in any simulation), so the agent sees exactly the
same features in both. Pure numpy; no Gymnasium, no TensorFlow.

Layout (float32, all >= 0; ``T`` = ``time_scale`` seconds, ``G`` = cluster GPUs, ``K`` = window):

- ``K × JOB_FEATURES`` for the first ``K`` pending jobs in arrival order (zeros for empty slots):
  ``present`` (1), ``num_gpus / G``, ``fits`` (1 if ``num_gpus`` <= free GPUs now),
  ``log1p(waiting time / T)``, ``log1p(duration / T)`` (0 unless ``oracle``),
  ``log1p(attained GPU-seconds / (G × T))``;
- one entry per node: free GPUs / node GPUs;
- ``GLOBAL_FEATURES``: free GPUs / G, running jobs / G, pending jobs / K,
  ``log1p(seconds since the previous decision / T)``, ``now / T``.

Times go through ``log1p`` because job durations span seconds to days: the agent should tell
10 s from 100 s as well as 1 h from 10 h. The slot and global parts do not depend on the
number of nodes, so an agent that reads only them (``slots`` and ``globals_``) runs on any cluster.
Actions: ``i < K`` starts the i-th job of the window, ``K`` waits; ``mask`` says which are valid
(waiting is not, on an idle cluster where a job of the window could start, nor ever when a job
could start for a work-conserving agent, ``wait=False``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim.placement import Planner

JOB_FEATURES = 6
GLOBAL_FEATURES = 5


class Encoder:
    """Observation vectors and action masks for a cluster of ``node_gpus`` GPUs per node."""

    def __init__(self, node_gpus: Sequence[int], window: int = 16, time_scale: float = 3600.0,
                 oracle: bool = True, wait: bool = True) -> None:
        if not (isinstance(window, int) and window >= 1):
            raise ValueError(f"window must be a positive integer, got {window!r}")
        if not time_scale > 0:
            raise ValueError(f"time_scale must be positive seconds, got {time_scale!r}")
        self.node_gpus = np.asarray(node_gpus, dtype=np.float64)
        self.num_gpus = int(self.node_gpus.sum())
        self.window, self.time_scale, self.oracle, self.wait = window, float(time_scale), oracle, wait
        self.size = window * JOB_FEATURES + len(self.node_gpus) + GLOBAL_FEATURES

    def encode(self, now: float, since: float, pending: Sequence, free_per_node: Sequence[int],
               running: int) -> np.ndarray:
        """The observation: ``pending`` are JobStates (or Jobs) in arrival order; ``running`` a count."""
        T, G, K = self.time_scale, self.num_gpus, self.window
        out = np.zeros(self.size, dtype=np.float64)
        free = int(sum(free_per_node))
        for i, job in zip(range(K), pending):
            attained = getattr(job, "attained", 0.0)
            out[i * JOB_FEATURES:(i + 1) * JOB_FEATURES] = (
                1.0, job.num_gpus / G, float(job.num_gpus <= free), np.log1p(max(0.0, now - job.submit_time) / T),
                np.log1p(job.duration / T) if self.oracle else 0.0, np.log1p(attained / (G * T)))
        nodes = len(self.node_gpus)
        # A node without GPUs (resource model) reads as 0 free, not 0/0.
        out[K * JOB_FEATURES:K * JOB_FEATURES + nodes] = np.divide(
            np.asarray(free_per_node, dtype=np.float64), self.node_gpus, out=np.zeros(nodes), where=self.node_gpus > 0)
        out[K * JOB_FEATURES + nodes:] = (free / G, running / G, len(pending) / K, np.log1p(max(0.0, since) / T), now / T)
        return out.astype(np.float32)

    def mask(self, pending: Sequence, planner: Planner | None, running: int = 1) -> np.ndarray:
        """Valid actions (bool, ``K + 1``): slots whose job can be placed on ``planner``'s free GPUs
        now, and waiting, which is valid unless the cluster is idle (``running`` 0) while a job of
        the window could start (an agent cannot stall the cluster), and only when nothing can
        start for a work-conserving encoder (``wait=False``). ``planner`` None means nothing can
        start."""
        out = np.zeros(self.window + 1, dtype=bool)
        out[self.window] = True
        if planner is None:
            return out
        fits: dict[int, bool] = {}
        for i, job in zip(range(self.window), pending):
            n = job.num_gpus
            if n not in fits:
                fits[n] = n <= planner.free_total and planner.place(n) is not None
            out[i] = fits[n]
        out[self.window] = (running > 0 and self.wait) or not out[:self.window].any()
        return out


def slots(obs: np.ndarray, window: int) -> np.ndarray:
    """The window part of observations ``obs`` (..., size) as (..., window, JOB_FEATURES)."""
    return obs[..., :window * JOB_FEATURES].reshape(*obs.shape[:-1], window, JOB_FEATURES)


def globals_(obs: np.ndarray) -> np.ndarray:
    """The cluster-size-independent global part of observations ``obs`` (..., size), without the
    absolute time (an agent should not depend on how long the episode has run)."""
    return obs[..., -GLOBAL_FEATURES:-1]

"""Tests of sim.gym_env.GpuClusterEnv: conformance, determinism, masks, and its reward identities."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")

from gymnasium.utils.env_checker import check_env  # noqa: E402

from policies._common import greedy_starts  # noqa: E402
from sim.engine import simulate  # noqa: E402
from sim.gym_env import ENV_ID, GpuClusterEnv  # noqa: E402
from sim.model import Cluster, Job  # noqa: E402


class GreedySkip:
    """Starts pending jobs in arrival order, skipping the ones that cannot be placed now."""

    name = "greedy-skip"

    def schedule(self, view, rng):
        return greedy_starts(view, view.pending)


def rollout(env, seed, choose):
    obs, info = env.reset(seed=seed)
    trajectory, total = [(obs.tobytes(), info["time"])], 0.0
    while True:
        action = choose(info["action_mask"])
        obs, reward, terminated, truncated, info = env.step(action)
        trajectory.append((action, obs.tobytes(), reward, terminated, truncated, info["time"]))
        total += reward
        if terminated or truncated:
            return trajectory, total


def lowest_valid(mask):
    return int(np.flatnonzero(mask)[0])


def test_check_env_passes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unbounded Box is deliberate (times have no maximum)
        check_env(GpuClusterEnv(jobs=30, load=0.9, window=8))


def test_registered_lazily():
    env = gymnasium.make(ENV_ID, jobs=10, window=4)
    assert isinstance(env.unwrapped, GpuClusterEnv) and env.action_space.n == 5
    code = "import sys, gpusim; assert 'gymnasium' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_same_seed_same_trajectory_under_fixed_actions():
    actions = np.random.default_rng(0).integers(0, 9, 10_000)
    def run():
        it = iter(actions)
        return rollout(GpuClusterEnv(jobs=80, load=1.0, window=8), 11, lambda mask: int(next(it)))
    assert run() == run()
    a, _ = rollout(GpuClusterEnv(jobs=80, load=1.0, window=8), 12, lowest_valid)
    b, _ = rollout(GpuClusterEnv(jobs=80, load=1.0, window=8), 11, lowest_valid)
    assert a != b


def test_lowest_valid_agent_is_greedy_in_arrival_order():
    """With a window that never overflows, the agent's event log is the greedy policy's."""
    env = GpuClusterEnv("2x8", jobs=60, load=1.1, window=60)
    rollout(env, 3, lowest_valid)
    mine = env.stepper.result()
    ref = simulate(mine.jobs, env.cluster, GreedySkip(), seed=3)
    assert mine.events == ref.events


@pytest.mark.parametrize("kind", ["jct", "slowdown"])
def test_return_is_minus_the_total(kind):
    """Undiscounted return = −Σ JCT (jct) or −Σ JCT/duration (slowdown), from the event log."""
    env = GpuClusterEnv("2x8", jobs=120, load=0.95, window=8, reward=kind)
    _, total = rollout(env, 5, lowest_valid)
    table = env.stepper.result().job_table()
    assert total == pytest.approx(-math.fsum(row[kind] for row in table), rel=1e-6)


def test_utilization_return_is_the_total_work():
    env = GpuClusterEnv("2x8", jobs=60, load=0.95, window=8, reward="utilization")
    _, total = rollout(env, 5, lowest_valid)
    jobs = env.stepper.result().jobs
    assert env.stepper.all_finished
    assert total == pytest.approx(math.fsum(j.num_gpus * j.duration for j in jobs), rel=1e-6)


def test_masks_and_invalid_actions_on_a_hand_built_state():
    jobs = [Job("a", 0.0, 4, 100.0), Job("b", 0.0, 4, 100.0), Job("c", 0.0, 2, 50.0), Job("d", 0.0, 8, 10.0)]
    env = GpuClusterEnv("2x4", jobs=jobs, window=6, reward="jct")
    obs, info = env.reset(seed=0)
    # the cluster is idle and jobs fit: waiting is not allowed (an agent cannot stall the cluster)
    assert info["action_mask"].tolist() == [True, True, True, True, False, False, False]
    assert info["job_ids"] == ["a", "b", "c", "d"]
    # slot a: present, 4 of 8 GPUs, fits, waited 0 s, log1p(100 s / 1 h), no attained service
    assert obs[:6] == pytest.approx([1.0, 0.5, 1.0, 0.0, math.log1p(100 / 3600), 0.0])
    assert obs[6 * 3 + 2] == 1.0 and not obs[6 * 4:6 * 6].any()  # d (8 GPUs) fits now; slots 5, 6 empty
    obs, _, _, _, info = env.step(0)  # a takes node 0
    assert info["time"] == 0.0 and info["job_ids"] == ["b", "c", "d"]
    assert info["action_mask"].tolist() == [True, True, False, False, False, False, True]
    assert env.action_masks().tolist() == info["action_mask"].tolist()
    assert obs[36:38].tolist() == [0.0, 1.0]  # free GPUs per node / node size
    assert obs[38:41].tolist() == [0.5, 1 / 8, 3 / 6]  # free / G, running / G, pending / K
    _, _, _, _, info = env.step(2)  # d (8 GPUs) cannot be placed: treated as wait
    assert info["time"] == 100.0 and info["job_ids"] == ["b", "c", "d"]
    _, _, terminated, truncated, info = env.step(5)  # an empty slot: a wait on an idle cluster, a stall
    assert truncated and not terminated and info["time"] == 100.0


def test_a_stall_truncates():
    """Waiting with nothing running and nothing left to arrive leaves no event: truncated."""
    env = GpuClusterEnv("1x4", jobs=[Job("a", 0.0, 1, 5.0)], window=2)
    env.reset(seed=0)
    _, _, terminated, truncated, info = env.step(2)
    assert truncated and not terminated and not info["action_mask"][:2].any()


def test_oracle_off_hides_durations():
    env = GpuClusterEnv("2x8", jobs=20, window=4, oracle=False)
    obs, _ = env.reset(seed=1)
    assert all(obs[i * 6 + 4] == 0.0 for i in range(4))
    assert obs[1] > 0


def test_reset_seeds_follow_on():
    env = GpuClusterEnv("2x8", jobs=20, window=4)
    env.reset(seed=4)
    first = env.stepper.jobs
    env.reset()
    assert env.stepper.jobs != first
    env.reset(seed=5)
    again = env.stepper.jobs
    env.reset(seed=4)
    env.reset()
    assert env.stepper.jobs == again

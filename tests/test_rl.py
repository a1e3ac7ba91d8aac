"""The PPO agent: network, advantages, the ``rl`` policy, training, checkpoints and the commands.

The training runs here are tiny (a few updates on 30-job workloads) and deterministic: seeded
initializers, one thread, deterministic ops, actions and minibatches from a named stream.
"""

from __future__ import annotations

import csv
import json
import math
import shutil

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("gymnasium")

import policies  # noqa: E402
from policies.rl import BUNDLED, RLAgent, load_agent, save_agent  # noqa: E402
from sim import cli  # noqa: E402
from sim.engine import simulate  # noqa: E402
from sim.errors import GpusimError  # noqa: E402
from sim.gym_env import GpuClusterEnv  # noqa: E402
from sim.model import Cluster  # noqa: E402
from sim.ppo import build, forward, gae, masked_log_probs, weights_of  # noqa: E402
from sim.rl import RLConfig, _tensorflow, load_config, train  # noqa: E402
from traces.synthetic import Durations, Workload  # noqa: E402

WORKLOAD = Workload(jobs=30, load=0.95, sizes=((1, 0.7), (2, 0.2), (4, 0.1)),
                    durations=Durations("lognormal", (7.0, 2.0), 10.0, 864000.0))


def tiny(**overrides) -> RLConfig:
    settings = dict(workload=WORKLOAD, cluster="1x8", updates=4, episodes_per_update=2, eval_every=2,
                    eval_episodes=3, window=8, hidden=16, baselines=("fifo", "sjf"))
    return RLConfig(**{**settings, **overrides})


@pytest.fixture(scope="module")
def agent_dir(tmp_path_factory):
    """An untrained agent saved to disk (seeded weights): enough to test the policy's mechanics."""
    _tensorflow()
    model = build(window=8, hidden=16, seed=3)
    path = tmp_path_factory.mktemp("agent")
    save_agent(path, weights_of(model), {"window": 8, "hidden": 16, "time_scale": 3600.0, "oracle": True,
                                         "wait": True})
    return path


def test_numpy_forward_matches_keras():
    _tensorflow()
    model = build(window=8, hidden=16, seed=1)
    env = GpuClusterEnv("2x8", jobs=40, window=8)
    obs, _ = env.reset(seed=0)
    batch = [obs]
    for _ in range(20):
        obs, _, done, trunc, _ = env.step(int(np.flatnonzero(env.action_masks())[0]))
        batch.append(obs)
        if done or trunc:
            break
    batch = np.stack(batch)
    logits, value = model(batch)
    mine_logits, mine_value = forward(weights_of(model), batch, 8)
    assert np.allclose(np.asarray(logits), mine_logits, atol=1e-5)
    assert np.allclose(np.asarray(value), mine_value, atol=1e-5)


def test_gae_with_gamma_and_lambda_one_is_returns_to_go_minus_values():
    rewards, values = np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.25, -1.0])
    assert gae(rewards, values, 0.0, 1.0, 1.0) == pytest.approx([2.0 - 0.5, 1.0 - 0.25, 3.0 + 1.0])
    # lambda 0: one-step TD errors, bootstrapping from the last value
    assert gae(rewards, values, 10.0, 0.5, 0.0) == pytest.approx([1 + 0.5 * 0.25 - 0.5, -2 + 0.5 * -1 - 0.25,
                                                                  3 + 0.5 * 10 + 1.0])


def test_masked_log_probs_give_invalid_actions_no_probability():
    logits = np.array([[5.0, 1.0, 0.0, 2.0]])
    mask = np.array([[False, True, True, False]])
    p = np.exp(masked_log_probs(logits, mask))[0]
    assert p[0] == 0.0 and p[3] == 0.0 and p.sum() == pytest.approx(1.0)
    assert p[1] / p[2] == pytest.approx(math.e)


@pytest.mark.parametrize("wait", [True, False])
def test_the_policy_makes_the_environments_greedy_decisions(agent_dir, wait, tmp_path):
    """simulate with the ``rl`` policy = the environment driven by the same network's argmax: the
    policy sees exactly the observations the agent saw in training."""
    shutil.copytree(agent_dir, tmp_path / "agent")
    agent_dir = tmp_path / "agent"
    meta_path = agent_dir / "agent.json"
    meta = json.loads(meta_path.read_text())
    meta["wait"] = wait
    meta_path.write_text(json.dumps(meta))
    weights = load_agent(agent_dir)["weights"]
    env = GpuClusterEnv("2x4", jobs=60, load=0.95, window=8, reward="jct", wait=wait)
    obs, info = env.reset(seed=4)
    done = False
    while not done:
        logits, _ = forward(weights, obs[None], 8)
        action = int(np.argmax(np.where(info["action_mask"], logits[0], -np.inf)))
        obs, _, term, trunc, info = env.step(action)
        done = term or trunc
    mine = env.stepper.result()
    assert env.stepper.all_finished
    ref = simulate(mine.jobs, Cluster.parse("2x4"), RLAgent(model=str(agent_dir)), seed=4)
    assert ref.events == mine.events


def test_the_policy_never_stalls_and_sampling_is_seeded(agent_dir):
    jobs = Workload(jobs=60, load=1.2, durations=Durations("lognormal", (7.0, 2.0), 10.0, 864000.0)).generate(8, 7)
    greedy = simulate(jobs, Cluster.parse("1x8"), policies.make("rl", {"model": str(agent_dir)}), seed=1)
    assert greedy.summary()["unfinished"] == 0
    runs = [simulate(jobs, Cluster.parse("1x8"), policies.make("rl", {"model": str(agent_dir), "sample": True}), seed=s)
            for s in (1, 1, 2)]
    assert runs[0].events == runs[1].events and runs[0].events != runs[2].events


def test_bad_agent_folders_are_one_line_errors(tmp_path, capsys):
    with pytest.raises(GpusimError, match="no readable agent.json"):
        load_agent(tmp_path / "missing")
    (tmp_path / "agent.json").write_text('{"format": "gpusim-agent", "version": 1, "features": [9, 9]}')
    with pytest.raises(GpusimError, match="retrain it"):
        load_agent(tmp_path)
    assert cli.main(["run", "--policy", "rl", "--policy-arg", f"model={tmp_path / 'missing'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gpusim: error:")


def test_the_bundled_agent_loads_and_runs():
    assert (BUNDLED / "agent.json").exists()
    result = simulate(WORKLOAD.generate(8, 3), Cluster.parse("1x8"), policies.make("rl", {}), seed=3)
    assert result.summary()["unfinished"] == 0


def test_tiny_training_is_deterministic_and_improves_on_its_start(tmp_path):
    """Two runs of the same config give the same curve and agent; the trained greedy agent is
    better on the held-out workloads than the untrained one (row 0 of the curve)."""
    config = tiny(updates=6, eval_every=3)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    curve_a, curve_b = train(config, a), train(config, b)
    strip = lambda c: [{k: v for k, v in r.items() if k != "wall_s"} for r in c]  # noqa: E731
    assert strip(curve_a) == strip(curve_b)
    assert (a / "agent" / "weights.npz").read_bytes() == (b / "agent" / "weights.npz").read_bytes()
    evals = [r["eval_metric"] for r in curve_a if not math.isnan(r["eval_metric"])]
    assert curve_a[0]["update"] == 0 and len(evals) == 3
    assert evals[-1] < evals[0]
    with (a / "curve.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["update"]) for r in rows] == list(range(7))
    assert (a / "curve.png").stat().st_size > 0
    assert {r["policy"] for r in csv.DictReader((a / "baselines.csv").open())} == {"fifo", "sjf"}


def test_resume_ends_with_the_agent_of_an_uninterrupted_run(tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    whole.mkdir(), parts.mkdir()
    train(tiny(), whole)
    train(tiny(updates=2), parts)
    train(tiny(), parts, resume=True)
    assert (whole / "agent" / "weights.npz").read_bytes() == (parts / "agent" / "weights.npz").read_bytes()
    assert (whole / "curve.csv").read_text().count("\n") == (parts / "curve.csv").read_text().count("\n")
    with pytest.raises(GpusimError, match="other settings"):
        train(tiny(hidden=8), parts, resume=True)


def test_config_file_errors_name_the_file_and_key(tmp_path, capsys):
    bad = tmp_path / "rl.toml"
    bad.write_text("updates = 3\nlearning_rate = 0.1\n")
    with pytest.raises(GpusimError, match=r"rl.toml: unknown key 'learning_rate'"):
        load_config(bad)
    bad.write_text("[workload]\njobs = 10\n[ppo]\nclip = -1\n")
    with pytest.raises(GpusimError, match=r"ppo.clip"):
        load_config(bad)
    bad.write_text("reward = 'fast'\n")
    assert cli.main(["rl", "train", "--config", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "reward" in err[0]
    good = tmp_path / "ok.toml"
    good.write_text('cluster = "2x4"\nupdates = 2\nwait = true\n[workload]\njobs = 20\nload = 0.9\n[ppo]\nepochs = 2\n')
    config = load_config(good)
    assert config.cluster == "2x4" and config.wait and config.workload.jobs == 20 and config.ppo.epochs == 2


def test_rl_commands_train_and_eval(tmp_path, capsys):
    spec = tmp_path / "rl.toml"
    spec.write_text('cluster = "1x8"\nupdates = 2\nepisodes_per_update = 1\neval_every = 1\neval_episodes = 2\n'
                    'window = 8\nhidden = 8\nbaselines = ["fifo"]\n[workload]\njobs = 20\nload = 0.9\n')
    out = tmp_path / "run"
    assert cli.main(["rl", "train", "--config", str(spec), "--out", str(out), "--quiet"]) == 0
    assert "held-out avg_jct" in capsys.readouterr().out
    assert cli.main(["rl", "train", "--config", str(spec), "--out", str(out), "--quiet"]) == 2  # not empty
    capsys.readouterr()
    trace = tmp_path / "t.csv"
    trace.write_text("job_id,submit_time,num_gpus,duration\n" + "".join(f"j{i},{i * 50},{1 + i % 2},{100 + 97 * i % 900}\n"
                                                                     for i in range(40)))
    assert cli.main(["rl", "eval", str(out), "--trace", str(trace), "--cluster", "1x8", "--baselines", "fifo,sjf",
                     "--out", str(tmp_path / "eval")]) == 0
    printed = capsys.readouterr().out
    assert all(name in printed for name in ("rl", "fifo", "sjf"))
    rows = list(csv.DictReader((tmp_path / "eval" / "summary.csv").open()))
    assert [r["policy"] for r in rows] == ["rl", "fifo", "sjf"] and all(int(r["jobs"]) == 40 for r in rows)
    assert cli.main(["run", "--trace", str(trace), "--cluster", "1x8", "--policy", "rl",
                     "--policy-arg", f"model={out}"]) == 0


def test_the_rl_policy_runs_in_a_sweep(tmp_path, agent_dir):
    """In a sweep the agent is one more policy: the bundled one, or a folder given as an argument."""
    from sim.sweep import run_sweep

    spec = tmp_path / "sweep.toml"
    spec.write_text(f'seeds = 2\nsynthetic = {{jobs = 30, load = 0.9}}\nclusters = ["1x8"]\n'
                    f'policies = ["fifo", "rl", {{name = "rl", args = {{model = "{agent_dir}"}}, label = "rl-untrained"}}]\n')
    rows = run_sweep(spec, tmp_path / "out", workers=1, progress=False)
    assert sorted(r["policy"] for r in rows) == ["fifo", "fifo", "rl", "rl", "rl-untrained", "rl-untrained"]
    assert all(r["status"] == "ok" for r in rows)

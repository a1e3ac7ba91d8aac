"""``gpusim rl train`` and ``gpusim rl eval``: train a PPO scheduling agent, and compare it.

Training (``train``): episodes are synthetic workloads on the config's cluster, run in the
Gymnasium environment (``sim.gym_env``); the agent acts by a numpy forward pass of the network
(``sim.ppo.forward``), sampling actions from the training RNG; every ``episodes_per_update``
episodes PPO updates the Keras model. Every ``eval_every`` updates (and after the last one) the
agent is evaluated greedily, as the ``rl`` policy inside ``simulate``, on ``eval_episodes``
held-out workloads, next to the baselines on the same workloads.

Seeds: training episode ``k`` (counting from 0 over the whole run) uses workload seed
``seed × 10⁶ + k``; held-out evaluation workload ``i`` uses seed ``10⁹ + i`` whatever the training
seed, so agents trained with different seeds are evaluated on the same workloads. The network's
initial weights come from the ``policy`` stream of ``seed``; the actions and minibatch order from
the ``rl-train`` stream. TensorFlow runs with deterministic ops on one thread: the same config
gives the same agent, byte for byte, and a run resumed from a checkpoint ends with the agent an
uninterrupted run would have.

Output folder: ``curve.csv`` (one row per update, and row 0 for the untrained agent: episodes, steps, mean training return and
metric, the evaluation metric when evaluated, losses, wall time), ``curve.png`` (the learning
curve with the baselines as lines), ``baselines.csv``, ``config.json``, ``checkpoints/`` (the
latest two, with ``latest.json`` naming the newest) and ``agent/`` (the final agent, for
``--policy rl --policy-arg model=DIR``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import sys
import time
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from sim.errors import GpusimError
from sim.metrics import SUMMARY_KEYS
from sim.ppo import PPOSettings
from traces.synthetic import Workload

EVAL_SEED_BASE = 10**9
BASELINES = ("fifo", "sjf", "random", "fifo-backfill")
CURVE_COLUMNS = ("update", "episodes", "steps", "train_return", "train_metric", "eval_metric", "policy_loss",
                 "value_loss", "entropy", "wall_s")


@dataclass(frozen=True)
class RLConfig:
    """A training run's settings (a TOML file: these keys at the top level, ``[workload]`` as for
    ``gpusim run``'s ``[synthetic]`` table, ``[ppo]`` with ``sim.ppo.PPOSettings``'s fields).

    ``reward_scale`` multiplies the environment's rewards (seconds) before PPO sees them; 0 means
    the default for the reward: ``1 / (time_scale × jobs)`` for ``jct`` and ``utilization``,
    ``1 / jobs`` for ``slowdown``, so an episode's return is of order one. ``wait`` false makes
    the agent work-conserving (it may wait only when no job of its window fits); the default,
    because a greedy agent that learned to wait sometimes leaves GPUs idle far more often than it
    should (seen in training: waiting at half of its decisions, at random's level of JCT).
    """

    workload: Workload = field(default_factory=lambda: Workload(jobs=100, load=0.95))
    cluster: str = "1x8"
    placement: str = "consolidated"
    seed: int = 0
    updates: int = 30
    episodes_per_update: int = 4
    eval_every: int = 5
    eval_episodes: int = 5
    metric: str = "avg_jct"
    window: int = 16
    hidden: int = 64
    reward: str = "jct"
    reward_scale: float = 0.0
    oracle: bool = True
    wait: bool = False
    time_scale: float = 3600.0
    baselines: tuple[str, ...] = BASELINES
    ppo: PPOSettings = field(default_factory=PPOSettings)

    def __post_init__(self) -> None:
        from sim.model import Cluster

        Cluster.parse(self.cluster)
        ints = ("seed", "updates", "episodes_per_update", "eval_every", "eval_episodes", "window", "hidden")
        for name in ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "seed" else 1):
                raise GpusimError(f"setting {name!r} must be a {'non-negative' if name == 'seed' else 'positive'} "
                                  f"integer, got {value!r}")
        if self.seed >= 1000:
            raise GpusimError(f"setting 'seed' must be below 1000 (training seeds must stay below the held-out "
                              f"ones), got {self.seed}")
        for name in ("oracle", "wait"):
            if not isinstance(getattr(self, name), bool):
                raise GpusimError(f"setting {name!r} must be true or false, got {getattr(self, name)!r}")
        if self.reward not in ("slowdown", "jct", "utilization"):  # sim.gym_env.REWARDS, without Gymnasium
            raise GpusimError(f"setting 'reward' must be slowdown, jct or utilization, got {self.reward!r}")
        if self.metric not in SUMMARY_KEYS:
            raise GpusimError(f"setting 'metric' must be a summary metric ({', '.join(SUMMARY_KEYS)}), got {self.metric!r}")
        for name in ("reward_scale", "time_scale"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 \
                    or (name == "time_scale" and value == 0):
                raise GpusimError(f"setting {name!r} must be a {'positive' if name == 'time_scale' else 'non-negative'} "
                                  f"number, got {value!r}")
        import policies

        for name in self.baselines:
            policies.make(name, {})

    @property
    def scale(self) -> float:
        if self.reward_scale:
            return float(self.reward_scale)
        jobs = self.workload.jobs
        return 1.0 / jobs if self.reward == "slowdown" else 1.0 / (self.time_scale * jobs)

    def to_json(self) -> dict:
        out = asdict(self)
        out["baselines"] = list(self.baselines)
        high = self.workload.durations.high
        out["workload"]["durations"]["high"] = None if math.isinf(high) else high
        return out


def load_config(path: str | Path) -> RLConfig:
    """An RLConfig from a TOML file; unknown keys are errors naming the file and the key."""
    from sim.experiment import _SYNTHETIC_KEYS, synthetic_workload

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise GpusimError(f"{path}: cannot read: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise GpusimError(f"{path}: not valid TOML: {err}") from None
    known = {f.name for f in fields(RLConfig)}
    settings: dict = {}
    for key, value in data.items():
        if key not in known:
            raise GpusimError(f"{path}: unknown key {key!r} (known: {', '.join(sorted(known))})")
        if key in ("workload", "ppo") and not isinstance(value, dict):
            raise GpusimError(f"{path}: key {key!r} must be a table")
        if key == "workload":
            bad = set(value) - _SYNTHETIC_KEYS
            if bad or "jobs" not in value:
                what = f"unknown key 'workload.{sorted(bad)[0]}'" if bad else "key 'workload.jobs' is required"
                raise GpusimError(f"{path}: {what} (known: {', '.join(sorted(_SYNTHETIC_KEYS))})")
            value = synthetic_workload(**value)
        elif key == "ppo":
            names = {f.name for f in fields(PPOSettings)}
            bad = set(value) - names
            if bad:
                raise GpusimError(f"{path}: unknown key 'ppo.{sorted(bad)[0]}' (known: {', '.join(sorted(names))})")
            for k, v in value.items():
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                    raise GpusimError(f"{path}: key 'ppo.{k}' must be a non-negative number, got {v!r}")
            value = PPOSettings(**value)
        elif key == "baselines":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise GpusimError(f"{path}: key 'baselines' must be a list of policy names")
            value = tuple(value)
        settings[key] = value
    try:
        return RLConfig(**settings)
    except GpusimError as err:
        raise GpusimError(f"{path}: {err}") from None


# --- training --------------------------------------------------------------------------------


def _tensorflow():
    """TensorFlow set up for reproducible training: quiet, one thread, deterministic ops."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        import tensorflow as tf
    except ImportError:
        raise GpusimError("gpusim rl train needs TensorFlow: pip install 'gpusim[rl]'") from None
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime already started in this process; ops stay deterministic below
        pass
    tf.config.experimental.enable_op_determinism()
    return tf


def _meta(config: RLConfig) -> dict:
    return {"window": config.window, "hidden": config.hidden, "time_scale": config.time_scale,
            "oracle": config.oracle, "wait": config.wait, "trained_on": {"cluster": config.cluster, "reward": config.reward,
                                                    "jobs": config.workload.jobs, "load": config.workload.load}}


def _env(config: RLConfig):
    try:
        from sim.gym_env import GpuClusterEnv
    except ImportError:
        raise GpusimError("gpusim rl train needs Gymnasium: pip install 'gpusim[rl]'") from None

    return GpuClusterEnv(config.cluster, config.workload.jobs, workload=config.workload, window=config.window,
                         reward=config.reward, oracle=config.oracle, wait=config.wait, placement=config.placement,
                         time_scale=config.time_scale)


def rollout(env, weights: dict, window: int, rng: np.random.Generator, seed: int) -> dict:
    """One training episode with actions sampled from the agent; its transitions and totals."""
    from sim.ppo import forward, masked_log_probs

    obs, info = env.reset(seed=seed)
    rows: dict[str, list] = {"obs": [], "mask": [], "action": [], "logp": [], "value": [], "reward": []}
    done, total = False, 0.0
    while not done:
        mask = info["action_mask"]
        logits, value = forward(weights, obs[None, :], window)
        logp = masked_log_probs(logits, mask[None, :])[0]
        p = np.exp(logp)
        action = int(rng.choice(len(p), p=p / p.sum()))
        rows["obs"].append(obs)
        rows["mask"].append(mask)
        rows["action"].append(action)
        rows["logp"].append(logp[action])
        rows["value"].append(value[0])
        obs, reward, terminated, truncated, info = env.step(action)
        rows["reward"].append(reward)
        total += reward
        done = terminated or truncated
    # A truncated episode (a stall) is cut, not finished: bootstrap from the critic's estimate.
    last = 0.0 if terminated else float(forward(weights, obs[None, :], window)[1][0])
    out = {k: np.asarray(v) for k, v in rows.items()}
    out["last_value"], out["return"] = last, total
    out["summary"] = env.stepper.result().summary()
    return out


def evaluate(weights: dict, config: RLConfig, seeds) -> float:
    """The mean of ``config.metric`` of the greedy agent (the ``rl`` policy) over workloads ``seeds``."""
    from policies.rl import RLAgent

    agent = {"meta": _meta(config), "weights": weights, "path": "(training)"}
    return _mean_metric(lambda: RLAgent(_agent=agent), config, seeds)


def _mean_metric(make_policy, config: RLConfig, seeds) -> float:
    from sim.engine import simulate
    from sim.model import Cluster

    cluster = Cluster.parse(config.cluster)
    values = []
    for s in seeds:
        jobs = config.workload.generate(cluster.num_gpus, s)
        result = simulate(jobs, cluster, make_policy(), s, placement=config.placement)
        values.append(result.summary()[config.metric])
    return float(np.mean(values))


def baselines(config: RLConfig) -> dict[str, float]:
    import policies

    return {name: _mean_metric(lambda n=name: policies.make(n, {}), config, _eval_seeds(config))
            for name in config.baselines}


def _eval_seeds(config: RLConfig) -> list[int]:
    return [EVAL_SEED_BASE + i for i in range(config.eval_episodes)]


class _Checkpoints:
    """Numbered checkpoint folders under ``DIR/checkpoints`` and ``latest.json`` naming the newest,
    replaced atomically, so a run killed at any moment resumes from a whole checkpoint."""

    def __init__(self, root: Path) -> None:
        self.root = root / "checkpoints"

    def save(self, update: int, learner, state: dict) -> None:
        folder = self.root / f"update-{update:05d}"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        np.savez(folder / "weights.npz", **learner.weights())
        np.savez(folder / "optimizer.npz", **learner.optimizer_state())
        (folder / "state.json").write_text(json.dumps(state, sort_keys=True) + "\n", encoding="utf-8")
        tmp = self.root / "latest.json.tmp"
        tmp.write_text(json.dumps({"update": update, "folder": folder.name}) + "\n", encoding="utf-8")
        os.replace(tmp, self.root / "latest.json")
        for old in sorted(p for p in self.root.glob("update-*") if p.is_dir())[:-2]:
            shutil.rmtree(old)

    def latest(self) -> Path | None:
        try:
            return self.root / json.loads((self.root / "latest.json").read_text(encoding="utf-8"))["folder"]
        except (OSError, ValueError, KeyError):
            return None


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def train(config: RLConfig, out: str | Path, *, resume: bool = False, progress=None) -> list[dict]:
    """Train (or resume training) into folder ``out``; returns the learning curve's rows."""
    from policies.rl import save_agent
    from sim.ppo import Learner, gae
    from sim.rng import stream

    out = Path(out)
    checkpoints = _Checkpoints(out)
    _tensorflow()
    init_seed = int(stream(config.seed, "policy").integers(2**31 - 8))
    learner = Learner(config.window, config.hidden, init_seed, config.ppo)
    rng = stream(config.seed, "rl-train")
    curve: list[dict] = []
    done_updates, episodes, steps = 0, 0, 0
    if resume and checkpoints.latest() is not None:
        folder = checkpoints.latest()
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        if state["config"] != {**json.loads(json.dumps(config.to_json())), "updates": state["config"]["updates"]}:
            raise GpusimError(f"{out}: the checkpoint was trained with other settings; only 'updates' may change "
                              "on --resume")
        learner.restore(_load_npz(folder / "weights.npz"), _load_npz(folder / "optimizer.npz"))
        rng.bit_generator.state = state["rng"]
        done_updates, episodes, steps, curve = state["update"], state["episodes"], state["steps"], state["curve"]
        reference = state["baselines"]
    else:
        reference = baselines(config)
        _write_baselines(out / "baselines.csv", reference, config)
        curve.append({"update": 0, "episodes": 0, "steps": 0, "train_return": math.nan, "train_metric": math.nan,
                      "eval_metric": evaluate(learner.weights(), config, _eval_seeds(config)),
                      "policy_loss": math.nan, "value_loss": math.nan, "entropy": math.nan, "wall_s": 0.0})
    (out / "config.json").write_text(json.dumps(config.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    env = _env(config)
    eval_seeds = _eval_seeds(config)
    started = time.monotonic() - (curve[-1]["wall_s"] if curve else 0.0)
    for update in range(done_updates + 1, config.updates + 1):
        weights = learner.weights()
        parts, returns, metrics = [], [], []
        for _ in range(config.episodes_per_update):
            ep = rollout(env, weights, config.window, rng, config.seed * 10**6 + episodes)
            episodes += 1
            scaled = ep["reward"] * config.scale
            adv = gae(scaled, ep["value"], ep["last_value"], config.ppo.gamma, config.ppo.lam)
            ep["adv"], ep["ret"] = adv, adv + ep["value"]
            parts.append(ep)
            returns.append(ep["return"])
            metrics.append(ep["summary"][config.metric])
        batch = {k: np.concatenate([p[k] for p in parts]) for k in ("obs", "mask", "action", "logp", "adv", "ret")}
        steps += len(batch["action"])
        losses = learner.update(batch, rng)
        evaluated = update % config.eval_every == 0 or update == config.updates
        row = {"update": update, "episodes": episodes, "steps": steps, "train_return": float(np.mean(returns)),
               "train_metric": float(np.mean(metrics)),
               "eval_metric": evaluate(learner.weights(), config, eval_seeds) if evaluated else math.nan,
               **{k: float(v) for k, v in losses.items()}, "wall_s": round(time.monotonic() - started, 3)}
        curve.append(row)
        _write_curve(out / "curve.csv", curve)
        if evaluated:
            state = {"update": update, "episodes": episodes, "steps": steps, "rng": rng.bit_generator.state,
                     "curve": curve, "baselines": reference, "config": config.to_json()}
            checkpoints.save(update, learner, state)
        if progress is not None:
            progress(row, config, reference)
    save_agent(out / "agent", learner.weights(), _meta(config))
    plot_curve(curve, reference, config, out / "curve.png")
    return curve


def _write_curve(path: Path, curve: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CURVE_COLUMNS)
        for row in curve:
            writer.writerow(["" if isinstance(row[c], float) and math.isnan(row[c]) else
                             (f"{row[c]:.6g}" if isinstance(row[c], float) else row[c]) for c in CURVE_COLUMNS])
    os.replace(tmp, path)


def _write_baselines(path: Path, values: dict[str, float], config: RLConfig) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(("policy", config.metric, "eval_episodes"))
        for name, value in values.items():
            writer.writerow((name, f"{value:.6g}", config.eval_episodes))


def plot_curve(curve: list[dict], reference: dict[str, float], config: RLConfig, path: Path) -> None:
    """The learning curve: the evaluation metric per update, the baselines as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    xs = [r["update"] for r in curve if not math.isnan(r["eval_metric"])]
    ys = [r["eval_metric"] for r in curve if not math.isnan(r["eval_metric"])]
    ax.plot([r["update"] for r in curve], [r["train_metric"] for r in curve], color="0.7", lw=1,
            label="rl (training episodes)")
    ax.plot(xs, ys, marker="o", color="black", label="rl (held-out, greedy)")
    for i, (name, value) in enumerate(reference.items()):
        ax.axhline(value, ls="--", lw=1, color=f"C{i}", label=name)
    ax.set_xlabel("PPO update")
    ax.set_ylabel(f"{config.metric} (held-out workloads)")
    ax.set_title(f"{config.cluster}, {config.workload.jobs} jobs at load {config.workload.load:g}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


class _Progress:
    """One line per update on stderr: a bar, the update, the metrics and an ETA."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self, row: dict, config: RLConfig, reference: dict) -> None:
        done, total = row["update"], config.updates
        bar = "#" * (20 * done // total) + "." * (20 - 20 * done // total)
        elapsed = time.monotonic() - self.start
        eta = elapsed / max(1, done - self._first(done)) * (total - done)
        ev = "" if math.isnan(row["eval_metric"]) else f", held-out {config.metric} {row['eval_metric']:,.0f}"
        print(f"[{bar}] update {done}/{total}, train {config.metric} {row['train_metric']:,.0f}{ev}, "
              f"ETA {eta:.0f} s", file=sys.stderr, flush=True)

    def _first(self, done: int) -> int:
        if not hasattr(self, "first"):
            self.first = done - 1
        return self.first


# --- command line ------------------------------------------------------------------------------


USAGE = """usage: gpusim rl train --config RL.toml --out DIR [--resume] [--force] [--quiet]
       gpusim rl eval DIR [workload and simulation flags of gpusim compare] [--baselines A,B] [--seeds N]"""


def main(argv) -> int:
    argv = list(argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if not argv:  # an action is required, as for `gpusim trace`
        print(USAGE, file=sys.stderr)
        return 2
    if argv[0] == "train":
        return _cmd_train(argv[1:])
    if argv[0] == "eval":
        return _cmd_eval(argv[1:])
    raise GpusimError(f"rl: unknown action {argv[0]!r}; choose train or eval")


def _cmd_train(argv) -> int:
    from sim.cli import _Parser

    p = _Parser(prog="gpusim rl train", description="Train a PPO scheduling agent.")
    p.add_argument("--config", metavar="RL.toml", help="training settings (default: the built-in small configuration)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--resume", action="store_true", help="continue from DIR's latest checkpoint")
    p.add_argument("--force", action="store_true", help="allow a non-empty DIR (without --resume)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    args = p.parse_args(argv)
    config = load_config(args.config) if args.config else RLConfig()
    out = Path(args.out)
    if args.resume:
        if _Checkpoints(out).latest() is None:
            raise GpusimError(f"{out}: no checkpoint to resume from")
    else:
        from sim.experiment import prepare_out

        out = prepare_out(str(out), args.force)
    curve = train(config, out, resume=args.resume, progress=None if args.quiet else _Progress())
    last = [r for r in curve if not math.isnan(r["eval_metric"])][-1]
    reference = {}
    with (out / "baselines.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            reference[row["policy"]] = float(row[config.metric])
    print(f"held-out {config.metric} over {config.eval_episodes} workloads: rl {last['eval_metric']:,.1f}, "
          + ", ".join(f"{k} {v:,.1f}" for k, v in reference.items()))
    print(f"wrote {out}/agent, curve.csv, curve.png, baselines.csv, checkpoints/")
    return 0


def _cmd_eval(argv) -> int:
    import policies
    from sim import cli, experiment

    p = _eval_parser()
    args = p.parse_args(argv)
    policies.make("rl", {"model": args.agent})  # a bad folder is an error before any work
    names = ["rl"] + [n.strip() for n in args.baselines.split(",") if n.strip()]
    for name in names[1:]:
        policies.make(name, {})
    if args.seeds < 1:
        raise GpusimError(f"--seeds must be at least 1, got {args.seeds}")
    config = cli._config(args, "fifo")
    out = experiment.prepare_out(args.out, args.force) if args.out else None
    results: dict[str, list[dict]] = {n: [] for n in names}
    notes_done = False
    for seed in range(config.seed, config.seed + args.seeds):
        cfg, jobs, notes = experiment.load_jobs(replace(config, seed=seed))
        if not notes_done:
            cli._note(notes)
            notes_done = True
        for name in names:
            args_ = {"model": args.agent} if name == "rl" else {}
            run_cfg = replace(cfg, policy=name, policy_args=args_)
            result = experiment.run(run_cfg, jobs)
            results[name].append(result.summary())
            if out is not None:
                folder = out / "runs" / f"{name}-seed{seed}"
                folder.mkdir(parents=True)
                experiment.write_result(result, folder)
                experiment.write_config(run_cfg, folder)
    keys = ("avg_jct", "median_jct", "p95_jct", "avg_wait", "avg_bounded_slowdown", "utilization", "unfinished")
    print(f"{Path(args.agent)} vs baselines on {cfg.cluster}, placement {cfg.placement}, {len(jobs)} jobs"
          + (f", mean over {args.seeds} seeds" if args.seeds > 1 else ""))
    rows = [[n] + [cli._fmt(float(np.mean([s[k] for s in results[n]]))) for k in keys] for n in names]
    cli._print_table(("policy", *keys), rows)
    if out is not None:
        with (out / "summary.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(("policy", "seed", *SUMMARY_KEYS))
            for name in names:
                for i, s in enumerate(results[name]):
                    writer.writerow((name, config.seed + i, *(s[k] for k in SUMMARY_KEYS)))
        print(f"wrote {out}/summary.csv and runs/")
    return 0


def _eval_parser() -> argparse.ArgumentParser:
    from sim import cli

    p = cli._Parser(prog="gpusim rl eval", description="Compare a trained agent with baselines on a workload.")
    p.add_argument("agent", metavar="DIR", help="a gpusim rl train output folder (or its agent/ folder)")
    cli._common(p)
    p.add_argument("--baselines", default=",".join(BASELINES), help=f"policies to compare with (default {','.join(BASELINES)})")
    p.add_argument("--seeds", type=int, default=1, help="seeds (synthetic workloads differ per seed)")
    return p

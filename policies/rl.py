"""A trained reinforcement-learning agent (``gpusim rl train``) as a scheduling policy."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from policies import register
from sim.errors import GpusimError
from sim.model import Start
from sim.observation import GLOBAL_FEATURES, JOB_FEATURES, Encoder
from sim.ppo import LAYERS, forward, masked_log_probs

#: The agent shipped with gpusim, trained by ``gpusim rl train --config examples/rl-small.toml``.
BUNDLED = Path(__file__).resolve().parent / "agents" / "small"
AGENT_FORMAT, AGENT_VERSION = "gpusim-agent", 1


@register("rl")
@dataclass
class RLAgent:
    """A trained PPO agent (model=DIR from gpusim rl train; default: the bundled small agent).

    At each scheduling point it starts, one at a time, the job of its window the network scores
    highest among those that fit, until it prefers to wait or nothing in the window fits: the
    same decisions it made in the Gymnasium environment while training. Non-preemptive. The
    forward pass is numpy (tens of microseconds), never Keras. ``sample=true`` draws actions from
    the policy's distribution (the run's ``policy`` stream) instead of taking the best one.
    O(window) per decision; the window is the first ``window`` pending jobs in arrival order.
    """

    model: str = ""
    sample: bool = False
    _agent: dict | None = field(default=None, repr=False)  # a loaded agent (training evaluates unsaved ones)

    def __post_init__(self) -> None:
        if self._agent is None:
            self._agent = load_agent(self.model or BUNDLED)
        self._encoders: dict = {}
        self._last: float | None = None

    def schedule(self, view, rng):
        meta, weights = self._agent["meta"], self._agent["weights"]
        window = meta["window"]
        key = tuple(n.num_gpus for n in view.cluster.nodes)
        enc = self._encoders.get(key)
        if enc is None:
            enc = self._encoders[key] = Encoder(key, window, meta["time_scale"], meta["oracle"],
                                                  meta["wait"])
        now = view.now
        if self._last is not None and now < self._last:  # a new run with the same object
            self._last = None
        planner, pending, running = view.planner(), list(view.pending), len(view.running)
        decisions = []
        while pending:
            mask = enc.mask(pending, planner, running)
            if not mask[:-1].any():
                break
            since = 0.0 if self._last is None else now - self._last
            self._last = now
            obs = enc.encode(now, since, pending, planner.free_per_node(), running)
            logits, _ = forward(weights, obs[None, :], window)
            if self.sample:
                p = np.exp(masked_log_probs(logits, mask[None, :])[0])
                action = int(rng.choice(len(p), p=p / p.sum()))
            else:
                action = int(np.argmax(np.where(mask, logits[0], -np.inf)))
            if action == window:
                break
            job = pending.pop(action)
            planner.take(planner.place(job.num_gpus))
            running += 1
            decisions.append(Start(job.job_id))
        return decisions


def load_agent(path: str | Path) -> dict:
    """Read a saved agent folder (``agent.json`` + ``weights.npz``), or a ``gpusim rl train`` output
    folder (its ``agent/``). Plain JSON and a numpy archive read without pickle: loading an agent
    never runs code."""
    path = Path(path)
    if (path / "agent").is_dir() and not (path / "agent.json").exists():
        path = path / "agent"
    try:
        meta = json.loads((path / "agent.json").read_text(encoding="utf-8"))
    except OSError as err:
        raise GpusimError(f"{path}: not a trained agent folder (no readable agent.json: {err.strerror or err})") from None
    except json.JSONDecodeError as err:
        raise GpusimError(f"{path / 'agent.json'}: not JSON: {err}") from None
    if not isinstance(meta, dict) or meta.get("format") != AGENT_FORMAT or meta.get("version") != AGENT_VERSION:
        raise GpusimError(f"{path / 'agent.json'}: not a gpusim agent (format {AGENT_FORMAT!r} version {AGENT_VERSION})")
    if meta.get("features") != [JOB_FEATURES, GLOBAL_FEATURES]:
        raise GpusimError(f"{path / 'agent.json'}: trained on observation features {meta.get('features')}, "
                          f"this gpusim encodes {[JOB_FEATURES, GLOBAL_FEATURES]}: retrain it")
    for key, kind in (("window", int), ("time_scale", (int, float)), ("oracle", bool), ("wait", bool)):
        if not isinstance(meta.get(key), kind):
            raise GpusimError(f"{path / 'agent.json'}: key {key!r} is missing or of the wrong type")
    try:
        with np.load(path / "weights.npz", allow_pickle=False) as data:
            weights = {k: data[k].astype(np.float32) for k in data.files}
    except (OSError, ValueError) as err:
        raise GpusimError(f"{path / 'weights.npz'}: cannot read the agent's weights: {err}") from None
    missing = [f"{n}/{p}" for n in LAYERS for p in ("kernel", "bias") if f"{n}/{p}" not in weights]
    if missing:
        raise GpusimError(f"{path / 'weights.npz'}: missing weights {', '.join(missing[:3])}")
    return {"meta": meta, "weights": weights, "path": str(path)}


def save_agent(path: str | Path, weights: dict[str, np.ndarray], meta: dict) -> None:
    """Write an agent folder (created if needed) that ``load_agent`` reads."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    meta = {"format": AGENT_FORMAT, "version": AGENT_VERSION, "features": [JOB_FEATURES, GLOBAL_FEATURES], **meta}
    np.savez(path / "weights.npz", **weights)
    (path / "agent.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")

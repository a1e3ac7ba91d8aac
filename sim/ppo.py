"""The scheduling agent's network and its PPO update (Keras 3 on the TensorFlow backend).

Network (actor-critic, reading only the cluster-size-independent parts of an observation, see
``sim.observation``): every window slot is scored by one shared MLP of its job features and the
global features (so the agent ranks jobs the same way wherever they sit in the window, and a job
left out of the window by arrival order is scored like any other once it enters); waiting gets
its own score from the global features; invalid actions are masked to -1e9 before the softmax.
The critic is an MLP of all slot features and the global features.

Two implementations of the same forward pass: the Keras model (training, gradients) and
``forward`` in numpy (rollouts and the ``rl`` policy: microseconds per decision, where Keras's
``model.predict`` costs about 50 ms). A test checks they agree.

PPO: the clipped surrogate objective, a value loss, an entropy bonus over valid actions only,
generalized advantage estimation (``gae``), advantages normalized per batch, global gradient-norm
clipping. TensorFlow is imported inside the functions that need it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.observation import GLOBAL_FEATURES, JOB_FEATURES, globals_, slots

MASKED = -1e9
#: Dense layers in order; weights are saved as ``NAME/kernel`` and ``NAME/bias``.
LAYERS = ("score1", "score2", "score_out", "wait1", "wait_out", "value1", "value2", "value_out")
_GLOBALS = GLOBAL_FEATURES - 1  # the absolute time is left out


@dataclass(frozen=True)
class PPOSettings:
    """PPO's hyperparameters (the defaults train the small configuration in minutes on CPU)."""

    learning_rate: float = 1e-3
    gamma: float = 0.99
    lam: float = 0.95
    clip: float = 0.2
    epochs: int = 4
    minibatch: int = 256
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    max_grad_norm: float = 0.5


def build(window: int, hidden: int, seed: int):
    """The Keras actor-critic for a window of ``window`` jobs; weights seeded from ``seed``."""
    import keras

    def dense(name: str, units: int, activation: str | None, i: int):
        return keras.layers.Dense(units, activation=activation, name=name,
                                  kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i),
                                  bias_initializer="zeros")

    class ActorCritic(keras.Model):
        def __init__(self) -> None:
            super().__init__(name="gpusim_agent")
            self.window = window
            self.score1, self.score2 = dense("score1", hidden, "tanh", 0), dense("score2", hidden, "tanh", 1)
            self.score_out = dense("score_out", 1, None, 2)
            self.wait1, self.wait_out = dense("wait1", hidden, "tanh", 3), dense("wait_out", 1, None, 4)
            self.value1, self.value2 = dense("value1", hidden, "tanh", 5), dense("value2", hidden, "tanh", 6)
            self.value_out = dense("value_out", 1, None, 7)

        def call(self, obs):
            ops = keras.ops
            jobs = ops.reshape(obs[:, :window * JOB_FEATURES], (-1, window, JOB_FEATURES))
            glob = obs[:, -GLOBAL_FEATURES:-1]
            tiled = ops.repeat(ops.expand_dims(glob, 1), window, axis=1)
            scores = self.score_out(self.score2(self.score1(ops.concatenate([jobs, tiled], axis=-1))))[..., 0]
            wait = self.wait_out(self.wait1(glob))
            flat = ops.concatenate([ops.reshape(jobs, (-1, window * JOB_FEATURES)), glob], axis=-1)
            value = self.value_out(self.value2(self.value1(flat)))[:, 0]
            return ops.concatenate([scores, wait], axis=-1), value

    model = ActorCritic()
    model(np.zeros((1, window * JOB_FEATURES + GLOBAL_FEATURES), dtype=np.float32))  # create the weights
    return model


def weights_of(model) -> dict[str, np.ndarray]:
    """The model's weights by ``LAYER/kernel`` and ``LAYER/bias`` (float32 numpy arrays)."""
    out = {}
    for name in LAYERS:
        layer = getattr(model, name)
        out[f"{name}/kernel"] = np.asarray(layer.kernel, dtype=np.float32)
        out[f"{name}/bias"] = np.asarray(layer.bias, dtype=np.float32)
    return out


def set_weights(model, weights: dict[str, np.ndarray]) -> None:
    for name in LAYERS:
        layer = getattr(model, name)
        layer.kernel.assign(weights[f"{name}/kernel"])
        layer.bias.assign(weights[f"{name}/bias"])


def forward(weights: dict[str, np.ndarray], obs: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The numpy forward pass: unmasked logits (B, window + 1) and values (B,) for observations (B, size)."""
    w = weights

    def dense(name: str, x: np.ndarray) -> np.ndarray:
        return x @ w[f"{name}/kernel"] + w[f"{name}/bias"]

    jobs, glob = slots(obs, window), globals_(obs)
    tiled = np.broadcast_to(glob[:, None, :], (glob.shape[0], window, _GLOBALS))
    x = np.concatenate([jobs, tiled], axis=-1)
    scores = dense("score_out", np.tanh(dense("score2", np.tanh(dense("score1", x)))))[..., 0]
    wait = dense("wait_out", np.tanh(dense("wait1", glob)))
    flat = np.concatenate([jobs.reshape(len(obs), -1), glob], axis=-1)
    value = dense("value_out", np.tanh(dense("value2", np.tanh(dense("value1", flat)))))[:, 0]
    return np.concatenate([scores, wait], axis=-1), value


def masked_log_probs(logits: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Log-probabilities over actions with invalid ones at -inf-like values (numerically stable)."""
    z = np.where(mask, logits, MASKED)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def gae(rewards: np.ndarray, values: np.ndarray, last_value: float, gamma: float, lam: float) -> np.ndarray:
    """Generalized advantage estimates of one trajectory (``last_value`` is 0 at a terminal state)."""
    adv = np.zeros(len(rewards), dtype=np.float64)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        following = values[t + 1] if t + 1 < len(rewards) else last_value
        delta = rewards[t] + gamma * following - values[t]
        running = delta + gamma * lam * running
        adv[t] = running
    return adv


class Learner:
    """The Keras model, its Adam optimizer and the compiled PPO step."""

    def __init__(self, window: int, hidden: int, seed: int, settings: PPOSettings) -> None:
        import keras
        import tensorflow as tf

        self.tf, self.settings, self.window = tf, settings, window
        self.model = build(window, hidden, seed)
        self.optimizer = keras.optimizers.Adam(learning_rate=settings.learning_rate)
        self.optimizer.build(self.model.trainable_variables)
        self._step = tf.function(self._train_step, reduce_retracing=True)

    def weights(self) -> dict[str, np.ndarray]:
        return weights_of(self.model)

    def optimizer_state(self) -> dict[str, np.ndarray]:
        return {f"v{i:03d}": np.asarray(v) for i, v in enumerate(self.optimizer.variables)}

    def restore(self, weights: dict[str, np.ndarray], optimizer: dict[str, np.ndarray]) -> None:
        set_weights(self.model, weights)
        for i, v in enumerate(self.optimizer.variables):
            v.assign(optimizer[f"v{i:03d}"])

    def _train_step(self, obs, mask, actions, old_logp, adv, returns):
        tf, s = self.tf, self.settings
        with tf.GradientTape() as tape:
            logits, value = self.model(obs)
            logp_all = tf.nn.log_softmax(tf.where(mask, logits, MASKED))
            logp = tf.gather(logp_all, actions, batch_dims=1)
            ratio = tf.exp(logp - old_logp)
            surrogate = tf.minimum(ratio * adv, tf.clip_by_value(ratio, 1 - s.clip, 1 + s.clip) * adv)
            policy_loss = -tf.reduce_mean(surrogate)
            value_loss = tf.reduce_mean(tf.square(returns - value))
            entropy = -tf.reduce_mean(tf.reduce_sum(tf.where(mask, tf.exp(logp_all) * logp_all, 0.0), axis=-1))
            loss = policy_loss + s.value_coef * value_loss - s.entropy_coef * entropy
        variables = self.model.trainable_variables
        grads, _ = tf.clip_by_global_norm(tape.gradient(loss, variables), s.max_grad_norm)
        self.optimizer.apply_gradients(zip(grads, variables))
        return policy_loss, value_loss, entropy

    def update(self, batch: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, float]:
        """PPO epochs over one batch of transitions (keys obs, mask, action, logp, adv, ret)."""
        s, n = self.settings, len(batch["action"])
        adv = batch["adv"]
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        stats = []
        for _ in range(s.epochs):
            order = rng.permutation(n)
            for lo in range(0, n, s.minibatch):
                idx = order[lo:lo + s.minibatch]
                out = self._step(batch["obs"][idx], batch["mask"][idx], batch["action"][idx].astype(np.int32),
                                 batch["logp"][idx].astype(np.float32), adv[idx].astype(np.float32),
                                 batch["ret"][idx].astype(np.float32))
                stats.append([float(x) for x in out])
        policy_loss, value_loss, entropy = np.mean(stats, axis=0)
        return {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}

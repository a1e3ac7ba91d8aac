"""GPU memory of a training step: measured from the backend's allocator, or estimated from the model.

A profile records, per measurement, the GPU memory one training step needs on each of its GPUs
(``Measurement.gpu_memory_mib``, MiB rounded up) and where that number comes from
(``gpu_memory_source``):

- **measured** (:class:`PeakMemory`), on a GPU: the allocator's peak bytes in use during the
  configuration's warm-up and timed steps, less the bytes in use before its model was built.
  TensorFlow (``tf.config.experimental.reset_memory_stats`` / ``get_memory_info('GPU:0')['peak']``)
  and PyTorch reset the peak before each configuration. JAX cannot reset it
  (``device.memory_stats()['peak_bytes_in_use']`` is the peak since the process started), so a
  configuration's peak is known only when it rises above every earlier one; otherwise the
  measurement falls back to the estimate.
- **estimate** (:func:`footprint`), anywhere: ``4 bytes × (weights + gradients + optimizer slots)
  + 4 bytes × activations of one per-GPU batch``, from the built, compiled Keras model: weights
  are ``model.count_params()`` (non-trainable ones included), gradients one per trainable
  parameter, optimizer slots the elements of the optimizer's non-scalar variables (SGD with
  momentum: one per trainable parameter; Adam: two), activations the sum of every layer's output
  sizes (the input layer's included) per sample, times the batch. It leaves out what the model
  does not show: activations inside composite layers (attention scores, LSTM gates), gradients of
  activations during the backward pass, workspaces of cuDNN/XLA, allocator rounding and the CUDA
  context. docs/calibration.md says how far it is from a measurement.

Nothing here imports Keras or a backend at import time.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from sim.errors import GpusimError

MIB = 2**20
BYTES = 4  # float32 weights, gradients, slots and activations; int32 token ids
ESTIMATE = ("estimate: 4 bytes x (weights + gradients + optimizer slots) + 4 bytes x activations of one "
            "per-GPU batch (every layer's output, the input's included)")


def mib(num_bytes: float) -> int:
    """Bytes as whole MiB, rounded up (at least 1)."""
    return max(1, math.ceil(num_bytes / MIB))


@dataclass(frozen=True)
class Footprint:
    """The counts the estimate is made of, for one model (scalars, not bytes)."""

    weights: int  # model.count_params(): trainable and non-trainable
    gradients: int  # one per trainable parameter
    optimizer_slots: int  # elements of the optimizer's per-parameter state
    activations_per_sample: int  # sum of the layers' output sizes for one sample

    def bytes(self, per_gpu_batch: int) -> int:
        """Estimated bytes of one training step on one GPU holding ``per_gpu_batch`` samples."""
        fixed = self.weights + self.gradients + self.optimizer_slots
        return BYTES * (fixed + self.activations_per_sample * per_gpu_batch)

    def mib(self, per_gpu_batch: int) -> int:
        return mib(self.bytes(per_gpu_batch))


def footprint(model) -> Footprint:
    """The estimate's counts for a compiled Keras 3 functional model (its optimizer is built if it
    is not yet: building creates the slots, it changes no weight)."""
    import keras

    optimizer = model.optimizer
    if optimizer is None:
        raise GpusimError(f"model {model.name!r} is not compiled: no optimizer to count slots of")
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    trainable = sum(_size(w.shape) for w in model.trainable_weights)
    slots = sum(_size(v.shape) for v in optimizer.variables if len(v.shape) > 0)
    per_sample = 0
    for layer in model.layers:
        for tensor in keras.tree.flatten(layer.output):
            per_sample += _size(tensor.shape[1:])
    return Footprint(int(model.count_params()), trainable, slots, per_sample)


def _size(shape) -> int:
    return int(np.prod([int(d) for d in shape], dtype=np.int64)) if len(shape) else 1


def per_gpu_batch(batch_size: int, num_gpus: int) -> int:
    """The largest share of a global batch on one GPU (data parallel: the batch is split)."""
    return -(-batch_size // num_gpus)


# --- measuring ----------------------------------------------------------------------------------


class PeakMemory:
    """Peak GPU memory of one profiling configuration, from the backend's allocator counters.

    Call :meth:`baseline` before a model is built, :meth:`start` before a configuration's warm-up,
    and :meth:`stop` after its timed steps: it returns the bytes the configuration needed (its peak
    less the baseline), or None when the backend cannot attribute a peak to it (JAX, when an
    earlier configuration's peak was higher). ``source`` is the profile's ``gpu_memory_source``.
    """

    def __init__(self, backend: str, module) -> None:
        self.backend, self.module = backend, module
        self.base = self.peak_before = 0
        self.source = {
            "tensorflow": "measured: tf.config.experimental.get_memory_info('GPU:0')['peak'] over the warm-up and "
                          "timed steps (reset before them), less the bytes in use before the model was built",
            "jax": "measured: device.memory_stats()['peak_bytes_in_use'] of the first GPU over the warm-up and "
                   "timed steps, less the bytes in use before the model was built",
            "torch": "measured: torch.cuda.max_memory_allocated() over the warm-up and timed steps (reset before "
                     "them), less the bytes allocated before the model was built",
        }[backend]

    @classmethod
    def for_backend(cls, backend: str) -> PeakMemory | None:
        """A probe for the first GPU of ``backend``, or None where it has no GPU or no counters."""
        try:
            if backend == "tensorflow":
                import tensorflow as tf

                if not tf.config.list_physical_devices("GPU"):
                    return None
                tf.config.experimental.get_memory_info("GPU:0")
                return cls(backend, tf)
            if backend == "jax":
                import jax

                gpus = [d for d in jax.devices() if d.platform == "gpu"]
                if not gpus or not gpus[0].memory_stats():
                    return None
                return cls(backend, gpus[0])
            if backend == "torch":
                import torch

                return cls(backend, torch) if torch.cuda.is_available() else None
        except (ImportError, RuntimeError, ValueError, AttributeError):
            return None
        return None

    def _in_use(self) -> int:
        if self.backend == "tensorflow":
            return int(self.module.config.experimental.get_memory_info("GPU:0")["current"])
        if self.backend == "jax":
            return int(self.module.memory_stats()["bytes_in_use"])
        return int(self.module.cuda.memory_allocated())

    def _peak(self) -> int:
        if self.backend == "tensorflow":
            return int(self.module.config.experimental.get_memory_info("GPU:0")["peak"])
        if self.backend == "jax":
            return int(self.module.memory_stats()["peak_bytes_in_use"])
        return int(self.module.cuda.max_memory_allocated())

    def baseline(self) -> None:
        gc.collect()  # the previous model's buffers go now, not at some later collection
        self.base = self._in_use()

    def start(self) -> None:
        if self.backend == "tensorflow":
            self.module.config.experimental.reset_memory_stats("GPU:0")
        elif self.backend == "torch":
            self.module.cuda.reset_peak_memory_stats()
        self.peak_before = self._peak()

    def stop(self) -> int | None:
        peak = self._peak()
        if self.backend == "jax" and peak <= self.peak_before:
            return None  # an earlier configuration's peak hides this one's
        return max(0, peak - self.base)


# --- profiles without memory --------------------------------------------------------------------


def add_estimates(profile, models: Sequence[str] | None = None):
    """The profile with the estimate filled in for every measurement of a zoo model that has no GPU
    memory (measured values are kept); returns ``(profile, filled, left)`` with the counts of
    measurements filled and left without memory (models not in the zoo). A zoo model whose
    parameter count differs from the measurement's is an error: the zoo changed since."""
    from calibrate.zoo import MODELS, import_keras, params

    keras = import_keras()
    footprints: dict[str, Footprint] = {}
    out, filled, left = [], 0, 0
    for m in profile.measurements:
        if m.gpu_memory_mib is not None:
            out.append(m)
            continue
        if m.model not in MODELS or (models is not None and m.model not in models):
            out.append(m)
            left += 1
            continue
        if m.model not in footprints:
            spec = MODELS[m.model]()
            model = spec.compile()
            if m.params is not None and params(model) != m.params:
                raise GpusimError(f"model {m.model!r}: the zoo's has {params(model):,} trainable parameters, the "
                                  f"profile's {m.params:,}; its memory cannot be estimated from this zoo")
            footprints[m.model] = footprint(model)
            keras.backend.clear_session()
        out.append(replace(m, gpu_memory_mib=footprints[m.model].mib(per_gpu_batch(m.batch_size, m.num_gpus)),
                           gpu_memory_source=ESTIMATE))
        filled += 1
    settings = dict(profile.settings)
    if footprints:
        settings["gpu_memory"] = {**settings.get("gpu_memory", {}), "estimate": ESTIMATE,
                                  "footprints": {**settings.get("gpu_memory", {}).get("footprints", {}),
                                                 **{k: vars(v) for k, v in sorted(footprints.items())}}}
    return replace(profile, measurements=tuple(out), settings=settings), filled, left


# --- a job's demand -----------------------------------------------------------------------------


def demand_mib(points: Sequence[tuple[int, int]], batch: int) -> int | None:
    """GPU memory (MiB) at per-GPU batch ``batch`` from (per-GPU batch, MiB) points of one model:
    the largest value at that batch; between measured batches the straight line through the two
    neighbours; beyond them the line through the two nearest, but never less than the largest
    measured batch's value above the range, nor more than the smallest's below it (memory does
    not shrink as the batch grows), and at least 1 MiB. None with no point, or with one batch size
    measured only and a different batch asked for."""
    by_batch: dict[int, int] = {}
    for b, value in points:
        by_batch[b] = max(value, by_batch.get(b, 0))
    if batch in by_batch:
        return by_batch[batch]
    if len(by_batch) < 2:
        return None
    xs = sorted(by_batch)
    i = int(np.searchsorted(xs, batch))
    lo, hi = (xs[0], xs[1]) if i == 0 else (xs[-2], xs[-1]) if i == len(xs) else (xs[i - 1], xs[i])
    slope = (by_batch[hi] - by_batch[lo]) / (hi - lo)
    value = by_batch[lo] + slope * (batch - lo)
    if batch > xs[-1]:
        value = max(value, by_batch[xs[-1]])
    elif batch < xs[0]:
        value = min(value, by_batch[xs[0]])
    return max(1, math.ceil(value - 1e-9))

"""The profiling runner: time Keras training steps of zoo models and write a profile file.

For each (model, batch size, GPU count) the runner compiles the zoo model, runs ``warmup_steps``
untimed training steps (tracing, compilation, allocator warm-up), then ``repeats`` timed repeats of
``steps`` steps each, and records the median seconds per step and its interquartile range over the
repeats (see ``calibrate.profile.Measurement``). One GPU (or the CPU) steps with
``model.train_on_batch``, which returns its loss to the host, so every step is complete when the
next begins. Where TensorFlow sees several GPUs it also measures ``tf.distribute.MirroredStrategy``
over 2..N of them (one node: ``consolidated=True``); there a step is ``model.fit`` over a repeated
``tf.data`` batch, split across the replicas. Batch sizes are per GPU; a measurement's
``batch_size`` is the global batch (per GPU × ``num_gpus``).

Keras (and TensorFlow or JAX) is imported inside the functions that need it, never at import time.
``main(argv)`` is ``gpusim calibrate run``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import numbers
import os
import platform
import shutil
import subprocess
import sys
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from calibrate.gpu_types import canonical
from calibrate.memory import ESTIMATE, PeakMemory, footprint, mib
from calibrate.profile import Measurement, Profile, save
from calibrate.zoo import MODELS, import_keras, params
from sim.errors import GpusimError
from sim.rng import stream

SOURCE = "gpusim calibrate run"


@dataclass(frozen=True)
class Preset:
    """A named set of settings: models, per-GPU batch sizes (``per_model`` overrides), step counts."""

    name: str
    models: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    warmup_steps: int
    steps: int
    repeats: int
    per_model: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def batch_sizes_of(self, model: str) -> tuple[int, ...]:
        return tuple(self.per_model.get(model, self.batch_sizes))


#: About 70 s on 2 CPU cores, half of it TensorFlow tracing ResNet-50 and MobileNetV2.
QUICK = Preset("quick", ("mlp", "cnn", "lstm", "transformer", "resnet50-cifar", "mobilenetv2-cifar"),
               (8, 16), warmup_steps=2, steps=5, repeats=5)

#: The whole zoo at realistic batch sizes: for a GPU machine (hours on a CPU).
FULL = Preset("full", tuple(MODELS), (32, 64, 128), warmup_steps=5, steps=20, repeats=5,
              per_model={"mlp": (64, 128, 256, 512), "cnn": (64, 128, 256, 512),
                         "resnet50-cifar": (32, 64, 128, 256), "mobilenetv2-cifar": (32, 64, 128, 256),
                         "resnet50-imagenet": (16, 32, 64, 128), "mobilenetv2-imagenet": (16, 32, 64, 128),
                         "transformer": (16, 32, 64), "lstm": (20, 40, 80)})

PRESETS = {p.name: p for p in (QUICK, FULL)}


# --- measuring -----------------------------------------------------------------------------------


def profile(models: Sequence[str], batch_sizes: Sequence[int] | Mapping[str, Sequence[int]], *,
            warmup_steps: int, steps: int, repeats: int, seed: int, progress: bool = True,
            max_gpus: int | None = None, preset: str | None = None) -> Profile:
    """Measure the training step time of each zoo model at each (per-GPU) batch size.

    ``batch_sizes`` is one list for every model or a mapping model → list. ``max_gpus`` caps the GPU
    counts tried (default: all GPUs visible to TensorFlow; JAX and the CPU use one device). Keras'
    weights and the synthetic data are seeded from ``sim.rng.stream(seed, "calibration")``; every
    configuration's data depend only on the seed, the model name and the batch size.
    """
    per_model = _check(models, batch_sizes, warmup_steps, steps, repeats, seed, max_gpus)
    try:
        keras = import_keras()
    except ImportError as err:
        raise GpusimError(f"profiling needs Keras 3 and a backend (pip install 'gpusim[tf]'): {err}") from None
    device, num_visible = _device(keras)
    counts = [1]
    if keras.backend.backend() == "tensorflow" and device["gpu_type"] != "CPU":
        counts += list(range(2, min(num_visible, max_gpus or num_visible) + 1))
    rng = stream(seed, "calibration")
    keras_seed, data_seed = (int(v) for v in rng.integers(0, 2**31 - 1, size=2))
    total = sum(len(per_model[m]) for m in models) * len(counts)
    bar = _Progress(total, progress)
    probe = PeakMemory.for_backend(keras.backend.backend())  # None without a GPU: memory is estimated
    measurements, jit, footprints, unattributed = [], {}, {}, 0
    for name in models:
        for n in counts:
            keras.utils.set_random_seed(keras_seed)  # the same initial weights whatever else is run
            if probe is not None:
                probe.baseline()
            spec, model, strategy = _build(name, n)
            jit[name] = bool(getattr(model, "jit_compile", False))
            for per_gpu in per_model[name]:
                batch = per_gpu * n
                data = np.random.default_rng([data_seed, zlib.crc32(name.encode()), batch])
                x, y = spec.make_batch(batch, data)
                if probe is not None:
                    probe.start()
                times = _time_steps(keras, model, strategy, x, y, batch, warmup_steps, steps, repeats)
                used = None if probe is None else probe.stop()
                unattributed += probe is not None and used is None
                if name not in footprints:
                    footprints[name] = footprint(model)  # after training: the optimizer's slots exist
                memory, source = ((footprints[name].mib(per_gpu), ESTIMATE) if used is None
                                  else (mib(used), probe.source))
                q25, median, q75 = (float(v) for v in np.percentile(times, [25, 50, 75]))
                m = Measurement(name, device["gpu_type"], batch, n, median, q75 - q25, repeats, steps, True,
                                params(model), spec.input_shape, memory, source)
                measurements.append(m)
                bar.step(f"{name} batch {batch} on {n} {'GPU' if n > 1 else 'device'}: {median * 1e3:.2f} ms/step "
                         f"(IQR {m.step_time_iqr * 1e3:.2f}), {m.samples_per_s:.1f} samples/s, "
                         f"{memory} MiB per GPU ({source.split(':')[0]})")
            del spec, model, strategy
            keras.backend.clear_session()
    bar.close()
    settings = {"preset": preset, "models": list(models), "batch_sizes": {m: list(per_model[m]) for m in models},
                "batch_sizes_are": "per GPU; a measurement's batch_size is the global batch",
                "warmup_steps": warmup_steps, "steps": steps, "repeats": repeats, "seed": seed,
                "keras_seed": keras_seed, "num_gpus": counts, "jit_compile": jit,
                "data": "synthetic, numpy Generator", "step": "model.train_on_batch (one device); model.fit over a "
                "repeated tf.data batch (MirroredStrategy)", "statistic": "median and IQR over repeats",
                "gpu_memory": {"per": "GPU, one training step of the per-GPU batch",
                               "measured_with": None if probe is None else probe.source,
                               "unattributed_peaks": unattributed, "estimate": ESTIMATE,
                               "footprints": {k: vars(v) for k, v in footprints.items()}}}
    return Profile(SOURCE, device, tuple(measurements), _versions(keras), _now(), settings)


def _check(models, batch_sizes, warmup_steps, steps, repeats, seed, max_gpus) -> dict[str, tuple[int, ...]]:
    """Validate the settings before anything heavy is imported; returns model → batch sizes."""
    if isinstance(models, str) or not models:
        raise GpusimError("models must be a non-empty list of zoo model names")
    for name in models:
        if name not in MODELS:
            raise GpusimError(f"unknown model {name!r} (known: {', '.join(MODELS)})")
    for label, value, low in (("warmup_steps", warmup_steps, 0), ("steps", steps, 1), ("repeats", repeats, 1),
                              ("seed", seed, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise GpusimError(f"{label} must be an integer ≥ {low}, got {value!r}")
    if max_gpus is not None and (not isinstance(max_gpus, int) or max_gpus < 1):
        raise GpusimError(f"max_gpus must be a positive integer, got {max_gpus!r}")
    out = {}
    for name in models:
        sizes = batch_sizes.get(name) if isinstance(batch_sizes, Mapping) else batch_sizes
        if sizes is None or isinstance(sizes, (str, int)) or not sizes:
            raise GpusimError(f"no batch sizes for model {name!r}")
        for b in sizes:
            if not isinstance(b, numbers.Integral) or isinstance(b, bool) or b < 1:
                raise GpusimError(f"batch sizes must be positive integers, got {b!r} for {name!r}")
        out[name] = tuple(int(b) for b in sizes)  # numpy integers too
    return out


def _build(name: str, num_gpus: int, device: str = "gpu"):
    """Build and compile zoo model ``name``, under a MirroredStrategy over ``num_gpus`` devices of
    kind ``device`` if > 1 (the tests use logical CPU devices; profiles use GPUs)."""
    if num_gpus == 1:
        spec = MODELS[name]()
        return spec, spec.compile(), None
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(devices=[f"/{device}:{i}" for i in range(num_gpus)])
    with strategy.scope():
        spec = MODELS[name]()
        model = spec.compile()
    return spec, model, strategy


def _time_steps(keras, model, strategy, x, y, batch, warmup_steps, steps, repeats) -> list[float]:
    """Seconds per step of each of ``repeats`` timed runs of ``steps`` steps, after the warm-up."""
    if strategy is None:
        x, y = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)  # on the device once

        def run(n):
            for _ in range(n):
                model.train_on_batch(x, y)
    else:
        import tensorflow as tf

        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch, drop_remainder=True).cache().repeat()

        def run(n):
            model.fit(data, epochs=1, steps_per_epoch=n, verbose=0)

    if warmup_steps:
        run(warmup_steps)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(steps)
        times.append((time.perf_counter() - start) / steps)
    return times


class _Progress:
    """One line per finished configuration on stderr (through tqdm when it is installed)."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done, self.enabled, self.bar = total, 0, enabled, None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=total, file=sys.stderr, unit="config", leave=False)

    def step(self, line: str) -> None:
        self.done += 1
        if not self.enabled:
            return
        text = f"[{self.done}/{self.total}] {line}"
        if self.bar is None:
            print(text, file=sys.stderr, flush=True)
        else:
            self.bar.write(text, file=sys.stderr)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# --- provenance ----------------------------------------------------------------------------------


def _device(keras) -> tuple[dict, int]:
    """The profile's ``device`` record and the number of GPUs visible to the backend."""
    backend = keras.backend.backend()
    gpus = _gpu_names(backend)
    info = {"backend": backend, "hostname": platform.node()}
    if not gpus:
        info |= {"gpu_type": "CPU", "name": _cpu_name(), "memory_bytes": None, "cores": _cores()}
        return info, 0
    info |= {"gpu_type": canonical(gpus[0]), "name": gpus[0], "memory_bytes": _gpu_memory(), "cores": None,
             "visible_gpus": len(gpus), "host_cpu": _cpu_name(), "host_cores": _cores()}
    return info, len(gpus)


def _gpu_names(backend: str) -> list[str]:
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
    if backend == "jax":
        import jax

        return [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def _gpu_memory() -> int | None:
    """Total memory of GPU 0 in bytes, from nvidia-smi (no backend reports the total)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        return int(float(out.split()[0]) * 2**20)  # MiB
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cores() -> int | None:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use
    except AttributeError:
        return os.cpu_count()


def _versions(keras) -> dict:
    out = {"python": platform.python_version(), "keras": keras.__version__, "numpy": np.__version__}
    for module, dists in (("tensorflow", ("tensorflow", "tensorflow-cpu")), ("jax", ("jax",)),
                          ("jaxlib", ("jaxlib",)), ("torch", ("torch",))):
        if module in sys.modules and getattr(sys.modules[module], "__version__", None):
            out[module] = sys.modules[module].__version__
            continue
        for dist in dists:
            try:
                out[module] = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                pass
    try:
        out["gpusim"] = importlib.metadata.version("gpusim")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that is not installed
        import tomllib

        try:
            pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
            out["gpusim"] = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            out["gpusim"] = "unknown"
    return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --- command line --------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, as GpusimError, instead of usage + exit
        raise GpusimError(f"calibrate run: {message}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``gpusim calibrate run`` (numbers are checked by :func:`run`, one line each)."""
    parser.add_argument("--quick", action="store_true", help="the quick preset (about 70 s on a "
                        f"2-core CPU: {', '.join(QUICK.models)} at batch {','.join(map(str, QUICK.batch_sizes))}) "
                        "instead of the full one")
    parser.add_argument("--models", metavar="A,B", help=f"zoo models (known: {', '.join(MODELS)})")
    parser.add_argument("--batch-sizes", metavar="N,N", help="per-GPU batch sizes for every model")
    parser.add_argument("--warmup-steps", metavar="N", help="untimed steps before timing")
    parser.add_argument("--steps", metavar="N", help="steps per timed repeat")
    parser.add_argument("--repeats", metavar="N", help="timed repeats (median and IQR over them)")
    parser.add_argument("--seed", metavar="N", default="0", help="seed of weights and data (default 0)")
    parser.add_argument("--max-gpus", metavar="N", help="use at most N GPUs (default: all visible)")
    parser.add_argument("--out", metavar="PROFILE.json", required=True, help="profile file to write")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    parser.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")


def _int(flag: str, text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise GpusimError(f"{flag}: expected an integer, got {text!r}") from None
    if value < low:
        raise GpusimError(f"{flag}: must be at least {low}, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    """Carry out ``gpusim calibrate run`` from parsed arguments; returns the exit status."""
    preset = QUICK if args.quick else FULL
    models = [m.strip() for m in args.models.split(",")] if args.models else list(preset.models)
    for name in models:
        if name not in MODELS:
            raise GpusimError(f"--models: unknown model {name!r} (known: {', '.join(MODELS)})")
    if args.batch_sizes:
        sizes = [_int("--batch-sizes", t.strip(), 1) for t in args.batch_sizes.split(",")]
        batch_sizes = {m: sizes for m in models}
    else:
        batch_sizes = {m: preset.batch_sizes_of(m) for m in models}
    warmup = preset.warmup_steps if args.warmup_steps is None else _int("--warmup-steps", args.warmup_steps, 0)
    steps = preset.steps if args.steps is None else _int("--steps", args.steps, 1)
    repeats = preset.repeats if args.repeats is None else _int("--repeats", args.repeats, 1)
    seed = _int("--seed", args.seed, 0)
    max_gpus = None if args.max_gpus is None else _int("--max-gpus", args.max_gpus, 1)
    out = Path(args.out)
    if out.exists() and not args.force:
        raise GpusimError(f"--out {out}: exists (use --force to overwrite)")
    if not out.parent.is_dir():
        raise GpusimError(f"--out {out}: folder {out.parent} does not exist")
    start = time.perf_counter()
    result = profile(models, batch_sizes, warmup_steps=warmup, steps=steps, repeats=repeats, seed=seed,
                     progress=not args.no_progress, max_gpus=max_gpus, preset=preset.name)
    save(result, out)
    print(f"wrote {out}: {len(result.measurements)} measurements on {result.device['name']} "
          f"({result.device['backend']}) in {time.perf_counter() - start:.0f} s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``gpusim calibrate run``: user errors raise GpusimError (one line); returns the exit status."""
    parser = _Parser(prog="gpusim calibrate run", description="Profile Keras training steps of zoo models "
                     "on this machine's GPU (or CPU) and write a profile file.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # python -m calibrate.runner, until the gpusim command wires it in
    try:
        sys.exit(main())
    except GpusimError as err:
        print(f"gpusim: error: {err}", file=sys.stderr)
        sys.exit(2)

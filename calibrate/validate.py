"""Validation of the calibration: predicted vs measured time of whole ``model.fit`` runs.

For each zoo model, some batch sizes are *fit* configurations and others are *held out*. From the
fit configurations only, :func:`validate` measures step times with :func:`calibrate.runner.profile`
(``train_on_batch`` on a resident batch), fits the speed model with
:func:`calibrate.fit.fit_profile`, and measures one more thing: the per-epoch overhead of
``model.fit`` beyond its steps (building the epoch's input pipeline from numpy arrays, callbacks,
and any per-step difference between ``fit`` and ``train_on_batch``). It then predicts each held-out
configuration's

    model.fit(x, y, epochs=E, batch_size=B, verbose=0)

as ``E × (S × step_time(B) + overhead)`` with ``S`` steps per epoch, and times that call on
synthetic data of the real shapes (``ZooModel.make_batch``, repeated to ``S × B`` samples). The
held-out timings are never used for a prediction.

Why the overhead term: on the 2-core development CPU one ``fit`` epoch costs some 30-90 ms beyond
its steps (``mlp`` steps take about 5 ms), so steps alone under-predict a small model's run by half
or more. It is measured at the same ``E`` and ``S`` as the held-out runs, so it also carries the
once-per-call cost (spread over the epochs) and any per-step difference between the two paths.
Records carry the steps-only prediction too, so its effect stays visible.

Timings on a shared machine drift by tens of percent between runs, so everything happens in one
process, interleaved: each of ``repeats`` rounds profiles the fit configurations and times all the
``fit`` runs of each model, alternating which comes first; step times and ``fit`` times are medians
over the rounds. Each ``fit`` run follows an untimed warm-up ``fit`` at its batch size, so tracing
and XLA compilation (seconds, once per job) are not part of the measured time: the speed model
predicts steady-state training, not start-up.

Keras is imported inside :func:`validate` only; the arithmetic (:func:`epoch_overhead`,
:func:`predict_fit_seconds`) needs no Keras.
"""

from __future__ import annotations

import numbers
import sys
import time
import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone

import numpy as np

from calibrate.fit import fit_profile, step_time
from calibrate.profile import Measurement, Profile
from calibrate.runner import profile
from calibrate.zoo import MODELS, import_keras
from sim.errors import GpusimError
from sim.rng import stream

Batches = Sequence[int] | Mapping[str, Sequence[int]]


def epoch_overhead(fit_seconds: float, step_seconds: float, epochs: int, steps_per_epoch: int) -> float:
    """Seconds per epoch a ``model.fit`` run of ``epochs × steps_per_epoch`` steps took beyond its steps.

    ``(fit_seconds - epochs × steps_per_epoch × step_seconds) / epochs``; negative when ``fit`` steps
    ran faster than the profiled ones.
    """
    return (fit_seconds - epochs * steps_per_epoch * step_seconds) / epochs


def predict_fit_seconds(fit: dict, gpu_type: str, batch: int, *, epochs: int, steps_per_epoch: int,
                        overhead_per_epoch: float = 0.0) -> float:
    """Predicted seconds of ``model.fit`` over ``epochs`` epochs of ``steps_per_epoch`` steps on one device.

    ``fit`` is one model's entry of ``profile.fits``: ``epochs × (steps_per_epoch × step_time + overhead)``.
    """
    return epochs * (steps_per_epoch * step_time(fit, gpu_type, batch, 1) + overhead_per_epoch)


def validate(models: Sequence[str], fit_batches: Batches, holdout_batches: Batches, *, epochs: int,
             steps_per_epoch: int, repeats: int, seed: int, progress: bool = True, warmup_steps: int = 2,
             profile_steps: int = 4, profile_repeats: int = 3) -> list[dict]:
    """Predicted vs measured seconds of ``model.fit`` for every held-out (model, batch size); one record each.

    ``fit_batches`` (at least two sizes per model) and ``holdout_batches`` (disjoint from them) are one
    list for every model or a mapping model → list. ``warmup_steps``, ``profile_steps`` and
    ``profile_repeats`` are the runner's settings for each round's profile. Record keys:
    ``model``, ``batch``, ``gpu_type``, ``device`` (CPU or GPU name), ``cores``, ``backend``,
    ``epochs``, ``steps_per_epoch``, ``repeats``, ``step_s`` (fitted step time),
    ``overhead_per_epoch_s``, ``predicted_s``, ``predicted_steps_only_s`` (without the overhead),
    ``measured_s`` (median over rounds), ``measured_iqr_s``, ``rel_error`` and
    ``rel_error_steps_only`` (``(predicted - measured) / measured``, signed), ``fit_rmse_rel``.
    """
    fit_of, held_of = _check(models, fit_batches, holdout_batches, epochs, steps_per_epoch, repeats, seed)
    try:
        keras = import_keras()
    except ImportError as err:
        raise GpusimError(f"validation needs Keras 3 and a backend (pip install 'gpusim[tf]'): {err}") from None
    rng = stream(seed, "calibration")  # the runner's draws: the same weights and data as its profile
    keras_seed, data_seed = (int(v) for v in rng.integers(0, 2**31 - 1, size=2))
    steps: dict[tuple[str, int], list[float]] = {}
    runs: dict[tuple[str, int], list[float]] = {}
    first: Profile | None = None
    for r in range(repeats):
        for name in models:
            def profile_round(name=name):
                p = profile([name], {name: fit_of[name]}, warmup_steps=warmup_steps, steps=profile_steps,
                            repeats=profile_repeats, seed=seed, progress=progress, max_gpus=1)
                for m in p.measurements:
                    steps.setdefault((name, m.batch_size), []).append(m.step_time)
                return p

            def fit_round(name=name):
                batches = sorted({*fit_of[name], *held_of[name]})
                times = _time_fits(keras, name, batches, keras_seed, data_seed, epochs, steps_per_epoch, warmup_steps)
                for batch, seconds in times.items():
                    runs.setdefault((name, batch), []).append(seconds)
                    _say(progress, f"[round {r + 1}/{repeats}] {name} model.fit batch {batch}"
                         f"{'' if batch in fit_of[name] else ' (held out)'}: {seconds:.3f} s "
                         f"({epochs} × {steps_per_epoch} steps)")

            if r % 2:  # alternate the order, so a drift within a round favours neither side
                fit_round()
                p = profile_round()
            else:
                p = profile_round()
                fit_round()
            first = first or p
    return _records(first, models, fit_of, held_of, steps, runs, epochs, steps_per_epoch, repeats, profile_steps)


def _records(first: Profile, models, fit_of, held_of, steps, runs, epochs, steps_per_epoch, repeats,
             profile_steps) -> list[dict]:
    """Fit the pooled fit configurations and compare each held-out configuration's prediction."""
    device = first.device
    params = {m.model: m.params for m in first.measurements}
    measurements = []
    for name in models:
        for batch in fit_of[name]:
            q25, median, q75 = (float(v) for v in np.percentile(steps[name, batch], [25, 50, 75]))
            measurements.append(Measurement(name, device["gpu_type"], batch, 1, median, q75 - q25, repeats,
                                            profile_steps, True, params.get(name), None))
    settings = {"fit_batches": {m: list(fit_of[m]) for m in models}, "statistic": "median over rounds"}
    fitted = fit_profile(Profile("gpusim calibrate validate", device, tuple(measurements), first.versions,
                                 datetime.now(timezone.utc).isoformat(timespec="seconds"), settings))
    out = []
    for name in models:
        fit = fitted.fits[name]
        overhead = float(np.median([epoch_overhead(float(np.median(runs[name, b])), float(np.median(steps[name, b])),
                                                   epochs, steps_per_epoch) for b in fit_of[name]]))
        for batch in held_of[name]:
            q25, measured, q75 = (float(v) for v in np.percentile(runs[name, batch], [25, 50, 75]))
            kwargs = {"epochs": epochs, "steps_per_epoch": steps_per_epoch}
            predicted = predict_fit_seconds(fit, device["gpu_type"], batch, overhead_per_epoch=overhead, **kwargs)
            steps_only = predict_fit_seconds(fit, device["gpu_type"], batch, **kwargs)
            out.append({"model": name, "batch": batch, "gpu_type": device["gpu_type"], "device": device.get("name"),
                        "cores": device.get("cores") or device.get("host_cores"), "backend": device.get("backend"),
                        "epochs": epochs, "steps_per_epoch": steps_per_epoch, "repeats": repeats,
                        "step_s": step_time(fit, device["gpu_type"], batch, 1), "overhead_per_epoch_s": overhead,
                        "predicted_s": predicted, "predicted_steps_only_s": steps_only, "measured_s": measured,
                        "measured_iqr_s": q75 - q25, "rel_error": (predicted - measured) / measured,
                        "rel_error_steps_only": (steps_only - measured) / measured, "fit_rmse_rel": fit["rmse_rel"]})
    return out


def _time_fits(keras, name: str, batches: Sequence[int], keras_seed: int, data_seed: int, epochs: int,
               steps_per_epoch: int, warmup_steps: int) -> dict[int, float]:
    """Wall seconds of one ``model.fit(x, y, epochs, batch_size, verbose=0)`` per batch size, after a warm-up.

    One freshly built model (seeded like the runner's) serves every batch size; the data are the
    runner's synthetic batch for (seed, model, batch size), repeated ``steps_per_epoch`` times.
    """
    keras.utils.set_random_seed(keras_seed)
    spec = MODELS[name]()
    model = spec.compile()
    out = {}
    for batch in batches:
        x, y = spec.make_batch(batch, np.random.default_rng([data_seed, zlib.crc32(name.encode()), batch]))
        x = np.concatenate([x] * steps_per_epoch)
        y = np.concatenate([y] * steps_per_epoch)
        warm = min(steps_per_epoch, max(1, warmup_steps)) * batch  # tracing / compilation for this shape
        model.fit(x[:warm], y[:warm], epochs=1, batch_size=batch, verbose=0)
        start = time.perf_counter()
        model.fit(x, y, epochs=epochs, batch_size=batch, verbose=0)
        out[batch] = time.perf_counter() - start
    del spec, model
    keras.backend.clear_session()
    return out


def _check(models, fit_batches, holdout_batches, epochs, steps_per_epoch, repeats, seed):
    """Validate the settings before Keras is imported; returns model → fit and model → held-out sizes."""
    if isinstance(models, str) or not models:
        raise GpusimError("models must be a non-empty list of zoo model names")
    for name in models:
        if name not in MODELS:
            raise GpusimError(f"unknown model {name!r} (known: {', '.join(MODELS)})")
    for label, value, low in (("epochs", epochs, 1), ("steps_per_epoch", steps_per_epoch, 1),
                              ("repeats", repeats, 1), ("seed", seed, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise GpusimError(f"{label} must be an integer ≥ {low}, got {value!r}")
    fit_of = {m: _sizes(fit_batches, m, "fit_batches") for m in models}
    held_of = {m: _sizes(holdout_batches, m, "holdout_batches") for m in models}
    for name in models:
        if len(fit_of[name]) < 2:
            raise GpusimError(f"fit_batches of {name!r}: need at least two distinct sizes to fit a step time")
        both = set(fit_of[name]) & set(held_of[name])
        if both:
            raise GpusimError(f"batch size {min(both)} of {name!r} is both fitted and held out")
    return fit_of, held_of


def _sizes(batches: Batches, name: str, label: str) -> tuple[int, ...]:
    sizes = batches.get(name) if isinstance(batches, Mapping) else batches
    if sizes is None or isinstance(sizes, (str, int)) or not sizes:
        raise GpusimError(f"{label}: no batch sizes for model {name!r}")
    for b in sizes:
        if not isinstance(b, numbers.Integral) or isinstance(b, bool) or b < 1:
            raise GpusimError(f"{label}: batch sizes must be positive integers, got {b!r} for {name!r}")
    return tuple(sorted({int(b) for b in sizes}))


def _say(enabled: bool, line: str) -> None:
    if enabled:
        print(line, file=sys.stderr, flush=True)

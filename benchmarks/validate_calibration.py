"""Benchmark: does the calibrated speed model predict whole ``model.fit`` runs of held-out batch sizes?

Runs :func:`calibrate.validate.validate` on a CPU-sized selection of the zoo (fit configurations
profiled and fitted, held-out ones predicted and timed, interleaved in this one process), prints
predicted vs measured seconds per held-out configuration and the median / largest relative error
per model and overall, labelled with the device. Target (issue): median relative error within
15 % on a CPU, 10 % on a GPU; exits 1 when the overall median misses it, 2 on a bad setting.
5-7 minutes on 2 shared CPU cores with the defaults. Not part of CI.

    .venv/bin/python benchmarks/validate_calibration.py [--models mlp,cnn] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date

from calibrate.validate import validate
from sim.errors import GpusimError

MODELS = ("mlp", "cnn", "lstm", "mobilenetv2-cifar")
# lstm steps cost ~10 ms per sample here, so it gets smaller batches (PTB is usually trained at 20)
FIT_BATCHES = {"mlp": (8, 16, 64, 128), "cnn": (8, 16, 64, 128), "mobilenetv2-cifar": (8, 16, 64, 128),
               "lstm": (4, 8, 24, 40)}
HOLDOUT_BATCHES = {"mlp": (32, 96), "cnn": (32, 96), "mobilenetv2-cifar": (32, 96), "lstm": (16, 32)}
TARGET = {"CPU": 0.15, "GPU": 0.10}


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(t) for t in text.split(","))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="zoo models (default: %(default)s)")
    parser.add_argument("--fit-batches", type=_sizes, help="fit batch sizes for every model (default: per model)")
    parser.add_argument("--holdout-batches", type=_sizes, help="held-out batch sizes for every model")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps-per-epoch", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (medians over them)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    models = [m.strip() for m in args.models.split(",")]
    fit = args.fit_batches or {m: FIT_BATCHES.get(m, FIT_BATCHES["mlp"]) for m in models}
    held = args.holdout_batches or {m: HOLDOUT_BATCHES.get(m, HOLDOUT_BATCHES["mlp"]) for m in models}

    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    try:
        records = validate(models, fit, held, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                           repeats=args.repeats, seed=args.seed, progress=not args.no_progress)
    except GpusimError as err:
        print(f"validate_calibration: error: {err}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    load_after = os.getloadavg()[0]

    first = records[0]
    kind = "CPU" if first["gpu_type"] == "CPU" else "GPU"
    print(f"device: {first['device']} ({first['gpu_type']}, {first['cores'] or '?'} CPU cores), "
          f"Keras on {first['backend']}, {date.today().isoformat()}; load average {load_before:.1f} before, "
          f"{load_after:.1f} after (other processes share the cores: timings drift)")
    print(f"model.fit of {args.epochs} epochs × {args.steps_per_epoch} steps; {args.repeats} interleaved rounds; "
          f"fit batches {_show(fit)}; held out {_show(held)}")
    print(f"{'model':18} {'batch':>5} {'step ms':>8} {'ovh/ep s':>9} {'predicted s':>11} {'measured s':>10} "
          f"{'(IQR)':>7} {'error':>7} {'steps only':>10}")
    for r in records:
        print(f"{r['model']:18} {r['batch']:>5} {r['step_s'] * 1e3:>8.2f} {r['overhead_per_epoch_s']:>9.3f} "
              f"{r['predicted_s']:>11.3f} {r['measured_s']:>10.3f} {r['measured_iqr_s']:>7.3f} "
              f"{r['rel_error']:>+7.1%} {r['rel_error_steps_only']:>+10.1%}")
    print(f"\n{'model':18} {'median |error|':>14} {'max |error|':>11}")
    for name in models:
        errors = [abs(r["rel_error"]) for r in records if r["model"] == name]
        print(f"{name:18} {statistics.median(errors):>14.1%} {max(errors):>11.1%}")
    errors = [abs(r["rel_error"]) for r in records]
    median, target = statistics.median(errors), TARGET[kind]
    print(f"{'all':18} {median:>14.1%} {max(errors):>11.1%}")
    print(f"\ntarget: median |error| ≤ {target:.0%} on a {kind}: {'met' if median <= target else 'MISSED'}; "
          f"ran {elapsed:.0f} s")
    return 0 if median <= target else 1


def _show(batches) -> str:
    if isinstance(batches, dict):
        return "; ".join(f"{m} {','.join(map(str, b))}" for m, b in batches.items())
    return ",".join(map(str, batches))


if __name__ == "__main__":
    sys.exit(main())

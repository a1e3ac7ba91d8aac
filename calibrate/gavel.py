"""Gavel's measured training throughputs as a gpusim profile.

Gavel (Narayanan et al., OSDI 2020) measured how many training iterations per second each of its
models runs on K80, P100 and V100 GPUs, alone, on 1 to 8 GPUs, inside one server ("consolidated")
and spread over servers ("unconsolidated"). ``isolated_throughputs.csv`` (in
``shared/reference/gavel-throughputs/``, see its PROVENANCE.md) holds those numbers, one row per
``gpu_type, model, batch_size, num_gpus, iterations_per_s``. :func:`import_gavel` turns it into
:class:`calibrate.profile.Profile` measurements:

- ``gpu_type`` is canonical (``k80`` → ``K80``); the suffix ``_unconsolidated`` on Gavel's GPU type
  marks a job spread over servers: ``consolidated=False`` there, ``True`` otherwise.
- **Gavel's batch size is per GPU and its multi-GPU throughput is the sum over the workers.** Each
  worker trains with ``batch_size`` samples per step (data parallel), and Gavel's profiler adds up
  the per-worker steps/s (``scheduler/scripts/profiling/measure_throughput.py``, ``_done_callback``).
  The data agree: iterations/s grow several-fold with n GPUs even at small batches, where the
  1-GPU runs show a fixed cost per step that splitting a fixed global batch could not shrink (LM on
  K80: about 25 ms per step plus 1.7 ms per sample on 1 GPU, so at most ~40 steps/s at batch 5,
  yet 77 it/s on 8 GPUs). So one synchronous step of the whole job processes the
  global batch ``batch_size * num_gpus`` and takes ``num_gpus / iterations_per_s`` seconds; that is
  what a measurement stores (on 1 GPU simply ``1 / iterations_per_s``). ``per_gpu_batch=False``
  imports the other reading (global batch ``batch_size``, step ``1 / iterations_per_s``) for
  comparison; it fits the data worse (see tests/test_calibrate_fit.py).
- Rows with 0.0 iterations/s (the configuration did not fit in memory) are skipped and counted.
- Gavel lists every 1-GPU configuration twice, once under ``<type>_unconsolidated`` with the same
  number: a 1-GPU job is on one node, so these copies are dropped (and counted) rather than
  imported as cross-node measurements.
- An empty batch size (A3C, CycleGAN have no batch-size variants) becomes the sentinel 1.
- Gavel reports one throughput per configuration, without spread: ``step_time_iqr`` is 0 and
  ``repeats``/``steps`` are 1 (unknown); parameter counts are not in the table (``params`` null).

``python -m calibrate.gavel [CSV] [--out FILE]`` writes the imported and fitted profile; the shipped
``calibrate/profiles/gavel.json`` is made exactly that way.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from calibrate.gpu_types import canonical
from calibrate.profile import Measurement, Profile
from sim.errors import GpusimError

COLUMNS = ("gpu_type", "model", "batch_size", "num_gpus", "iterations_per_s")
UNCONSOLIDATED = "_unconsolidated"
NO_BATCH = 1  # sentinel batch size of models without batch-size variants
PROVENANCE = {
    "repository": "https://github.com/stanford-futuredata/gavel",
    "file": "scheduler/simulation_throughputs.json (the 'null' entries: jobs running alone)",
    "commit": "c4fa40097339e9608ab71fd64c8bdea96a5e4a4c",
    "licence": "MIT",
    "copyright": "Copyright (c) 2020 Stanford Future Data Systems",
    "paper": "Narayanan et al., \"Heterogeneity-Aware Cluster Scheduling Policies for Deep Learning Workloads\", "
             "OSDI 2020",
}
DEFAULT_CSV = (Path(__file__).resolve().parents[2] / "shared" / "reference" / "gavel-throughputs"
               / "isolated_throughputs.csv")
SHIPPED = Path(__file__).resolve().parent / "profiles" / "gavel.json"


def _row(row: dict, where: str) -> tuple[str, bool, str, int | None, int, float]:
    try:
        raw_type = row["gpu_type"].strip()
        consolidated = not raw_type.endswith(UNCONSOLIDATED)
        gpu_type = canonical(raw_type.removesuffix(UNCONSOLIDATED))
        batch = int(row["batch_size"]) if row["batch_size"].strip() else None
        num_gpus = int(row["num_gpus"])
        rate = float(row["iterations_per_s"])
    except (TypeError, ValueError, AttributeError) as err:
        raise GpusimError(f"{where}: {err}") from None
    valid_batch = batch is None or batch >= 1
    if not row["model"].strip() or num_gpus < 1 or not valid_batch or not math.isfinite(rate) or rate < 0:
        raise GpusimError(f"{where}: not a valid measurement: {row}")
    return gpu_type, consolidated, row["model"].strip(), batch, num_gpus, rate


def import_gavel(path: str | Path, per_gpu_batch: bool = True) -> Profile:
    """Read Gavel's ``isolated_throughputs.csv`` into an (unfitted) profile; see the module docstring."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != COLUMNS:
                raise GpusimError(f"{path}: not Gavel's isolated_throughputs.csv "
                                  f"(expected columns {', '.join(COLUMNS)})")
            rows = [_row(row, f"{path}: line {reader.line_num}") for row in reader]
    except OSError as err:
        raise GpusimError(f"{path}: cannot read: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise GpusimError(f"{path}: not a text file") from None

    did_not_fit = copies = 0
    seen: dict[tuple, float] = {}
    measurements = []
    for gpu_type, consolidated, model, batch, num_gpus, rate in rows:
        if rate == 0.0:
            did_not_fit += 1
            continue
        if num_gpus == 1:
            consolidated = True  # one GPU is always on one node
        key = (model, gpu_type, batch, num_gpus, consolidated)
        if seen.get(key) == rate:
            copies += 1
            continue
        seen[key] = rate
        per_step = batch or NO_BATCH
        if per_gpu_batch:
            global_batch, seconds = per_step * num_gpus, num_gpus / rate
        else:
            global_batch, seconds = per_step, 1.0 / rate
        measurements.append(Measurement(model=model, gpu_type=gpu_type, batch_size=global_batch, num_gpus=num_gpus,
                                        step_time=seconds, consolidated=consolidated))
    measurements.sort(key=lambda m: (m.model, m.gpu_type, not m.consolidated, m.batch_size / m.num_gpus, m.num_gpus))

    semantics = ("batch_size is per GPU and iterations/s are summed over the workers: a step of the whole job "
                 "processes batch_size * num_gpus samples in num_gpus / iterations_per_s seconds" if per_gpu_batch else
                 "batch_size is the global batch and an iteration one step of it: step_time = 1 / iterations_per_s")
    settings = {
        "provenance": dict(PROVENANCE),
        "source_file": path.name,
        "rows": len(rows),
        "imported": len(measurements),
        "skipped_did_not_fit": did_not_fit,
        "skipped_1gpu_copies": copies,
        "batch_semantics": "per-GPU" if per_gpu_batch else "global",
        "notes": [
            semantics,
            f"{did_not_fit} rows with 0.0 iterations/s (configuration did not fit in GPU memory) skipped",
            f"{copies} rows under <type>_unconsolidated on 1 GPU repeat the consolidated 1-GPU number and were skipped",
            f"models without batch-size variants (empty batch_size) use the sentinel batch size {NO_BATCH}",
            "Gavel reports one throughput per configuration: step_time_iqr 0, repeats and steps 1 mean unknown",
            "consolidated=False: Gavel's <type>_unconsolidated rows, the job's GPUs spread over servers",
        ],
    }
    device = {"gpu_type": "mixed", "name": "Gavel measurements (K80, P100, V100)", "memory_bytes": None,
              "cores": None, "backend": "pytorch", "hostname": None}
    return Profile(source="gavel", device=device, measurements=tuple(measurements), settings=settings)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m calibrate.gavel [CSV] [--out FILE]``: import and fit Gavel's table, write the profile."""
    from calibrate.fit import fit_profile
    from calibrate.profile import save

    parser = argparse.ArgumentParser(prog="python -m calibrate.gavel", description=main.__doc__)
    parser.add_argument("csv", nargs="?", default=str(DEFAULT_CSV), help="isolated_throughputs.csv")
    parser.add_argument("--out", default=str(SHIPPED), help="profile to write (default: the shipped gavel.json)")
    args = parser.parse_args(argv)
    profile = fit_profile(import_gavel(args.csv))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    save(profile, args.out)
    print(f"wrote {args.out}: {len(profile.measurements)} measurements, {len(profile.fits)} models fitted")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except GpusimError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)

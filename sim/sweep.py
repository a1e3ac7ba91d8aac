"""Declarative experiments: a TOML spec → the product of its settings × seeds → one folder per run.

Spec keys (unknown keys are errors naming the key):

    name = "philly-baselines"
    seeds = 5                      # replications 0..4, or a list such as [1, 2, 3]
    traces = ["philly.csv", {path = "pods.csv", format = "alibaba2023", vcs = ["a"], window_start = 0,
              window_end = 86400, on_error = "skip", procs_per_gpu = 1}]   # paths relative to the spec
    synthetic = {jobs = 2000, sizes = "1:0.7,2:0.3", durations = "lognormal:7,1.5"}   # instead of traces
    clusters = ["8x8", "4x8:V100"]
    policies = ["fifo", {name = "tiresias", args = {thresholds = [3250, 7200]}, label = "tiresias-2q"}]
    loads = [0.6, 0.8]             # trace: replayed at this offered load; synthetic: its load
    placements = ["pool"]
    calibration = "profile.json"   # optional, with assign_models = true
    restart_overhead = 0.0, until = ..., drop_oversize = false
    faults = {mtbf = "exponential:604800", repair = "constant:7200", checkpoint_interval = 1800}  # sim.faults
    autoscale = {min_nodes = 2, provisioning_delay = 300}   # sim.autoscale
    resources = true, sharing = "frag", skew = 0.1   # the resource model (sim.resources); data skew
    trim = {first = 100, last = 100}   # warm-up/cool-down jobs left out of the statistics, and/or
    trim = {start = 86400, end = 864000}   # only jobs submitted in [start, end) seconds count
    combinations = [{policy = "fifo", load = 0.8}, ...]   # explicit combinations instead of the product

Each run writes the files of ``gpusim run --out`` (plus ``row.json`` and ``breakdown.csv``) into
``DIR/runs/<run_id>/`` (written to a temporary folder and renamed when complete, so a run is
either all there or absent) and one row of ``DIR/results.csv`` (and ``results.parquet`` with
pyarrow), rewritten atomically after every run. A failed run is recorded with its error and does
not stop the others; ``resume`` skips runs that finished. ``DIR/manifest.json`` records the spec,
its hash, versions, the git commit and every run's seed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from calibrate.profile import BUNDLED
from sim.errors import GpusimError
from sim.metrics import AUTOSCALE_KEYS, FAULT_KEYS, SHARE_KEYS, SUMMARY_KEYS

LABELS = ("policy", "trace", "cluster", "placement", "load", "seed", "calibration")
RESULT_COLUMNS = ("run_id", "status", "error", *LABELS, *SUMMARY_KEYS)
#: Summary metrics only some runs have (faults, an autoscaler, shared GPUs, stragglers): columns of
#: results.csv after RESULT_COLUMNS when some run of the sweep has them, in this order, then any
#: other in the order the runs give them.
OPTIONAL_COLUMNS = (*FAULT_KEYS, *AUTOSCALE_KEYS, *SHARE_KEYS, "straggler_gpu_hours")
_TOP = {"name", "seeds", "traces", "synthetic", "clusters", "policies", "loads", "placements", "calibration",
        "assign_models", "restart_overhead", "until", "drop_oversize", "trim", "combinations", "faults",
        "autoscale", "resources", "sharing", "skew"}
_TRACE_KEYS = {"path", "format", "vcs", "window_start", "window_end", "on_error", "procs_per_gpu"}
_POLICY_KEYS = {"name", "args", "label"}
_COMBO_KEYS = {"trace", "cluster", "policy", "load", "placement"}


@dataclass(frozen=True)
class Run:
    """One run of a sweep: its id, its labels (for the results table) and its settings."""

    run_id: str
    labels: dict
    config: object  # sim.experiment.RunConfig
    trim: tuple = (0, 0, None, None)  # first, last (job counts), start, end (submit-time window, s)


def _fail(path: Path, what: str) -> GpusimError:
    return GpusimError(f"{path}: {what}")


def _list(spec: dict, key: str, path: Path, default: list) -> list:
    value = spec.get(key, default)
    if not isinstance(value, list) or not value:
        raise _fail(path, f"key {key!r} must be a non-empty list")
    return value


def load_spec(path: str | Path) -> tuple[dict, str]:
    """The parsed spec and its text; syntax errors and unknown keys name the file and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise _fail(path, f"cannot read: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise _fail(path, f"not UTF-8 text (byte {err.start})") from None
    try:
        spec = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise _fail(path, f"not valid TOML: {err}") from None
    unknown = sorted(set(spec) - _TOP)
    if unknown:
        raise _fail(path, f"unknown key {unknown[0]!r} (known: {', '.join(sorted(_TOP))})")
    return spec, text


def _policies(spec: dict, path: Path) -> list[tuple[str, str, dict]]:
    out = []
    for i, entry in enumerate(_list(spec, "policies", path, ["fifo"])):
        if isinstance(entry, str):
            out.append((entry, entry, {}))
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise _fail(path, f"policies[{i}] must be a name or a table with 'name'")
        if not isinstance(entry.get("label", ""), str):
            raise _fail(path, f"policies[{i}].label must be text")
        bad = sorted(set(entry) - _POLICY_KEYS)
        if bad:
            raise _fail(path, f"unknown key {f'policies[{i}].{bad[0]}'!r} (known: {', '.join(sorted(_POLICY_KEYS))})")
        args = entry.get("args", {})
        if not isinstance(args, dict):
            raise _fail(path, f"policies[{i}].args must be a table")
        label = entry.get("label") or (entry["name"] + (json.dumps(args, sort_keys=True, default=str) if args else ""))
        out.append((label, entry["name"], args))
    labels = [p[0] for p in out]
    if len(set(labels)) != len(labels):
        raise _fail(path, "two policies share a label: give each a distinct 'label'")
    return out


def _traces(spec: dict, path: Path) -> list[dict]:
    if "traces" not in spec:
        return [{}] if "synthetic" not in spec else [{"synthetic": True}]
    if "synthetic" in spec:
        raise _fail(path, "give either 'traces' or 'synthetic', not both")
    out = []
    for i, entry in enumerate(_list(spec, "traces", path, [])):
        entry = {"path": entry} if isinstance(entry, str) else entry
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise _fail(path, f"traces[{i}] must be a path or a table with 'path'")
        bad = sorted(set(entry) - _TRACE_KEYS)
        if bad:
            raise _fail(path, f"unknown key {f'traces[{i}].{bad[0]}'!r} (known: {', '.join(sorted(_TRACE_KEYS))})")
        file = Path(entry["path"])
        entry = {**entry, "path": os.path.normpath(file if file.is_absolute() else (path.parent / file))}
        if "vcs" in entry:
            entry["vcs"] = tuple(entry["vcs"]) if isinstance(entry["vcs"], list) else entry["vcs"]
        out.append(entry)
    return out


def _seeds(spec: dict, path: Path) -> list[int]:
    seeds = spec.get("seeds", 1)
    if isinstance(seeds, int) and not isinstance(seeds, bool) and seeds >= 1:
        return list(range(seeds))
    if isinstance(seeds, list) and seeds and all(isinstance(s, int) and s >= 0 for s in seeds) \
            and len(set(seeds)) == len(seeds):
        return seeds
    raise _fail(path, f"key 'seeds' must be a count >= 1 or a list of distinct seeds >= 0, got {seeds!r}")


def expand(spec: dict, path: str | Path) -> list[Run]:
    """Every run of the spec (settings product, or explicit combinations, × seeds), validated."""
    from sim.experiment import RunConfig, synthetic_workload

    path = Path(path)
    seeds = _seeds(spec, path)
    policies = _policies(spec, path)
    traces = _traces(spec, path)
    clusters = _list(spec, "clusters", path, [None])
    loads = _list(spec, "loads", path, [None])
    placements = _list(spec, "placements", path, ["consolidated"])
    trim = spec.get("trim", {})
    if not isinstance(trim, dict) or set(trim) - {"first", "last", "start", "end"} or not all(
            isinstance(trim.get(k, 0), int) and not isinstance(trim.get(k, 0), bool) and trim.get(k, 0) >= 0
            for k in ("first", "last")) or not all(
            isinstance(trim.get(k, 0), (int, float)) and math.isfinite(trim.get(k, 0)) and trim.get(k, 0) >= 0
            for k in ("start", "end")):
        raise _fail(path, "key 'trim' must be a table of 'first'/'last' job counts and 'start'/'end' "
                          "seconds, all >= 0")
    synthetic = spec.get("synthetic")
    if synthetic is not None and (not isinstance(synthetic, dict) or "jobs" not in synthetic):
        raise _fail(path, "key 'synthetic' must be a table with at least 'jobs'")
    combos = spec.get("combinations")
    if combos is None:
        combos = [{"trace": t, "cluster": c, "policy": p, "load": lo, "placement": pl}
                  for t in range(len(traces)) for c in clusters for p in range(len(policies))
                  for lo in loads for pl in placements]
    else:
        combos = _combinations(combos, path, traces, clusters, policies, loads, placements)
    common = {k: spec[k] for k in ("calibration", "assign_models", "restart_overhead", "until", "drop_oversize",
                                    "faults", "autoscale", "resources", "sharing", "skew") if k in spec}
    if isinstance(common.get("faults"), dict) and isinstance(common["faults"].get("schedule"), str):
        common["faults"] = {**common["faults"], "schedule": os.path.normpath(path.parent / common["faults"]["schedule"])}
    if isinstance(common.get("calibration"), str) and common["calibration"] != "none":
        cal = Path(common["calibration"])
        local = cal if cal.is_absolute() else path.parent / cal
        if local.exists() or not (BUNDLED / f"{cal}.json").exists():  # else a bundled profile's name
            common["calibration"] = os.path.normpath(local)
    runs = []
    for combo in combos:
        label, name, args = policies[combo["policy"]]
        trace = traces[combo["trace"]]
        settings = dict(common, policy=name, policy_args=args, cluster=combo["cluster"], placement=combo["placement"])
        if synthetic is not None:
            syn = dict(synthetic, load=combo["load"] if combo["load"] is not None else synthetic.get("load", 0.8))
            try:
                settings["synthetic"] = synthetic_workload(**syn)
            except (TypeError, GpusimError) as err:
                raise _fail(path, f"key 'synthetic': {err}") from None
        else:
            settings.update({k: v for k, v in trace.items() if k != "path"})
            settings["trace"] = trace.get("path")
            settings["scale_load"] = combo["load"]
        for seed in seeds:
            try:
                config = RunConfig(**settings, seed=seed)
            except TypeError as err:
                raise _fail(path, f"bad setting: {err}") from None
            except GpusimError as err:
                raise _fail(path, str(err)) from None
            labels = {"policy": label, "trace": "synthetic" if synthetic is not None else (trace.get("path") or "sample"),
                      "cluster": combo["cluster"] or "", "placement": combo["placement"], "load": combo["load"],
                      "seed": seed, "calibration": common.get("calibration") or ""}
            digest = hashlib.sha256(json.dumps([labels, config.to_json()], sort_keys=True, default=str).encode())
            runs.append(Run(digest.hexdigest()[:16], labels, config,
                            (trim.get("first", 0), trim.get("last", 0), trim.get("start"), trim.get("end"))))
    ids = [r.run_id for r in runs]
    if len(set(ids)) != len(ids):
        raise _fail(path, "two runs have the same settings (a repeated value in a list?)")
    return runs


def _combinations(combos, path, traces, clusters, policies, loads, placements) -> list[dict]:
    if not isinstance(combos, list) or not combos:
        raise _fail(path, "key 'combinations' must be a non-empty list of tables")
    labels = [p[0] for p in policies]
    trace_paths = [t.get("path") for t in traces]
    out = []
    for i, c in enumerate(combos):
        if not isinstance(c, dict):
            raise _fail(path, f"combinations[{i}] must be a table")
        bad = sorted(set(c) - _COMBO_KEYS)
        if bad:
            raise _fail(path, f"unknown key {f'combinations[{i}].{bad[0]}'!r} (known: {', '.join(sorted(_COMBO_KEYS))})")
        policy = c.get("policy", labels[0])
        if policy not in labels:
            raise _fail(path, f"combinations[{i}].policy {policy!r} is not one of the policies' labels")
        trace = 0
        if "trace" in c and not isinstance(c["trace"], str):
            raise _fail(path, f"combinations[{i}].trace must be the path of one of the traces")
        if "trace" in c:
            match = [j for j, p in enumerate(trace_paths) if p and Path(p).name == Path(c["trace"]).name]
            if not match:
                raise _fail(path, f"combinations[{i}].trace {c['trace']!r} is not one of the traces")
            trace = match[0]
        out.append({"trace": trace, "policy": labels.index(policy), "cluster": c.get("cluster", clusters[0]),
                    "load": c.get("load", loads[0]), "placement": c.get("placement", placements[0])})
    return out


# --- executing ---------------------------------------------------------------------------------


def execute(run: Run, out: str) -> dict:
    """Run one simulation into ``out/runs/<run_id>`` and return its results row (never raises for
    a failed simulation: the row says ``failed`` and why)."""
    from sim import experiment

    row = {"run_id": run.run_id, **run.labels, "status": "ok", "error": ""}
    final = Path(out) / "runs" / run.run_id
    # Hidden, and one per process: after a sweep is killed, a worker it left behind may still be
    # writing the same run while the resumed sweep starts it again.
    tmp = Path(out) / "runs" / f".{run.run_id}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        config, jobs, notes = experiment.load_jobs(run.config)
        endless = experiment.never_ends(config, jobs, tries=1e8)
        if endless:  # it would hold its worker, and the sweep, for good
            raise GpusimError(endless.replace("--until", "until"))
        result = experiment.run(config, jobs)
        experiment.write_result(result, tmp)
        experiment.write_config(config, tmp, {"run_id": run.run_id, "notes": notes})
        summary = _trimmed_summary(result, *run.trim)
        (tmp / "summary.json").write_text(json.dumps({k: _plain(v) for k, v in summary.items()}, indent=2) + "\n")
        _write_breakdown(result, tmp / "breakdown.csv")
        row.update(summary)
    except Exception as err:  # a failed run is recorded, not fatal to the sweep
        row.update(status="failed", error=str(err) if isinstance(err, GpusimError) else f"{type(err).__name__}: {err}")
    (tmp / "row.json").write_text(json.dumps(row, default=_plain) + "\n")
    shutil.rmtree(final, ignore_errors=True)
    try:
        os.replace(tmp, final)  # the run's folder appears whole or not at all
    except OSError:  # another process renamed the same run's folder there first: the same files
        shutil.rmtree(tmp, ignore_errors=True)
    return row


def _plain(x):
    return None if isinstance(x, float) and not math.isfinite(x) else x


def _trimmed_summary(result, first: int, last: int, start: float | None = None, end: float | None = None) -> dict:
    """The run's summary with the first/last ``first``/``last`` jobs (by submission), and jobs
    submitted outside [start, end) seconds, left out of the job statistics (warm-up and
    cool-down); utilization and makespan cover the whole run."""
    from sim import metrics

    full = result.summary()
    if not first and not last and start is None and end is None:
        return full
    ordered = sorted(result.jobs, key=lambda j: j.submit_time)  # stable: trace order on ties
    kept = ordered[first:len(ordered) - last] if last else ordered[first:]
    lo = -math.inf if start is None else start
    hi = math.inf if end is None else end
    kept = [j for j in kept if lo <= j.submit_time < hi]
    trimmed = metrics.summary(kept, result.events, result.cluster.num_gpus)
    # Whole-run metrics beyond metrics.summary's (faults, autoscaling, shares, stragglers) stay.
    return {**full, **trimmed, "makespan": full["makespan"], "utilization": full["utilization"]}


def _write_breakdown(result, path: Path) -> None:
    """Average JCT, wait and bounded slowdown by job-size class, user and virtual cluster."""
    import csv

    rows = {r["job_id"]: r for r in result.job_table()}
    groups: dict[tuple[str, str], list[dict]] = {}
    for job in result.jobs:
        r = rows[job.job_id]
        if r["jct"] is None:
            continue
        size = "1" if job.num_gpus == 1 else "2-4" if job.num_gpus <= 4 else "5-8" if job.num_gpus <= 8 else ">8"
        for key, value in (("gpus", size), ("user", job.user), ("vc", job.vc)):
            if value is not None:
                groups.setdefault((key, value), []).append(r)
    with path.open("w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["by", "group", "jobs", "avg_jct", "avg_wait", "avg_bounded_slowdown"])
        for (key, value), rs in sorted(groups.items()):
            n = len(rs)
            out.writerow([key, value, n, repr(sum(r["jct"] for r in rs) / n), repr(sum(r["wait"] for r in rs) / n),
                          repr(sum(r["bounded_slowdown"] for r in rs) / n)])


def _done_rows(out: Path) -> dict[str, dict]:
    """The rows of the runs whose folders are complete (hidden folders are unfinished writes)."""
    rows = {}
    for row_file in (out / "runs").glob("*/row.json"):
        if row_file.parent.name.startswith("."):
            continue
        try:
            row = json.loads(row_file.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(row, dict) and row.get("run_id") == row_file.parent.name:
            rows[row["run_id"]] = row
    return rows


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_results(out: Path, rows: Sequence[dict]) -> None:
    """results.csv (and results.parquet with pyarrow), replaced atomically, rows in run order.
    Columns: RESULT_COLUMNS, then the summary metrics only some runs have (``result_columns``);
    a run without one has an empty cell."""
    import csv

    columns = result_columns(rows)
    tmp = out / ".results.csv.tmp"
    with tmp.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns)
        for row in rows:
            w.writerow(["" if row.get(c) is None else repr(row[c]) if isinstance(row.get(c), float) else row[c]
                        for c in columns])
    os.replace(tmp, out / "results.csv")
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq
    except ImportError:
        return
    table = pacsv.read_csv(out / "results.csv", convert_options=pacsv.ConvertOptions(
        column_types={"run_id": pa.string(), "error": pa.string(), "policy": pa.string(), "trace": pa.string(),
                      "cluster": pa.string(), "placement": pa.string(), "calibration": pa.string(),
                      "load": pa.float64()}))
    pq.write_table(table, out / ".results.parquet.tmp")
    os.replace(out / ".results.parquet.tmp", out / "results.parquet")


def result_columns(rows: Sequence[dict]) -> tuple[str, ...]:
    """RESULT_COLUMNS, then every other key some row has: OPTIONAL_COLUMNS first, in their order,
    then the rest in the order of first appearance (none for a sweep whose runs have no such
    metric: its results.csv is as before)."""
    known = set(RESULT_COLUMNS)
    extra: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key not in known:
                extra[key] = None
    first = [c for c in OPTIONAL_COLUMNS if c in extra]
    return (*RESULT_COLUMNS, *first, *(c for c in extra if c not in OPTIONAL_COLUMNS))


def manifest(spec: dict, text: str, runs: Sequence[Run]) -> dict:
    import platform
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    from sim.experiment import version as gpusim_version

    def v(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                                cwd=Path(__file__).resolve().parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "name": spec.get("name", ""), "spec": spec, "spec_text": text,
        "spec_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "gpusim_version": gpusim_version(), "git_commit": commit,
        "python": platform.python_version(),
        "libraries": {n: v(n) for n in ("simpy", "numpy", "scipy", "sortedcontainers", "pyarrow", "ray")},
        "runs": [{"run_id": r.run_id, "seed": r.labels["seed"], "labels": r.labels} for r in runs],
    }


def run_sweep(spec_path: str | Path, out: str | Path, *, workers: int = 1, backend: str = "local",
              ray_address: str | None = None, resume: bool = False, force: bool = False,
              progress: bool = True) -> list[dict]:
    """Run every run of the spec into ``out``; returns the results rows (in run order)."""
    spec, text = load_spec(spec_path)
    runs = expand(spec, spec_path)
    out = Path(out)
    if workers < 1:
        raise GpusimError(f"--workers must be at least 1, got {workers}")
    if backend not in ("local", "ray"):
        raise GpusimError(f"--backend must be local or ray, got {backend!r}")
    if out.exists() and any(out.iterdir()) and not (resume or force):
        raise GpusimError(f"{out}: folder is not empty; use --resume to continue a sweep or --force to start over")
    if force and not resume and out.exists():
        shutil.rmtree(out / "runs", ignore_errors=True)
    old = None
    if resume and (out / "manifest.json").exists():
        try:
            old = json.loads((out / "manifest.json").read_text())
        except (OSError, ValueError) as err:
            raise GpusimError(f"{out / 'manifest.json'}: not readable ({type(err).__name__}), so the sweep's spec "
                              "cannot be compared; use --force to start over") from None
    if old is not None and (not isinstance(old, dict) or old.get("spec_sha256") != hashlib.sha256(text.encode()).hexdigest()):
        raise GpusimError(f"{out}: was made from another spec (its hash differs); use --force to start over")
    (out / "runs").mkdir(parents=True, exist_ok=True)
    for leftover in (out / "runs").glob(".*.tmp"):  # unfinished runs of a sweep that was killed
        shutil.rmtree(leftover, ignore_errors=True)
    _write_atomically(out / "manifest.json", json.dumps(manifest(spec, text, runs), indent=1, default=str) + "\n")
    done = {k: r for k, r in _done_rows(out).items() if r.get("status") == "ok"} if resume else {}
    todo = [r for r in runs if r.run_id not in done]
    rows = dict(done)
    order = [r.run_id for r in runs]
    bar = _Progress(len(todo), len(done), progress)
    try:
        for row in _execute_all(todo, str(out), workers, backend, ray_address):
            rows[row["run_id"]] = row
            write_results(out, [rows[i] for i in order if i in rows])
            bar.update(row)
    except KeyboardInterrupt:
        bar.close()
        raise GpusimError(f"interrupted: {len(rows)} of {len(runs)} runs are saved in {out}; --resume continues") from None
    bar.close()
    write_results(out, [rows[i] for i in order if i in rows])
    return [rows[i] for i in order]


def _execute_all(runs: Sequence[Run], out: str, workers: int, backend: str, ray_address: str | None):
    if not runs:
        return
    if backend == "ray":
        yield from _ray(runs, out, workers, ray_address)
    elif workers == 1:
        for run in runs:
            yield execute(run, out)
    else:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=workers, initializer=_exit_with, initargs=(os.getpid(),)) as pool:
            futures = [pool.submit(execute, run, out) for run in runs]
            try:
                for future in as_completed(futures):
                    yield future.result()
            except KeyboardInterrupt:
                for f in futures:
                    f.cancel()
                raise


def _exit_with(sweep: int) -> None:
    """Pool worker initializer: exit once the sweep's process is gone (killed with SIGKILL, say).
    Otherwise the worker would wait forever for work that will never come, holding its memory."""
    import threading

    def watch() -> None:
        while os.getppid() == sweep:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-sweep", daemon=True).start()


def _ray(runs: Sequence[Run], out: str, workers: int, address: str | None):
    try:
        import ray
    except ImportError:
        raise GpusimError("the ray backend needs Ray: pip install 'gpusim[ray]'") from None
    if not ray.is_initialized():
        if address:
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    remote = ray.remote(execute)
    pending = [remote.remote(run, out) for run in runs]
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        yield ray.get(ready[0])


class _Progress:
    """Counts and ETA on stderr, one line per finished run (tqdm is not a dependency)."""

    def __init__(self, total: int, skipped: int, enabled: bool) -> None:
        self.total, self.done, self.failed, self.enabled = total, 0, 0, enabled
        self.start = time.monotonic()
        if enabled and skipped:
            print(f"sweep: {skipped} run(s) already done, {total} to run", file=sys.stderr)

    def update(self, row: dict) -> None:
        self.done += 1
        self.failed += row["status"] != "ok"
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        failed = f", {self.failed} failed" if self.failed else ""
        print(f"sweep: {self.done}/{self.total} runs{failed}, {elapsed:.0f} s elapsed, ETA {eta:.0f} s",
              file=sys.stderr)

    def close(self) -> None:
        pass


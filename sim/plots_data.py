"""What the figures read: the ok runs of a sweep, ``gpusim compare`` or run folder, and the GPU holding
intervals of an events.csv. Plain Python over the files a run or sweep wrote; no matplotlib, no
styling (that is sim.plots_draw), no simulation. See docs/plots.md.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sim.errors import GpusimError

CONDITIONS = ("trace", "cluster", "placement", "calibration", "load")  # results.csv columns a run's setting lives in


@dataclass(frozen=True)
class Interval:
    """GPU ``gpu`` held by job ``job_id`` from ``start`` to ``end`` (seconds); ``until`` says what ended
    it: ``preempt``, ``finish``, ``stop`` (the run was stopped) or ``end`` (the log ended)."""

    job_id: str
    gpu: int
    start: float
    end: float
    until: str


def gpu_intervals(rows: Iterable[Mapping[str, str]]) -> list[Interval]:
    """Per-GPU holding intervals from events.csv rows (time, kind, job_id, gpus), sorted by start, GPU.

    A start opens one interval per listed GPU; the job's next preempt or finish closes them; a stop
    event closes everything open. Raises GpusimError on a close without an open or a double start.
    """
    held: dict[str, tuple[float, tuple[int, ...]]] = {}
    out: list[Interval] = []
    last = 0.0
    for row in rows:
        try:
            time, kind, job = float(row["time"]), row["kind"], row["job_id"]
            gpus = tuple(int(g) for g in (row.get("gpus") or "").split())
        except (KeyError, ValueError, TypeError, AttributeError) as err:
            raise GpusimError(f"events.csv: bad row {dict(row)!r}: {err}") from None
        last = max(last, time)
        if kind == "start":
            if job in held:
                raise GpusimError(f"events.csv: job {job} starts at {time} while already running")
            held[job] = (time, gpus)
        elif kind in ("preempt", "resize", "kill", "finish"):
            if job not in held:
                raise GpusimError(f"events.csv: job {job} has a {kind} at {time} but is not running")
            t0, started = held.pop(job)
            out += [Interval(job, g, t0, time, kind) for g in started]
        elif kind == "stop":
            out += [Interval(j, g, t0, time, "stop") for j, (t0, gs) in held.items() for g in gs]
            held.clear()
    out += [Interval(j, g, t0, last, "end") for j, (t0, gs) in held.items() for g in gs]
    return sorted(out, key=lambda i: (i.start, i.gpu))


# --- reading folders -------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One ok run: its id, policy label, results row (text cells as written) and its folder."""

    run_id: str
    policy: str
    row: Mapping[str, str]
    folder: Path


def _read_csv(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = reader.fieldnames or []
    except FileNotFoundError:
        raise GpusimError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise GpusimError(f"{path}: cannot read: {err}") from None
    missing = [c for c in required if c not in columns]
    if missing:
        raise GpusimError(f"{path}: missing column(s) {', '.join(missing)}")
    return rows


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise GpusimError(f"{path}: cannot read: {err}") from None
    return data if isinstance(data, dict) else {}


def _is_run(folder: Path) -> bool:
    return any((folder / f).is_file() for f in ("jobs.csv", "events.csv", "timeseries.csv", "summary.json"))


def _text(data: Mapping) -> dict[str, str]:
    return {k: "" if v is None else repr(v) if isinstance(v, float) else str(v) for k, v in data.items()}


def _setting(config: Mapping) -> dict[str, str]:
    """The CONDITIONS columns of a run or compare folder's config.json (load: synthetic, else scale_load)."""
    synthetic = config.get("synthetic")
    load = synthetic.get("load") if isinstance(synthetic, dict) else config.get("scale_load")
    return _text({**{c: config.get(c) for c in CONDITIONS}, "load": load})


def _run_from_folder(folder: Path) -> Run:
    config = _read_json(folder / "config.json")
    row = {"run_id": folder.name, "status": "ok", "policy": str(config.get("policy") or folder.name),
           "seed": _text({"s": config.get("seed")})["s"], **_setting(config),
           **_text(_read_json(folder / "summary.json"))}
    return Run(folder.name, row["policy"], row, folder)


def load_runs(path: str | Path) -> list[Run]:
    """The ok runs of a sweep folder, a ``gpusim compare`` folder, or a single run folder, in file order."""
    path = Path(path)
    if not path.is_dir():
        raise GpusimError(f"{path}: no such folder")
    if (path / "results.csv").is_file():
        rows = _read_csv(path / "results.csv", ("run_id", "status", "policy"))
        runs = [Run(r["run_id"], r["policy"], r, path / "runs" / r["run_id"]) for r in rows if r["status"] == "ok"]
    elif (path / "summary.csv").is_file():  # gpusim compare: run folders are named POLICY-seedN
        rows = _read_csv(path / "summary.csv", ("policy", "seed"))
        setting = _setting(_read_json(path / "config.json"))
        runs = []
        for r in rows:
            run_id = f"{r['policy'].replace(':', '_')}-seed{r['seed']}"
            runs.append(Run(run_id, r["policy"], {"run_id": run_id, "status": "ok", **setting, **r},
                            path / "runs" / run_id))
    elif _is_run(path):
        return [_run_from_folder(path)]
    else:
        raise GpusimError(f"{path}: not a sweep, compare or run folder (no results.csv, summary.csv or jobs.csv)")
    if not runs:
        raise GpusimError(f"{path}: no run finished ok")
    return runs


def _num(cell: str | None) -> float:
    try:
        return float(cell) if cell not in (None, "") else math.nan
    except ValueError:
        return math.nan


def _matches(cell: str | None, value: object) -> bool:
    a, b = _num(cell), _num(str(value))
    if not (math.isnan(a) or math.isnan(b)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return (cell or "") == str(value)


def _select(runs: list[Run], where: Mapping[str, object] | None, policies: Sequence[str] | None) -> list[Run]:
    for key, value in (where or {}).items():
        if key not in runs[0].row:
            raise GpusimError(f"where: unknown column {key!r} (columns: {', '.join(runs[0].row)})")
        runs = [r for r in runs if _matches(r.row.get(key), value)]
        if not runs:
            raise GpusimError(f"where: no ok run has {key}={value}")
    if policies:
        unknown = [p for p in policies if p not in {r.policy for r in runs}]
        if unknown:
            raise GpusimError(f"policies: no ok run of {', '.join(unknown)}")
        runs = sorted((r for r in runs if r.policy in policies), key=lambda r: list(policies).index(r.policy))
    return runs


def _varying(runs: Sequence[Run], skip: Sequence[str] = ()) -> list[str]:
    """Setting columns that take more than one value among ``runs``."""
    return [c for c in CONDITIONS if c not in skip and len({r.row.get(c, "") for r in runs}) > 1]


def _single_condition(runs: Sequence[Run], kind: str, skip: Sequence[str] = ()) -> None:
    for col in _varying(runs, skip):
        values = ", ".join(sorted({r.row.get(col, "") for r in runs}))
        raise GpusimError(f"{kind}: the runs differ in {col} ({values}); choose one with where={{{col!r}: ...}} "
                          f"(--where {col}=VALUE)")


def _by_policy(runs: Iterable[Run]) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for r in runs:
        out.setdefault(r.policy, []).append(r)
    return out


def _one_run(path: Path, run: str | None) -> Run:
    runs = load_runs(path)
    if run is None:
        return runs[0]
    for r in runs:
        if r.run_id == run:
            return r
    raise GpusimError(f"{path}: no ok run {run!r}")


def _nodes(r: Run):
    """The run's cluster nodes (from config.json, else the results row), or None when unknown."""
    from sim.model import Cluster

    spec = _read_json(r.folder / "config.json").get("cluster") or r.row.get("cluster")
    try:
        return Cluster.parse(spec).nodes if spec else None
    except (GpusimError, ValueError):
        return None


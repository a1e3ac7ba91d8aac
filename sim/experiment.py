"""The outer ring: a run's configuration, loading its jobs, running it, writing its folder.

Data flows one way: trace (or synthetic workload) → jobs → ``simulate`` → event log → tables →
files. Nothing here changes what the engine computes.
"""

from __future__ import annotations

import csv
import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import policies
import traces
from sim.engine import SimResult, check_fits, simulate
from sim.errors import GpusimError
from sim.metrics import JOB_COLUMNS, SUMMARY_KEYS, TIMESERIES_COLUMNS
from sim.model import Cluster, Job
from sim.placement import DEFAULT, STRATEGIES
from traces.canonical import read_csv
from traces.synthetic import Durations, Workload, parse_sizes


@dataclass(frozen=True)
class RunConfig:
    """Every setting of one run. ``trace`` None and ``synthetic`` None means the bundled sample."""

    trace: str | None = None
    synthetic: Workload | None = None
    cluster: str = traces.SAMPLE_CLUSTER
    policy: str = "fifo"
    policy_args: Mapping[str, object] = field(default_factory=dict)
    placement: str = DEFAULT
    seed: int = 0
    restart_overhead: float = 0.0
    until: float | None = None
    drop_oversize: bool = False

    def __post_init__(self) -> None:
        for name, kinds in _TYPES.items():
            value = getattr(self, name)
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                wanted = " or ".join("none" if k is type(None) else k.__name__ for k in kinds)
                raise GpusimError(f"setting {name!r} must be {wanted}, got {value!r}")
        for name in ("restart_overhead", "until"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise GpusimError(f"setting {name!r} must be a non-negative number of seconds, got {value!r}")
        if self.placement not in STRATEGIES:
            raise GpusimError(f"unknown placement {self.placement!r}; choose one of {', '.join(STRATEGIES)}")
        if self.trace is not None and self.synthetic is not None:
            raise GpusimError("give either a trace file or a synthetic workload, not both")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise GpusimError(f"seed must be a non-negative integer, got {self.seed!r}")
        Cluster.parse(self.cluster)  # fail early on a bad spec

    def to_json(self) -> dict:
        out = asdict(self)
        out["policy_args"] = dict(self.policy_args)
        if self.synthetic is not None:
            out["synthetic"]["durations"]["high"] = _plain(self.synthetic.durations.high)
        return out


_TYPES = {
    "trace": (str, type(None)), "synthetic": (Workload, type(None)), "cluster": (str,), "policy": (str,),
    "policy_args": (Mapping,), "placement": (str,), "seed": (int,), "restart_overhead": (int, float),
    "until": (int, float, type(None)), "drop_oversize": (bool,),
}


def _plain(x):
    """JSON-safe scalar: NaN and infinities become None."""
    return None if isinstance(x, float) and not math.isfinite(x) else x


# --- configuration from a TOML file ---------------------------------------------------------

_SYNTHETIC_KEYS = {"jobs", "load", "sizes", "durations", "min_duration", "max_duration"}


def synthetic_workload(jobs: int, load: float = 0.8, sizes: str | None = None, durations: str | None = None,
                       min_duration: float | None = None, max_duration: float | None = None) -> Workload:
    """A Workload from the command line's or a config file's textual settings."""
    for name, value in (("sizes", sizes), ("durations", durations)):
        if value is not None and not isinstance(value, str):
            raise GpusimError(f"synthetic {name} must be text like {'1:0.7,2:0.3' if name == 'sizes' else 'lognormal:7,1.5'}, got {value!r}")
    for name, value in (("min_duration", min_duration), ("max_duration", max_duration)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise GpusimError(f"synthetic {name} must be a number of seconds, got {value!r}")
    d = Durations.parse(durations) if durations is not None else Durations()
    if min_duration is not None or max_duration is not None:
        d = replace(d, low=d.low if min_duration is None else min_duration,
                    high=d.high if max_duration is None else max_duration)
        Durations.__post_init__(d)
    w = Workload(jobs=jobs, load=load, durations=d)
    return replace(w, sizes=parse_sizes(sizes)) if sizes is not None else w


def load_config(path: str | Path) -> dict:
    """Read a TOML run configuration into RunConfig keyword arguments; unknown keys are errors."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise GpusimError(f"{path}: cannot read: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise GpusimError(f"{path}: not valid TOML: {err}") from None
    known = {f.name for f in fields(RunConfig)}
    out = {}
    for key, value in data.items():
        if key not in known:
            raise GpusimError(f"{path}: unknown key {key!r} (known: {', '.join(sorted(known))})")
        if key == "synthetic":
            if not isinstance(value, dict):
                raise GpusimError(f"{path}: key 'synthetic' must be a table")
            bad = set(value) - _SYNTHETIC_KEYS
            if bad or "jobs" not in value:
                what = f"unknown key 'synthetic.{sorted(bad)[0]}'" if bad else "key 'synthetic.jobs' is required"
                raise GpusimError(f"{path}: {what} (known: {', '.join(sorted(_SYNTHETIC_KEYS))})")
            value = synthetic_workload(**value)
        elif key == "policy_args" and not isinstance(value, dict):
            raise GpusimError(f"{path}: key 'policy_args' must be a table")
        out[key] = value
    return out


# --- running ---------------------------------------------------------------------------------


def load_jobs(config: RunConfig) -> tuple[tuple[Job, ...], list[str]]:
    """The run's jobs and notes for the user (unknown columns, dropped oversize jobs)."""
    cluster = Cluster.parse(config.cluster)
    if config.synthetic is not None:
        jobs, notes = config.synthetic.generate(cluster.num_gpus, config.seed), []
    else:
        trace = read_csv(config.trace or traces.SAMPLE)
        jobs, notes = trace.jobs, list(trace.notes)
    if config.drop_oversize:
        too_big = check_fits(jobs, cluster, config.placement)
        if too_big:
            gone = {j.job_id for j in too_big}
            jobs = tuple(j for j in jobs if j.job_id not in gone)
            notes.append(f"dropped {len(gone)} job(s) that can never fit {config.cluster}: "
                         + ", ".join(sorted(gone)[:10]) + (" ..." if len(gone) > 10 else ""))
            if not jobs:
                raise GpusimError(f"no job fits the cluster {config.cluster}")
    return jobs, notes


def run(config: RunConfig, jobs: Sequence[Job] | None = None) -> SimResult:
    """Simulate ``config`` (on ``jobs`` if given, else the config's own workload)."""
    if jobs is None:
        jobs, _ = load_jobs(config)
    policy = policies.make(config.policy, dict(config.policy_args))
    return simulate(jobs, Cluster.parse(config.cluster), policy, config.seed, placement=config.placement,
                    restart_overhead=config.restart_overhead, until=config.until)


def compare(config: RunConfig, names: Sequence[str], seeds: int) -> tuple[list[dict], list[str]]:
    """Run every policy on the same jobs for seeds ``seed .. seed + seeds - 1``.

    A trace gives the same jobs to every seed (only policies' randomness changes); a synthetic
    workload is drawn anew per seed, and every policy sees the same draw (common random numbers).
    Returns one row per (policy, seed) (the summary plus ``policy``, ``seed`` and ``result``) and
    the notes from loading the jobs.
    """
    for name in names:
        policies.load(name)  # unknown names fail before any simulation runs
    rows, notes, jobs = [], [], None
    for seed in range(config.seed, config.seed + seeds):
        seeded = replace(config, seed=seed)
        if jobs is None or config.synthetic is not None:
            jobs, new_notes = load_jobs(seeded)
            notes += [n for n in new_notes if n not in notes]
        for name in names:
            result = run(replace(seeded, policy=name), jobs)
            rows.append({"policy": name, "seed": seed, **result.summary(), "result": result})
    return rows, notes


# --- writing ---------------------------------------------------------------------------------


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as v

    try:
        return v("gpusim")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def prepare_out(out: str | Path, force: bool) -> Path:
    """Create ``out``; refuse a non-empty folder unless ``force``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GpusimError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise GpusimError(f"{out}: folder is not empty; use --force to overwrite")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise GpusimError(f"{out}: cannot create folder: {err.strerror}") from None
    return out


def _cell(x) -> str:
    if x is None:
        return ""
    return repr(x) if isinstance(x, float) else str(x)


def _write_csv(path: Path, header: Sequence[str], rows) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows([_cell(x) for x in row] for row in rows)


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps({k: _plain(v) for k, v in data.items()}, indent=2) + "\n", encoding="utf-8")


def write_result(result: SimResult, out: Path) -> None:
    """jobs.csv, summary.json, events.csv and timeseries.csv of one run, into ``out``."""
    _write_csv(out / "jobs.csv", JOB_COLUMNS, ([r[c] for c in JOB_COLUMNS] for r in result.job_table()))
    _write_json(out / "summary.json", result.summary())
    from sim.placement import Planner, nodes_of

    planner = Planner([n.num_gpus for n in result.cluster.nodes])
    _write_csv(out / "events.csv", ("time", "kind", "job_id", "gpus", "nodes"),
               ((e.time, e.kind, e.job_id, " ".join(map(str, e.gpus)),
                 " ".join(map(str, nodes_of(planner, e.gpus)))) for e in result.events))
    _write_csv(out / "timeseries.csv", TIMESERIES_COLUMNS, result.timeseries())


def write_config(config: RunConfig, out: Path, extra: dict | None = None) -> None:
    data = {**config.to_json(), "trace": config.trace or (None if config.synthetic else str(traces.SAMPLE)),
            "cluster": str(Cluster.parse(config.cluster)), "gpusim_version": version(), **(extra or {})}
    (out / "config.json").write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


def write_compare(rows: list[dict], out: Path) -> None:
    """summary.csv (one row per policy and seed) and one run folder per row under runs/."""
    _write_csv(out / "summary.csv", ("policy", "seed", *SUMMARY_KEYS),
               ([r["policy"], r["seed"], *(r[k] for k in SUMMARY_KEYS)] for r in rows))
    for r in rows:
        folder = out / "runs" / f"{r['policy'].replace(':', '_')}-seed{r['seed']}"
        folder.mkdir(parents=True, exist_ok=True)
        write_result(r["result"], folder)

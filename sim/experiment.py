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
from sim.metrics import JOB_COLUMNS, SHARE_COLUMN, SUMMARY_KEYS, TIMESERIES_COLUMNS
from sim.model import Cluster, Job, ideal_rate
from sim.placement import DEFAULT, STRATEGIES
from sim.resources import DEFAULT_SHARING, SHARING, cpu_only_nodes
from traces.formats import FORMATS
from traces.formats import read as read_trace
from traces.synthetic import Durations, Workload, parse_sizes
from traces.table import ReadOptions, shown


#: The bundled profile the demo (the bundled sample trace) is calibrated with: Gavel's measured
#: K80/P100/V100 throughputs, fitted (calibrate/profiles/gavel.json).
DEMO_CALIBRATION = "gavel"


@dataclass(frozen=True)
class RunConfig:
    """Every setting of one run. ``trace`` None and ``synthetic`` None means the bundled sample.

    ``cluster`` None means the cluster the trace itself implies (an SWF log's MaxProcs, an Alibaba
    node list beside the pod list), else ``8x8``. ``format``, ``vcs``, ``window_start``,
    ``window_end``, ``on_error`` and ``procs_per_gpu`` are the trace reader's options
    (traces.table.ReadOptions); ``scale_load`` replays the trace at that offered load by scaling
    its inter-arrival times. ``calibration`` is a fitted profile (calibrate/profiles/*.json): jobs
    given as model/batch_size/iterations get their durations from it, and every calibrated job's
    speed depends on its GPUs' types and nodes; ``assign_models`` first gives jobs that have only
    a duration a model from the profile (calibrate.speed.assign_models). ``skew`` is the data
    imbalance of multi-GPU jobs (see ``run_speed``); with it, or calibrated on mixed GPU types, the
    summary gains ``straggler_gpu_hours``. ``resources`` turns on
    the resource model (sim.resources: GPU types and memory, shared GPUs placed by ``sharing``,
    CPU and memory per node); ``cluster`` may name a cluster file (sim.cluster_file).

    The demo (no trace, no synthetic workload: the bundled sample) is calibrated by default with
    the bundled Gavel profile and models assigned; ``calibration="none"`` turns calibration off
    for it (and means no calibration anywhere else).
    """

    trace: str | None = None
    synthetic: Workload | None = None
    cluster: str | None = None
    format: str | None = None
    vcs: tuple[str, ...] = ()
    window_start: float | None = None
    window_end: float | None = None
    on_error: str = "stop"
    procs_per_gpu: int = 1
    scale_load: float | None = None
    calibration: str | None = None
    assign_models: bool = False
    policy: str = "fifo"
    policy_args: Mapping[str, object] = field(default_factory=dict)
    placement: str = DEFAULT
    seed: int = 0
    restart_overhead: float = 0.0
    until: float | None = None
    drop_oversize: bool = False
    resources: bool = False
    sharing: str = DEFAULT_SHARING
    faults: Mapping[str, object] | None = None
    autoscale: Mapping[str, object] | None = None
    skew: float = 0.0

    def __post_init__(self) -> None:
        if self.calibration is None and self.trace is None and self.synthetic is None:
            object.__setattr__(self, "calibration", DEMO_CALIBRATION)
            object.__setattr__(self, "assign_models", True)
        for name, kinds in _TYPES.items():
            value = getattr(self, name)
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                wanted = " or ".join("none" if k is type(None) else k.__name__ for k in kinds)
                raise GpusimError(f"setting {name!r} must be {wanted}, got {value!r}")
        for name in ("restart_overhead", "until", "skew"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                unit = " of seconds" if name != "skew" else " (a fraction)"
                raise GpusimError(f"setting {name!r} must be a non-negative number{unit}, got {value!r}")
        if self.sharing not in SHARING:
            raise GpusimError(f"unknown GPU sharing placement {self.sharing!r}; choose one of {', '.join(SHARING)}")
        if self.placement not in STRATEGIES:
            raise GpusimError(f"unknown placement {self.placement!r}; choose one of {', '.join(STRATEGIES)}")
        if self.scale_load is not None and self.synthetic is not None:
            raise GpusimError("setting 'scale_load' replays a trace at another load; a synthetic workload takes "
                              "its load directly (--load)")
        if self.on_error not in ("stop", "skip"):
            raise GpusimError(f"setting 'on_error' must be 'stop' or 'skip', got {self.on_error!r}")
        if not all(isinstance(v, str) for v in self.vcs):
            raise GpusimError(f"setting 'vcs' must be a list of virtual-cluster names, got {list(self.vcs)!r}")
        if self.trace is not None and self.synthetic is not None:
            raise GpusimError("give either a trace file or a synthetic workload, not both")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise GpusimError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.cluster is not None:
            Cluster.parse(self.cluster)  # fail early on a bad spec
        if self.scale_load is not None and not (math.isfinite(self.scale_load) and self.scale_load > 0):
            raise GpusimError(f"setting 'scale_load' must be a positive offered load, got {self.scale_load!r}")
        if self.format is not None and self.format not in FORMATS:
            raise GpusimError(f"unknown trace format {self.format!r}; choose one of {', '.join(FORMATS)}")
        self.read_options()  # validates on_error, procs_per_gpu and the window
        self.fault_model()  # validates the fault settings
        scaler = self.autoscale_model()
        if scaler is not None and self.faults is not None:
            raise GpusimError("settings 'faults' and 'autoscale' cannot be combined yet")
        if self.assign_models and not self.calibrated:
            raise GpusimError("assign_models needs a calibration profile (--calibration)")

    @property
    def calibrated(self) -> bool:
        return self.calibration not in (None, "none")

    def fault_model(self):
        """The run's ``sim.faults.Faults`` (from the ``faults`` table), or None."""
        if self.faults is None:
            return None
        from sim.faults import from_settings

        return from_settings(self.faults)

    def autoscale_model(self):
        """A fresh ``sim.autoscale.Autoscale`` (from the ``autoscale`` table) for one run, or None."""
        if self.autoscale is None:
            return None
        from sim.autoscale import from_settings

        return from_settings(self.autoscale)

    def read_options(self) -> ReadOptions:
        return ReadOptions(self.format, tuple(self.vcs), self.window_start, self.window_end, self.on_error,
                           self.procs_per_gpu)

    def to_json(self) -> dict:
        out = asdict(self)
        out["policy_args"] = dict(self.policy_args)
        if self.synthetic is not None:
            out["synthetic"]["durations"]["high"] = _plain(self.synthetic.durations.high)
        return out


_TYPES = {
    "trace": (str, type(None)), "synthetic": (Workload, type(None)), "cluster": (str, type(None)), "policy": (str,),
    "format": (str, type(None)), "vcs": (tuple, list), "window_start": (int, float, type(None)),
    "window_end": (int, float, type(None)), "on_error": (str,), "procs_per_gpu": (int,),
    "scale_load": (int, float, type(None)), "calibration": (str, type(None)), "assign_models": (bool,),
    "policy_args": (Mapping,), "placement": (str,), "seed": (int,), "restart_overhead": (int, float),
    "until": (int, float, type(None)), "drop_oversize": (bool,), "resources": (bool,), "sharing": (str,),
    "faults": (Mapping, type(None)), "autoscale": (Mapping, type(None)),
    "skew": (int, float),
}


def _plain(x):
    """JSON-safe scalar: NaN and infinities become None."""
    return None if isinstance(x, float) and not math.isfinite(x) else x


# --- configuration from a TOML file ---------------------------------------------------------

_SYNTHETIC_KEYS = {"jobs", "load", "sizes", "durations", "min_duration", "max_duration", "diurnal"}


def synthetic_workload(jobs: int, load: float = 0.8, sizes: str | None = None, durations: str | None = None,
                       min_duration: float | None = None, max_duration: float | None = None,
                       diurnal: Sequence[float] | None = None) -> Workload:
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
    if diurnal is not None and not (isinstance(diurnal, (list, tuple)) and len(diurnal) == 24
                                    and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in diurnal)):
        raise GpusimError(f"synthetic diurnal must be a list of 24 hourly rate multipliers, got {diurnal!r}")
    w = Workload(jobs=jobs, load=load, durations=d, diurnal=None if diurnal is None else tuple(diurnal))
    return replace(w, sizes=parse_sizes(sizes)) if sizes is not None else w


def load_config(path: str | Path) -> dict:
    """Read a TOML run configuration into RunConfig keyword arguments; unknown keys are errors."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise GpusimError(f"{path}: cannot read: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise GpusimError(f"{path}: not UTF-8 text (byte {err.start})") from None
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
                what = f"unknown key {'synthetic.' + sorted(bad)[0]!r}" if bad else "key 'synthetic.jobs' is required"
                raise GpusimError(f"{path}: {what} (known: {', '.join(sorted(_SYNTHETIC_KEYS))})")
            try:
                value = synthetic_workload(**value)
            except GpusimError as err:
                raise GpusimError(f"{path}: key 'synthetic': {err}") from None
        elif key == "faults":
            if not isinstance(value, dict):
                raise GpusimError(f"{path}: key 'faults' must be a table")
            if "schedule" in value and not isinstance(value["schedule"], str):
                raise GpusimError(f"{path}: key 'faults.schedule' must be the path of a schedule file, "
                                  f"got {value['schedule']!r}")
            if isinstance(value.get("schedule"), str):  # a schedule file is relative to the config file
                value = {**value, "schedule": str(path.parent / value["schedule"])}
            try:
                from sim.faults import from_settings

                from_settings(value)
            except GpusimError as err:
                raise GpusimError(f"{path}: {shown(str(err), 1000)}") from None
            except (TypeError, ValueError) as err:
                raise GpusimError(f"{path}: key 'faults': bad value ({shown(str(err))})") from None
        elif key == "autoscale" and not isinstance(value, dict):
            raise GpusimError(f"{path}: key 'autoscale' must be a table")
        elif key == "policy_args" and not isinstance(value, dict):
            raise GpusimError(f"{path}: key 'policy_args' must be a table")
        elif key == "policy" and isinstance(value, str) and ":" not in value and value not in policies.available():
            raise GpusimError(f"{path}: key 'policy': unknown policy {value!r}; known: {', '.join(policies.available())} "
                              "(or module:Class)")
        try:  # each setting on its own, so that its error names the file (flags may still change the rest)
            RunConfig(**{key: value})
        except GpusimError as err:  # on one line, whatever keys or values the table held
            raise GpusimError(f"{path}: {shown(str(err), 1000)}") from None
        except (TypeError, ValueError) as err:  # a nested table's reader tripping over a wrong type
            raise GpusimError(f"{path}: key {key!r}: bad value ({shown(str(err))})") from None
        out[key] = value
    return out


# --- running ---------------------------------------------------------------------------------


def load_jobs(config: RunConfig) -> tuple[RunConfig, tuple[Job, ...], list[str]]:
    """The run's jobs, the config with its cluster resolved, and notes for the user (rows skipped
    or left out, dropped oversize jobs, load scaling)."""
    if config.synthetic is not None:
        config = replace(config, cluster=config.cluster or traces.SAMPLE_CLUSTER)
        return (config, *_fit_cluster(config, config.synthetic.generate(Cluster.parse(config.cluster).num_gpus, config.seed), []))
    trace = read_trace(config.trace or traces.SAMPLE, config.read_options())
    notes = trace.report()
    if config.cluster is None:
        config = replace(config, cluster=trace.cluster or traces.SAMPLE_CLUSTER)
        if trace.cluster:
            shown = config.cluster if len(config.cluster) <= 60 else Cluster.parse(config.cluster).summary()
            notes.append(f"cluster {shown} as the trace implies (give --cluster to choose another)")
    elif trace.cluster and Cluster.parse(config.cluster) != Cluster.parse(trace.cluster):
        notes.append(f"cluster {Cluster.parse(config.cluster).summary()} as given, not the "
                     f"{Cluster.parse(trace.cluster).summary()} the trace implies")
    jobs = trace.jobs
    if config.scale_load is not None:
        from traces.synthetic import offered_load, scale_load

        before = offered_load(jobs, Cluster.parse(config.cluster).num_gpus)
        jobs = scale_load(jobs, Cluster.parse(config.cluster).num_gpus, config.scale_load)
        notes.append(f"inter-arrival times scaled to offered load {config.scale_load:g} (was {before:.3g})")
    return (config, *_fit_cluster(config, jobs, notes))


def calibration(config: RunConfig):
    """The run's Calibration (a fitted profile bound to its cluster), or None."""
    if not config.calibrated:
        return None
    from calibrate.profile import load
    from calibrate.speed import Calibration

    return Calibration(load(config.calibration), Cluster.parse(config.cluster or traces.SAMPLE_CLUSTER))


def _calibrate(config: RunConfig, jobs: tuple[Job, ...], notes: list[str]) -> tuple[Job, ...]:
    cal = calibration(config)
    if cal is None:
        return jobs
    if config.assign_models:
        from calibrate.speed import assign_models

        without = sum(1 for j in jobs if j.num_gpus and not cal.calibrated(j))
        jobs = assign_models(jobs, cal)
        notes.append(f"assigned models from {config.calibration} to {without} job(s) by GPU-time bucket")
    jobs = cal.memory(cal.durations(jobs))  # GPU memory too, where the profile has it and the trace has not
    notes.append(f"calibrated with {config.calibration} (reference GPU type {cal.reference})")
    missing = cal.unmeasured_types()
    if missing:
        notes.append(f"{config.calibration} has no measurements on GPU type(s) {', '.join(missing)} (measured: "
                     f"{', '.join(cal.measured_types())}): jobs run there at {cal.reference}'s speed")
    return jobs


def never_ends(config: RunConfig, jobs: Sequence[Job], tries: float = 1e6) -> str | None:
    """Why a run of ``config`` may never end, or None: without ``until``, node failures that would
    make some job need over ``tries`` tries on average to do its unbroken work (``Faults.hopeless``).
    A run's notes say so from a million tries; a sweep fails the run from 10^8 (hours of kills and
    restarts of one job at least: it would hold its worker)."""
    faults = config.fault_model()
    if faults is None or config.until is not None:
        return None
    nodes = Cluster.parse(config.cluster or traces.SAMPLE_CLUSTER).nodes
    stuck = faults.hopeless([j for j in jobs if j.num_gpus], [n.gpu_type for n in nodes], [n.num_gpus for n in nodes],
                            tries)
    if not stuck:
        return None
    job, work, spans, mtbf = max(stuck, key=lambda s: s[2] * s[1])
    power = spans * work / mtbf / math.log(10)  # exp(spans × work / mtbf) tries, as a power of 10
    return (f"faults: {len(stuck)} job(s) would need over 10^{math.log10(tries):.0f} tries on average to finish (the worst, job "
            f"{job.job_id}: {work:.6g} s of unbroken work on {spans} node(s), each failing every {mtbf:.6g} s on "
            f"average: about 10^{power:.0f} tries), so the run may never end; give a shorter checkpoint interval "
            "or --until")


def _fit_cluster(config: RunConfig, jobs: tuple[Job, ...], notes: list[str]):
    """Calibrate durations, then drop (and report) jobs that can never fit, when asked to. Without
    the resource model, CPU-only jobs and nodes (no GPUs) are left out and counted."""
    if not config.resources:
        cpu_only = sum(1 for j in jobs if j.num_gpus == 0)
        if cpu_only:
            if cpu_only == len(jobs):
                raise GpusimError(f"every job is CPU-only ({cpu_only}, num_gpus 0): they need --resources, "
                                  "the resource model")
            jobs = tuple(j for j in jobs if j.num_gpus)
            notes.append(f"skipped {cpu_only} CPU-only job(s) (need --resources)")
        bare = cpu_only_nodes(Cluster.parse(config.cluster))
        if bare:
            notes.append(f"{bare} node(s) without GPUs stay idle (CPU-only jobs need --resources)")
    jobs = _calibrate(config, jobs, notes)
    endless = never_ends(config, jobs)
    if endless:
        notes.append(endless)
    if config.drop_oversize:
        too_big = check_fits(jobs, Cluster.parse(config.cluster), config.placement, config.resources)
        if too_big:
            gone = {j.job_id for j in too_big}
            jobs = tuple(j for j in jobs if j.job_id not in gone)
            notes.append(f"dropped {len(gone)} job(s) that can never fit {config.cluster}: "
                         + ", ".join(sorted(gone)[:10]) + (" ..." if len(gone) > 10 else ""))
            if not jobs:
                raise GpusimError(f"no job fits the cluster {config.cluster}")
    return jobs, notes


def run(config: RunConfig, jobs: Sequence[Job] | None = None, progress=None) -> SimResult:
    """Simulate ``config``: on ``jobs`` if given (on the config's cluster, else 8x8), else on the
    config's own workload."""
    if jobs is None:
        config, jobs, _ = load_jobs(config)
    cluster = Cluster.parse(config.cluster or traces.SAMPLE_CLUSTER)
    if config.autoscale is not None and (cpu_only_nodes(cluster) or any(j.num_gpus == 0 for j in jobs)):
        raise GpusimError("an autoscaler cannot run with CPU-only jobs or nodes yet (it turns nodes on and off "
                          "by their GPUs)")
    policy = policies.make(config.policy, dict(config.policy_args))
    cal = calibration(config)
    result = simulate(jobs, cluster, policy, config.seed, placement=config.placement,
                      restart_overhead=config.restart_overhead, until=config.until,
                      speed=run_speed(config, cal), progress=progress,
                      resources=config.resources, sharing=config.sharing, faults=config.fault_model(),
                      autoscale=config.autoscale_model())
    if config.skew or (cal is not None and len({n.gpu_type for n in cluster.nodes}) > 1):
        from sim.metrics import straggler_gpu_seconds

        ideal = ideal_rate if cal is None else cal.fastest_speed
        lost = straggler_gpu_seconds(result.events, result.jobs, run_speed(config, cal) or ideal_rate, ideal)
        result = replace(result, extra={"straggler_gpu_hours": lost / 3600.0})
    return result


def run_speed(config: RunConfig, cal=None):
    """The engine's speed model for ``config``: the calibration's (the slowest worker sets a job's
    pace), slowed for multi-GPU jobs by the data ``skew`` (the largest shard is ``1 + skew`` times
    an even one, and every step waits for it); None when neither applies."""
    if not config.skew:
        return None if cal is None else cal.speed
    base, factor = (None if cal is None else cal.speed), 1.0 + config.skew

    def speed(job: Job, gpus: tuple[int, ...]) -> float:
        rate = ideal_rate(job, gpus) if base is None else base(job, gpus)
        return rate / factor if len(gpus) > 1 else rate

    return speed


def compare(config: RunConfig, names: Sequence[str], seeds: int) -> tuple[list[dict], list[str]]:
    """Run every policy on the same jobs for seeds ``seed .. seed + seeds - 1``.

    A trace gives the same jobs to every seed (only policies' randomness changes); a synthetic
    workload is drawn anew per seed, and every policy sees the same draw (common random numbers).
    Returns one row per (policy, seed) (the summary plus ``policy``, ``seed`` and ``result``) and
    the notes from loading the jobs.
    """
    for name in names:
        policies.load(name)  # unknown names fail before any simulation runs
    rows: list[dict] = []
    notes: list[str] = []
    jobs, resolved = None, config
    for seed in range(config.seed, config.seed + seeds):
        if jobs is None or config.synthetic is not None:
            resolved, jobs, new_notes = load_jobs(replace(config, seed=seed))
            notes += [n for n in new_notes if n not in notes]
        for name in names:
            result = run(replace(resolved, seed=seed, policy=name), jobs)
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


def write_result(result: SimResult, out: Path) -> tuple[str, ...]:
    """jobs.csv, summary.json, events.csv and timeseries.csv of one run, into ``out`` (and
    availability.csv, with faults or an autoscaler); returns the names written."""
    _write_csv(out / "jobs.csv", JOB_COLUMNS, ([r[c] for c in JOB_COLUMNS] for r in result.job_table()))
    _write_json(out / "summary.json", result.summary())
    from sim.placement import Planner, nodes_of

    planner = Planner([n.num_gpus for n in result.cluster.nodes])
    _write_csv(out / "events.csv", ("time", "kind", "job_id", "gpus", "nodes"),
               ((e.time, e.kind, e.job_id, " ".join(map(str, e.gpus)),
                 " ".join(map(str, nodes_of(planner, e.gpus)))) for e in result.events))
    series = result.timeseries()
    shared = (SHARE_COLUMN,) if series and len(series[0]) > len(TIMESERIES_COLUMNS) else ()
    _write_csv(out / "timeseries.csv", (*TIMESERIES_COLUMNS, *shared), series)
    written = ("jobs.csv", "summary.json", "events.csv", "timeseries.csv")
    if result.faults is not None or result.autoscale is not None:
        _write_csv(out / "availability.csv", ("time", "available_gpus"), result.availability())
        written += ("availability.csv",)
    return written


def write_config(config: RunConfig, out: Path, extra: dict | None = None) -> None:
    """config.json: every resolved setting, the gpusim version, and ``extra``."""
    data = {**config.to_json(), "trace": config.trace or (None if config.synthetic else str(traces.SAMPLE)),
            "cluster": str(Cluster.parse(config.cluster or traces.SAMPLE_CLUSTER)), "gpusim_version": version(),
            **(extra or {})}
    (out / "config.json").write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


def write_compare(rows: list[dict], out: Path) -> None:
    """summary.csv (one row per policy and seed) and one run folder per row under runs/."""
    _write_csv(out / "summary.csv", ("policy", "seed", *SUMMARY_KEYS),
               ([r["policy"], r["seed"], *(r[k] for k in SUMMARY_KEYS)] for r in rows))
    for r in rows:
        folder = out / "runs" / f"{r['policy'].replace(':', '_')}-seed{r['seed']}"
        folder.mkdir(parents=True, exist_ok=True)
        write_result(r["result"], folder)

"""Fit a workload model to a trace, save it as JSON, and synthesize similar workloads from it.

``fit(trace)`` returns a plain dict (see docs/workloads.md for every key): the GPU-count mix, the
duration distribution (lognormal, exponential and Pareto fitted by maximum likelihood with
scipy.stats, each with its Kolmogorov–Smirnov distance, the smallest chosen; plus empirical
quantiles), the arrival pattern (mean rate, 24 hourly multipliers on the file's own clock,
inter-arrival coefficient of variation) and provenance. ``synthesize`` turns a model back into
jobs through ``traces.synthetic.Workload``, so its randomness is the seed's named streams.

scipy is imported inside ``fit`` only, so simulating never loads it.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from numbers import Integral
from pathlib import Path

import numpy as np

from sim.errors import GpusimError
from sim.model import Job
from traces.synthetic import DAY, HOUR, Durations, Workload, _real
from traces.table import Trace

KIND = "gpusim workload model"
VERSION = 1
CANDIDATES = ("lognormal", "exponential", "pareto")
#: Duration kinds a model may choose: a fitted candidate, ``constant`` (all durations equal), or
#: ``empirical`` (resample ``durations.quantiles.values``).
CHOICES = CANDIDATES + ("constant", "empirical")
QUANTILES = 1000  # midpoint probabilities (k + 0.5) / 1000: equally likely values, no min/max bias


# --- fitting ---------------------------------------------------------------------------------


def fit(trace: Trace) -> dict:
    """A JSON-serialisable model of ``trace``'s workload (needs two different submit times). The
    model is of GPU jobs: CPU-only jobs (``num_gpus`` 0, Alibaba's CPU pods) are left out of every
    part of it, and a note counts them."""
    jobs = tuple(j for j in trace.jobs if j.num_gpus > 0)
    cpu_only = len(trace.jobs) - len(jobs)
    submit = np.array([j.submit_time for j in jobs], dtype=float)
    span = float(submit.max() - submit.min()) if len(jobs) else 0.0
    if len(jobs) < 2 or not span > 0:
        raise GpusimError(f"{trace.source}: fitting arrivals needs at least 2 jobs submitted at different times, "
                          f"got {len(jobs)} job(s) over {span:g} s")
    durations = _fit_durations(np.array([j.duration for j in jobs], dtype=float))
    arrivals = _fit_arrivals(np.sort(submit), trace.origin)
    return {
        "kind": KIND,
        "version": VERSION,
        "sizes": _fit_sizes(jobs),
        "durations": durations,
        "arrivals": arrivals,
        "provenance": _provenance(trace, span, len(jobs)),
        "notes": _notes(durations, arrivals) + _censored(jobs) + ([
            f"left out {cpu_only} CPU-only job(s) (num_gpus 0): the model is of GPU jobs only"] if cpu_only else []),
    }


def _censored(jobs: tuple[Job, ...]) -> list[str]:
    n = sum(j.censored for j in jobs)
    return [f"{n} job(s) still running when the trace ended were fitted with their durations so far "
            "(lower bounds)"] if n else []


def _notes(durations: dict, arrivals: dict) -> list[str]:
    """What a user of the model should know: where the chosen fit and the trace part ways."""
    notes = []
    chosen = durations["chosen"]
    fitted, observed = durations["candidates"][chosen]["mean"], durations["summary"]["mean"]
    if abs(fitted / observed - 1) > 0.1:
        notes.append(f"the chosen {chosen} fit's mean duration ({fitted:.4g} s, clipped) is {fitted / observed:.2f}x "
                     f"the trace's ({observed:.4g} s): at the model's own rate a synthetic workload offers that "
                     f"fraction of the trace's load; give a load, or set durations.chosen to 'empirical'")
    ks = durations["candidates"][chosen]["ks"]
    if ks > 0.1:
        notes.append(f"no candidate fits the durations closely (best KS distance {ks:.3f}, {chosen}); "
                     "'empirical' resamples the trace's quantiles instead")
    if arrivals["interarrival_cv"] > 2:
        notes.append(f"inter-arrival times are bursty (coefficient of variation {arrivals['interarrival_cv']:.3g}); "
                     "synthetic arrivals are Poisson within each hour and do not reproduce bursts")
    return notes


def _fit_sizes(jobs: tuple[Job, ...]) -> list[list]:
    """[[num_gpus, probability], ...] by num_gpus: the empirical mix."""
    counts = Counter(j.num_gpus for j in jobs)
    return [[int(g), counts[g] / len(jobs)] for g in sorted(counts)]


def _fit_durations(d: np.ndarray) -> dict:
    """MLE candidates with KS distances, the chosen kind, clip range and quantiles."""
    from scipy import stats

    probabilities = (np.arange(QUANTILES) + 0.5) / QUANTILES
    out = {
        "chosen": "constant",
        "low": float(d.min()),   # synthesized durations are clipped to the observed range
        "high": float(d.max()),
        "candidates": {},
        "summary": {"mean": float(d.mean()), **{f"p{q:g}": float(np.quantile(d, q / 100)) for q in (1, 10, 50, 90, 99)},
                    "min": float(d.min()), "max": float(d.max())},
        "quantiles": {"probabilities": probabilities.tolist(), "values": np.quantile(d, probabilities).tolist()},
    }
    if d.min() == d.max():  # no spread: every continuous fit degenerates
        out["candidates"] = {"constant": {"params": [float(d[0])], "ks": 0.0, "mean": float(d[0])}}
        return out
    s, _, scale = stats.lognorm.fit(d, floc=0)
    _, mean = stats.expon.fit(d, floc=0)
    alpha, _, xm = stats.pareto.fit(d, floc=0)
    dists = {
        "lognormal": ([math.log(scale), s], stats.lognorm(s, scale=scale)),
        "exponential": ([mean], stats.expon(scale=mean)),
        "pareto": ([alpha, xm], stats.pareto(alpha, scale=xm)),
    }
    for name, (params, dist) in dists.items():
        ks = stats.ks_1samp(d, dist.cdf).statistic
        params = [float(p) for p in params]
        mean = Durations(name, tuple(params), out["low"], out["high"]).mean()
        out["candidates"][name] = {"params": params, "ks": float(ks), "mean": mean}
    out["chosen"] = min(CANDIDATES, key=lambda name: out["candidates"][name]["ks"])
    return out


def _exposure(origin: float, span: float) -> np.ndarray:
    """Seconds of each hour of day (0-23) inside the clock window [origin, origin + span]."""
    seconds = np.full(24, HOUR * (span // DAY))
    t, end = origin % DAY, origin % DAY + span % DAY
    while t < end:
        boundary = min((math.floor(t / HOUR) + 1) * HOUR, end)
        seconds[int(t // HOUR) % 24] += boundary - t
        t = boundary
    return seconds


def _fit_arrivals(submit: np.ndarray, origin: float) -> dict:
    """Mean rate, hourly multipliers (per-hour rate / mean of the 24), inter-arrival CV."""
    span = float(submit[-1] - submit[0])
    hours = np.minimum(((origin % DAY + submit) % DAY // HOUR).astype(int), 23)
    counts = np.bincount(hours, minlength=24)
    exposure = _exposure(origin + float(submit[0]), span)
    seen = exposure > 0
    rates = np.where(seen, counts / np.where(seen, exposure, 1.0), 0.0)
    rates[~seen] = rates[seen].mean()  # hours the trace never covers stay neutral
    gaps = np.diff(submit)
    return {
        "rate": (len(submit) - 1) / span,
        "diurnal": (rates / rates.mean()).tolist(),
        "hourly_counts": counts.tolist(),
        "interarrival_cv": float(gaps.std() / gaps.mean()),
        "clock": "hour of day of origin + submit_time (UTC where the trace has epoch dates)",
    }


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gpusim")
    except PackageNotFoundError:  # running from a bare checkout
        return "unknown"


def _provenance(trace: Trace, span: float, jobs: int) -> dict:
    import scipy

    return {"source": str(trace.source), "format": trace.format, "jobs": jobs, "span": span,
            "origin": float(trace.origin), "skipped": sum(trace.skipped.values()),
            "excluded": sum(trace.excluded.values()), "gpusim_version": _version(), "scipy_version": scipy.__version__}


# --- reading a model back --------------------------------------------------------------------


def _get(table, key: str, path: str):
    if not isinstance(table, dict):
        raise GpusimError(f"model key {path!r} must be a JSON object, got {type(table).__name__}")
    if key not in table:
        raise GpusimError(f"model key {f'{path}.{key}' if path else key!r} is missing")
    return table[key]


def _numbers(value, key: str) -> list[float]:
    if not isinstance(value, list) or not value or not all(_real(v) for v in value):
        raise GpusimError(f"model key {key!r} must be a non-empty list of numbers, got {_short(value)}")
    return [float(v) for v in value]


def _short(value) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _sizes(model: dict) -> tuple[tuple[int, float], ...]:
    sizes = _get(model, "sizes", "")
    ok = isinstance(sizes, list) and sizes and all(
        isinstance(s, list) and len(s) == 2 and all(_real(v) and math.isfinite(v) for v in s)
        and float(s[0]).is_integer() and s[0] >= 1 and s[1] >= 0 for s in sizes)
    if not ok or sum(s[1] for s in sizes) <= 0:
        raise GpusimError(f"model key 'sizes' must be a list of [num_gpus, probability] pairs (num_gpus >= 1, "
                          f"probabilities >= 0, not all 0), got {_short(sizes)}")
    return tuple((int(g), float(p)) for g, p in sizes)


def _durations(model: dict) -> Durations:
    table = _get(model, "durations", "")
    chosen = _get(table, "chosen", "durations")
    if chosen not in CHOICES:
        raise GpusimError(f"model key 'durations.chosen' must be one of {', '.join(CHOICES)}, got {_short(chosen)}")
    if chosen == "empirical":
        key = "durations.quantiles.values"
        params = _numbers(_get(_get(table, "quantiles", "durations"), "values", "durations.quantiles"), key)
    else:
        key = f"durations.candidates.{chosen}.params"
        entry = _get(_get(table, "candidates", "durations"), chosen, "durations.candidates")
        params = _numbers(_get(entry, "params", f"durations.candidates.{chosen}"), key)
    clip = {}
    for name in ("low", "high"):  # optional: Durations' defaults (1 s, no upper clip); null = none
        value = table.get(name)
        if value is not None and not _real(value):
            raise GpusimError(f"model key 'durations.{name}' must be a number of seconds or null, got {_short(value)}")
        if value is not None:
            clip[name] = float(value)
    try:
        return Durations(chosen, tuple(params), **clip)
    except GpusimError as err:
        raise GpusimError(f"model key {key!r} (or durations.low/high): {err}") from None


def _arrivals(model: dict) -> tuple[float, tuple[float, ...] | None]:
    table = _get(model, "arrivals", "")
    rate = _get(table, "rate", "arrivals")
    if not (_real(rate) and math.isfinite(rate) and rate > 0):
        raise GpusimError(f"model key 'arrivals.rate' must be a positive number of jobs per second, got {_short(rate)}")
    diurnal = table.get("diurnal")
    if diurnal is not None:
        if not isinstance(diurnal, list):
            raise GpusimError(f"model key 'arrivals.diurnal' must be a list of 24 numbers or null, got {_short(diurnal)}")
        try:
            Workload(diurnal=diurnal)
        except GpusimError as err:
            raise GpusimError(f"model key 'arrivals.diurnal': {err}") from None
        diurnal = tuple(diurnal)
    return float(rate), diurnal


def check_model(model: dict) -> tuple[tuple[tuple[int, float], ...], Durations, float, tuple[float, ...] | None]:
    """The model's (sizes, durations, rate in jobs/s, diurnal or None); a one-line GpusimError
    naming the first missing or bad key. Keys not needed for synthesis are not checked."""
    if not isinstance(model, dict):
        raise GpusimError(f"a workload model must be a JSON object (from `gpusim trace fit`), got {type(model).__name__}")
    if "kind" in model and model["kind"] != KIND:
        raise GpusimError(f"model key 'kind' must be {KIND!r}, got {_short(model['kind'])}")
    if "version" in model and model["version"] != VERSION:
        raise GpusimError(f"model key 'version' must be {VERSION} (this gpusim reads version {VERSION}), got {_short(model['version'])}")
    return (_sizes(model), _durations(model), *_arrivals(model))


# --- synthesis -------------------------------------------------------------------------------


def synthesize(model: dict, jobs: int, cluster_gpus: int, seed: int, load: float | None = None) -> tuple[Job, ...]:
    """``jobs`` jobs like the model's: its GPU mix, its chosen duration distribution (clipped to
    ``durations.low``/``high``) and its hourly profile, with the first job at time 0 = midnight of
    the profile's clock. The mean arrival rate is the model's own, or with ``load`` the rate that
    offers ``load`` to ``cluster_gpus`` GPUs. Randomness: streams ``arrivals``, ``sizes`` and
    ``durations`` of ``seed`` (via ``Workload.generate``)."""
    sizes, durations, rate, diurnal = check_model(model)
    if not isinstance(cluster_gpus, Integral) or isinstance(cluster_gpus, bool) or cluster_gpus < 1:
        raise GpusimError(f"cluster GPUs must be a whole number >= 1, got {cluster_gpus!r}")
    if not isinstance(seed, Integral) or isinstance(seed, bool) or seed < 0:
        raise GpusimError(f"seed must be a non-negative integer, got {seed!r}")
    cluster_gpus, seed = int(cluster_gpus), int(seed)
    if load is None:
        total = sum(p for _, p in sizes)
        mean_gpus = sum(g * p for g, p in sizes) / total
        load = rate * mean_gpus * durations.mean() / cluster_gpus
    workload = Workload(jobs=jobs, load=load, sizes=sizes, durations=durations, diurnal=diurnal)
    return workload.generate(cluster_gpus, seed)


# --- files -----------------------------------------------------------------------------------


def save_model(model: dict, path: str | Path) -> None:
    """Write ``model`` as indented JSON after checking it can be synthesized from."""
    check_model(model)
    try:
        text = json.dumps(model, indent=2, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise GpusimError(f"{path}: model is not plain JSON (numbers must be finite): {err}") from None
    try:
        Path(path).write_text(text + "\n", encoding="utf-8")
    except OSError as err:
        raise GpusimError(f"{path}: cannot write: {err.strerror or err}") from None


def load_model(path: str | Path) -> dict:
    """Read and check a model written by ``save_model`` (or edited by hand)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise GpusimError(f"{path}: cannot read: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise GpusimError(f"{path}: not a UTF-8 text file") from None
    try:
        model = json.loads(text)
    except json.JSONDecodeError as err:
        raise GpusimError(f"{path}:{err.lineno}: not valid JSON: {err.msg}") from None
    try:
        check_model(model)
    except GpusimError as err:
        raise GpusimError(f"{path}: {err}") from None
    return model

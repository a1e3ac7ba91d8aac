"""Tests of traces.fit: fitting a workload model to a trace, synthesizing from it, model files."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import traces
from sim.errors import GpusimError
from sim.model import Job
from traces.canonical import read_csv
from traces.fit import fit, load_model, save_model, synthesize
from traces.synthetic import Durations, Workload, offered_load
from traces.table import Trace

DAY, HOUR = 86_400.0, 3_600.0
PHILLY = Path(__file__).resolve().parents[2] / "shared" / "traces" / "philly" / "philly.csv"


def trace_of(jobs, origin: float = 0.0) -> Trace:
    return Trace(tuple(jobs), "memory", origin=origin)


def columns(jobs):
    return (np.array([j.submit_time for j in jobs]), np.array([j.num_gpus for j in jobs]),
            np.array([j.duration for j in jobs]))


def ks_distance(x: np.ndarray, cdf) -> float:
    """sup |F_n - F| computed directly from the sorted sample (independent of scipy's kstest)."""
    x = np.sort(x)
    f = cdf(x)
    n = len(x)
    return float(max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n)))


@pytest.fixture(scope="module")
def lognormal_model():
    """A model fitted to 40,000 Poisson jobs with lognormal(6, 1.2) durations and a 1:2:4 = 5:3:2 mix."""
    w = Workload(jobs=40_000, load=0.5, sizes=((1, 0.5), (2, 0.3), (4, 0.2)),
                 durations=Durations("lognormal", (6.0, 1.2), low=1e-9))
    jobs = w.generate(32, 21)
    return fit(trace_of(jobs)), jobs, w.arrival_rate(32)


@pytest.fixture(scope="module")
def sample_model():
    trace = read_csv(traces.SAMPLE)
    return fit(trace), trace


# --- fitting --------------------------------------------------------------------------------


def test_fit_recovers_lognormal_parameters(lognormal_model):
    """mu and sigma of a large lognormal sample come back within 1%, and lognormal is chosen."""
    model, _, _ = lognormal_model
    mu, sigma = model["durations"]["candidates"]["lognormal"]["params"]
    assert mu == pytest.approx(6.0, rel=0.01) and sigma == pytest.approx(1.2, rel=0.01)
    assert model["durations"]["chosen"] == "lognormal"
    ks = {name: c["ks"] for name, c in model["durations"]["candidates"].items()}
    assert ks["lognormal"] < 0.01 < ks["exponential"] and ks["lognormal"] < ks["pareto"]


def test_fit_ks_distances_are_correct(lognormal_model):
    """Each candidate's KS distance equals sup |F_n - F| computed here from its fitted parameters."""
    from scipy import stats

    model, jobs, _ = lognormal_model
    d = columns(jobs)[2]
    c = model["durations"]["candidates"]
    mu, sigma = c["lognormal"]["params"]
    alpha, xm = c["pareto"]["params"]
    cdfs = {"lognormal": stats.lognorm(sigma, scale=math.exp(mu)).cdf,
            "exponential": lambda x: 1 - np.exp(-x / c["exponential"]["params"][0]),
            "pareto": lambda x: np.where(x < xm, 0.0, 1 - (xm / x) ** alpha)}
    for name, cdf in cdfs.items():
        assert c[name]["ks"] == pytest.approx(ks_distance(d, cdf), abs=1e-9)


def test_fit_mle_closed_forms(lognormal_model):
    """Exponential mean = sample mean; Pareto xm = min, alpha = n / Σ ln(x / xm) (the MLEs)."""
    model, jobs, _ = lognormal_model
    d = columns(jobs)[2]
    c = model["durations"]["candidates"]
    assert c["exponential"]["params"][0] == pytest.approx(d.mean(), rel=1e-9)
    alpha, xm = c["pareto"]["params"]
    assert xm == pytest.approx(d.min(), rel=1e-12)
    assert alpha == pytest.approx(len(d) / np.sum(np.log(d / d.min())), rel=1e-6)


def test_fit_recovers_size_mix_and_rate(lognormal_model):
    """The GPU mix is within 5 standard errors of 5:3:2 and the rate within 5 standard errors."""
    model, jobs, rate = lognormal_model
    n = len(jobs)
    mix = dict((g, p) for g, p in model["sizes"])
    assert set(mix) == {1, 2, 4} and math.fsum(mix.values()) == pytest.approx(1.0)
    for g, p in ((1, 0.5), (2, 0.3), (4, 0.2)):
        assert abs(mix[g] - p) <= 5 * math.sqrt(p * (1 - p) / n)
    assert abs(model["arrivals"]["rate"] / rate - 1) <= 5 / math.sqrt(n)
    assert model["arrivals"]["interarrival_cv"] == pytest.approx(1.0, abs=0.03)  # Poisson


@pytest.mark.parametrize("durations, kind, params", [
    (Durations("exponential", (900.0,), low=1e-9), "exponential", [900.0]),
    (Durations("pareto", (1.8, 30.0), low=1e-9), "pareto", [1.8, 30.0]),
])
def test_fit_chooses_the_generating_family(durations, kind, params):
    """Exponential or Pareto data are fitted best (smallest KS) by their own family, parameters within 3%."""
    jobs = Workload(jobs=20_000, sizes=((1, 1.0),), durations=durations).generate(8, 5)
    model = fit(trace_of(jobs))
    assert model["durations"]["chosen"] == kind
    assert model["durations"]["candidates"][kind]["params"] == pytest.approx(params, rel=0.03)


def test_fit_recovers_a_diurnal_profile_on_the_trace_clock():
    """Multipliers fitted from ~90 days generated with a known profile (time 0 at 05:30 on an epoch clock)
    match it within 5 standard errors per hour; ignoring the origin would rotate them."""
    profile = np.array([2, 1, 0.5, 0.25, 0.25, 0.5, 1, 2, 3, 3, 3, 2, 2, 2, 3, 3, 3, 2, 2, 2, 1.5, 1.5, 2, 2])
    origin = 1_500_000_000.0 - 1_500_000_000.0 % DAY + 5.5 * HOUR
    w = Workload(jobs=80_000, load=1.0, sizes=((1, 1.0),), durations=Durations("constant", (86.4,)),
                 diurnal=tuple(profile), origin=origin)  # 1 job / 86.4 s: 1,000 a day
    model = fit(trace_of(w.generate(1, 3), origin))
    fitted = np.array(model["arrivals"]["diurnal"])
    truth = profile / profile.mean()
    counts = np.array(model["arrivals"]["hourly_counts"])
    assert counts.sum() == 80_000
    assert fitted.mean() == pytest.approx(1.0, rel=1e-12)
    assert np.all(np.abs(fitted - truth) <= 5 * truth / np.sqrt(counts))
    unaligned = np.array(fit(trace_of(w.generate(1, 3), 0.0))["arrivals"]["diurnal"])
    assert np.max(np.abs(unaligned - truth)) > 0.5


def test_fit_diurnal_accounts_for_partial_days():
    """A job every 60 s for 36 hours from midnight has a flat profile, though hours 0-11 are seen twice."""
    jobs = [Job(f"j{i}", 60.0 * i, 1, 10.0) for i in range(36 * 60)]
    model = fit(trace_of(jobs))
    assert model["arrivals"]["hourly_counts"][0] == 120 and model["arrivals"]["hourly_counts"][12] == 60
    assert model["arrivals"]["diurnal"] == pytest.approx([1.0] * 24, rel=0.02)
    assert model["arrivals"]["interarrival_cv"] == pytest.approx(0.0, abs=1e-12)


def test_fit_provenance_and_json(sample_model, tmp_path):
    """Provenance names the source, format, job count, span and version; the model is strict JSON."""
    model, trace = sample_model
    p = model["provenance"]
    assert p["source"] == str(traces.SAMPLE) and p["format"] == trace.format and p["jobs"] == 7423
    assert p["span"] == pytest.approx(trace.jobs[-1].submit_time) and p["origin"] == trace.origin
    assert isinstance(p["gpusim_version"], str) and p["gpusim_version"]
    assert json.loads(json.dumps(model, allow_nan=False)) == model


def test_fit_uses_the_sample_clock(sample_model):
    """The sample's hourly counts are those of its UTC submit hours (origin + submit_time)."""
    model, trace = sample_model
    hours = [int((trace.origin + j.submit_time) % DAY // HOUR) for j in trace.jobs]
    assert model["arrivals"]["hourly_counts"] == np.bincount(hours, minlength=24).tolist()


def test_fit_constant_durations():
    """Durations all equal give the 'constant' choice, and synthesis reproduces them."""
    jobs = [Job(f"j{i}", 10.0 * i, 2, 600.0) for i in range(50)]
    model = fit(trace_of(jobs))
    assert model["durations"]["chosen"] == "constant"
    assert {j.duration for j in synthesize(model, 100, 8, 0)} == {600.0}


@pytest.mark.parametrize("jobs", [[Job("a", 0.0, 1, 5.0)], [Job("a", 3.0, 1, 5.0), Job("b", 3.0, 2, 7.0)]])
def test_fit_needs_a_time_span(jobs):
    """One job, or jobs all at one instant, give a GpusimError (no arrival rate to fit)."""
    with pytest.raises(GpusimError, match="at least 2 jobs"):
        fit(trace_of(jobs))


# --- synthesizing -----------------------------------------------------------------------------


def test_synthesize_like_the_bundled_sample(sample_model):
    """60,000 jobs from the sample's model at load 0.8 on 8x8: the load within 3%, the GPU mix within
    5 standard errors of the sample's, the median within 10% (lognormal's median is not the sample's)."""
    model, trace = sample_model
    jobs = synthesize(model, 60_000, 64, 7, load=0.8)
    assert offered_load(jobs, 64) == pytest.approx(0.8, rel=0.03)
    _, g, d = columns(jobs)
    _, g0, d0 = columns(trace.jobs)
    for size in np.unique(g0):
        p = np.mean(g0 == size)
        assert abs(np.mean(g == size) - p) <= 5 * math.sqrt(p * (1 - p) / len(g)) + 1e-12
    assert np.median(d) == pytest.approx(np.median(d0), rel=0.10)


def test_synthesize_empirical_choice_matches_quantiles(sample_model):
    """With durations.chosen = 'empirical' the median is the sample's within 3% and the load still holds."""
    model, trace = sample_model
    edited = copy.deepcopy(model)
    edited["durations"]["chosen"] = "empirical"
    jobs = synthesize(edited, 60_000, 64, 7, load=0.8)
    assert np.median(columns(jobs)[2]) == pytest.approx(np.median(columns(trace.jobs)[2]), rel=0.03)
    assert offered_load(jobs, 64) == pytest.approx(0.8, rel=0.05)


def test_synthesize_keeps_the_hourly_shape(sample_model):
    """Synthetic arrivals from the sample's model have its hourly profile (correlation > 0.98)."""
    model, _ = sample_model
    submit, _, _ = columns(synthesize(model, 40_000, 64, 3, load=0.8))
    counts = np.bincount((submit % DAY // HOUR).astype(int), minlength=24)
    assert np.corrcoef(counts, model["arrivals"]["diurnal"])[0, 1] > 0.98


def test_synthesize_without_load_uses_the_model_rate(lognormal_model):
    """Without a load, (n - 1) / span of a long synthetic workload is the model's rate within 3%."""
    model, _, _ = lognormal_model
    submit, _, _ = columns(synthesize(model, 30_000, 32, 11))
    assert (len(submit) - 1) / submit[-1] == pytest.approx(model["arrivals"]["rate"], rel=0.03)


def test_synthesize_is_deterministic_per_seed(lognormal_model):
    """The same seed gives identical jobs; another seed other jobs; any length works."""
    model, _, _ = lognormal_model
    assert synthesize(model, 300, 16, 4) == synthesize(model, 300, 16, 4)
    assert synthesize(model, 300, 16, 4) != synthesize(model, 300, 16, 5)
    assert len(synthesize(model, 1, 16, 4)) == 1


@pytest.mark.parametrize("args", [(0, 16, 1, None), (10, 0, 1, None), (10, 16, -1, None), (10, 16, 1, 0.0),
                                  (10, 16, 1, math.nan)])
def test_synthesize_rejects_bad_arguments(lognormal_model, args):
    """Zero jobs, no GPUs, a negative seed or a bad load are GpusimErrors."""
    with pytest.raises(GpusimError):
        synthesize(lognormal_model[0], *args)


# --- bad models and model files ---------------------------------------------------------------


def edit(model: dict, path: str, value=None, delete: bool = False) -> dict:
    """A deep copy of ``model`` with the dotted key ``path`` set to ``value`` or deleted."""
    out = copy.deepcopy(model)
    *parents, last = path.split(".")
    table = out
    for key in parents:
        table = table[key]
    if delete:
        del table[last]
    else:
        table[last] = value
    return out


BAD = [  # (dotted key, value or "DELETE", a fragment the error must contain)
    ("sizes", "DELETE", "sizes"),
    ("sizes", [[0, 1.0]], "sizes"),
    ("sizes", [[1, -1.0]], "sizes"),
    ("sizes", [[1, 0.0]], "sizes"),
    ("sizes", "1:1", "sizes"),
    ("sizes", [[1.5, 1.0]], "sizes"),
    ("durations", "DELETE", "durations"),
    ("durations", [], "durations"),
    ("durations.chosen", "DELETE", "durations.chosen"),
    ("durations.chosen", "weibull", "durations.chosen"),
    ("durations.candidates", "DELETE", "durations.candidates"),
    ("durations.candidates.lognormal", "DELETE", "durations.candidates.lognormal"),
    ("durations.candidates.lognormal.params", "DELETE", "durations.candidates.lognormal.params"),
    ("durations.candidates.lognormal.params", [6.0], "durations.candidates.lognormal.params"),
    ("durations.candidates.lognormal.params", [6.0, -1.0], "durations.candidates.lognormal.params"),
    ("durations.candidates.lognormal.params", ["6", 1.0], "durations.candidates.lognormal.params"),
    ("durations.low", -5.0, "durations"),
    ("durations.high", "big", "durations.high"),
    ("arrivals", "DELETE", "arrivals"),
    ("arrivals.rate", "DELETE", "arrivals.rate"),
    ("arrivals.rate", 0.0, "arrivals.rate"),
    ("arrivals.rate", "fast", "arrivals.rate"),
    ("arrivals.diurnal", [1.0] * 23, "arrivals.diurnal"),
    ("arrivals.diurnal", [-1.0] + [1.0] * 23, "arrivals.diurnal"),
    ("arrivals.diurnal", {"0": 1}, "arrivals.diurnal"),
    ("version", 2, "version"),
    ("kind", "something else", "kind"),
]


@pytest.mark.parametrize("key, value, fragment", BAD, ids=[f"{k}={v!r}"[:40] for k, v, _ in BAD])
def test_bad_models_name_the_key(lognormal_model, key, value, fragment):
    """A missing or bad key gives a one-line GpusimError naming it, from synthesize and from save_model."""
    bad = edit(lognormal_model[0], key, delete=True) if value == "DELETE" else edit(lognormal_model[0], key, value)
    for call in (lambda: synthesize(bad, 10, 8, 0), lambda: save_model(bad, "/nonexistent/never-written.json")):
        with pytest.raises(GpusimError) as err:
            call()
        assert fragment in str(err.value) and "\n" not in str(err.value)


def test_hand_made_minimal_model(tmp_path):
    """A model with only the keys synthesis needs works; diurnal null means plain Poisson."""
    model = {"sizes": [[1, 3], [4, 1]], "durations": {"chosen": "pareto", "high": None,
                                                     "candidates": {"pareto": {"params": [2.5, 60]}}},
             "arrivals": {"rate": 0.01, "diurnal": None}}
    jobs = synthesize(model, 2000, 16, 1, load=0.5)
    assert {j.num_gpus for j in jobs} == {1, 4} and min(j.duration for j in jobs) >= 60
    path = tmp_path / "m.json"
    save_model(model, path)
    assert load_model(path) == model


def test_pareto_model_with_infinite_mean_is_an_error():
    """A Pareto alpha <= 1 with no high clip cannot set a load: a GpusimError, not a crash."""
    model = {"sizes": [[1, 1]], "durations": {"chosen": "pareto", "candidates": {"pareto": {"params": [0.9, 60]}}},
             "arrivals": {"rate": 0.01}}
    with pytest.raises(GpusimError, match="infinite mean"):
        synthesize(model, 10, 8, 0, load=0.5)


def test_save_and_load_round_trip(sample_model, tmp_path):
    """save_model then load_model gives the same dict, and the same jobs when synthesized."""
    model, _ = sample_model
    path = tmp_path / "model.json"
    save_model(model, path)
    again = load_model(path)
    assert again == model
    assert synthesize(again, 200, 64, 1, 0.8) == synthesize(model, 200, 64, 1, 0.8)


@pytest.mark.parametrize("content, fragment", [
    (None, "cannot read"),
    ("", "not valid JSON"),
    ("{\"sizes\": [[1, 1]],", "not valid JSON"),
    ("[1, 2, 3]", "JSON object"),
    ("{\"sizes\": [[1, 1]]}", "durations"),
    (b"\xff\xfe{}", "UTF-8"),
])
def test_load_model_errors(tmp_path, content, fragment):
    """Missing file, empty or broken JSON, the wrong shape, or not UTF-8: one-line GpusimErrors with the path."""
    path = tmp_path / "model.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(GpusimError) as err:
        load_model(path)
    assert str(path) in str(err.value) and fragment in str(err.value) and "\n" not in str(err.value)


def test_save_model_errors(lognormal_model, tmp_path):
    """A NaN in the model, or a folder that does not exist, gives a GpusimError."""
    model = edit(lognormal_model[0], "provenance.span", math.nan)
    with pytest.raises(GpusimError, match="finite"):
        save_model(model, tmp_path / "m.json")
    with pytest.raises(GpusimError, match="cannot write"):
        save_model(lognormal_model[0], tmp_path / "missing" / "m.json")


def test_fit_module_imports_scipy_only_when_fitting():
    """Importing traces.fit and synthesizing does not load scipy; fitting does."""
    code = ("import sys; from traces.fit import synthesize; "
            "m = {'sizes': [[1, 1]], 'durations': {'chosen': 'exponential', 'candidates': {'exponential': {'params': [60]}}},"
            " 'arrivals': {'rate': 0.1, 'diurnal': [1] * 24}}; synthesize(m, 20, 4, 0); "
            "assert 'scipy' not in sys.modules, 'scipy imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.skipif(not PHILLY.exists(), reason="needs ../shared/traces/philly/philly.csv")
def test_fit_real_philly_trace():
    """The full Philly trace (82,247 jobs) fits, lognormal beats exponential, and its model synthesizes."""
    from traces.formats import read

    trace = read(PHILLY)
    model = fit(trace)
    c = model["durations"]["candidates"]
    assert model["provenance"]["jobs"] == len(trace.jobs) and c["lognormal"]["ks"] < c["exponential"]["ks"]
    jobs = synthesize(model, 20_000, 2490, 0, load=0.15)
    assert offered_load(jobs, 2490) == pytest.approx(0.15, rel=0.1)


def test_fit_notes_censored_durations():
    """Jobs still running at the trace's end are counted in a note (their durations are lower bounds)."""
    jobs = [Job(f"j{i}", 10.0 * i, 1, 100.0 + i, censored=i >= 47) for i in range(50)]
    assert any("3 job(s) still running" in note for note in fit(trace_of(jobs))["notes"])
    assert not any("still running" in note for note in fit(trace_of(jobs[:47]))["notes"])


def test_synthesize_accepts_numpy_integers(lognormal_model):
    """numpy integers for the cluster size and seed work like Python ints."""
    model = lognormal_model[0]
    assert synthesize(model, 50, np.int64(16), np.int64(4)) == synthesize(model, 50, 16, 4)


def test_cpu_only_jobs_are_left_out_of_the_model_and_counted():
    """A trace with CPU-only jobs (num_gpus 0) fits a model of its GPU jobs, and says how many it
    left out; the model then loads and synthesizes (a size 0 would be refused)."""
    jobs = tuple(Job(f"g{i}", float(10 * i), 1 + i % 2, 100.0 + i) for i in range(40))
    pods = tuple(Job(f"p{i}", float(10 * i + 5), 0, 50.0, cpu_milli=500) for i in range(10))
    model = fit(Trace(jobs + pods, "mixed.csv"))
    assert [g for g, _ in model["sizes"]] == [1, 2]
    assert model["provenance"]["jobs"] == 40
    assert model["notes"][-1] == "left out 10 CPU-only job(s) (num_gpus 0): the model is of GPU jobs only"
    assert all(j.num_gpus >= 1 for j in synthesize(model, 20, 8, seed=0))

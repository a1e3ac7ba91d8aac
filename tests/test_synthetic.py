"""Tests of traces.synthetic's extensions: Pareto and empirical durations, diurnal arrivals by
thinning, offered load of a job list, and replaying jobs at a chosen load."""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

import traces
from sim.errors import GpusimError
from sim.model import Job
from sim.rng import stream
from traces.canonical import read_csv
from traces.synthetic import Durations, Workload, offered_load, scale_load

DAY, HOUR = 86_400.0, 3_600.0
TINY = 1e-300  # a low clip that never bites


def columns(jobs):
    return (np.array([j.submit_time for j in jobs]), np.array([j.num_gpus for j in jobs]),
            np.array([j.duration for j in jobs]))


# --- Pareto durations -----------------------------------------------------------------------


def pareto_integral(alpha: float, xm: float, low: float, high: float) -> float:
    """E[clip(X, low, high)] = low + ∫_low^high P(X > x) dx, integrated numerically (x = e^y)."""
    sf = lambda x: 1.0 if x < xm else (xm / x) ** alpha  # noqa: E731
    a, b = math.log(low), math.log(high)
    pieces = [a, b] if not a < math.log(xm) < b else [a, math.log(xm), b]
    return low + sum(integrate.quad(lambda y: sf(math.exp(y)) * math.exp(y), lo, hi, limit=200)[0]
                     for lo, hi in zip(pieces, pieces[1:]))


PARETO_CLIPPED = [  # alpha, xm, low, high
    (2.5, 10.0, 1.0, 1e4),
    (1.5, 60.0, 100.0, 5e5),      # low above xm
    (1.0, 5.0, 1.0, 1e6),         # alpha exactly 1: the log case
    (1.0 + 1e-9, 5.0, 1.0, 1e6),  # next to it, where cancellation would bite
    (0.7, 30.0, 1.0, 86_400.0),   # infinite mean tamed by the high clip
    (0.3, 3.0, 3.0, 2e6),
    (2.0, 500.0, 1.0, 200.0),     # xm above high: every duration clips to high
]


@pytest.mark.parametrize("alpha, xm, low, high", PARETO_CLIPPED)
def test_pareto_mean_matches_numerical_integral(alpha, xm, low, high):
    """The closed-form clipped Pareto mean equals low + ∫ survival over [low, high] by quadrature."""
    d = Durations("pareto", (alpha, xm), low=low, high=high)
    assert d.mean() == pytest.approx(pareto_integral(alpha, xm, low, high), rel=1e-7)


@pytest.mark.parametrize("alpha, xm", [(1.5, 60.0), (3.0, 10.0), (1.05, 1.0)])
def test_pareto_unclipped_mean_is_textbook(alpha, xm):
    """Without clipping the mean is alpha xm / (alpha - 1)."""
    assert Durations("pareto", (alpha, xm), low=TINY).mean() == pytest.approx(alpha * xm / (alpha - 1), rel=1e-12)


@pytest.mark.parametrize("d", [
    Durations("pareto", (2.5, 10.0)),
    Durations("pareto", (0.7, 30.0), low=50.0, high=20_000.0),
    Durations("pareto", (1.2, 100.0), high=1e5),
], ids=["finite-variance", "clipped-both-sides", "clipped-above"])
def test_pareto_mean_matches_its_own_samples(d):
    """mean() is within 5 standard errors of the mean of 400,000 draws, all inside the clip range."""
    x = d.sample(np.random.default_rng(2024), 400_000)
    assert x.min() >= d.low and x.max() <= d.high
    assert abs(x.mean() - d.mean()) <= 5 * x.std(ddof=1) / math.sqrt(len(x))


def test_pareto_samples_follow_the_distribution():
    """Unclipped draws pass a KS test against scipy's Pareto(alpha, scale=xm); none is below xm."""
    x = Durations("pareto", (1.7, 42.0), low=TINY).sample(np.random.default_rng(5), 50_000)
    assert x.min() >= 42.0
    assert stats.kstest(x, stats.pareto(1.7, scale=42.0).cdf).pvalue > 1e-3


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_pareto_infinite_mean_is_an_error(alpha):
    """alpha <= 1 without a high clip has no mean: mean() and the arrival rate raise, naming the load."""
    d = Durations("pareto", (alpha, 10.0))
    with pytest.raises(GpusimError, match="offered load is undefined"):
        d.mean()
    with pytest.raises(GpusimError, match="infinite mean"):
        Workload(durations=d).arrival_rate(64)
    assert len(d.sample(np.random.default_rng(0), 10)) == 10  # sampling itself is fine


# --- empirical durations --------------------------------------------------------------------


def test_empirical_mean_is_mean_of_clipped_values():
    """The mean is that of the values after clipping: (1, 2, 3, 10) on [2, 5] → (2, 2, 3, 5) → 3."""
    assert Durations("empirical", (1.0, 2.0, 3.0, 10.0), low=2.0, high=5.0).mean() == 3.0
    assert Durations("empirical", (4.0, 8.0)).mean() == 6.0


def test_empirical_draws_values_with_replacement_uniformly():
    """Draws are only the given values, each about 1/k of the time, clipped; the sample mean matches."""
    values = (5.0, 50.0, 500.0, 5000.0)
    d = Durations("empirical", values, high=1000.0)
    x = d.sample(np.random.default_rng(3), 200_000)
    assert set(np.unique(x)) == {5.0, 50.0, 500.0, 1000.0}
    for v in (5.0, 50.0, 500.0, 1000.0):
        assert abs(np.mean(x == v) - 0.25) <= 5 * math.sqrt(0.25 * 0.75 / len(x))
    assert abs(x.mean() - d.mean()) <= 5 * x.std(ddof=1) / math.sqrt(len(x))


def test_durations_params_stored_as_float_tuple():
    """Parameters given as a list or numpy array are stored as a tuple of floats (hashable, comparable)."""
    d = Durations("empirical", np.array([3, 1, 2]))
    assert d.params == (3.0, 1.0, 2.0) and all(type(p) is float for p in d.params)
    assert hash(d) == hash(Durations("empirical", [3.0, 1.0, 2.0]))


# --- parsing ----------------------------------------------------------------------------------


def test_parse_new_kinds():
    """pareto:ALPHA,XM and empirical:V1,V2,... parse to the matching Durations."""
    assert Durations.parse("pareto:1.5,60") == Durations("pareto", (1.5, 60.0))
    assert Durations.parse("empirical:60,600,3600") == Durations("empirical", (60.0, 600.0, 3600.0))


@pytest.mark.parametrize("text", ["pareto:1", "pareto:1,2,3", "pareto:0,1", "pareto:1,0", "pareto:-1,5",
                                  "pareto:nan,1", "pareto:1,inf", "pareto:x,1", "empirical", "empirical:",
                                  "empirical:0,1", "empirical:-5", "empirical:1,nan", "empirical:1,inf"])
def test_parse_new_kinds_errors(text):
    """Wrong counts, non-numbers, non-finite or out-of-range values are one-line GpusimErrors."""
    with pytest.raises(GpusimError) as err:
        Durations.parse(text)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("params", [("a", 1.0), (True, 1.0), None, 5.0])
def test_durations_reject_non_numeric_params(params):
    """Text, bools or a non-sequence as parameters are GpusimErrors, not TypeErrors."""
    with pytest.raises(GpusimError):
        Durations("pareto", params)


# --- the default Poisson workload is unchanged ------------------------------------------------


def test_poisson_default_unchanged_for_a_seed():
    """Without diurnal the jobs equal an independent re-implementation of the original generator."""
    sizes = ((1, 0.6), (2, 0.2), (8, 0.2))
    w = Workload(jobs=2000, load=0.7, sizes=sizes, durations=Durations("exponential", (300.0,), low=1.0))
    gpus_total, seed = 48, 17
    # E[clip(X, 1, inf)] for X ~ Exp(mean 300) is 1 + 300 e^(-1/300); E[num_gpus] = 0.6 + 0.4 + 1.6.
    rate = 0.7 * gpus_total / (2.6 * (1 + 300 * math.exp(-1 / 300)))
    gaps = stream(seed, "arrivals").exponential(1 / rate, 2000)
    gaps[0] = 0.0
    submit = np.cumsum(gaps)
    gpus = stream(seed, "sizes").choice(np.array([1, 2, 8]), size=2000, p=np.array([0.6, 0.2, 0.2]))
    duration = np.clip(stream(seed, "durations").exponential(300.0, 2000), 1.0, math.inf)
    s, g, d = columns(w.generate(gpus_total, seed))
    assert np.allclose(s, submit, rtol=1e-12, atol=0) and np.array_equal(g, gpus) and np.array_equal(d, duration)


# --- diurnal arrivals -------------------------------------------------------------------------

PROFILE = (1, 0, 0, 0.5, 1, 2, 3, 4, 4, 3, 2, 1, 1, 1, 2, 3, 4, 4, 3, 2, 1, 1, 0.5, 1)


def diurnal_workload(jobs: int, origin: float = 0.0, profile=PROFILE) -> Workload:
    """Constant 100 s one-GPU jobs at rate 0.01/s on 1 GPU (load 1): 864 jobs a day."""
    return Workload(jobs=jobs, load=1.0, sizes=((1, 1.0),), durations=Durations("constant", (100.0,)),
                    diurnal=profile, origin=origin)


def whole_day_hours(submit: np.ndarray, origin: float) -> tuple[np.ndarray, int]:
    """Hour-of-day counts of arrivals after the first, over the whole days observed, and the days."""
    days = int(submit[-1] // DAY)
    t = submit[1:][submit[1:] < days * DAY]
    return np.bincount(((origin + t) % DAY // HOUR).astype(int), minlength=24), days


def test_diurnal_reproduces_hourly_profile_and_rate():
    """Over ~115 days, hourly counts fit the profile (chi-square), zero hours stay empty, and the
    daily total matches the mean rate within 5 standard errors."""
    submit, _, _ = columns(diurnal_workload(100_000).generate(1, 8))
    counts, days = whole_day_hours(submit, 0.0)
    m = np.array(PROFILE) / np.mean(PROFILE)
    expected = 0.01 * HOUR * days * m
    assert np.all(counts[m == 0] == 0)
    live = m > 0
    chi2 = np.sum((counts[live] - expected[live]) ** 2 / expected[live])
    assert stats.chi2.sf(chi2, live.sum()) > 1e-4
    assert abs(counts.sum() - expected.sum()) <= 5 * math.sqrt(expected.sum())


def test_diurnal_offered_load_hits_target():
    """A long diurnal workload offers the target load within 3% (whole days dominate the span)."""
    w = replace(diurnal_workload(60_000), durations=Durations("lognormal", (5.0, 1.0)),
                sizes=((1, 0.5), (4, 0.5)), load=0.6)
    assert offered_load(w.generate(32, 4), 32) == pytest.approx(0.6, rel=0.03)


@pytest.mark.parametrize("origin", [6 * HOUR, 1_505_797_600.0])
def test_diurnal_follows_the_origin_clock(origin):
    """With one non-zero hour (09:00), every arrival but the first is at clock hour 9 of origin + t."""
    profile = [0.0] * 24
    profile[9] = 1.0
    submit, _, _ = columns(diurnal_workload(3000, origin, profile).generate(1, 2))
    assert submit[0] == 0.0
    assert np.all((origin + submit[1:]) % DAY // HOUR == 9)
    if origin == 6 * HOUR:  # 09:00 on the clock is 03:00 after time 0
        assert np.all(submit[1:] % DAY // HOUR == 3)


def test_diurnal_uses_only_the_arrivals_stream():
    """Diurnal arrivals are deterministic per seed and leave sizes and durations as without diurnal."""
    plain = Workload(jobs=500, durations=Durations("exponential", (200.0,)))
    shaped = replace(plain, diurnal=PROFILE)
    a, b = shaped.generate(16, 9), shaped.generate(16, 9)
    assert a == b and a != shaped.generate(16, 10)
    s0, g0, d0 = columns(plain.generate(16, 9))
    s1, g1, d1 = columns(a)
    assert np.array_equal(g0, g1) and np.array_equal(d0, d1) and not np.array_equal(s0, s1)
    assert np.all(np.diff(s1) >= 0) and s1[0] == 0.0


def test_diurnal_is_normalised_to_mean_one():
    """Multipliers are stored with mean 1, so a scaled profile is the same workload with the same jobs."""
    w = diurnal_workload(200)
    assert math.fsum(w.diurnal) == pytest.approx(24.0, rel=1e-12)
    assert w == diurnal_workload(200, profile=tuple(5 * p for p in PROFILE))
    assert w.generate(1, 3) == diurnal_workload(200, profile=tuple(5 * p for p in PROFILE)).generate(1, 3)


@pytest.mark.parametrize("profile", [[1.0] * 23, [1.0] * 25, [-1.0] + [1.0] * 23, [math.nan] + [1.0] * 23,
                                     [math.inf] + [1.0] * 23, [0.0] * 24, ["1"] * 24, 5.0])
def test_diurnal_rejects_bad_profiles(profile):
    """Not 24 values, negative, non-finite, all zero, text or a scalar: one-line GpusimErrors."""
    with pytest.raises(GpusimError) as err:
        Workload(diurnal=profile)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("origin", [math.nan, math.inf, "0"])
def test_workload_rejects_bad_origin(origin):
    """origin must be a finite number of seconds."""
    with pytest.raises(GpusimError):
        Workload(origin=origin)


# --- offered_load -----------------------------------------------------------------------------


def job(i: int, submit: float, gpus: int = 1, duration: float = 10.0, **kw) -> Job:
    return Job(f"x{i}", submit, gpus, duration, **kw)


def test_offered_load_by_hand():
    """Work 2×100 + 1×300 + 4×25 = 600 GPU-s over a 100 s span on 3 GPUs is load 2."""
    jobs = [job(0, 0.0, 2, 100.0), job(1, 50.0, 1, 300.0), job(2, 100.0, 4, 25.0)]
    assert offered_load(jobs, 3) == pytest.approx(2.0, rel=1e-15)
    shifted = [replace(j, submit_time=j.submit_time + 1000) for j in jobs]  # only the span matters
    assert offered_load(shifted, 3) == pytest.approx(2.0, rel=1e-12)


@pytest.mark.parametrize("jobs", [[], [job(0, 5.0)], [job(0, 7.0), job(1, 7.0)]], ids=["none", "one", "zero-span"])
def test_offered_load_undefined_without_a_span(jobs):
    """No jobs, one job, or all submitted at once: the load is undefined, a one-line GpusimError."""
    with pytest.raises(GpusimError, match="undefined"):
        offered_load(jobs, 8)


@pytest.mark.parametrize("gpus", [0, -4, 2.5, True])
def test_offered_load_rejects_bad_cluster(gpus):
    """The cluster size must be a whole number of GPUs >= 1."""
    with pytest.raises(GpusimError):
        offered_load([job(0, 0.0), job(1, 1.0)], gpus)


# --- scale_load -------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [0.3, 0.8, 1.5])
def test_scale_load_on_the_bundled_sample(target):
    """The sample replayed at load L on 8x8 offers L, with ids, order, sizes and durations kept."""
    jobs = read_csv(traces.SAMPLE).jobs
    scaled = scale_load(jobs, 64, target)
    assert offered_load(scaled, 64) == pytest.approx(target, rel=1e-12)
    assert [j.job_id for j in scaled] == [j.job_id for j in jobs]
    assert [(j.num_gpus, j.duration) for j in scaled] == [(j.num_gpus, j.duration) for j in jobs]
    ratio = np.array([s.submit_time for s in scaled[1:]]) / np.array([j.submit_time for j in jobs[1:]])
    assert np.allclose(ratio, ratio[0], rtol=1e-12)
    assert (ratio[0] > 1) == (target < offered_load(jobs, 64))


def test_scale_load_keeps_deadline_slack_and_other_fields():
    """Deadlines move with their submit time (slack kept); user, vc and the rest are untouched."""
    jobs = [job(0, 0.0, 2, 50.0, deadline=500.0, user="u", vc="a"), job(1, 100.0, 1, 80.0, deadline=150.0),
            job(2, 200.0, 4, 30.0)]
    scaled = scale_load(jobs, 4, 0.1)  # offered load (100 + 80 + 120) / (4 × 200) = 0.375 → submits × 3.75
    assert [j.submit_time for j in scaled] == pytest.approx([0.0, 375.0, 750.0])
    assert scaled[0].deadline == pytest.approx(500.0) and scaled[1].deadline == pytest.approx(425.0)
    assert scaled[2].deadline is None and scaled[0].user == "u" and scaled[0].vc == "a"
    assert jobs[1].submit_time == 100.0  # the input is not changed


@pytest.mark.parametrize("load", [0, -0.5, math.nan, math.inf, True, "0.8"])
def test_scale_load_rejects_bad_loads(load):
    """A non-positive, non-finite or non-numeric load is a GpusimError."""
    with pytest.raises(GpusimError):
        scale_load([job(0, 0.0), job(1, 10.0)], 4, load)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.floats(0, 1e7), st.integers(1, 16), st.floats(0.5, 1e6)), min_size=2, max_size=40),
       gpus=st.integers(1, 4096), load=st.floats(1e-3, 1e3))
def test_scale_load_property(rows, gpus, load):
    """For any jobs with a positive span, the scaled jobs offer the requested load and keep their order."""
    jobs = sorted((job(i, s, g, d) for i, (s, g, d) in enumerate(rows)), key=lambda j: j.submit_time)
    if jobs[-1].submit_time - jobs[0].submit_time < 1e-3:
        return
    scaled = scale_load(jobs, gpus, load)
    # The scaled span is a difference of two submit times, each rounded to within half an ulp of its
    # magnitude: that, not the scaling, bounds the relative error when the span is tiny.
    times = [j.submit_time for j in scaled]
    span = max(times) - min(times)
    rounding = 2 * math.ulp(max(abs(t) for t in times)) / span
    assert offered_load(scaled, gpus) == pytest.approx(load, rel=max(1e-9, 4 * rounding))
    assert [j.job_id for j in scaled] == [j.job_id for j in jobs]
    assert all(a.submit_time <= b.submit_time for a, b in zip(scaled, scaled[1:]))


def test_synthetic_module_does_not_import_scipy():
    """Generating synthetic jobs (gpusim's run path) never loads scipy."""
    code = ("import sys; from traces.synthetic import Workload, Durations; "
            "Workload(jobs=50, durations=Durations('pareto', (1.5, 10.0)), diurnal=[1] * 24).generate(8, 0); "
            "assert 'scipy' not in sys.modules, 'scipy imported'")
    subprocess.run([sys.executable, "-c", code], check=True)

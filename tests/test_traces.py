"""Tests of the workload layer: the canonical CSV reader, synthetic workloads, the bundled sample."""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

import traces
from sim.errors import GpusimError
from traces.canonical import read_csv
from traces.synthetic import Durations, Workload, parse_sizes

PHILLY = Path(__file__).resolve().parents[2] / "shared" / "traces" / "philly" / "philly.csv"


def write(tmp_path: Path, text: str, name: str = "trace.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- read_csv: the canonical CSV -----------------------------------------------------------


def test_read_csv_keeps_fields_and_optional_columns(tmp_path):
    """Required and optional columns land in the Job fields; missing optional cells get defaults."""
    path = write(tmp_path, "job_id,submit_time,num_gpus,duration,model,user,vc,priority,deadline\n"
                           "a,0,2,30.5,resnet,alice,vc1,3,100\n"
                           "b,10,1,5,,,,,\n")
    a, b = read_csv(path).jobs
    assert (a.job_id, a.submit_time, a.num_gpus, a.duration) == ("a", 0.0, 2, 30.5)
    assert (a.model, a.user, a.vc, a.priority, a.deadline) == ("resnet", "alice", "vc1", 3, 100.0)
    assert (b.model, b.user, b.vc, b.priority, b.deadline) == (None, None, None, 0, None)


def test_read_csv_sorts_stably_and_rebases_times(tmp_path):
    """Rows are sorted by submit time with ties in file order; times (and deadlines) shift to start at 0."""
    path = write(tmp_path, "job_id,submit_time,num_gpus,duration,deadline\n"
                           "c,700,1,1,\n"
                           "x,200,1,1,900\n"
                           "a,200,1,1,\n"
                           "b,450,1,1,\n")
    jobs = read_csv(path).jobs
    assert [j.job_id for j in jobs] == ["x", "a", "b", "c"]
    assert [j.submit_time for j in jobs] == [0.0, 0.0, 250.0, 500.0]
    assert jobs[0].deadline == 700.0


def test_read_csv_ignores_blank_lines(tmp_path):
    """Empty lines, lines of blanks and lines of empty cells do not count as rows."""
    path = write(tmp_path, "job_id,submit_time,num_gpus,duration\n\na,0,1,1\n   \n,,,\nb,1,1,1\n\n")
    assert [j.job_id for j in read_csv(path).jobs] == ["a", "b"]


def test_read_csv_notes_unknown_columns(tmp_path):
    """An unknown column is reported in the trace's notes, not silently dropped."""
    path = write(tmp_path, "job_id,submit_time,num_gpus,duration,colour\na,0,1,1,red\n")
    trace = read_csv(path)
    assert len(trace.jobs) == 1
    assert any("colour" in note for note in trace.notes)


def test_read_csv_without_unknown_columns_has_no_notes(tmp_path):
    """A trace of known columns only produces no notes."""
    assert read_csv(write(tmp_path, "job_id,submit_time,num_gpus,duration,vc\na,0,1,1,v\n")).notes == ()


@pytest.mark.parametrize("body, line, words", [
    ("a,0,x,1\n", 2, ["num_gpus"]),
    ("a,0,1,1\nb,zero,1,1\n", 3, ["submit_time"]),
    ("a,0,1,-5\n", 2, ["duration"]),
    ("a,0,1,0\n", 2, ["duration"]),
    ("a,0,1,nan\n", 2, ["duration"]),
    ("a,0,-1,1\n", 2, ["num_gpus"]),  # 0 is a CPU-only job (resource model), not an error
    ("a,0,1.5,1\n", 2, ["num_gpus"]),
    ("a,0,1\n", 2, ["fields"]),
    ("a,0,1,1,9\n", 2, ["fields"]),
    ("a,0,,1\n", 2, ["num_gpus"]),
    ("a,0,1,1\nb,1,1,1\na,2,1,1\n", 4, ["duplicate", "'a'", "line 2"]),
], ids=["gpus-text", "submit-text", "negative-duration", "zero-duration", "nan-duration", "zero-gpus",
        "fractional-gpus", "too-few-fields", "too-many-fields", "empty-cell", "duplicate-id"])
def test_read_csv_bad_row_names_file_and_line(tmp_path, body, line, words):
    """A malformed row raises GpusimError naming file:line and what is wrong."""
    path = write(tmp_path, "job_id,submit_time,num_gpus,duration\n" + body)
    with pytest.raises(GpusimError) as info:
        read_csv(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}:")
    for word in words:
        assert word in message


@pytest.mark.parametrize("text, words", [
    ("job_id,submit_time,num_gpus\na,0,1\n", ["missing", "duration"]),
    ("", ["empty"]),
    ("job_id,submit_time,num_gpus,duration\n\n", ["no jobs"]),
], ids=["missing-column", "empty-file", "header-only"])
def test_read_csv_bad_file(tmp_path, text, words):
    """A missing column, an empty file and a header without rows are errors naming the file."""
    path = write(tmp_path, text)
    with pytest.raises(GpusimError, match=str(path)) as info:
        read_csv(path)
    for word in words:
        assert word in str(info.value)


def test_read_csv_missing_file(tmp_path):
    """A file that does not exist is a GpusimError naming it."""
    with pytest.raises(GpusimError, match="nope.csv"):
        read_csv(tmp_path / "nope.csv")


def test_read_csv_not_utf8(tmp_path):
    """Bytes that are not UTF-8 give a GpusimError, not a UnicodeDecodeError."""
    path = tmp_path / "latin1.csv"
    path.write_bytes("job_id,submit_time,num_gpus,duration\nj\xe9,0,1,1\n".encode("latin-1"))
    with pytest.raises(GpusimError, match=str(path)):
        read_csv(path)


# --- Durations ------------------------------------------------------------------------------

CASES = {
    "exponential": Durations("exponential", (3600.0,)),
    "exponential-clipped": Durations("exponential", (100.0,), low=50.0, high=300.0),
    "lognormal-default": Durations(),
    "lognormal-clipped": Durations("lognormal", (2.0, 0.5), low=5.0, high=12.0),
    "lognormal-zero-sigma": Durations("lognormal", (3.0, 0.0)),
    "constant": Durations("constant", (10.0,)),
    "constant-below-low": Durations("constant", (0.5,)),
    "constant-above-high": Durations("constant", (100.0,), high=50.0),
}


def independent_mean(d: Durations) -> float:
    """E[clip(X, low, high)] = low + ∫_low^high P(X > x) dx, integrated numerically with scipy."""
    a, b = d.low, d.high
    if d.kind == "constant":
        return float(np.clip(d.params[0], a, b))
    if d.kind == "exponential":
        dist = stats.expon(scale=d.params[0])
    else:
        mu, sigma = d.params
        if sigma == 0:
            return float(np.clip(math.exp(mu), a, b))
        dist = stats.lognorm(s=sigma, scale=math.exp(mu))
    # Substituting x = e^y keeps the heavy lognormal tail smooth for quad; beyond the 1 - 1e-18
    # quantile the tail adds nothing visible at rel=1e-6.
    upper = min(math.log(b), math.log(dist.isf(1e-18)))
    return a + integrate.quad(lambda y: dist.sf(math.exp(y)) * math.exp(y), math.log(a), upper, limit=200)[0]


@pytest.mark.parametrize("name", CASES)
def test_durations_mean_matches_its_own_samples(name):
    """mean() is within 5 standard errors of the mean of 400,000 draws from sample()."""
    d = CASES[name]
    x = d.sample(np.random.default_rng(12345), 400_000)
    assert x.min() >= d.low and x.max() <= d.high
    se = x.std(ddof=1) / math.sqrt(len(x))
    assert abs(x.mean() - d.mean()) <= 5 * se + 1e-12 * d.mean()


@pytest.mark.parametrize("name", CASES)
def test_durations_mean_matches_numerical_integral(name):
    """mean() equals low + ∫ survival over [low, high], computed independently with scipy."""
    d = CASES[name]
    assert d.mean() == pytest.approx(independent_mean(d), rel=1e-6)


def test_durations_mean_textbook_values():
    """Without effective clipping the means are the textbook ones: m, exp(mu + sigma²/2), c."""
    tiny = 1e-300
    assert Durations("exponential", (250.0,), low=tiny).mean() == pytest.approx(250.0, rel=1e-12)
    assert Durations("lognormal", (4.0, 0.8), low=tiny).mean() == pytest.approx(math.exp(4.0 + 0.32), rel=1e-9)
    assert Durations("constant", (42.0,)).mean() == 42.0
    # Exponential clipped below only: E[max(X, a)] = a + m e^(-a/m).
    assert Durations("exponential", (100.0,), low=30.0).mean() == pytest.approx(30 + 100 * math.exp(-0.3))


def test_durations_parse_valid():
    """KIND:P1[,P2] text builds the matching Durations with default clipping."""
    assert Durations.parse("lognormal:7,1.5") == Durations("lognormal", (7.0, 1.5))
    assert Durations.parse("exponential:3600") == Durations("exponential", (3600.0,))
    assert Durations.parse("constant:5") == Durations("constant", (5.0,))


@pytest.mark.parametrize("text", ["weibull:1", "lognormal:x", "lognormal:7", "lognormal", "exponential:1,2",
                                  "exponential:0", "exponential:-1", "constant:0", "lognormal:7,-1", "", ":"])
def test_durations_parse_errors(text):
    """Unknown kinds, wrong parameter counts, non-numbers and out-of-range values are GpusimErrors."""
    with pytest.raises(GpusimError):
        Durations.parse(text)


@pytest.mark.parametrize("text", ["exponential:nan", "exponential:inf", "lognormal:nan,1", "lognormal:7,inf",
                                  "constant:inf"])
def test_durations_parse_rejects_non_finite(text):
    """NaN or infinite distribution parameters are GpusimErrors."""
    with pytest.raises(GpusimError):
        Durations.parse(text)


@pytest.mark.parametrize("low, high", [(0.0, 10.0), (-1.0, 10.0), (10.0, 5.0)])
def test_durations_bad_clip_range(low, high):
    """The clip range must satisfy 0 < low <= high."""
    with pytest.raises(GpusimError):
        Durations("exponential", (10.0,), low=low, high=high)


# --- sizes ----------------------------------------------------------------------------------


def test_parse_sizes_valid():
    """GPUS:PROB pairs parse in order; a bare count has weight 1."""
    assert parse_sizes("1:0.7,2:0.1,4:0.2") == ((1, 0.7), (2, 0.1), (4, 0.2))
    assert parse_sizes("8") == ((8, 1.0),)


@pytest.mark.parametrize("text", ["abc", "1:x", "0:1", "-2:1", "1:-1", "1:0,2:0", "", "1:0.5,,2:0.5", "1.5:1"])
def test_parse_sizes_errors(text):
    """Malformed entries, GPU counts below 1, negative or all-zero probabilities are GpusimErrors."""
    with pytest.raises(GpusimError):
        parse_sizes(text)


# --- Workload -------------------------------------------------------------------------------


def columns(jobs):
    return (np.array([j.submit_time for j in jobs]), np.array([j.num_gpus for j in jobs]),
            np.array([j.duration for j in jobs]))


def test_workload_is_deterministic_per_seed():
    """The same seed gives identical jobs; another seed gives different ones."""
    w = Workload(jobs=500)
    assert w.generate(64, 7) == w.generate(64, 7)
    assert w.generate(64, 7) != w.generate(64, 8)


def test_workload_shape():
    """Ids are j0, j1, ...; the first arrival is at 0; arrivals never go back in time; sizes come from the mix."""
    w = Workload(jobs=300, sizes=((2, 1.0), (4, 3.0)))
    jobs = w.generate(16, 3)
    submit, gpus, duration = columns(jobs)
    assert [j.job_id for j in jobs] == [f"j{i}" for i in range(300)]
    assert submit[0] == 0.0
    assert np.all(np.diff(submit) >= 0)
    assert set(gpus) <= {2, 4}
    assert np.all(duration >= w.durations.low)


def test_workload_size_frequencies_follow_normalised_weights():
    """Weights 2:1:1 give each size its normalised share, within 5 standard errors."""
    n = 40_000
    _, gpus, _ = columns(Workload(jobs=n, sizes=parse_sizes("1:2,4:1,8:1")).generate(64, 11))
    for size, p in ((1, 0.5), (4, 0.25), (8, 0.25)):
        assert abs(np.mean(gpus == size) - p) <= 5 * math.sqrt(p * (1 - p) / n)


def test_workload_streams_are_independent():
    """Arrival, size and duration draws come from separate streams of the seed."""
    base = Workload(jobs=400, sizes=((1, 0.5), (3, 0.5)), durations=Durations("exponential", (100.0,)))
    same_mean_sizes = Workload(jobs=400, sizes=((2, 1.0),), durations=base.durations)
    other_sizes = Workload(jobs=400, sizes=((1, 0.9), (8, 0.1)), durations=base.durations)
    other_durations = Workload(jobs=400, sizes=base.sizes, durations=Durations("exponential", (300.0,)))
    s0, g0, d0 = columns(base.generate(32, 5))
    s1, g1, d1 = columns(same_mean_sizes.generate(32, 5))
    s2, g2, d2 = columns(other_sizes.generate(32, 5))
    s3, g3, d3 = columns(other_durations.generate(32, 5))
    # A size mix with the same mean GPU count leaves arrival times and durations untouched.
    assert np.array_equal(s0, s1) and np.array_equal(d0, d1)
    # Another mean only rescales the same arrival draws (the rate changes), durations stay.
    ratio = base.arrival_rate(32) / other_sizes.arrival_rate(32)
    assert np.allclose(s2, s0 * ratio, rtol=1e-12) and np.array_equal(d0, d2)
    # Other durations leave the sizes alone and rescale the arrivals.
    assert np.array_equal(g0, g3)
    assert np.allclose(s3, s0 * base.arrival_rate(32) / other_durations.arrival_rate(32), rtol=1e-12)


def test_workload_streams_are_uncorrelated():
    """Inter-arrival gaps, sizes and durations of one seed are not correlated with each other."""
    w = Workload(jobs=20_000, sizes=((1, 0.5), (2, 0.5)), durations=Durations("exponential", (100.0,), low=1e-9))
    submit, gpus, duration = columns(w.generate(8, 9))
    gaps = np.diff(submit)
    bound = 5 / math.sqrt(len(gaps))  # about 5 standard errors of a correlation under independence
    for x, y in ((gaps, duration[1:]), (gaps, gpus[1:]), (gpus, duration)):
        assert abs(np.corrcoef(x, y)[0, 1]) < bound


def test_workload_arrival_rate_formula():
    """arrival_rate = load × GPUs / (E[num_gpus] × E[duration])."""
    w = Workload(load=0.6, sizes=((1, 3.0), (4, 1.0)), durations=Durations("constant", (50.0,)))
    assert w.arrival_rate(20) == pytest.approx(0.6 * 20 / ((1 * 0.75 + 4 * 0.25) * 50.0))


@pytest.mark.parametrize("workload", [
    Workload(jobs=100_000, load=0.7),
    Workload(jobs=100_000, load=1.3, sizes=((1, 0.5), (8, 0.5)), durations=Durations("exponential", (900.0,))),
], ids=["lognormal-default", "exponential-heavy-load"])
def test_workload_offered_load_hits_target(workload):
    """Σ num_gpus × duration / (cluster GPUs × arrival span) is within 5% of the target load."""
    jobs = workload.generate(64, 2024)
    submit, gpus, duration = columns(jobs)
    offered = float(np.sum(gpus * duration)) / (64 * (submit[-1] - submit[0]))
    assert offered == pytest.approx(workload.load, rel=0.05)
    assert (len(jobs) - 1) / (submit[-1] - submit[0]) == pytest.approx(workload.arrival_rate(64), rel=0.02)


@pytest.mark.parametrize("kwargs", [{"jobs": 0}, {"jobs": -3}, {"load": 0.0}, {"load": -0.5}, {"load": math.nan}])
def test_workload_rejects_bad_settings(kwargs):
    """At least one job and a positive load are required."""
    with pytest.raises(GpusimError):
        Workload(**kwargs)


# --- the bundled sample and the real Philly trace -------------------------------------------


def test_bundled_sample_as_documented():
    """The sample holds 7,423 jobs of VC b436b2, from time 0, offering about 0.88 load on 8x8 (its README)."""
    trace = read_csv(traces.SAMPLE)
    jobs = trace.jobs
    assert len(jobs) == 7423
    assert trace.notes == ()
    assert {j.vc for j in jobs} == {"b436b2"}
    assert jobs[0].submit_time == 0.0
    span = jobs[-1].submit_time - jobs[0].submit_time
    load = sum(j.num_gpus * j.duration for j in jobs) / (64 * span)
    assert load == pytest.approx(0.88, abs=0.01)


def philly_b436b2() -> list[tuple[float, int, float]]:
    """VC b436b2 of the shared Philly trace as (submit s from first, num_gpus, duration s), submit-sorted."""
    with PHILLY.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["cluster"] == "b436b2"]

    def stamp(r):
        return dt.datetime.fromisoformat(r["timestamp"]).replace(tzinfo=dt.timezone.utc).timestamp()

    rows.sort(key=stamp)  # stable: file order on ties
    t0 = stamp(rows[0])
    return [(stamp(r) - t0, int(r["num_gpus"]), float(r["duration"])) for r in rows]


def test_bundled_sample_matches_real_philly_trace():
    """The sample is VC b436b2 of ../shared/traces/philly/philly.csv: same jobs, sizes and durations, in order."""
    if not PHILLY.exists():
        pytest.skip(f"{PHILLY} not present")
    expected = philly_b436b2()
    jobs = read_csv(traces.SAMPLE).jobs
    assert len(expected) == len(jobs) == 7423
    assert [g for _, g, _ in expected] == [j.num_gpus for j in jobs]
    assert np.allclose([d for _, _, d in expected], [j.duration for j in jobs], rtol=1e-14, atol=0)
    assert np.allclose([s for s, _, _ in expected], [j.submit_time for j in jobs], rtol=1e-14, atol=0)

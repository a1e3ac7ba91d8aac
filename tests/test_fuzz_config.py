"""Fuzzing the loaders of settings files: TOML run configs, TOML sweep specs, JSON calibration
profiles and JSON workload models. Arbitrary bytes and documents built from each file's own keys
with drawn values (wrong types, huge and non-finite numbers, nested tables where scalars belong)
must end in a usable result or one clean error (a GpusimError of one line naming the file).

Each loader is followed as far as the CLI takes it before any simulation: a run config becomes a
RunConfig, a sweep spec is expanded into its runs, a profile is bound to a cluster and asked for
step times, durations and speeds, and a workload model synthesizes jobs.
"""

from __future__ import annotations

import datetime
import json
import math

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import policies
from sim.errors import GpusimError
from sim.experiment import RunConfig, load_config
from sim.model import Cluster, Job
from sim.sweep import load_spec

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def clean(call, path):
    """``call()``'s result, or None after a clean error: one line that names ``path``."""
    try:
        result = call()
    except GpusimError as err:
        message = str(err)
        assert len(message.splitlines()) == 1, message  # one line: no \n, \r, \x85, \u2028...
        assert str(path) in message, message
        event("clean error")
        return None
    event("loaded")
    return result


# --- writing TOML and JSON from drawn values ---------------------------------------------------------

# No ":" in drawn text: a value like "os:abort" where a module:Class may go (policy, autoscale.name)
# would be imported and run (see docs/security.md); the sampled values below hold only harmless ones.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=":"), max_size=10)


def toml(value) -> str:
    """A TOML literal for a value tomllib can produce (inline tables and arrays only)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):  # a basic string: JSON's escapes, plus DEL, which TOML wants escaped
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml(str(k))} = {toml(v)}" for k, v in value.items()) + "}"


def toml_document(table: dict) -> str:
    return "".join(f"{toml(str(k))} = {toml(v)}\n" for k, v in table.items())


SCALARS = st.one_of(
    st.booleans(), st.integers(-3, 100), st.integers(), st.floats(), TEXT,
    st.sampled_from(["fifo", "srtf", "tiresias", "8x8", "2x4", "1x2:V100", "pool", "consolidated", "stop", "skip",
                     "canonical", "swf", "gavel", "none", "lognormal:7,1.5", "exponential:600", "1:0.7,2:0.3",
                     "../trace.csv", "", "0x8", "8x0"]),
    st.dates(), st.datetimes(), st.times(),
)
ANY = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                   max_leaves=8)
NUMBER = st.one_of(st.integers(-2, 10), st.floats(), st.sampled_from([0, 0.5, 1e308, -1.0, 2**64]))


@st.composite
def table_of(draw, keys: dict, extra: tuple[str, ...] = ("colour",), max_size: int = 6,
             required: tuple[str, ...] = ()) -> dict:
    """A table of the ``required`` keys and some others of ``keys`` (name → strategy of plausible
    values), in which up to two keys are then disturbed: dropped, or given any value at all; and
    sometimes an unknown key (one of ``extra``). Disturbing few keys keeps most tables close to
    valid, so that the checks behind the first ones are reached too."""
    names = list(required) + [k for k in draw(st.lists(st.sampled_from(list(keys)), max_size=max_size, unique=True))
                              if k not in required]
    table = {k: draw(keys[k]) for k in names}
    for _ in range(draw(st.integers(0, 2))):
        if table:
            key = draw(st.sampled_from(sorted(table)))
            if draw(st.booleans()):
                del table[key]
            else:
                table[key] = draw(ANY)
    if extra and draw(st.sampled_from(range(16))) == 7:  # 1 in 16 (not the first value: Hypothesis favours it)
        table[draw(st.sampled_from(extra))] = draw(ANY)
    return table


def write(tmp_path_factory, name: str, text: str | bytes):
    path = tmp_path_factory.mktemp("cfg") / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


# --- run configurations (gpusim run/compare --config) ----------------------------------------------

POLICY_NAMES = sorted(policies.available())
DISTRIBUTION = st.sampled_from(["exponential:604800", "constant:7200", "weibull:0.7,100000", "lognormal:7,1.5",
                                "exponential:0", "x:1", ""])
FAULTS = table_of({"mtbf": DISTRIBUTION | st.dictionaries(st.sampled_from(["V100", "*"]), DISTRIBUTION, max_size=2),
                   "repair": DISTRIBUTION | st.dictionaries(st.sampled_from(["V100", "*"]), DISTRIBUTION, max_size=2),
                   "schedule": st.just("/nonexistent/outages.csv"), "checkpoint_interval": NUMBER,
                   "checkpoint_cost": NUMBER, "restart_cost": NUMBER}, max_size=3)
AUTOSCALE = table_of({"name": st.sampled_from(["queue", "nope", "no_such_module_xyz:Scaler"]), "interval": NUMBER,
                      "idle_timeout": NUMBER, "min_nodes": NUMBER, "initial_nodes": NUMBER,
                      "provisioning_delay": NUMBER, "node_hour_cost": NUMBER | st.dictionaries(
                          st.sampled_from(["V100", "K80"]), NUMBER, max_size=2),
                      "args": st.dictionaries(TEXT, ANY, max_size=2)}, max_size=3)
SYNTHETIC = {"jobs": st.integers(-1, 50), "load": NUMBER, "sizes": st.sampled_from(["1:0.7,2:0.3", "1:1", "0:1", "x"]),
             "durations": st.sampled_from(["lognormal:7,1.5", "exponential:600", "constant:5", "pareto:0,1", "x:1"]),
             "min_duration": NUMBER, "max_duration": NUMBER, "diurnal": st.lists(NUMBER, min_size=23, max_size=25)}
RUN_KEYS = {
    "trace": st.sampled_from(["t.csv", "", "/nonexistent/x.swf"]), "synthetic": table_of(SYNTHETIC),
    "cluster": st.sampled_from(["8x8", "2x4:V100,1x2", "0x1", "1x", "8y8", "nodes.csv", "c.toml"]), "format": st.sampled_from(["swf", "nope"]),
    "vcs": st.lists(st.sampled_from(["vcA", "vcB"]) | ANY, max_size=2), "window_start": NUMBER, "window_end": NUMBER,
    "on_error": st.sampled_from(["stop", "skip", "ignore"]), "procs_per_gpu": NUMBER, "scale_load": NUMBER,
    "calibration": st.sampled_from(["gavel", "none", "p.json"]), "assign_models": st.booleans(),
    # registered names only: an outside module:Class is imported, and importing runs its code
    "policy": st.sampled_from([*POLICY_NAMES, "nope", "no_such_module_xyz:Policy"]),
    "policy_args": st.dictionaries(st.sampled_from(["thresholds", "preemptive", "quantum", "x"]), ANY, max_size=2),
    "placement": st.sampled_from(["pool", "consolidated", "nope"]), "seed": NUMBER, "restart_overhead": NUMBER,
    "until": NUMBER, "drop_oversize": st.booleans(), "resources": st.booleans(),
    "sharing": st.sampled_from(["best-fit", "frag", "nope"]), "faults": FAULTS, "autoscale": AUTOSCALE, "skew": NUMBER,
}


def test_run_config_keys_are_all_fuzzed():
    """The generator knows every RunConfig setting (a new setting must be added above)."""
    from dataclasses import fields

    assert set(RUN_KEYS) == {f.name for f in fields(RunConfig)}


def _run_config(path):
    """What gpusim run does with --config before simulating: load the file (each setting checked
    on its own), then check the settings together and the policy with its arguments."""
    settings = clean(lambda: load_config(path), path)
    if settings is None:
        return None
    try:
        config = RunConfig(**settings)
        policies.make(config.policy, dict(config.policy_args))
    except GpusimError as err:  # between settings: names them, not the file (flags take part too)
        message = str(err)
        assert len(message.splitlines()) == 1, message
        words = {w for key in settings for w in (key, key.replace("_", " "), key.split("_")[0])}
        assert any(w in message for w in words), (message, sorted(settings))
        event("clean error between settings")
        return None
    return config


@FUZZ
@given(data=st.binary(max_size=300))
def test_run_config_arbitrary_bytes(tmp_path_factory, data):
    """Any bytes as a --config file: settings or one clean error."""
    _run_config(write(tmp_path_factory, "run.toml", data))


@FUZZ
@given(table=table_of(RUN_KEYS, max_size=8))
def test_run_config_documents(tmp_path_factory, table):
    """A TOML document of RunConfig's keys with drawn values: a RunConfig the policy accepts, or one
    clean error naming the file and the key (or, between settings, the keys)."""
    _run_config(write(tmp_path_factory, "run.toml", toml_document(table)))


# --- sweep specs (gpusim sweep) ----------------------------------------------------------------------

SPEC_KEYS = {
    "name": TEXT, "seeds": st.integers(-1, 3) | st.lists(st.integers(-1, 5), max_size=3),
    "traces": st.lists(st.sampled_from(["t.csv", "/x/t.swf"]) | table_of(
        {"path": st.just("t.csv"), "format": st.sampled_from(["swf", "nope"]), "vcs": st.lists(TEXT, max_size=2),
         "window_start": NUMBER, "window_end": NUMBER, "on_error": st.sampled_from(["skip", "x"]),
         "procs_per_gpu": NUMBER}), max_size=2),
    "synthetic": table_of(SYNTHETIC), "clusters": st.lists(st.sampled_from(["2x4", "8x8", "0x0"]) | ANY, max_size=2),
    "policies": st.lists(st.sampled_from(POLICY_NAMES) | table_of(
        {"name": st.sampled_from(POLICY_NAMES), "args": st.dictionaries(TEXT, ANY, max_size=2), "label": TEXT}),
        max_size=3),
    "loads": st.lists(NUMBER | st.none().map(lambda _: 0.5), max_size=2),
    "placements": st.lists(st.sampled_from(["pool", "consolidated", "nope"]), max_size=2),
    "calibration": st.sampled_from(["gavel", "none", "p.json"]), "assign_models": st.booleans(),
    "restart_overhead": NUMBER, "until": NUMBER, "drop_oversize": st.booleans(), "faults": FAULTS,
    "autoscale": AUTOSCALE, "resources": st.booleans(), "sharing": st.sampled_from(["best-fit", "frag", "nope"]),
    "skew": NUMBER,
    "trim": table_of({"first": NUMBER, "last": NUMBER, "start": NUMBER, "end": NUMBER}),
    "combinations": st.lists(table_of({"trace": st.just("t.csv"), "cluster": st.just("2x4"),
                                       "policy": st.sampled_from(POLICY_NAMES), "load": NUMBER,
                                       "placement": st.just("pool")}), max_size=2),
}


def test_sweep_keys_are_all_fuzzed():
    """The generator knows every top-level key of a sweep spec."""
    from sim.sweep import _TOP

    assert set(SPEC_KEYS) == _TOP


def _expanded(path):
    from sim.sweep import expand

    spec, _ = load_spec(path)
    return expand(spec, path)


@FUZZ
@given(data=st.binary(max_size=300))
def test_sweep_spec_arbitrary_bytes(tmp_path_factory, data):
    """Any bytes as a sweep spec: its runs or one clean error."""
    path = write(tmp_path_factory, "exp.toml", data)
    clean(lambda: _expanded(path), path)


@FUZZ
@given(table=table_of(SPEC_KEYS, max_size=7))
def test_sweep_spec_documents(tmp_path_factory, table):
    """A TOML spec of the sweep's keys with drawn values: runs with distinct ids, or one clean error."""
    path = write(tmp_path_factory, "exp.toml", toml_document(table))
    runs = clean(lambda: _expanded(path), path)
    if runs is not None:
        assert len({r.run_id for r in runs}) == len(runs)
        assert all(isinstance(r.config, RunConfig) for r in runs)


# --- calibration profiles (--calibration) ------------------------------------------------------------

FINITE = st.floats(0, 10, allow_nan=False)
# Step-time terms: ordinary seconds and values a profile must refuse (not astronomically large or
# subnormal ones, whose products overflow in the speed model rather than in the loader).
TERM = st.floats(1e-3, 10) | st.sampled_from([0.0, 0, -1.0, math.nan, math.inf, True, "1"])
MEASUREMENT = {"model": st.sampled_from(["resnet50", "vgg16"]), "gpu_type": st.sampled_from(["V100", "K80", "cpu"]),
               "batch_size": st.integers(1, 64) | st.just(0), "num_gpus": st.integers(1, 4) | st.just(0),
               "step_time": TERM, "step_time_iqr": TERM, "repeats": st.integers(1, 5), "steps": st.integers(1, 5),
               "consolidated": st.booleans(), "params": st.integers(0, 10**8) | st.none(),
               "input_shape": st.lists(st.integers(1, 224), max_size=3) | st.none()}
PER_TYPE = st.dictionaries(st.sampled_from(["V100", "K80", "P100", "cpu"]),
                           table_of({"a": TERM, "b": TERM, "points": st.integers(0, 9)}, (), required=("a", "b")),
                           min_size=1, max_size=3)
FIT = table_of({"per_type": PER_TYPE, "params": st.integers(0, 10**8) | st.none(), "notes": st.lists(TEXT, max_size=1),
                "comm": table_of({"intra_s": TERM | st.none(), "inter_s": TERM | st.none()}, ()),
                "rmse_rel": FINITE}, (), required=("per_type", "comm"))
PROFILE = {"format": st.just("gpusim-profile"), "version": st.just(1), "source": TEXT,
           "device": st.dictionaries(TEXT, ANY, max_size=2), "versions": st.dictionaries(TEXT, TEXT, max_size=2),
           "date": TEXT | st.none(), "settings": st.dictionaries(TEXT, ANY, max_size=2),
           "measurements": st.lists(table_of(MEASUREMENT, (), max_size=3, required=tuple(MEASUREMENT)[:5]), max_size=3),
           "fits": st.dictionaries(st.sampled_from(["resnet50", "vgg16"]), FIT, min_size=1, max_size=2),
           "reference_gpu_type": st.sampled_from(["V100", "K80", "TPU"]) | st.none()}


def json_text(value) -> str:
    """JSON as Python writes it, NaN and Infinity included (json.loads reads them back)."""
    def plain(x):
        if isinstance(x, dict):
            return {str(k): plain(v) for k, v in x.items()}
        if isinstance(x, list):
            return [plain(v) for v in x]
        if isinstance(x, (datetime.datetime, datetime.date, datetime.time)):
            return x.isoformat()
        return x
    return json.dumps(plain(value))


def _calibrated(path):
    """Load the profile (errors name the file), then bind it to a mixed cluster and use it the
    way a calibrated run does (errors about the profile as a whole are one line)."""
    from calibrate.profile import load
    from calibrate.speed import Calibration, assign_models

    profile = clean(lambda: load(path), path)
    if profile is None:
        return None
    try:
        cal = Calibration(profile, Cluster.parse("1x4:V100,1x2:K80"))
        jobs = assign_models([Job("a", 0.0, 1, 60.0), Job("b", 0.0, 4, 600.0)], cal)
        jobs = cal.durations(jobs + (Job("c", 0.0, 2, None, model=jobs[0].model, batch_size=32, iterations=100.0),))
    except GpusimError as err:  # no fits, no reference type, no speed for a GPU type...
        assert len(str(err).splitlines()) == 1, str(err)
        event("clean error using the profile")
        return None
    for job in jobs:
        assert math.isfinite(job.duration) and job.duration > 0, job
        for gpus in ((0,), (4,), (0, 1), (3, 4), (0, 1, 2, 3)):
            if len(gpus) == job.num_gpus:
                rate = cal.speed(job, gpus)
                assert math.isfinite(rate) and rate > 0, (job, gpus, rate)
    return profile


@FUZZ
@given(data=st.binary(max_size=300))
def test_profile_arbitrary_bytes(tmp_path_factory, data):
    """Any bytes as a calibration profile: a profile or one clean error."""
    _calibrated(write(tmp_path_factory, "p.json", data))


@FUZZ
@given(table=table_of(PROFILE, max_size=4, required=tuple(PROFILE)))
def test_profile_documents(tmp_path_factory, table):
    """A JSON profile of the format's keys with drawn values: a profile a calibrated run can use
    (positive finite speeds), or one clean error naming the file."""
    _calibrated(write(tmp_path_factory, "p.json", json_text(table)))


# --- workload models (gpusim trace synth --from) --------------------------------------------------------

MODEL = {"kind": st.just("gpusim workload model"), "version": st.just(1),
         "sizes": st.lists(st.lists(NUMBER, min_size=2, max_size=2) | ANY, max_size=3),
         "durations": table_of({"chosen": st.sampled_from(["lognormal", "exponential", "empirical", "constant", "x"]),
                                "candidates": st.dictionaries(st.sampled_from(["lognormal", "exponential", "constant"]),
                                                              table_of({"params": st.lists(NUMBER, max_size=3)}, ()),
                                                              max_size=2),
                                "quantiles": table_of({"values": st.lists(NUMBER, max_size=4)}, ()),
                                "low": NUMBER | st.none(), "high": NUMBER | st.none()}, ()),
         "arrivals": table_of({"rate": NUMBER, "diurnal": st.lists(NUMBER, min_size=23, max_size=25) | st.none()}, ())}


def _synthesized(path):
    from traces.fit import load_model, synthesize

    jobs = synthesize(load_model(path), 20, 8, 0)
    assert len(jobs) == 20
    return jobs


@FUZZ
@given(data=st.binary(max_size=300) | table_of(MODEL, max_size=6).map(json_text).map(str.encode))
def test_workload_model(tmp_path_factory, data):
    """Any bytes, or a JSON model of the format's keys with drawn values: jobs or one clean error."""
    path = write(tmp_path_factory, "m.json", data)
    clean(lambda: _synthesized(path), path)


# --- regressions: what the fuzzers above found, each pinned by hand -----------------------------------

import pytest  # noqa: E402  (only the hand-written cases below need it)

PROFILE_OK = {"format": "gpusim-profile", "version": 1, "source": "test", "device": {}, "measurements": [],
              "fits": {"m": {"per_type": {"V100": {"a": 0.1, "b": 0.01}}}}, "reference_gpu_type": "V100"}


@pytest.mark.parametrize("name, text, message", [
    # bytes that are not UTF-8 were a UnicodeDecodeError in all three loaders
    ("run.toml", b"\x80", r"run\.toml: not UTF-8 text \(byte 0\)"),
    ("exp.toml", b"seeds = 1\n\xff", r"exp\.toml: not UTF-8 text \(byte 10\)"),
    ("p.json", b"\xfe{}", r"p\.json: not UTF-8 text \(byte 0\)"),
    # a run config's bad value named the key but not the file
    ("run.toml", b"seed = -1\n", r"run\.toml: seed must be a non-negative integer"),
    ("run.toml", b"trace = []\n", r"run\.toml: setting 'trace' must be str or none"),
    ("run.toml", b'synthetic = {jobs = 5, durations = "x:1"}\n', r"run\.toml: key 'synthetic': durations 'x:1'"),
    ('run.toml', 'synthetic = {jobs = 5, "a\\rb" = 1}\n'.encode(), r"run\.toml: unknown key 'synthetic\.a\\rb'"),
    # fault and autoscale tables: wrong types crashed their readers; unknown keys broke the line
    ("run.toml", b"faults = {schedule = false}\n", r"run\.toml: key 'faults\.schedule' must be the path"),
    ("run.toml", b'autoscale = {name = {a = 1}}\n', r"run\.toml: 'autoscale\.name' must be an autoscaler's name"),
    ("run.toml", 'autoscale = {"a\\nb" = 1}\n'.encode(), r"run\.toml: unknown key 'autoscale\.a\\nb'"),
    # sweep specs: values of the wrong type crashed the expansion
    ("exp.toml", b'policies = [{name = "fifo", args = {x = 2001-01-01}}]\n', None),
    ("exp.toml", b"policies = [{name = 5}]\n", r"exp\.toml: policies\[0\] must be a name or a table with 'name'"),
    ("exp.toml", b'policies = [{name = "fifo", label = [1]}]\n', r"exp\.toml: policies\[0\]\.label must be text"),
    ("exp.toml", b"traces = [{path = 5}]\n", r"exp\.toml: traces\[0\] must be a path or a table with 'path'"),
    ("exp.toml", b'traces = ["t.csv"]\ncombinations = [{trace = false}]\n',
     r"exp\.toml: combinations\[0\]\.trace must be the path of one of the traces"),
    ("exp.toml", b'synthetic = {jobs = 5}\nloads = [-1.0]\n', r"exp\.toml: key 'synthetic': load must be"),
    ("exp.toml", 'policies = [{name = "fifo", "a\\nb" = 1}]\n'.encode(), r"unknown key 'policies\[0\]\.a\\nb'"),
    # profiles: fits of the wrong shape crashed the speed model; keys with line breaks broke the line
    ("p.json", json.dumps({**PROFILE_OK, "fits": ["m"]}).encode(), r"p\.json: key 'fits' must be an object"),
    ("p.json", json.dumps({**PROFILE_OK, "fits": {"m": {"per_type": {"V100": {"a": 0, "b": 0}}}}}).encode(),
     r"p\.json: fits\.m\.per_type\.V100: a and b are both 0"),
    ("p.json", json.dumps({**PROFILE_OK, "fits": {"m": {"per_type": {"V\r100": {"a": -1, "b": 0}}}}}).encode(),
     r"p\.json: fits\.m\.per_type\.'V\\r100'\.a must be a finite number of seconds >= 0"),
    ("p.json", json.dumps({**PROFILE_OK, "fits": {"m": {"per_type": {}, "comm": {"intra_s": "1"}}}}).encode(),
     r"p\.json: fits\.m\.comm\.intra_s must be a finite number of seconds"),
    ("p.json", json.dumps({**PROFILE_OK, "reference_gpu_type": 5}).encode(), r"p\.json: key 'reference_gpu_type'"),
    ("p.json", json.dumps({**PROFILE_OK, "measurements": [{"model": "m", "gpu_type": 7, "batch_size": 8,
                                                           "num_gpus": 1, "step_time": 1.0}]}).encode(),
     r"p\.json: measurements\[0\]: gpu_type must be a name, got 7"),
])
def test_loader_findings(tmp_path, name, text, message):
    """Each file that once crashed a loader (or gave an error without the file, or over several
    lines) now loads, or is one error naming the file and the key."""
    from calibrate.profile import load
    from sim.sweep import expand

    path = tmp_path / name
    path.write_bytes(text)
    loaders = {"run.toml": lambda: RunConfig(**load_config(path)), "exp.toml": lambda: expand(load_spec(path)[0], path),
               "p.json": lambda: load(path)}
    if message is None:
        assert loaders[name]()
        return
    with pytest.raises(GpusimError, match=message) as err:
        loaders[name]()
    assert len(str(err.value).splitlines()) == 1


@pytest.mark.parametrize("workload", [{"sizes": "1:1e308,2:1e308"}, {"diurnal": [1e308] * 24}])
def test_weights_whose_sum_overflows(workload):
    """Size probabilities or diurnal multipliers of 1e308 overflowed their sum (a ValueError from
    numpy, an OverflowError from fsum); only their ratios matter, and they are equal here."""
    from sim.experiment import synthetic_workload

    w = synthetic_workload(200, **workload)
    jobs = w.generate(8, 0)
    assert len(jobs) == 200
    if "sizes" in workload:
        assert {j.num_gpus for j in jobs} == {1, 2}
    else:
        assert set(w.diurnal) == {1.0}

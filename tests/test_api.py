"""Tests of the public Python API: the ``gpusim`` facade, its documented examples, and outside policies."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gpusim
import policies
import sim.engine
import sim.experiment
import traces.canonical
from sim.metrics import SUMMARY_KEYS

README = Path(__file__).resolve().parents[1] / "README.md"


class Lifo:
    """Newest pending job first, non-preemptive; the engine places each job."""

    def schedule(self, view, rng):
        free, starts = view.free_gpus, []
        for job in reversed(list(view.pending)):
            if job.num_gpus <= free:
                starts.append(gpusim.Start(job.job_id))
                free -= job.num_gpus
        return starts


def three_jobs() -> list[gpusim.Job]:
    return [gpusim.Job("a", 0.0, 1, 10.0), gpusim.Job("b", 1.0, 1, 10.0), gpusim.Job("c", 2.0, 1, 10.0)]


def starts_of(result) -> dict[str, float]:
    return {row["job_id"]: row["start_time"] for row in result.job_table()}


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


# --- the facade -----------------------------------------------------------------------------


def test_every_public_name_is_exported():
    """Each name in gpusim.__all__ exists, once, and `from gpusim import *` brings exactly those names."""
    assert len(gpusim.__all__) == len(set(gpusim.__all__))
    for name in gpusim.__all__:
        assert hasattr(gpusim, name), name
    namespace: dict = {}
    exec("from gpusim import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(gpusim.__all__)


def test_facade_reexports_not_copies():
    """The facade's objects are the implementation's own (no wrappers that could drift)."""
    assert gpusim.simulate is sim.engine.simulate
    assert gpusim.read_csv is traces.canonical.read_csv
    assert gpusim.RunConfig is sim.experiment.RunConfig
    assert gpusim.make_policy is policies.make
    assert gpusim.list_policies() == policies.available()


def test_import_gpusim_stays_light(tmp_path):
    """`import gpusim` imports no policy module and none of TensorFlow, Keras, Ray or matplotlib."""
    code = ("import sys, gpusim; heavy = ('tensorflow', 'keras', 'ray', 'matplotlib'); "
            "print(sorted(m for m in sys.modules if m.startswith('policies.') or m.split('.')[0] in heavy))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# --- documented examples --------------------------------------------------------------------


def test_readme_python_example_runs():
    """The README's Python API example runs: fifo and tiresias on the sample, summaries with every key."""
    block = python_blocks(README.read_text(encoding="utf-8"))[0]
    assert "import gpusim" in block and "tiresias" in block
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block, str(README), "exec"), namespace)
    n = len(gpusim.read_csv(gpusim.SAMPLE).jobs)
    summary = namespace["s"]  # the last policy's summary: tiresias
    assert namespace["result"].policy == "tiresias"
    assert list(summary) == list(SUMMARY_KEYS)
    assert summary["jobs"] == n and summary["unfinished"] == 0
    assert len(namespace["rows"]) == n
    assert [line.split()[0] for line in printed.getvalue().splitlines()] == ["fifo", "tiresias"]


def test_docstring_example_runs():
    """The example in gpusim's module docstring runs tiresias on the sample and prints a positive avg_jct."""
    lines = gpusim.__doc__.split("::", 1)[1].splitlines()
    code = textwrap.dedent("\n".join(line for line in lines if line.startswith("    ") or not line.strip()))
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(code, namespace)
    assert float(printed.getvalue()) > 0
    summary = namespace["result"].summary()
    assert set(summary) == set(SUMMARY_KEYS)
    assert summary["unfinished"] == 0 and summary["jobs"] == len(namespace["jobs"])


def test_readme_policy_example_works_as_an_outside_policy(tmp_path, monkeypatch):
    """The README's LargestFirst file, loaded as module:Class with a parameter, schedules largest first."""
    block = next(b for b in python_blocks(README.read_text(encoding="utf-8")) if "class " in b)
    (tmp_path / "largest_first_example.py").write_text(block, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    cls_name = re.search(r"^class (\w+)", block, flags=re.M)[1]
    policy = gpusim.make_policy(f"largest_first_example:{cls_name}", {"min_gpus": 1})
    jobs = [gpusim.Job("blocker", 0.0, 4, 10.0), gpusim.Job("s1", 1.0, 1, 5.0), gpusim.Job("s2", 1.0, 1, 5.0),
            gpusim.Job("big", 1.0, 3, 5.0)]
    result = gpusim.simulate(jobs, gpusim.Cluster.parse("1x4"), policy, seed=0)
    # At t=10 the 3-GPU job goes first and s1 fills the last GPU; s2 waits for the next free GPU.
    assert starts_of(result) == {"blocker": 0.0, "big": 10.0, "s1": 10.0, "s2": 15.0}


# --- a policy written here, never registered ------------------------------------------------


def test_unregistered_policy_object_runs_in_simulate():
    """A small class defined in this test file is a Policy and simulate runs it as written."""
    assert isinstance(Lifo(), gpusim.Policy)
    result = gpusim.simulate(three_jobs(), gpusim.Cluster.parse("1x1"), Lifo(), seed=0)
    # a runs 0-10; at 10 both b and c wait and the newest (c) goes first, then b at 20.
    assert starts_of(result) == {"a": 0.0, "c": 10.0, "b": 20.0}
    assert result.summary()["unfinished"] == 0


def test_policy_rng_is_the_policy_stream_of_the_seed():
    """The rng a policy receives is the `policy` stream of the run's seed."""

    class Recorder(Lifo):
        def __init__(self):
            self.draws = []

        def schedule(self, view, rng):
            self.draws.append(rng.random())
            return super().schedule(view, rng)

    policy = Recorder()
    gpusim.simulate(three_jobs(), gpusim.Cluster.parse("1x1"), policy, seed=17)
    expected = gpusim.stream(17, "policy").random(len(policy.draws))
    assert policy.draws == list(expected)


def test_illegal_decision_from_a_custom_policy_names_it():
    """A custom policy's illegal decision raises PolicyError naming the policy, time and decision."""

    class Ghost:
        def schedule(self, view, rng):
            return [gpusim.Start("no-such-job")]

    with pytest.raises(gpusim.PolicyError) as info:
        gpusim.simulate(three_jobs(), gpusim.Cluster.parse("1x1"), Ghost(), seed=0)
    message = str(info.value)
    assert "Ghost" in message and "no-such-job" in message and "t=0" in message


def test_object_without_schedule_is_rejected():
    """Something without schedule(view, rng) is a GpusimError, not a crash mid-run."""
    with pytest.raises(gpusim.GpusimError):
        gpusim.simulate(three_jobs(), gpusim.Cluster.parse("1x1"), object(), seed=0)


def test_run_config_loads_an_outside_policy_by_module_and_class():
    """RunConfig(policy='module:Class') and compare reach a class defined in this test module."""
    spec = f"{__name__}:Lifo"
    config = gpusim.RunConfig(synthetic=gpusim.Workload(jobs=30, sizes=((1, 1.0),)), cluster="1x2", policy=spec)
    result = gpusim.run(config)
    assert result.summary()["jobs"] == 30 and result.summary()["unfinished"] == 0
    rows, _ = gpusim.compare(config, ["fifo", spec], 2)
    assert sorted((r["policy"], r["seed"]) for r in rows) == [("fifo", 0), ("fifo", 1), (spec, 0), (spec, 1)]
    for r in rows:
        assert r["unfinished"] == 0 and r["jobs"] == 30

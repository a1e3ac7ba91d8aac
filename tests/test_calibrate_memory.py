"""GPU memory in calibration profiles (calibrate.memory): the estimate, the measured path, the
profile format, and jobs that get their memory demand from a profile (issue 10)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from calibrate import runner
from calibrate.memory import ESTIMATE, MIB, Footprint, PeakMemory, demand_mib, footprint
from calibrate.profile import Measurement, Profile, load, save
from calibrate.show import main as show_main, render
from calibrate.speed import Calibration, assign_models
from policies import make
from sim.engine import simulate
from sim.errors import GpusimError
from sim.experiment import RunConfig, load_jobs, run
from sim.model import Cluster, Job, NodeSpec

ROOT = Path(__file__).resolve().parents[1]
MEASURED = "measured: by hand"


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def tiny_mlp(keras, optimizer: str):
    """Input 4 → Dense 3 → Dense 2: 4·3 + 3 + 3·2 + 2 = 23 parameters; 4 + 3 + 2 = 9 outputs per sample."""
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    opt = keras.optimizers.SGD(0.01, momentum=0.9) if optimizer == "sgd" else keras.optimizers.Adam(1e-3)
    model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


# --- the estimate --------------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer, slots", [("sgd", 23), ("adam", 46)])
def test_estimate_matches_a_hand_count_for_a_tiny_mlp(keras, optimizer, slots):
    """23 weights, 23 gradients, one momentum (SGD) or two moments (Adam) per weight, and 9
    activations per sample: at batch 5 the estimate is 4 × (23 + 23 + slots + 9 × 5) bytes."""
    fp = footprint(tiny_mlp(keras, optimizer))
    assert fp == Footprint(weights=23, gradients=23, optimizer_slots=slots, activations_per_sample=9)
    assert fp.bytes(5) == 4 * (23 + 23 + slots + 9 * 5)
    assert fp.mib(5) == 1  # rounded up to a whole MiB
    assert Footprint(0, 0, 0, MIB // 4).mib(3) == 3 and Footprint(1, 0, 0, MIB // 4).mib(3) == 4


def test_estimate_counts_non_trainable_weights_once(keras):
    """BatchNormalization's moving statistics are weights but get no gradient and no slot."""
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.BatchNormalization()(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="mse")
    # gamma, beta trainable (8); moving mean and variance not (8); outputs 4 + 4 per sample
    assert footprint(model) == Footprint(weights=16, gradients=8, optimizer_slots=8, activations_per_sample=8)


# --- a job's demand from the profile's points ----------------------------------------------------


def test_demand_between_and_beyond_the_measured_batches():
    """Exact points are returned; between them the line through the neighbours, rounded up; above
    the range the line through the last two; below it never more than the smallest's value."""
    points = [(8, 1000), (16, 1400), (32, 2200), (16, 1300)]  # two GPU types at 16: the larger wins
    assert demand_mib(points, 16) == 1400
    assert demand_mib(points, 12) == 1200
    assert demand_mib(points, 24) == 1800
    assert demand_mib(points, 64) == 2200 + 32 * 50
    assert demand_mib(points, 4) == 800
    assert demand_mib([(8, 1000)], 8) == 1000 and demand_mib([(8, 1000)], 9) is None and demand_mib([], 8) is None


# --- the profile format --------------------------------------------------------------------------


def point(batch, num_gpus=1, memory=None, source=None, gpu_type="A100", model="net", step=0.1):
    return Measurement(model, gpu_type, batch, num_gpus, step, gpu_memory_mib=memory, gpu_memory_source=source)


def test_profile_round_trip_with_memory_is_version_2(tmp_path):
    """Memory and its source survive save/load; the file says version 2."""
    p = Profile("test", {"gpu_type": "A100"}, (point(32, 1, 9000, MEASURED), point(64, 2, 7000, ESTIMATE), point(8)))
    save(p, tmp_path / "p.json")
    data = json.loads((tmp_path / "p.json").read_text())
    assert data["version"] == 2 and "gpu_memory_mib" not in data["measurements"][2]
    assert load(tmp_path / "p.json") == p and load(tmp_path / "p.json").has_memory()


def test_profile_without_memory_is_written_as_before(tmp_path):
    """No memory: version 1 and no memory keys, so the shipped profiles are rewritten byte for byte."""
    p = Profile("test", {"gpu_type": "A100"}, (point(32), point(64)))
    save(p, tmp_path / "p.json")
    data = json.loads((tmp_path / "p.json").read_text())
    assert data["version"] == 1 and not any("gpu_memory_mib" in m for m in data["measurements"])
    assert load(tmp_path / "p.json") == p and not p.has_memory()
    for name in ("gavel", "cpu-quick"):
        shipped = ROOT / "calibrate" / "profiles" / f"{name}.json"
        save(load(shipped), tmp_path / "again.json")
        assert (tmp_path / "again.json").read_bytes() == shipped.read_bytes()


def test_old_profiles_load():
    """The bundled Gavel import (version 1, no memory) loads, and a run calibrated with it gives
    no job a memory demand."""
    gavel = load("gavel")
    assert not gavel.has_memory()
    cal = Calibration(gavel, Cluster.parse("1x4:V100"))
    job = Job("a", 0.0, 1, 100.0, model=sorted(gavel.fits)[0], batch_size=32)
    assert cal.memory([job]) == (job,) and cal.memory_mib(job.model, 32, 1) is None


@pytest.mark.parametrize("edit, message", [
    ({"version": 1}, "'gpu_memory_mib' needs profile version 2"),
    ({"version": 3}, "version 3 is not supported"),
    ({"m": {"gpu_memory_mib": 0}}, "gpu_memory_mib must be a positive whole number"),
    ({"m": {"gpu_memory_mib": 1.5}}, "gpu_memory_mib must be a positive whole number"),
    ({"m": {"gpu_memory_source": None}}, "go together"),
    ({"m": {"gpu_memory_source": "guessed"}}, "must start with 'measured: ' or 'estimate: '"),
])
def test_bad_memory_in_a_profile_is_a_one_line_error(tmp_path, edit, message):
    save(Profile("test", {}, (point(32, 1, 9000, MEASURED),)), tmp_path / "p.json")
    data = json.loads((tmp_path / "p.json").read_text())
    data.update({k: v for k, v in edit.items() if k != "m"})
    data["measurements"][0].update(edit.get("m", {}))
    (tmp_path / "p.json").write_text(json.dumps(data))
    with pytest.raises(GpusimError, match=message) as err:
        load(tmp_path / "p.json")
    assert "measurements[0]" in str(err.value) or "version" in str(err.value)
    assert "\n" not in str(err.value)


def test_show_prints_the_memory_column(capsys, tmp_path):
    """`gpusim calibrate show` has a memory/GPU column (est. marks estimates) and names the sources;
    a profile without memory says it has none."""
    p = Profile("test", {"gpu_type": "A100"}, (point(32, 1, 9000, MEASURED), point(64, 1, 12345, ESTIMATE),
                                              point(16)))
    save(p, tmp_path / "p.json")
    assert show_main(["show", str(tmp_path / "p.json")]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = next(line for line in lines if line.startswith("model "))
    assert "memory/GPU" in head
    rows = [line for line in lines if line.startswith("net ")]
    assert rows[0].endswith("9,000 MiB") and rows[1].endswith("12,345 MiB est.") and rows[2].endswith(" -")
    assert f"GPU memory per GPU, {MEASURED}" in lines and f"GPU memory per GPU, {ESTIMATE}" in lines
    text = render(load("gavel"))
    assert not any("memory/GPU" in line for line in text) and any("GPU memory: not recorded" in line for line in text)


def test_calibrate_memory_command_estimates_zoo_models(keras, tmp_path, capsys):
    """`gpusim calibrate memory` fills the estimate for zoo models (mlp: 669,706 parameters, SGD
    with momentum, 784 + 784 + 512 + 512 + 10 outputs per sample), keeps measured values and leaves
    other models alone; a zoo model of another size is an error."""
    mlp = 669_706
    p = Profile("test", {"gpu_type": "CPU"}, (
        replace(point(16, model="mlp", gpu_type="CPU"), params=mlp),
        replace(point(64, 2, model="mlp", gpu_type="CPU"), params=mlp),
        point(8, 1, 77, MEASURED, model="mlp", gpu_type="CPU"), point(8, model="other")))
    save(p, tmp_path / "p.json")
    assert show_main(["memory", str(tmp_path / "p.json"), "--out", str(tmp_path / "m.json")]) == 0
    assert "estimated for 2 measurement(s), 1 left without" in capsys.readouterr().out
    got = load(tmp_path / "m.json")
    expect = [-(-4 * (3 * mlp + (784 * 2 + 512 * 2 + 10) * b) // MIB) for b in (16, 32)]
    assert [m.gpu_memory_mib for m in got.measurements] == [*expect, 77, None]
    assert [m.gpu_memory_source for m in got.measurements] == [ESTIMATE, ESTIMATE, MEASURED, None]
    assert got.settings["gpu_memory"]["footprints"]["mlp"]["weights"] == mlp
    assert [m.step_time for m in got.measurements] == [m.step_time for m in p.measurements]
    with pytest.raises(GpusimError, match="exists"):
        show_main(["memory", str(tmp_path / "p.json"), "--out", str(tmp_path / "m.json")])
    save(Profile("test", {}, (replace(point(16, model="mlp"), params=5),)), tmp_path / "bad.json")
    with pytest.raises(GpusimError, match="669,706 trainable parameters, the profile's 5"):
        show_main(["memory", str(tmp_path / "bad.json"), "--out", str(tmp_path / "x.json")])


def test_shipped_cpu_profile_has_estimates_only():
    """cpu-quick.json's memory is labelled an estimate, one per measurement (no GPU measured it)."""
    p = load("cpu-quick")
    assert all(m.gpu_memory_mib >= 1 and m.gpu_memory_source == ESTIMATE for m in p.measurements)


# --- the measured path, on fake backends ---------------------------------------------------------


class FakeJaxDevice:
    """A JAX device whose allocator counters follow a script."""

    def __init__(self):
        self.stats = {"bytes_in_use": 0, "peak_bytes_in_use": 0}

    def memory_stats(self):
        return dict(self.stats)


def test_jax_peak_is_attributed_only_when_it_rises():
    """JAX cannot reset its peak: a configuration whose peak is not above every earlier one gets None."""
    dev = FakeJaxDevice()
    probe = PeakMemory("jax", dev)
    dev.stats = {"bytes_in_use": 100 * MIB, "peak_bytes_in_use": 150 * MIB}
    probe.baseline()
    probe.start()
    dev.stats["peak_bytes_in_use"] = 400 * MIB
    assert probe.stop() == 300 * MIB
    probe.start()
    assert probe.stop() is None  # a smaller configuration after a larger one
    assert probe.source.startswith("measured: ") and "peak_bytes_in_use" in probe.source


def test_tensorflow_peak_is_reset_before_each_configuration():
    """TensorFlow's peak is reset before each configuration, so every one gets its own peak."""
    calls = []
    info = {"current": 50 * MIB, "peak": 999 * MIB}
    def reset(device):
        calls.append(("reset", device))
        info["peak"] = info["current"]

    experimental = SimpleNamespace(get_memory_info=lambda d: (calls.append(("info", d)), dict(info))[1],
                                   reset_memory_stats=reset)
    probe = PeakMemory("tensorflow", SimpleNamespace(config=SimpleNamespace(experimental=experimental)))
    probe.baseline()
    probe.start()
    info["peak"] = 250 * MIB
    assert probe.stop() == 200 * MIB
    probe.start()
    info["peak"] = 120 * MIB
    assert probe.stop() == 70 * MIB
    assert ("reset", "GPU:0") in calls and all(d == "GPU:0" for _, d in calls)


def cpu_only(keras) -> None:
    """Skip on a machine where the Keras backend sees a GPU (these tests are about the CPU path)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            pytest.skip("the backend sees a GPU here")


def test_no_probe_without_a_gpu(keras):
    """Without a GPU the backend has no GPU counters: the runner estimates."""
    cpu_only(keras)
    assert PeakMemory.for_backend(keras.backend.backend()) is None
    assert PeakMemory.for_backend("numpy") is None


def test_runner_records_measured_memory_and_falls_back_to_the_estimate(keras, monkeypatch):
    """With a (fake) GPU probe the runner writes the measured peak, labelled as measured; a
    configuration whose JAX peak cannot be attributed gets the estimate, labelled as one."""
    dev = FakeJaxDevice()
    script = iter([300 * MIB, 300 * MIB])  # the second configuration sets no new peak

    class Scripted(PeakMemory):
        def stop(self):
            dev.stats["peak_bytes_in_use"] = next(script)
            return super().stop()

    monkeypatch.setattr(runner.PeakMemory, "for_backend", classmethod(lambda cls, backend: Scripted("jax", dev)))
    p = runner.profile(["mlp"], [4, 2], warmup_steps=0, steps=1, repeats=1, seed=0, progress=False)
    first, second = p.measurements
    assert first.gpu_memory_mib == 300 and first.gpu_memory_source.startswith("measured: ")
    assert second.gpu_memory_source == ESTIMATE
    assert second.gpu_memory_mib == Footprint(**p.settings["gpu_memory"]["footprints"]["mlp"]).mib(2)
    assert p.settings["gpu_memory"]["unattributed_peaks"] == 1


def test_runner_on_cpu_writes_estimates(keras):
    """On the CPU every measurement's memory is the estimate."""
    cpu_only(keras)
    p = runner.profile(["mlp"], [4], warmup_steps=0, steps=1, repeats=1, seed=0, progress=False)
    (m,) = p.measurements
    assert m.gpu_memory_source == ESTIMATE and m.gpu_memory_mib == 8  # 4 × 3 × 669,706 bytes ≈ 7.7 MiB
    assert p.settings["gpu_memory"]["measured_with"] is None


# --- jobs in simulation --------------------------------------------------------------------------

# "net" needs 20,000 MiB per GPU at a per-GPU batch of 32, 30,000 MiB at 64: more than a T4's 16 GiB,
# less than an A100's 40 GiB.
FIT = {"params": None, "per_type": {"A100": {"a": 0.1, "b": 0.001}, "T4": {"a": 0.2, "b": 0.002}}, "comm": {}}


def memory_profile(tmp_path) -> Path:
    p = Profile("test", {"gpu_type": "A100"}, (point(32, 1, 20_000, MEASURED), point(64, 1, 30_000, MEASURED),
                                              point(32, 1, None, None, gpu_type="T4")),
                fits={"net": FIT}, reference_gpu_type="A100")
    save(p, tmp_path / "mem.json")
    return tmp_path / "mem.json"


def test_calibration_gives_jobs_the_per_gpu_memory(tmp_path):
    """Data parallel: a 2-GPU job at global batch 64 needs the per-GPU batch 32's memory; a trace
    value wins; a job without a batch size gets none."""
    cal = Calibration(load(memory_profile(tmp_path)), Cluster.parse("1x4:A100"))
    jobs = [Job("one", 0, 1, 10.0, model="net", batch_size=64), Job("two", 0, 2, 10.0, model="net", batch_size=64),
            Job("odd", 0, 2, 10.0, model="net", batch_size=63), Job("trace", 0, 1, 10.0, model="net", batch_size=64,
                                                                     gpu_memory_mib=1000),
            Job("nobatch", 0, 1, 10.0, model="net"), Job("other", 0, 1, 10.0, model="x", batch_size=8)]
    assert [j.gpu_memory_mib for j in cal.memory(jobs)] == [30_000, 20_000, 20_000, 1000, None, None]


def test_assigned_models_get_memory_when_the_profile_has_it(tmp_path):
    """assign_models gives a duration-only job the assigned model's memory at its batch; a job with
    a trace value keeps it; with Gavel's profile (no memory) nobody gets any."""
    cal = Calibration(load(memory_profile(tmp_path)), Cluster.parse("1x4:A100"))
    jobs = assign_models([Job("a", 0, 1, 50.0), Job("b", 0, 1, 60.0, gpu_memory_mib=500)], cal)
    assert [(j.model, j.batch_size, j.gpu_memory_mib) for j in jobs] == [("net", 32, 20_000), ("net", 32, 500)]
    gavel = Calibration(load("gavel"), Cluster.parse("1x4:V100"))
    assert all(j.gpu_memory_mib is None for j in assign_models([Job("a", 0, 1, 50.0)], gavel))


def test_a_job_never_runs_on_a_gpu_with_less_memory_than_its_profile_says(tmp_path):
    """End to end (trace → calibration → resource model): three 'net' jobs of 20,000 MiB on a cluster
    of a free T4 node and one A100 GPU all wait for the A100; without --resources they use the T4s."""
    (tmp_path / "cluster.csv").write_text("name,count,num_gpus,gpu_type\nt4,1,2,T4\na100,1,1,A100\n")
    (tmp_path / "jobs.csv").write_text("job_id,submit_time,num_gpus,model,batch_size,iterations\n"
                                       + "".join(f"j{i},0,1,net,32,100\n" for i in range(3)))
    config = RunConfig(trace=str(tmp_path / "jobs.csv"), cluster=str(tmp_path / "cluster.csv"), policy="fifo",
                       calibration=str(memory_profile(tmp_path)), resources=True)
    config, jobs, _ = load_jobs(config)
    assert [j.gpu_memory_mib for j in jobs] == [20_000] * 3
    result = run(config, jobs)
    starts = [e for e in result.events if e.kind == "start"]
    assert len(starts) == 3 and all(e.gpus == (2,) for e in starts)  # GPU 2: the A100
    plain = run(replace(config, resources=False), jobs)
    assert {e.gpus for e in plain.events if e.kind == "start"} == {(0,), (1,), (2,)}


def test_a_trace_value_lets_the_job_onto_the_small_gpu(tmp_path):
    """The same job with a trace value of 1,000 MiB (which wins over the profile) may use a T4."""
    cal = Calibration(load(memory_profile(tmp_path)), Cluster.parse("1x1:T4,1x1:A100"))
    cluster = Cluster((NodeSpec(1, "T4", 16_384), NodeSpec(1, "A100", 40_960)))
    jobs = cal.memory(cal.durations([Job("big", 0, 1, None, model="net", batch_size=32, iterations=10.0),
                                     Job("small", 0, 1, None, model="net", batch_size=32, iterations=10.0,
                                         gpu_memory_mib=1000)]))
    result = simulate(jobs, cluster, make("fifo"), resources=True)
    assert {e.job_id: e.gpus for e in result.events if e.kind == "start"} == {"big": (1,), "small": (0,)}

"""Tests of the Keras model zoo and the profiling runner (calibrate.zoo, calibrate.runner).

Keras tests are skipped where Keras is not installed; the rest (settings checks, the command line's
errors, the shipped profile, import cost) run everywhere.
"""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from calibrate import runner, zoo
from calibrate.profile import load, save
from calibrate.runner import QUICK, main, profile
from calibrate.zoo import MODELS, ZooModel
from sim.errors import GpusimError

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "calibrate" / "profiles" / "cpu-quick.json"
SLOW_TO_TRAIN = {"resnet50-cifar", "mobilenetv2-cifar", "resnet50-imagenet", "mobilenetv2-imagenet"}


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


# --- the zoo -------------------------------------------------------------------------------------


def test_zoo_has_the_promised_models():
    """The zoo names the MNIST, CIFAR, ImageNet, Transformer and LSTM models the docs list."""
    assert set(MODELS) == {"mlp", "cnn", "resnet50-cifar", "resnet50-imagenet", "mobilenetv2-cifar",
                           "mobilenetv2-imagenet", "transformer", "lstm"}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.slow) if n in SLOW_TO_TRAIN else n for n in MODELS])
def test_zoo_model_trains_one_step(keras, name):
    """Each model builds offline, its input matches its spec, and one step on 2 samples gives a finite loss."""
    spec = zoo.build(name)
    assert spec.name == name and tuple(spec.model.input_shape[1:]) == spec.input_shape
    spec.compile()
    x, y = spec.make_batch(2, np.random.default_rng(0))
    loss = spec.model.train_on_batch(x, y)
    assert math.isfinite(float(np.ravel(loss)[0]))
    assert zoo.params(spec.model) > 0
    keras.backend.clear_session()


@pytest.mark.parametrize("name, shape, classes, trainable", [
    ("resnet50-imagenet", (224, 224, 3), 1000, 25_583_592),  # Keras' published ResNet50 count
    ("mobilenetv2-imagenet", (224, 224, 3), 1000, 3_504_872),
    ("resnet50-cifar", (32, 32, 3), 10, 23_555_082),
    ("mobilenetv2-cifar", (32, 32, 3), 10, 2_236_682),
])
def test_application_models_build(keras, name, shape, classes, trainable):
    """keras.applications models build with weights=None at their sizes; params() counts trainable ones."""
    spec = zoo.build(name)
    assert spec.input_shape == shape and tuple(spec.model.output_shape) == (None, classes)
    assert zoo.params(spec.model) == trainable < spec.model.count_params()
    keras.backend.clear_session()


def test_make_batch_shapes_dtypes_and_seed():
    """Synthetic batches have the real shapes and dtypes, labels in range, and repeat with the seed."""
    image = ZooModel("img", None, (32, 32, 3), "float32", 10)
    x, y = image.make_batch(5, np.random.default_rng(1))
    assert x.shape == (5, 32, 32, 3) and x.dtype == np.float32 and y.shape == (5,) and y.dtype == np.int32
    assert 0 <= y.min() and y.max() < 10
    x2, y2 = image.make_batch(5, np.random.default_rng(1))
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    lm = ZooModel("lm", None, (7,), "int32", 50, (7,))
    x, y = lm.make_batch(3, np.random.default_rng(2))
    assert x.shape == y.shape == (3, 7) and x.dtype == np.int32 and y.max() < 50
    assert np.array_equal(x[:, 1:], y[:, :-1])  # next-token targets


# --- the runner ----------------------------------------------------------------------------------


def test_profile_mlp_round_trips(keras, tmp_path, capsys):
    """profile() on mlp at two batch sizes: positive times, samples/s = batch / step time, provenance
    recorded, a progress line per configuration, and save/load gives an equal Profile."""
    p = profile(["mlp"], [4, 8], warmup_steps=1, steps=2, repeats=3, seed=0, progress=True)
    assert [(m.model, m.batch_size, m.num_gpus) for m in p.measurements] == [("mlp", 4, 1), ("mlp", 8, 1)]
    for m in p.measurements:
        assert m.step_time > 0 and m.step_time_iqr >= 0 and m.repeats == 3 and m.steps == 2
        assert m.samples_per_s == pytest.approx(m.batch_size / m.step_time)
        assert m.params == 669_706 and m.input_shape == (28, 28) and m.gpu_type == p.device["gpu_type"]
    assert p.source == "gpusim calibrate run" and p.device["backend"] == keras.backend.backend()
    assert {"python", "keras", "gpusim"} <= set(p.versions) and p.versions["keras"] == keras.__version__
    date = datetime.fromisoformat(p.date)
    assert date.utcoffset() == timedelta(0)
    assert p.settings["batch_sizes"] == {"mlp": [4, 8]} and p.settings["seed"] == 0
    assert p.settings["steps"] == 2 and p.settings["repeats"] == 3 and p.settings["warmup_steps"] == 1
    err = capsys.readouterr().err
    assert "[1/2] mlp batch 4" in err and "[2/2] mlp batch 8" in err
    save(p, tmp_path / "p.json")
    assert load(tmp_path / "p.json") == p


@pytest.mark.parametrize("kwargs, message", [
    ({"models": ["mlp", "vgg19"]}, "unknown model 'vgg19'"),
    ({"steps": 0}, "steps must be"),
    ({"repeats": 1.5}, "repeats must be"),
    ({"batch_sizes": [8, 0]}, "positive integers"),
    ({"batch_sizes": {"cnn": [8]}}, "no batch sizes for model 'mlp'"),
])
def test_profile_refuses_bad_settings(kwargs, message):
    """Unknown models and bad numbers are one-line GpusimErrors, raised before Keras is imported."""
    settings = {"models": ["mlp"], "batch_sizes": [8], "warmup_steps": 1, "steps": 2, "repeats": 2, "seed": 0}
    settings |= kwargs
    with pytest.raises(GpusimError, match=message):
        profile(settings.pop("models"), settings.pop("batch_sizes"), **settings)


@pytest.mark.parametrize("argv, message", [
    (["--models", "mlp,nope"], "unknown model 'nope'"),
    (["--batch-sizes", "8,x"], "--batch-sizes: expected an integer"),
    (["--steps", "0"], "--steps: must be at least 1"),
    (["--repeats", "two"], "--repeats: expected an integer"),
    (["--seed", "-1"], "--seed: must be at least 0"),
    (["--bogus"], "unrecognized arguments"),
])
def test_cli_one_line_errors(tmp_path, argv, message):
    """Bad flags raise GpusimError with a one-line message (the gpusim command prints it, exit 2)."""
    with pytest.raises(GpusimError, match=message) as info:
        main([*argv, "--out", str(tmp_path / "p.json")])
    assert "\n" not in str(info.value)


def test_cli_needs_out_and_force(tmp_path):
    """--out is required, and an existing file is kept unless --force is given."""
    with pytest.raises(GpusimError, match="--out"):
        main(["--quick"])
    out = tmp_path / "p.json"
    out.write_text("keep me")
    with pytest.raises(GpusimError, match="exists.*--force"):
        main(["--quick", "--out", str(out)])
    assert out.read_text() == "keep me"
    with pytest.raises(GpusimError, match="does not exist"):
        main(["--quick", "--out", str(tmp_path / "no" / "p.json")])


def test_cli_writes_a_profile(keras, tmp_path, capsys):
    """A tiny run through main() returns 0 and writes a loadable profile with the flags' settings."""
    out = tmp_path / "p.json"
    out.write_text("old")
    assert main(["--models", "mlp", "--batch-sizes", "4", "--warmup-steps", "1", "--steps", "1",
                 "--repeats", "2", "--seed", "3", "--out", str(out), "--force", "--no-progress"]) == 0
    p = load(out)
    assert [(m.model, m.batch_size) for m in p.measurements] == [("mlp", 4)]
    assert p.settings["seed"] == 3 and p.settings["repeats"] == 2
    assert "wrote" in capsys.readouterr().out


def test_shipped_quick_profile():
    """calibrate/profiles/cpu-quick.json loads, names a CPU device, and has every QUICK configuration."""
    p = load(SHIPPED)
    assert p.source == "gpusim calibrate run" and p.device["gpu_type"] == "CPU"
    assert p.device["name"] and p.device["cores"] >= 1 and p.device["backend"]
    assert p.settings["preset"] == "quick" and p.settings["steps"] == QUICK.steps
    assert p.settings["repeats"] == QUICK.repeats and p.settings["warmup_steps"] == QUICK.warmup_steps
    got = {(m.model, m.batch_size) for m in p.measurements}
    assert got == {(name, b) for name in QUICK.models for b in QUICK.batch_sizes_of(name)}
    for m in p.measurements:
        assert m.gpu_type == "CPU" and m.num_gpus == 1 and m.step_time > 0 and m.params > 0
        assert m.repeats == QUICK.repeats and m.steps == QUICK.steps


def test_importing_the_runner_loads_no_framework():
    """`import calibrate.runner` (and the zoo) imports neither Keras nor TensorFlow nor JAX."""
    code = ("import sys, calibrate.runner, calibrate.zoo; "
            "print(sorted(m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_presets_use_zoo_models():
    """QUICK and FULL name only zoo models; FULL covers the whole zoo, QUICK no ImageNet-size model."""
    assert set(runner.FULL.models) == set(MODELS)
    assert set(QUICK.models) <= set(MODELS) and not any("imagenet" in m for m in QUICK.models)


def test_mirrored_strategy_path_on_two_logical_cpu_devices(keras):
    """The multi-GPU profiling path (a MirroredStrategy model trained by fit over tf.data) runs on
    two logical CPU devices in a fresh process (devices must be configured before TensorFlow starts).
    This checks the code path, not GPU numbers: no GPU profile is measured here."""
    pytest.importorskip("tensorflow")
    code = (
        "import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'; os.environ['KERAS_BACKEND'] = 'tensorflow'\n"
        "import numpy as np, tensorflow as tf\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
        "import keras\n"
        "from calibrate import runner\n"
        "spec, model, strategy = runner._build('mlp', 2, 'cpu')\n"
        "x, y = spec.make_batch(16, np.random.default_rng(0))\n"
        "times = runner._time_steps(keras, model, strategy, x, y, 16, 1, 2, 2)\n"
        "print(strategy.num_replicas_in_sync, len(times), all(t > 0 for t in times))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "2 2 True"

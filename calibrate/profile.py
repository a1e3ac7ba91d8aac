"""The profile file: measured training step times, their provenance, and the fitted speed model.

One JSON document, versioned (``format``/``version``), written by ``gpusim calibrate run`` (our own
Keras measurements) or by an importer of third-party tables (Gavel's), and extended by
``gpusim calibrate fit`` with ``fits``. Nothing here imports TensorFlow.

    {
      "format": "gpusim-profile", "version": 1 | 2,
      "source": "gpusim calibrate run" | "gavel" | ...,
      "device": {"gpu_type": "CPU" | "H200" | ..., "name": "...", "memory_bytes": int|null,
                 "cores": int|null, "backend": "tensorflow" | "jax" | ..., "hostname": "..."},
      "versions": {"python": "...", "keras": "...", "tensorflow": "...", "gpusim": "..."},
      "date": "ISO-8601 UTC", "settings": {...exact settings of the run...},
      "measurements": [Measurement, ...],
      "fits": {model: Fit, ...} | absent,
      "reference_gpu_type": "..." | absent
    }

A measurement is one (model, GPU type, batch size, GPUs, consolidated) point: ``step_time`` is the
median seconds per training step (one global batch), ``step_time_iqr`` its interquartile range over
``repeats`` timed repeats of ``steps`` steps each, ``params`` the model's parameter count.

Version 2 adds GPU memory, optional per measurement: ``gpu_memory_mib`` is the GPU memory one
training step needs on each of its GPUs (MiB, rounded up; data parallel: every GPU holds the
whole model and its share ``batch_size / num_gpus`` of the batch), and ``gpu_memory_source`` says
where it comes from, starting with ``"measured: "`` (the backend's peak memory counter) or
``"estimate: "`` (computed from the built Keras model; see docs/calibration.md). A profile with
no memory is written as version 1, byte for byte as before, and both versions load.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sim.errors import GpusimError

FORMAT = "gpusim-profile"
VERSION = 2  # written when some measurement has GPU memory; otherwise 1
VERSIONS = (1, 2)  # both load: version 1 has no GPU memory
MEMORY_SOURCES = ("measured: ", "estimate: ")


@dataclass(frozen=True)
class Measurement:
    model: str
    gpu_type: str
    batch_size: int
    num_gpus: int
    step_time: float  # seconds per step, median over repeats
    step_time_iqr: float = 0.0
    repeats: int = 1
    steps: int = 1
    consolidated: bool = True  # all GPUs on one node
    params: int | None = None  # trainable parameters (all-reduce volume = 4 bytes each)
    input_shape: tuple[int, ...] | None = None
    gpu_memory_mib: int | None = None  # per GPU, for one training step (version 2)
    gpu_memory_source: str | None = None  # "measured: ..." or "estimate: ..."

    @property
    def samples_per_s(self) -> float:
        return self.batch_size / self.step_time

    def __post_init__(self) -> None:
        for name in ("model", "gpu_type"):
            if not (isinstance(getattr(self, name), str) and getattr(self, name).strip()):
                raise ValueError(f"{name} must be a name, got {getattr(self, name)!r}")
        for name in ("batch_size", "num_gpus", "repeats", "steps"):
            if not (_whole(getattr(self, name)) and getattr(self, name) >= 1):
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not (_seconds(self.step_time) and self.step_time > 0):
            raise ValueError(f"step_time must be a positive number of seconds, got {self.step_time!r}")
        if not _seconds(self.step_time_iqr):
            raise ValueError(f"step_time_iqr must be a number of seconds >= 0, got {self.step_time_iqr!r}")
        if not isinstance(self.consolidated, bool):
            raise ValueError(f"consolidated must be true or false, got {self.consolidated!r}")
        if self.params is not None and not (_whole(self.params) and self.params >= 0):
            raise ValueError(f"params must be a whole number >= 0 or null, got {self.params!r}")
        if self.input_shape is not None and not all(_whole(n) and n >= 1 for n in self.input_shape):
            raise ValueError(f"input_shape must be a list of positive integers or null, got {list(self.input_shape)!r}")
        if self.gpu_memory_mib is not None and not (_whole(self.gpu_memory_mib) and self.gpu_memory_mib >= 1):
            raise ValueError(f"gpu_memory_mib must be a positive whole number of MiB or null, "
                             f"got {self.gpu_memory_mib!r}")
        if (self.gpu_memory_mib is None) != (self.gpu_memory_source is None):
            raise ValueError("gpu_memory_mib and gpu_memory_source go together (both given or both null)")
        if self.gpu_memory_source is not None and not (isinstance(self.gpu_memory_source, str)
                                                       and self.gpu_memory_source.startswith(MEMORY_SOURCES)):
            raise ValueError(f"gpu_memory_source must start with 'measured: ' or 'estimate: ', "
                             f"got {self.gpu_memory_source!r}")


def _whole(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _seconds(x) -> bool:
    """A finite number >= 0 (not a bool)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0


@dataclass(frozen=True)
class Profile:
    source: str
    device: dict
    measurements: tuple[Measurement, ...]
    versions: dict = field(default_factory=dict)
    date: str | None = None
    settings: dict = field(default_factory=dict)
    fits: dict | None = None
    reference_gpu_type: str | None = None

    def models(self) -> list[str]:
        return sorted({m.model for m in self.measurements} | set(self.fits or {}))

    def has_memory(self) -> bool:
        """Whether some measurement records GPU memory (a version 2 profile)."""
        return any(m.gpu_memory_mib is not None for m in self.measurements)

    def to_json(self) -> dict:
        """The JSON document: version 1 (the keys of old profiles, unchanged) unless some
        measurement has GPU memory; a measurement without memory has no memory keys."""
        out = {"format": FORMAT, "version": VERSION if self.has_memory() else 1, **asdict(self)}
        out["measurements"] = [_measurement_json(m) for m in self.measurements]
        return {k: v for k, v in out.items() if v is not None}


def _measurement_json(m: Measurement) -> dict:
    out = asdict(m)
    if m.gpu_memory_mib is None:
        del out["gpu_memory_mib"], out["gpu_memory_source"]
    return out


def save(profile: Profile, path: str | Path) -> None:
    Path(path).write_text(json.dumps(profile.to_json(), indent=1, sort_keys=False) + "\n", encoding="utf-8")


BUNDLED = Path(__file__).resolve().parent / "profiles"


def resolve(name: str | Path) -> Path:
    """A profile's path: a file, or the name of a bundled profile (``gavel``, ``cpu-quick``)."""
    path = Path(name)
    bundled = BUNDLED / f"{name}.json"
    if not path.exists() and path.suffix == "" and bundled.exists():
        return bundled
    return path


def load(path: str | Path) -> Profile:
    """Read a profile (a path or a bundled profile's name); every problem is a GpusimError naming
    the file and the key."""
    path = resolve(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise GpusimError(f"{path}: cannot read: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise GpusimError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise GpusimError(f"{path}: not JSON: {err}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise GpusimError(f"{path}: not a gpusim profile (key 'format' must be {FORMAT!r})")
    version = data.get("version")
    if version not in VERSIONS:
        raise GpusimError(f"{path}: profile version {version!r} is not supported (expected 1 or 2)")
    for key in ("source", "device", "measurements"):
        if key not in data:
            raise GpusimError(f"{path}: missing key {key!r}")
    if not isinstance(data["measurements"], list):
        raise GpusimError(f"{path}: key 'measurements' must be a list")
    known = {f for f in Measurement.__dataclass_fields__}
    measurements = []
    for i, m in enumerate(data["measurements"]):
        where = f"{path}: measurements[{i}]"
        if not isinstance(m, dict):
            raise GpusimError(f"{where}: must be an object")
        unknown = set(m) - known
        newer = set(m) & {"gpu_memory_mib", "gpu_memory_source"} if version == 1 else set()
        if newer:  # GPU memory came with version 2
            raise GpusimError(f"{where}: key {sorted(newer)[0]!r} needs profile version 2 (the file says 1)")
        if unknown:
            raise GpusimError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        try:
            if isinstance(m.get("input_shape"), list):
                m = {**m, "input_shape": tuple(m["input_shape"])}
            measurements.append(Measurement(**m))
        except (TypeError, ValueError) as err:
            raise GpusimError(f"{where}: {err}") from None
    extra = set(data) - {"format", "version", *Profile.__dataclass_fields__}
    if extra:
        raise GpusimError(f"{path}: unknown key {sorted(extra)[0]!r}")
    for key, kinds, what in (("source", (str,), "text"), ("device", (dict,), "an object"),
                             ("versions", (dict,), "an object"), ("settings", (dict,), "an object"),
                             ("date", (str, type(None)), "text or null"),
                             ("reference_gpu_type", (str, type(None)), "a GPU type name or null")):
        if not isinstance(data.get(key), kinds) and key in data:
            raise GpusimError(f"{path}: key {key!r} must be {what}, got {_short(data[key])}")
    _check_fits(path, data.get("fits"))
    return Profile(data["source"], data["device"], tuple(measurements), data.get("versions", {}), data.get("date"),
                   data.get("settings", {}), data.get("fits"), data.get("reference_gpu_type"))


def _key(name: str) -> str:
    """A key as written, or quoted with escapes when it holds line breaks or other control characters."""
    return name if name.isprintable() else repr(name)


def _short(value) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:60] + "..."


def _check_fits(path: Path, fits) -> None:
    """The parts of ``fits`` a calibrated run reads (calibrate.fit.step_time): per model an object
    with ``per_type`` (GPU type → {"a": s, "b": s/sample}, not both 0) and an optional ``comm``
    ({"intra_s", "inter_s"}: seconds or null). Problems name the file and the key."""
    if fits is None:
        return
    if not isinstance(fits, dict):
        raise GpusimError(f"{path}: key 'fits' must be an object of model → fit, or null; got {_short(fits)}")
    for model, fit in fits.items():
        where = f"{path}: fits.{_key(model)}"
        if not isinstance(fit, dict) or not isinstance(fit.get("per_type"), dict):
            raise GpusimError(f"{where} must be an object with 'per_type' (GPU type → {{a, b}}), got {_short(fit)}")
        for gpu_type, terms in fit["per_type"].items():
            gpu_type = _key(gpu_type)
            if not isinstance(terms, dict):
                raise GpusimError(f"{where}.per_type.{gpu_type} must be an object {{a, b}}, got {_short(terms)}")
            for key in ("a", "b"):
                if not _seconds(terms.get(key)):
                    raise GpusimError(f"{where}.per_type.{gpu_type}.{key} must be a finite number of seconds "
                                      f">= 0, got {_short(terms.get(key))}")
            if terms["a"] == 0 and terms["b"] == 0:
                raise GpusimError(f"{where}.per_type.{gpu_type}: a and b are both 0 (a step would take no time)")
        comm = fit.get("comm")
        if comm is not None and not isinstance(comm, dict):
            raise GpusimError(f"{where}.comm must be an object {{intra_s, inter_s}} or null, got {_short(comm)}")
        for key in ("intra_s", "inter_s"):
            value = (comm or {}).get(key)
            if value is not None and not _seconds(value):
                raise GpusimError(f"{where}.comm.{key} must be a finite number of seconds >= 0 or null, "
                                  f"got {_short(value)}")

"""The profile file: measured training step times, their provenance, and the fitted speed model.

One JSON document, versioned (``format``/``version``), written by ``gpusim calibrate run`` (our own
Keras measurements) or by an importer of third-party tables (Gavel's), and extended by
``gpusim calibrate fit`` with ``fits``. Nothing here imports TensorFlow.

    {
      "format": "gpusim-profile", "version": 1,
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
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sim.errors import GpusimError

FORMAT = "gpusim-profile"
VERSION = 1


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

    @property
    def samples_per_s(self) -> float:
        return self.batch_size / self.step_time

    def __post_init__(self) -> None:
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not (isinstance(self.num_gpus, int) and self.num_gpus >= 1):
            raise ValueError(f"num_gpus must be a positive integer, got {self.num_gpus!r}")
        if not (isinstance(self.step_time, (int, float)) and math.isfinite(self.step_time) and self.step_time > 0):
            raise ValueError(f"step_time must be a positive number of seconds, got {self.step_time!r}")


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

    def to_json(self) -> dict:
        out = {"format": FORMAT, "version": VERSION, **asdict(self)}
        out["measurements"] = [asdict(m) for m in self.measurements]
        return {k: v for k, v in out.items() if v is not None}


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
    except json.JSONDecodeError as err:
        raise GpusimError(f"{path}: not JSON: {err}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise GpusimError(f"{path}: not a gpusim profile (key 'format' must be {FORMAT!r})")
    if data.get("version") != VERSION:
        raise GpusimError(f"{path}: profile version {data.get('version')!r} is not supported (expected {VERSION})")
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
        if unknown:
            raise GpusimError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        try:
            if m.get("input_shape") is not None:
                m = {**m, "input_shape": tuple(m["input_shape"])}
            measurements.append(Measurement(**m))
        except (TypeError, ValueError) as err:
            raise GpusimError(f"{where}: {err}") from None
    extra = set(data) - {"format", "version", *Profile.__dataclass_fields__}
    if extra:
        raise GpusimError(f"{path}: unknown key {sorted(extra)[0]!r}")
    return Profile(data["source"], data["device"], tuple(measurements), data.get("versions", {}), data.get("date"),
                   data.get("settings", {}), data.get("fits"), data.get("reference_gpu_type"))

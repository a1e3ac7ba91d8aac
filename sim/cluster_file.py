"""Clusters from files: one row (CSV) or table (TOML) per node or group of equal nodes.

CSV, with a header; columns in any order, unknown ones refused:

    name,count,num_gpus,gpu_type,gpu_memory_mib,cpu_milli,memory_mib
    v100-big,4,8,V100M32,,96000,786432

Only ``num_gpus`` is required. ``count`` (default 1) repeats the row; ``gpu_type`` defaults to
``generic``; an empty ``gpu_memory_mib`` is the catalog's memory for the type (``sim.gpu_types``,
None when the type is unknown); empty ``cpu_milli``/``memory_mib`` mean unknown (no limit). An
Alibaba 2023 node list (``sn,cpu_milli,memory_mib,gpu,model``) is read as it is: ``sn`` is the
name, ``gpu`` the GPU count, ``model`` the type.

TOML: an array of tables ``[[nodes]]`` with the same keys.

Nodes with zero GPUs (Alibaba's CPU-only machines) are kept and counted (``ClusterFile.cpu_only``):
they offer CPU and memory to CPU-only jobs under the resource model, and a run without it leaves
them out (``sim.experiment``). At least one node must have GPUs. Any other bad row is a
GpusimError naming ``file:line`` (CSV) or ``file: nodes[i]`` (TOML).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from sim.errors import GpusimError
from sim.gpu_types import gpu_memory_mib
from sim.model import Cluster, NodeSpec

SUFFIXES = (".csv", ".toml")
KEYS = ("name", "count", "num_gpus", "gpu_type", "gpu_memory_mib", "cpu_milli", "memory_mib")
_ALIBABA = {"sn": "name", "gpu": "num_gpus", "model": "gpu_type"}  # Alibaba node list → our keys
_INTS = ("count", "num_gpus", "gpu_memory_mib", "cpu_milli", "memory_mib")


@dataclass(frozen=True)
class ClusterFile:
    """A cluster read from a file, and how many of its nodes have zero GPUs (kept: CPU-only nodes)."""

    cluster: Cluster
    cpu_only: int

    def message(self) -> str:
        c = self.cluster
        cpu_only = f" ({self.cpu_only} of them without GPUs)" if self.cpu_only else ""
        return f"cluster from {c.source}: {len(c.nodes)} node(s){cpu_only}, {c.num_gpus} GPU(s)"


def is_file_spec(spec: str) -> bool:
    """Whether a ``--cluster`` value names a cluster file rather than a ``NxG:TYPE`` spec."""
    return spec.strip().lower().endswith(SUFFIXES)


def read(path: str | Path) -> Cluster:
    """The cluster in a cluster file (see the module docstring)."""
    return load(path).cluster


def load(path: str | Path) -> ClusterFile:
    """Read a cluster file; ``ClusterFile.cpu_only`` counts its zero-GPU nodes."""
    text = str(path).strip()
    path = Path(text)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise GpusimError(f"{path}: cannot read cluster file: {err.strerror or err}") from None
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise GpusimError(f"{path}: cluster file is not UTF-8 text") from None
    rows = _toml_rows(path, content) if path.suffix.lower() == ".toml" else _csv_rows(path, content)
    nodes: list[NodeSpec] = []
    for where, row in rows:
        try:
            spec, count = _node(row)
        except (ValueError, TypeError) as err:
            raise GpusimError(f"{where}: {err}") from None
        nodes.extend([spec] * count)
    cpu_only = sum(1 for n in nodes if n.num_gpus == 0)
    if cpu_only == len(nodes):
        raise GpusimError(f"{path}: no node with GPUs" + (f" ({cpu_only} with zero GPUs)" if cpu_only else ""))
    return ClusterFile(Cluster(tuple(nodes), source=text), cpu_only)


def _csv_rows(path: Path, content: str):
    reader = csv.reader(content.splitlines())
    try:
        header = [_ALIBABA.get(h.strip(), h.strip()) for h in next(reader, [])]
        if "num_gpus" not in header:
            raise GpusimError(f"{path}:1: a cluster file needs a num_gpus (or gpu) column; "
                              f"columns: {', '.join(KEYS)}")
        unknown = [h for h in header if h not in KEYS]
        if unknown:
            raise GpusimError(f"{path}:1: unknown column(s) {', '.join(map(repr, unknown))}; "
                              f"known: {', '.join(KEYS)}")
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            where = f"{path}:{reader.line_num}"
            if len(row) != len(header):
                raise GpusimError(f"{where}: expected {len(header)} fields, got {len(row)}")
            yield where, {h: c.strip() for h, c in zip(header, row) if c.strip()}
    except csv.Error as err:
        raise GpusimError(f"{path}:{reader.line_num}: not valid CSV: {err}") from None


def _toml_rows(path: Path, content: str):
    import tomllib

    try:
        data = tomllib.loads(content)
    except tomllib.TOMLDecodeError as err:
        raise GpusimError(f"{path}: not valid TOML: {err}") from None
    nodes = data.get("nodes")
    extra = sorted(set(data) - {"nodes"})
    if extra or not isinstance(nodes, list):
        raise GpusimError(f"{path}: a cluster file in TOML is an array of [[nodes]] tables"
                          + (f"; unknown key(s) {', '.join(extra)}" if extra else ""))
    for i, node in enumerate(nodes):
        where = f"{path}: nodes[{i}]"
        if not isinstance(node, dict):
            raise GpusimError(f"{where}: not a table")
        unknown = sorted(set(node) - set(KEYS))
        if unknown:
            raise GpusimError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(KEYS)}")
        yield where, node


def _int(row: dict, key: str, default: int | None) -> int | None:
    value = row.get(key)
    if value is None:
        return default
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{key} is not a number: {value!r}") from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = value
    else:
        raise ValueError(f"{key} is not a number: {value!r}")
    if not math.isfinite(number) or number != int(number) or number < 0:
        raise ValueError(f"{key} must be a non-negative whole number, got {value!r}")
    return int(number)


def _node(row: dict) -> tuple[NodeSpec, int]:
    """One row as a node spec and its count (a node without GPUs has no GPU memory)."""
    if "num_gpus" not in row:
        raise ValueError("num_gpus is missing")
    count = _int(row, "count", 1)
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    num_gpus = _int(row, "num_gpus", None)
    gpu_type = row.get("gpu_type") or "generic"
    if not isinstance(gpu_type, str) or not gpu_type.replace("|", "").strip() or "|" in gpu_type:
        raise ValueError(f"gpu_type must be one GPU type name, got {gpu_type!r}")
    name = row.get("name")
    spec = NodeSpec(num_gpus, gpu_type.strip(),
                    _int(row, "gpu_memory_mib", gpu_memory_mib(gpu_type)) if num_gpus else None,
                    _int(row, "cpu_milli", None), _int(row, "memory_mib", None),
                    None if name is None else str(name))
    return spec, count

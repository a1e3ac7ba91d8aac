"""Standard Workload Format (SWF, the Parallel Workloads Archive's format), plain or gzipped.

One job per line, 18 whitespace-separated numeric fields (``FIELDS``); ``-1`` means unknown; lines
starting with ``;`` are header comments (``; MaxProcs: 338``). Gzip is recognised by its magic
bytes, not the file name (some real files have no extension at all).

Mapping: ``job_id`` = job number, ``submit_time`` = submit time, ``duration`` = run time,
processors = allocated processors or, when that is -1, requested processors; ``num_gpus =
ceil(processors / options.procs_per_gpu)``; ``estimate`` = requested time when positive; ``status``
and ``user`` kept as the file's text (None when -1). SWF logs come from CPU machines: the
processor-to-GPU mapping is a modelling choice, and a note says which was used.

Left out by rule and counted: jobs that never ran or whose run time is unknown (run time <= 0),
jobs with no processor count, jobs with unknown submit time (-1). The header's MaxProcs (or, when
absent, MaxNodes) gives the implied cluster (``cluster_spec``). See docs/formats/swf.md.
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import re
import zlib
from pathlib import Path
from typing import TextIO

from sim.errors import GpusimError
from sim.model import Cluster
from traces.table import LARGEST_INT, BadRow, ReadOptions, Rows, Trace, number, shown

FORMAT = "swf"
FIELDS = ("job number", "submit time", "wait time", "run time", "allocated processors", "average CPU time",
          "used memory", "requested processors", "requested time", "requested memory", "status", "user",
          "group", "executable", "queue", "partition", "preceding job", "think time")
#: Header keys only SWF files have; sniffing falls back on them when no job line is in the head.
_SWF_KEYS = {"MaxJobs", "MaxRecords", "MaxNodes", "MaxProcs", "UnixStartTime", "MaxRuntime"}
_KEY = re.compile(r";\s*([A-Za-z][A-Za-z ]*?)\s*:(?:\s+(.*?))?\s*$")
_ATTRIBUTION = ("Computer", "Installation", "Acknowledge")
_GZIP_MAGIC = b"\x1f\x8b"


def _numeric(parts: list[str]) -> bool:
    try:
        return all(math.isfinite(float(p)) for p in parts)
    except ValueError:
        return False


def sniff(head: str) -> bool:
    lines = head.splitlines()
    keys = set()
    for i, line in enumerate(lines):
        text = line.strip()
        if not text:
            continue
        if text.startswith(";"):
            match = _KEY.match(text)
            if match:
                keys.add(match[1])
            continue
        parts = text.split()
        if len(parts) == len(FIELDS) and _numeric(parts):
            return True
        cut = i == len(lines) - 1 and not head.endswith(("\n", "\r"))  # the head may end mid-line
        return cut and bool(keys & _SWF_KEYS)
    return bool(keys & _SWF_KEYS)


def _open(path: Path) -> TextIO:
    """The file as text, gunzipped when it starts with gzip's magic bytes (whatever its name)."""
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == _GZIP_MAGIC
        if gzipped:
            return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace")
        # utf-8-sig: a byte order mark would otherwise glue itself to the first line's ';' or number
        return path.open(encoding="utf-8-sig", errors="replace")
    except OSError as err:
        raise GpusimError(f"{path}: cannot read: {err.strerror or err}") from None


def _problem(parts: list[str]) -> BadRow | None:
    """Why a line that failed the fast check is bad (None: it is fine after all)."""
    if len(parts) != len(FIELDS):
        return BadRow("wrong number of fields", f"expected {len(FIELDS)}, got {len(parts)}")
    try:
        for name, text in zip(FIELDS, parts):
            number(text, name)
    except BadRow as bad:
        return bad
    return None


def _raise(rows: Rows, line: int, bad: BadRow) -> None:
    """Hand a bad row to ``rows``: it stops the read or counts the row, per ``on_error``."""
    with rows.row(line):
        raise bad


def _job(parts: list[str], per_gpu: int) -> tuple[dict, bool] | str:
    """One job line's canonical fields and whether its processors are the requested count, or
    the reason the format leaves it out; a malformed line raises BadRow."""
    try:
        values = list(map(float, parts))
    except ValueError:
        values = None
    if values is None or len(values) != len(FIELDS) or not math.isfinite(sum(values)):
        bad = _problem(parts)
        if bad is not None:
            raise bad
    submit, run, procs = values[1], values[3], values[4]
    requested = procs <= 0  # unknown (-1) or none allocated (0): the requested count stands in
    if requested:
        procs = values[7]
    if submit < 0:
        if submit == -1:
            return "with unknown submit time (-1)"
        raise BadRow("submit time is negative", repr(parts[1]))
    if run <= 0:
        return ("with unknown run time (-1)" if run == -1 else
                "with run time 0 (under 0.5 s)" if run == 0 else "with a negative run time")
    if procs <= 0:
        return "with no processor count (neither allocated nor requested: -1 or 0)"
    if not procs.is_integer():
        raise BadRow(f"{'requested' if requested else 'allocated'} processors is not an integer", repr(procs))
    if procs > LARGEST_INT:  # the canonical table holds 64-bit counts
        raise BadRow(f"{'requested' if requested else 'allocated'} processors is too large", repr(procs))
    fields = {"job_id": parts[0], "submit_time": submit, "num_gpus": -(-int(procs) // per_gpu), "duration": run}
    if values[8] > 0:
        fields["estimate"] = values[8]
    if parts[10] != "-1":
        fields["status"] = parts[10]
    if parts[11] != "-1":
        fields["user"] = parts[11]
    return fields, requested


def read(path: str | Path, options: ReadOptions = ReadOptions()) -> Trace:
    """Read an SWF log, plain or gzipped (see the module docstring)."""
    path = Path(path)
    rows = Rows(path, options)
    header: dict[str, list[str]] = {}
    last_key = None
    requested = set()  # jobs whose processors are the requested count (allocated was -1)
    n = 0
    try:
        with _open(path) as handle:
            # A plain loop on purpose: ~240k lines must read in a few seconds. Rows.row is entered
            # only for bad lines (through _raise), with the same stop/skip semantics.
            for n, line in enumerate(handle, 1):
                parts = line.split()
                if not parts:
                    continue
                if parts[0][0] == ";":
                    last_key = _header_line(line, header, last_key)
                    continue
                try:
                    job = _job(parts, options.procs_per_gpu)
                    if isinstance(job, str):
                        rows.exclude(job)
                        continue
                    rows.add(n, **job[0])
                except BadRow as bad:
                    _raise(rows, n, bad)
                    continue
                if job[1]:
                    requested.add(parts[0])
    except (OSError, EOFError, zlib.error) as err:  # a damaged gzip stream shows up mid-read
        raise GpusimError(f"{path}:{n + 1}: cannot read (damaged gzip data?): {err}") from None
    cluster, cluster_notes = cluster_spec(header, options.procs_per_gpu)
    trace = rows.finish(FORMAT, (), cluster)
    notes = _notes(trace, header, options.procs_per_gpu, requested, cluster_notes)
    return dataclasses.replace(trace, notes=tuple(notes))


def _notes(trace: Trace, header: dict[str, list[str]], per_gpu: int, requested: set[str],
           cluster_notes: list[str]) -> list[str]:
    """What the user should know: the processor mapping, fallbacks, the cluster, attribution."""
    source = trace.source
    notes = [f"{source}: processors mapped to GPUs as num_gpus = ceil(processors / {per_gpu}) "
             f"({per_gpu} processor(s) per GPU); SWF logs come from CPU machines"]
    fallback = sum(job.job_id in requested for job in trace.jobs) if requested else 0
    if fallback:
        notes.append(f"{source}: {fallback} job(s) have no allocated processor count (-1); "
                     f"their requested count was used")
    notes += [f"{source}: {note}" for note in cluster_notes]
    if trace.cluster is not None:
        size = Cluster.parse(trace.cluster).num_gpus  # at most LARGEST nodes (cluster_spec)
        too_big = sum(job.num_gpus > size for job in trace.jobs)
        if too_big:
            notes.append(f"{source}: {too_big} job(s) need more than the header's {size} GPU(s)")
    said = shown("; ".join(f"{key}: {' '.join(header[key])}" for key in _ATTRIBUTION if header.get(key)), 1000)
    if said:
        notes.append(f"{source}: source (acknowledge it when you publish): {said}")
    return notes


def _header_line(line: str, header: dict[str, list[str]], last_key: str | None) -> str | None:
    """Record one ``; Key: value`` comment (or a continuation of the last key); return the current key."""
    text = line.strip()
    match = _KEY.match(text)
    if match:
        key = match[1]
        header.setdefault(key, []).append(match[2] or "")
        return key
    rest = text[1:].strip()
    if not rest:
        return None
    if last_key is not None and line.lstrip()[1:2].isspace():  # an indented continuation line
        header[last_key][-1] = f"{header[last_key][-1]} {rest}".strip()
        return last_key
    return None


#: The largest MaxProcs or MaxNodes taken as a machine's size. A larger value is taken for damage
#: rather than built into a cluster (the largest machines in the Parallel Workloads Archive have a
#: few hundred thousand processors).
LARGEST = 10**6


def _count(header: dict[str, list[str]], key: str) -> int | None:
    """The leading whole number of a header value (``MaxNodes: 338 (batch partition; 512 total)``);
    a number of more than 20 digits counts as LARGEST + 1 (so that it is refused)."""
    values = header.get(key)
    match = re.match(r"\s*(\d+)", values[0]) if values else None
    if match is None:
        return None
    value = int(match[1]) if len(match[1]) <= 20 else LARGEST + 1
    return value if value > 0 else None


def cluster_spec(header: dict[str, list[str]], procs_per_gpu: int = 1) -> tuple[str | None, list[str]]:
    """The cluster the header implies, as ``Cluster.parse`` spec, and notes saying how it was made.

    The GPU count is ceil(MaxProcs / procs_per_gpu) (MaxNodes stands in for a missing MaxProcs).
    When nodes hold several processors (MaxNodes < MaxProcs, MaxNodes divides MaxProcs) and
    procs_per_gpu divides a node's processors, the cluster keeps the machine's nodes:
    ``MaxNodes x (MaxProcs / MaxNodes / procs_per_gpu)``. Otherwise it is one node of all GPUs
    (``1xN``): SWF jobs span nodes freely, and with single-processor nodes a node per GPU would
    only slow placement down without changing which jobs fit.
    """
    procs, nodes = _count(header, "MaxProcs"), _count(header, "MaxNodes")
    if procs is None and nodes is None:
        return None, ["header has neither MaxProcs nor MaxNodes: no cluster implied"]
    huge = [key for key, n in (("MaxProcs", procs), ("MaxNodes", nodes)) if n is not None and n > LARGEST]
    if huge:
        return None, [f"header's {' and '.join(huge)} over {LARGEST:,} taken for damage: no cluster implied"]
    if procs is None:
        procs, how = nodes, f"MaxNodes {nodes} (no MaxProcs; nodes taken as processors)"
    elif nodes is not None and nodes < procs and procs % nodes == 0 and (procs // nodes) % procs_per_gpu == 0:
        spec = f"{nodes}x{procs // nodes // procs_per_gpu}"
        return spec, [f"cluster {spec} from the header's MaxProcs {procs} on MaxNodes {nodes} "
                      f"at {procs_per_gpu} processor(s) per GPU"]
    else:
        how = f"MaxProcs {procs}" + (f" (MaxNodes {nodes})" if nodes is not None and nodes != procs else "")
    spec = f"1x{-(-procs // procs_per_gpu)}"
    return spec, [f"cluster {spec} from the header's {how} at {procs_per_gpu} processor(s) per GPU"]

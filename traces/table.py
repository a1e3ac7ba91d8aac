"""The canonical job table every reader produces, and the row bookkeeping they share.

A reader turns each row of its file into canonical fields (``COLUMNS``) inside ``rows.row(line)``.
A bad row raises ``BadRow``: with ``on_error="stop"`` (the default) the read stops with
``file:line: what is wrong``; with ``"skip"`` the row is skipped and counted under its problem.
Rows a format leaves out by rule (never-scheduled pods, cancelled jobs, other virtual clusters)
are counted as excluded. Nothing is dropped without being counted, and ``Trace.report()`` says so.
Times are rebased so the first selected submission is 0; jobs are sorted stably by submit time.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from sim.errors import GpusimError
from sim.model import Job

COLUMNS = ("job_id", "submit_time", "num_gpus", "duration", "model", "user", "vc", "priority", "deadline",
           "estimate", "status", "gpu_type", "gpu_milli", "cpu_milli", "memory_mib", "censored", "batch_size",
           "iterations", "min_gpus", "max_gpus", "gpu_memory_mib")
ON_ERROR = ("stop", "skip")


@dataclass(frozen=True)
class ReadOptions:
    """How to read a trace; every option applies to every format where it makes sense.

    ``start``/``end`` select a time window in seconds from the first submission of the rows kept
    by the other filters (``vcs`` and the format's own rules), start inclusive, end exclusive.
    ``vcs`` keeps only those virtual clusters.
    ``procs_per_gpu`` maps SWF processors to GPUs (ceil(procs / procs_per_gpu)).
    """

    format: str | None = None
    vcs: tuple[str, ...] = ()
    start: float | None = None
    end: float | None = None
    on_error: str = "stop"
    procs_per_gpu: int = 1

    def __post_init__(self) -> None:
        if not (isinstance(self.vcs, tuple) and all(isinstance(v, str) for v in self.vcs)):
            raise GpusimError(f"virtual clusters must be a tuple of names, got {self.vcs!r}")
        if self.on_error not in ON_ERROR:
            raise GpusimError(f"--on-error must be one of {', '.join(ON_ERROR)}, got {self.on_error!r}")
        if not isinstance(self.procs_per_gpu, int) or self.procs_per_gpu < 1:
            raise GpusimError(f"--procs-per-gpu must be a whole number >= 1, got {self.procs_per_gpu!r}")
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise GpusimError(f"time window {name} must be a non-negative number of seconds, got {value!r}")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise GpusimError(f"time window end ({self.end:g}) must be after its start ({self.start:g})")


@dataclass(frozen=True)
class Trace:
    """Jobs read from a file, with everything the reader skipped, excluded or wants to say."""

    jobs: tuple[Job, ...]
    source: str
    format: str = "canonical"
    skipped: Mapping[str, int] = field(default_factory=dict)
    excluded: Mapping[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    cluster: str | None = None  # a cluster spec the file itself implies (SWF MaxProcs, Alibaba node list)
    origin: float = 0.0  # the file's own clock at time 0 (epoch seconds where the file has dates)

    def report(self) -> list[str]:
        """One line per thing the user should know: skipped bad rows, excluded rows, notes."""
        lines = []
        if self.skipped:
            what = "; ".join(f"{n} × {why}" for why, n in sorted(self.skipped.items(), key=lambda kv: (-kv[1], kv[0])))
            lines.append(f"{self.source}: skipped {sum(self.skipped.values())} bad row(s): {what}")
        if self.excluded:
            what = "; ".join(f"{n} {why}" for why, n in sorted(self.excluded.items(), key=lambda kv: (-kv[1], kv[0])))
            lines.append(f"{self.source}: left out {sum(self.excluded.values())} row(s): {what}")
        return lines + list(self.notes)


class BadRow(Exception):
    """A row that cannot be read; ``problem`` groups skipped rows, ``detail`` adds the values."""

    def __init__(self, problem: str, detail: str = "") -> None:
        super().__init__(problem)
        self.problem, self.detail = problem, detail


class Rows:
    """Collects one file's rows into a Trace (see the module docstring)."""

    def __init__(self, path: str | Path, options: ReadOptions) -> None:
        self.path = str(path)
        self.options = options
        self.skipped: Counter[str] = Counter()
        self.excluded: Counter[str] = Counter()
        self._rows: list[tuple[int, dict]] = []
        self._lines: dict[str, int] = {}
        self._any_vc = False

    @contextmanager
    def row(self, line: int) -> Iterator[None]:
        """Read one row: a BadRow inside stops the read or is counted, per ``on_error``."""
        try:
            yield
        except BadRow as bad:
            self.bad(line, bad)

    def bad(self, line: int, bad: BadRow) -> None:
        """Stop the read at bad row ``line`` or count it, per ``on_error``."""
        if self.options.on_error == "stop":
            detail = f": {shown(bad.detail)}" if bad.detail else ""  # a cell may be long, or not text at all
            raise GpusimError(f"{self.path}:{line}: {shown(bad.problem)}{detail}") from None
        self.skipped[bad.problem] += 1

    def exclude(self, why: str) -> None:
        """Count a row the format leaves out by rule (not an error)."""
        self.excluded[why] += 1

    def add(self, line: int, **fields) -> None:
        """A good row's canonical fields; ``submit_time`` on the file's own clock, in seconds."""
        job_id = fields["job_id"]
        if job_id in self._lines:
            raise BadRow("duplicate job id", f"{job_id!r} (first on line {self._lines[job_id]})")
        self._any_vc = self._any_vc or fields.get("vc") is not None
        if self.options.vcs and fields.get("vc") not in self.options.vcs:
            self._lines[job_id] = line
            self.exclude("in other virtual clusters")
            return
        self._lines[job_id] = line
        self._rows.append((line, fields))

    def finish(self, format: str, notes: tuple[str, ...] = (), cluster: str | None = None) -> Trace:
        """Apply the time window, rebase, sort, and build the Trace; no job left is an error."""
        if self.options.vcs and self._lines and not self._any_vc:
            raise GpusimError(f"{self.path}: its {format} rows name no virtual cluster, so --vc selects nothing")
        rows = self._rows
        if rows and (self.options.start is not None or self.options.end is not None):
            t0 = min(f["submit_time"] for _, f in rows)
            lo = -math.inf if self.options.start is None else self.options.start
            hi = math.inf if self.options.end is None else self.options.end
            kept = [(line, f) for line, f in rows if lo <= f["submit_time"] - t0 < hi]
            if len(kept) < len(rows):
                self.excluded["outside the time window"] += len(rows) - len(kept)
            rows = kept
        jobs, t0 = self._jobs(rows)
        if not jobs:
            trace = Trace((), self.path, format, dict(self.skipped), dict(self.excluded), tuple(notes), cluster)
            said = " (" + "; ".join(trace.report()) + ")" if trace.report() else ""
            raise GpusimError(f"{self.path}: no jobs{said}")
        jobs.sort(key=lambda j: j.submit_time)
        return Trace(tuple(jobs), self.path, format, dict(self.skipped), dict(self.excluded), tuple(notes), cluster, t0)

    def _jobs(self, rows: list[tuple[int, dict]]) -> tuple[list[Job], float]:
        """The rows' Jobs with times rebased to the first submission, and that submission's time.

        A row the Job checks refuse (such as a time too far from the first submission for the
        difference to be a finite number) is a bad row like any other. Readers check their cells
        first, so this is a safety net; if it drops the first submission, the rest is rebased again.
        """
        if not rows:
            return [], 0.0
        t0 = min(f["submit_time"] for _, f in rows)
        jobs = []
        for line, f in rows:  # a plain loop (no Rows.row per row): real traces have 10^5 rows and more
            try:
                rebased = {"submit_time": f["submit_time"] - t0}
                if f.get("deadline") is not None:
                    rebased["deadline"] = f["deadline"] - t0
                for column, value in rebased.items():
                    if not math.isfinite(value):
                        raise BadRow(f"{column} is too far from the first submission",
                                     f"{f[column]:.10g} s, first submission {t0:.10g} s")
                try:
                    jobs.append(Job(**{**f, **rebased}))
                except ValueError as err:
                    raise BadRow("not a valid job", str(err)) from None
            except BadRow as bad:
                self.bad(line, bad)
        shift = min((j.submit_time for j in jobs), default=0.0)
        if shift > 0:
            jobs = [replace(j, submit_time=j.submit_time - shift,
                            deadline=None if j.deadline is None else j.deadline - shift) for j in jobs]
        return jobs, t0 + shift


def check_header(path: str | Path, header: Sequence[str], required: Sequence[str], where: str = ":1") -> None:
    """A GpusimError naming ``path`` when the header lacks a required column or repeats one (the
    repeat's cells would otherwise be silently lost)."""
    missing = [c for c in required if c not in header]
    if missing:
        raise GpusimError(f"{path}{where}: missing column(s) {', '.join(missing)} (header: {shown(','.join(header))})")
    seen: set[str] = set()
    twice = [c for c in header if c in seen or seen.add(c)]
    if twice:
        raise GpusimError(f"{path}{where}: column {shown(twice[0])!r} appears more than once in the header")


#: The largest whole number a cell may hold: the canonical table stores integers as 64-bit.
LARGEST_INT = 2**63 - 1


def whole(value: float, column: str, *, up: bool = False) -> int:
    """A value computed from cells (a product, say), rounded (``up``: to the ceiling) to a whole
    number; BadRow naming ``column`` when it is not finite or beyond LARGEST_INT."""
    if not (math.isfinite(value) and abs(value) <= LARGEST_INT):
        raise BadRow(f"{column} is too large", f"{value:.6g} after scaling")
    return math.ceil(value) if up else round(value)


def shown(text: str, limit: int = 200) -> str:
    """``text`` fit for a one-line message: control characters, line breaks and undecodable bytes
    escaped (``\\n``, ``\\udc8b``), and cut at ``limit`` characters."""
    out = "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
                  for c in text[:limit + 1])
    return out if len(text) <= limit else out[:limit] + "..."


def number(text: str | None, column: str, *, integer: bool = False, positive: bool = False,
           minimum: float | None = None) -> float | int:
    """Parse one cell or raise BadRow naming the column (grouped by column and problem)."""
    text = (text or "").strip()
    if not text:
        raise BadRow(f"{column} is empty")
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        try:  # integers written as 4.0
            as_float = float(text)
        except ValueError:
            as_float = math.nan
        if integer and as_float.is_integer():
            value = int(as_float)
        else:
            raise BadRow(f"{column} is not {'an integer' if integer else 'a number'}", repr(text)) from None
    if not integer and not math.isfinite(value):
        raise BadRow(f"{column} is not finite", repr(text))
    if integer and not -LARGEST_INT <= value <= LARGEST_INT:
        raise BadRow(f"{column} is too large", repr(text))
    if positive and not value > 0:
        raise BadRow(f"{column} is not positive", repr(text))
    if minimum is not None and value < minimum:
        raise BadRow(f"{column} is below {minimum:g}", repr(text))
    return value

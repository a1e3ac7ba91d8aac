"""The Microsoft Philly trace as processed by the Pollux authors: one row per job,
``timestamp,duration,num_gpus,gpu_time,cluster`` (see docs/formats/philly.md).

``timestamp`` is the submit time, a naive ``YYYY-MM-DD HH:MM:SS`` read as UTC (never local time, so
the result does not depend on the machine's time zone); ``duration`` is in seconds; ``cluster`` is
the virtual cluster (``vc``); ``gpu_time`` must equal ``duration * num_gpus`` and is otherwise not
kept. Philly has no job ids: each job is named ``philly-<line>`` after its line in the file (the
header is line 1), so ids are stable for a given file. Rows are not time-sorted in the real file.

This module also holds helpers the other CSV readers share: ``CsvFile`` (a CSV read row by row,
its problems reported as ``file:line``), ``open_text`` (a plain or gzipped file as text) and
``utc_seconds`` (a naive UTC time to epoch seconds).
"""

from __future__ import annotations

import csv
import gzip
import math
import re
import zlib
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from sim.errors import GpusimError
from traces.table import BadRow, ReadOptions, Rows, Trace, check_header, number, shown

REQUIRED = ("timestamp", "duration", "num_gpus", "cluster")
COLUMNS = ("timestamp", "duration", "num_gpus", "gpu_time", "cluster")

_TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d{1,6})?", re.ASCII)


def utc_seconds(text: str | None, column: str) -> float:
    """Epoch seconds of a naive ``YYYY-MM-DD HH:MM:SS[.ffffff]`` taken as UTC; BadRow otherwise.

    A time with a zone offset is refused rather than guessed at.
    """
    text = (text or "").strip()
    if not text:
        raise BadRow(f"{column} is empty")
    if _TIME.fullmatch(text) is None:
        raise BadRow(f"{column} is not a YYYY-MM-DD HH:MM:SS time", repr(text))
    try:
        return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()
    except ValueError:  # 2017-02-30, 25:00:00, ...
        raise BadRow(f"{column} is not a valid date and time", repr(text)) from None


def open_text(path: Path, errors: str = "strict") -> TextIO:
    """``path`` opened as UTF-8 text for ``csv`` (a leading byte order mark dropped), gunzipped
    when it starts with gzip's magic bytes, whatever its name (format detection looks inside a
    .gz, so every reader must read one); GpusimError when it cannot be opened."""
    try:
        with path.open("rb") as raw:
            zipped = raw.read(2) == b"\x1f\x8b"
        return (gzip.open(path, "rt", newline="", encoding="utf-8-sig", errors=errors) if zipped
                else path.open(newline="", encoding="utf-8-sig", errors=errors))
    except OSError as err:
        raise GpusimError(f"{path}: cannot read: {err.strerror or err}") from None


class CsvFile:
    """A CSV file (plain or gzipped) read row by row as ``(line, cells)``; blank lines are skipped.

    With ``names`` the columns are fixed and a first row equal to ``names`` is a header to skip;
    otherwise the first row is the header and must hold every ``required`` column. Unreadable
    files, missing columns, invalid CSV and non-UTF-8 bytes are GpusimErrors naming the file (and
    the line where known). ``record`` turns one row's cells into ``{column: text}`` or raises
    BadRow, so a short or long row is a bad row like any other.
    """

    def __init__(self, path: Path, required: Sequence[str] = (), names: Sequence[str] | None = None) -> None:
        self.path, self.required = path, tuple(required)
        self.names = tuple(names) if names is not None else None
        self.header: tuple[str, ...] = self.names or ()

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        path = self.path
        with open_text(path) as handle:
            reader = csv.reader(handle)
            try:
                if self.names is None:
                    self.header = tuple(h.strip() for h in next(reader, []))
                    if not self.header:
                        raise GpusimError(f"{path}: empty file, expected a header {','.join(self.required)}")
                    check_header(path, self.header, self.required)
                first = True
                for cells in reader:
                    if not any(cell.strip() for cell in cells):
                        continue
                    if first and self.names is not None and tuple(c.strip() for c in cells) == self.names:
                        first = False
                        continue
                    first = False
                    yield reader.line_num, cells
            except csv.Error as err:
                raise GpusimError(f"{path}:{reader.line_num}: not valid CSV: {err}") from None
            except UnicodeDecodeError as err:  # the decoder reads ahead, so the line is approximate
                raise GpusimError(f"{path}: not UTF-8 text (byte {err.start} of a block read near "
                                  f"line {reader.line_num + 1})") from None
            except (OSError, EOFError, zlib.error) as err:  # a damaged or truncated .gz
                raise GpusimError(f"{path}: cannot read near line {reader.line_num + 1}: {err}") from None

    def record(self, cells: list[str]) -> dict[str, str]:
        """One row as ``{column: text}``; BadRow when it has the wrong number of fields."""
        if len(cells) != len(self.header):
            raise BadRow("wrong number of fields", f"expected {len(self.header)}, got {len(cells)}")
        return dict(zip(self.header, cells))

    def unknown(self, known: Sequence[str]) -> tuple[str, ...]:
        """A note naming the header's columns outside ``known`` (empty when there are none)."""
        extra = [c for c in self.header if c not in known]
        return (f"{self.path}: ignored unknown column(s): {shown(', '.join(extra))}",) if extra else ()


def sniff(head: str) -> bool:
    """True when the first line is a header naming timestamp, duration, num_gpus and cluster."""
    first = head.splitlines()[0] if head else ""
    return set(REQUIRED) <= {c.strip() for c in first.split(",")}


def _fields(line: int, row: dict[str, str]) -> dict:
    submit = utc_seconds(row["timestamp"], "timestamp")
    duration = number(row["duration"], "duration", positive=True)
    num_gpus = number(row["num_gpus"], "num_gpus", integer=True, positive=True)
    if "gpu_time" in row:
        gpu_time = number(row["gpu_time"], "gpu_time")
        if not math.isclose(gpu_time, duration * num_gpus, rel_tol=1e-9, abs_tol=1e-6):
            raise BadRow("gpu_time != duration * num_gpus", f"{gpu_time:g} != {duration:g} * {num_gpus}")
    vc = row["cluster"].strip()
    if not vc:
        raise BadRow("cluster is empty")
    return {"job_id": f"philly-{line}", "submit_time": submit, "num_gpus": num_gpus, "duration": duration, "vc": vc}


def read(path: str | Path, options: ReadOptions = ReadOptions()) -> Trace:
    """Read a Philly per-job CSV (see the module docstring)."""
    path = Path(path)
    rows = Rows(path, options)
    table = CsvFile(path, REQUIRED)
    for line, cells in table:
        with rows.row(line):
            rows.add(line, **_fields(line, table.record(cells)))
    return rows.finish("philly", table.unknown(COLUMNS))

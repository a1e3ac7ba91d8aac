"""Which reader reads a file: ``--format`` or auto-detection from the file's first lines.

Each reader module has ``sniff(head: str) -> bool`` (``head`` is the file's first few kilobytes as
text, decompressed for ``.gz``) and ``read(path, options) -> Trace``. The extension is only a hint:
content decides, because some real files have none.
"""

from __future__ import annotations

import gzip
import importlib
import zlib
from pathlib import Path

from sim.errors import GpusimError
from traces.table import ReadOptions, Trace  # noqa: F401  (re-exported)

#: format name → reader module, in detection order (the most specific headers first).
FORMATS = {
    "philly": "traces.philly",
    "alibaba2023": "traces.alibaba",
    "helios": "traces.helios",
    "tiresias": "traces.tiresias",
    "pai2020": "traces.pai",
    "swf": "traces.swf",
    "canonical": "traces.canonical",  # last: its sniff is loose, so a header missing a column still reads as canonical
}


def head(path: str | Path, size: int = 8192) -> str:
    """The first ``size`` bytes of a (possibly gzipped) text file, decoded leniently."""
    path = Path(path)
    try:
        with path.open("rb") as raw:
            start = raw.read(2)
            raw.seek(0)
            data = gzip.GzipFile(fileobj=raw).read(size) if start == b"\x1f\x8b" else raw.read(size)
    except OSError as err:
        raise GpusimError(f"{path}: cannot read: {err.strerror or err}") from None
    except (EOFError, zlib.error) as err:  # a damaged or truncated .gz
        raise GpusimError(f"{path}: cannot read (damaged gzip data?): {err}") from None
    return data.decode("utf-8-sig", errors="replace")


def _module(name: str):
    return importlib.import_module(FORMATS[name])


def detect(path: str | Path) -> str:
    """The format of ``path``, from its content; an error lists the formats when none matches."""
    from traces.canonical import is_parquet

    if is_parquet(path):
        return "canonical"
    text = head(path)
    for name in FORMATS:
        if _module(name).sniff(text):
            return name
    first = text.splitlines()[0][:80] if text.strip() else "(empty)"
    raise GpusimError(f"{path}: cannot tell the trace format from its first line {first!r}; "
                      f"give --format ({', '.join(FORMATS)})")


def read(path: str | Path, options: ReadOptions = ReadOptions()) -> Trace:
    """Read any supported trace into the canonical job table."""
    name = options.format or detect(path)
    if name not in FORMATS:
        raise GpusimError(f"unknown trace format {name!r}; choose one of {', '.join(FORMATS)}")
    return _module(name).read(path, options)

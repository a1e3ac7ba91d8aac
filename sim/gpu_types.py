"""One naming scheme for GPU types across profiles, clusters and traces, and a catalog of their memory.

``canonical("v100")`` → ``"V100"``. Memory variants that compute alike map to one type
(``V100M16``, ``V100M32`` → ``V100``); names gpusim does not know (Alibaba's anonymised ``G2``,
``G3``) are kept as written, upper-cased, so they still match themselves.

``CATALOG`` gives each known GPU model its memory per GPU, from the vendor's data sheet (a
memory variant is its own entry: ``V100M32`` has 32 GiB, ``V100`` means the original 16 GiB
part). Relative speeds are not in the catalog: they depend on the model trained, and come from
a calibration profile (``calibrate.speed``; ``calibrate/profiles/gavel.json`` for K80, P100 and
V100). Alibaba's ``G1``..``G3`` are undisclosed: their memory is unknown (None), which means a
memory demand is never refused on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KNOWN = ("K80", "P100", "P40", "T4", "V100", "A10", "A100", "H100", "H200", "L4", "L40S", "CPU")

ALIASES = {
    "TESLA K80": "K80", "TESLA P100": "P100", "TESLA V100": "V100", "V100M16": "V100", "V100M32": "V100",
    "V100-SXM2": "V100", "V100-PCIE": "V100", "A100-SXM4": "A100", "A100-40GB": "A100", "A100-80GB": "A100",
    "NVIDIA A100": "A100", "NVIDIA H100": "H100", "NVIDIA H200": "H200", "H100-SXM": "H100", "H100 80GB HBM3": "H100",
    "GENERIC": "generic",
}


def canonical(name: str) -> str:
    """The canonical name of a GPU type (see the module docstring)."""
    text = re.sub(r"\s+", " ", name.strip()).upper()
    if text in ALIASES:
        return ALIASES[text]
    if text in KNOWN:
        return text
    for known in KNOWN:  # "NVIDIA H200 141GB" → "H200"
        if re.search(rf"(^|[^A-Z0-9]){known}([^0-9]|$)", text):
            return known
    return text


@dataclass(frozen=True, slots=True)
class GpuType:
    """One GPU model: its name and memory per GPU in MiB (None: unknown), with where the number is from."""

    name: str
    memory_mib: int | None
    source: str


_GIB = 1024
_CATALOG = (
    # name, GiB per GPU, data sheet
    ("K80", 12, "NVIDIA Tesla K80 data sheet: 24 GB GDDR5 per board, two GPUs, 12 GB each"),
    ("P100", 16, "NVIDIA Tesla P100 data sheet: 16 GB CoWoS HBM2 (a 12 GB PCIe variant also exists)"),
    ("P40", 24, "NVIDIA Tesla P40 data sheet: 24 GB GDDR5"),
    ("T4", 16, "NVIDIA T4 data sheet: 16 GB GDDR6"),
    ("V100", 16, "NVIDIA V100 data sheet: 16 GB HBM2 (the 32 GB part is V100M32)"),
    ("V100M16", 16, "NVIDIA V100 data sheet: 16 GB HBM2"),
    ("V100M32", 32, "NVIDIA V100 data sheet: 32 GB HBM2"),
    ("A10", 24, "NVIDIA A10 data sheet: 24 GB GDDR6"),
    ("A100", 40, "NVIDIA A100 data sheet: 40 GB HBM2 (the 80 GB part is A100-80GB)"),
    ("A100-80GB", 80, "NVIDIA A100 data sheet: 80 GB HBM2e"),
    ("H100", 80, "NVIDIA H100 SXM data sheet: 80 GB HBM3"),
    ("H200", 141, "NVIDIA H200 data sheet: 141 GB HBM3e"),
    ("L4", 24, "NVIDIA L4 data sheet: 24 GB GDDR6"),
    ("L40S", 48, "NVIDIA L40S data sheet: 48 GB GDDR6"),
)
#: GPU models by upper-case name (memory variants separate; see ``lookup``).
CATALOG = {name: GpuType(name, gib * _GIB, source) for name, gib, source in _CATALOG}


def lookup(name: str) -> GpuType | None:
    """The catalog entry of a GPU type as written (``V100M32``, ``a100-80gb``, ``Tesla K80``), trying
    the exact upper-case name first and then its canonical name; None for an unknown type."""
    text = re.sub(r"\s+", " ", name.strip()).upper()
    return CATALOG.get(text) or CATALOG.get(canonical(text))


def gpu_memory_mib(name: str) -> int | None:
    """Memory per GPU of a GPU type, in MiB, from the catalog; None when unknown."""
    entry = lookup(name)
    return None if entry is None else entry.memory_mib


def matches(required: str, gpu_type: str) -> bool:
    """Whether a GPU of ``gpu_type`` satisfies the type constraint ``required``.

    ``required`` may list alternatives separated by ``|`` (Alibaba's ``V100M16|V100M32``). An
    alternative matches a type of the same upper-case name; a canonical name (``V100``) also
    matches its memory variants (``V100M32``), while a variant matches only itself.
    """
    have = gpu_type.strip().upper()
    for alternative in required.split("|"):
        want = alternative.strip().upper()
        if want == have or (want == canonical(want) and want == canonical(have)):
            return True
    return False

"""One naming scheme for GPU types across profiles, clusters and traces.

``canonical("v100")`` → ``"V100"``. Memory variants that compute alike map to one type
(``V100M16``, ``V100M32`` → ``V100``); names gpusim does not know (Alibaba's anonymised ``G2``,
``G3``) are kept as written, upper-cased, so they still match themselves.
"""

from __future__ import annotations

import re

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

"""Named, independent random streams derived from one seed.

Each stream is keyed by a stable hash of its name (not by creation order), so adding a stream
never shifts the numbers another stream produces. Nothing in gpusim uses a global RNG.
"""

from __future__ import annotations

import zlib

import numpy as np

#: The streams gpusim itself uses; any other name is allowed and just as independent.
STREAMS = ("arrivals", "sizes", "durations", "failures", "policy")


def stream(seed: int, name: str) -> np.random.Generator:
    """Return a fresh generator for stream ``name`` of ``seed`` (same inputs, same numbers)."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    key = zlib.crc32(name.encode("utf-8"))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=(key,))))

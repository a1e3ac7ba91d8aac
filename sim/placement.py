"""Where a job's GPUs go: placement strategies over per-node free GPUs.

Strategies (``STRATEGIES``) choose how many GPUs to take from which node; concrete GPUs on a
node are always its lowest-indexed free ones, so logs show where jobs ran.

- ``pool``: node boundaries ignored; any ``n`` ≤ free GPUs fits; GPUs taken lowest index first.
- ``consolidated``: a job no larger than the biggest node gets a single node (best fit: the node
  with the fewest free GPUs that holds it); a larger job takes whole free nodes (largest first)
  plus the remainder on one node (best fit). Otherwise it does not fit.
- ``pack``: best fit on one node if any node holds the job; else it is split over the fewest
  nodes (most free first).
- ``spread``: the node with the most free GPUs first, then the next, until the job is placed.

All strategies cost O(nodes log nodes) per placement.
"""

from __future__ import annotations

import operator
from bisect import bisect_right
from collections.abc import Sequence

STRATEGIES = ("consolidated", "pool", "pack", "spread")
DEFAULT = "consolidated"


def _pool(free: Sequence[int], caps: Sequence[int], n: int) -> list[tuple[int, int]] | None:
    out = []
    for node, f in enumerate(free):
        if f:
            take = min(f, n)
            out.append((node, take))
            n -= take
            if n == 0:
                return out
    return None


def _best_fit(free: Sequence[int], n: int, exclude=()) -> int | None:
    best = None
    for node, f in enumerate(free):
        if f >= n and node not in exclude and (best is None or f < free[best]):
            best = node
    return best


def _most_free_first(free: Sequence[int], n: int) -> list[tuple[int, int]] | None:
    if sum(free) < n:
        return None
    out = []
    for node in sorted(range(len(free)), key=lambda i: (-free[i], i)):
        take = min(free[node], n)
        out.append((node, take))
        n -= take
        if n == 0:
            return out
    return None  # pragma: no cover - unreachable given the sum check


def _consolidated(free: Sequence[int], caps: Sequence[int], n: int) -> list[tuple[int, int]] | None:
    if n <= max(caps):
        node = _best_fit(free, n)
        return None if node is None else [(node, n)]
    out, chosen = [], set()
    for node in sorted((i for i in range(len(free)) if free[i] == caps[i]), key=lambda i: (-caps[i], i)):
        if caps[node] <= n:
            out.append((node, caps[node]))
            chosen.add(node)
            n -= caps[node]
            if n == 0:
                return out
    node = _best_fit(free, n, exclude=chosen)
    return None if node is None else out + [(node, n)]


def _pack(free: Sequence[int], caps: Sequence[int], n: int) -> list[tuple[int, int]] | None:
    node = _best_fit(free, n)
    return [(node, n)] if node is not None else _most_free_first(free, n)


def _spread(free: Sequence[int], caps: Sequence[int], n: int) -> list[tuple[int, int]] | None:
    return _most_free_first(free, n)


_SPLITTERS = {"pool": _pool, "consolidated": _consolidated, "pack": _pack, "spread": _spread}


def _lowest_bits(mask: int, k: int) -> list[int]:
    bits = []
    while len(bits) < k:
        low = mask & -mask
        bits.append(low.bit_length() - 1)
        mask ^= low
    return bits


class Planner:
    """Free-GPU state of a cluster plus a placement strategy.

    The engine keeps the live one; policies get copies (``View.planner()``) to try placements.
    GPUs are global indices; node ``i`` owns ``offsets[i] .. offsets[i] + caps[i] - 1``.
    """

    __slots__ = ("strategy", "_caps", "_offsets", "_masks", "_free", "free_total", "_split")

    def __init__(self, caps: Sequence[int], strategy: str = DEFAULT) -> None:
        if strategy not in _SPLITTERS:
            raise ValueError(f"unknown placement {strategy!r}; choose one of {', '.join(STRATEGIES)}")
        self.strategy = strategy
        self._split = _SPLITTERS[strategy]
        self._caps = tuple(caps)
        offsets, total = [], 0
        for c in self._caps:
            offsets.append(total)
            total += c
        self._offsets = tuple(offsets)
        self._masks = [(1 << c) - 1 for c in self._caps]
        self._free = list(self._caps)
        self.free_total = total

    @property
    def num_gpus(self) -> int:
        return self._offsets[-1] + self._caps[-1]

    def copy(self) -> Planner:
        other = object.__new__(Planner)
        other.strategy, other._split, other._caps, other._offsets = self.strategy, self._split, self._caps, self._offsets
        other._masks, other._free, other.free_total = self._masks[:], self._free[:], self.free_total
        return other

    def free_per_node(self) -> tuple[int, ...]:
        return tuple(self._free)

    def node_of(self, gpu: int) -> int:
        return bisect_right(self._offsets, gpu) - 1

    def is_free(self, gpu: int) -> bool:
        node = self.node_of(gpu)
        return bool(self._masks[node] >> (gpu - self._offsets[node]) & 1)

    def place(self, num_gpus: int) -> tuple[int, ...] | None:
        """The GPUs the strategy would give a job of ``num_gpus`` now, or None if it cannot place it."""
        if num_gpus > self.free_total:
            return None
        split = self._split(self._free, self._caps, num_gpus)
        if split is None:
            return None
        return tuple(sorted(g for node, k in split for g in self.on_node(node, k)))

    def on_node(self, node: int, k: int) -> tuple[int, ...]:
        """The ``k`` lowest-indexed free GPUs of ``node`` (it must have them)."""
        off = self._offsets[node]
        return tuple(off + b for b in _lowest_bits(self._masks[node], k))

    def nodes_with(self, k: int) -> list[int]:
        """Nodes with at least ``k`` free GPUs, in index order."""
        return [i for i, f in enumerate(self._free) if f >= k]

    def take(self, gpus: Sequence[int]) -> None:
        """Mark ``gpus`` busy, all or none; ValueError names a GPU that is missing, repeated or busy."""
        gpus = self._checked(gpus)
        for g in gpus:
            if not self.is_free(g):
                raise ValueError(f"GPU {g} (node {self.node_of(g)}) is not free")
        for g in gpus:
            node = self.node_of(g)
            self._masks[node] ^= 1 << (g - self._offsets[node])
            self._free[node] -= 1
        self.free_total -= len(gpus)

    def release(self, gpus: Sequence[int]) -> None:
        """Mark ``gpus`` free, all or none; ValueError names a GPU that is missing, repeated or free."""
        gpus = self._checked(gpus)
        for g in gpus:
            if self.is_free(g):
                raise ValueError(f"GPU {g} (node {self.node_of(g)}) is already free")
        for g in gpus:
            node = self.node_of(g)
            self._masks[node] |= 1 << (g - self._offsets[node])
            self._free[node] += 1
        self.free_total += len(gpus)

    def _checked(self, gpus: Sequence[int]) -> list[int]:
        out = []
        for g in gpus:
            if isinstance(g, bool):
                raise ValueError(f"GPU {g!r} is not a GPU index")
            try:
                g = operator.index(g)
            except TypeError:
                raise ValueError(f"GPU {g!r} is not a GPU index") from None
            if not 0 <= g < self.num_gpus:
                raise ValueError(f"GPU {g} does not exist (the cluster has GPUs 0..{self.num_gpus - 1})")
            out.append(g)
        if len(set(out)) != len(out):
            raise ValueError(f"GPUs {tuple(out)} name the same GPU twice")
        return out


def nodes_of(planner: Planner, gpus: Sequence[int]) -> tuple[int, ...]:
    """The distinct nodes that ``gpus`` lie on, in order."""
    return tuple(sorted({planner.node_of(g) for g in gpus}))

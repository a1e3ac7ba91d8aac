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
- ``balance``: load balancing across nodes by load fraction (busy / total GPUs of the node, so
  nodes of different sizes compare fairly): a job that fits on one node goes to the least-loaded
  node that holds it; a larger one takes the least-loaded nodes first until it is placed. Ties go
  to the lowest index. It scans the nodes with free GPUs: O(nodes) per placement.

The free state is indexed rather than scanned: one bit mask of the free GPUs, and for each free
count ``f`` a bit mask of the nodes with exactly ``f`` free GPUs. Placing a job then costs
O(largest node + nodes it lands on) big-integer operations instead of a walk over every node, and
a copy (what a policy tries placements on) costs O(largest node), not O(nodes). Ties between
nodes always go to the lowest index, as a walk in node order would give.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Sequence

STRATEGIES = ("consolidated", "pool", "pack", "spread", "balance")
DEFAULT = "consolidated"

Split = list[tuple[int, int]]  # (node, GPUs taken on it)


def _bits(mask: int) -> Iterator[int]:
    """Positions of the set bits of ``mask``, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def _lowest(mask: int) -> int:
    return (mask & -mask).bit_length() - 1


class _Layout:
    """The fixed shape of a cluster, shared by a planner and all its copies."""

    __slots__ = ("caps", "offsets", "cap_masks", "node_of", "num_gpus", "max_cap", "all_nodes", "full_groups")

    def __init__(self, caps: Sequence[int]) -> None:
        self.caps = tuple(caps)
        offsets, total = [], 0
        for c in self.caps:
            offsets.append(total)
            total += c
        self.offsets = tuple(offsets)
        self.cap_masks = tuple((1 << c) - 1 for c in self.caps)
        self.node_of = tuple(node for node, c in enumerate(self.caps) for _ in range(c))
        self.num_gpus = total
        self.max_cap = max(self.caps)
        self.all_nodes = (1 << len(self.caps)) - 1
        # Nodes grouped by size, largest first: a node is whole (all free) when its free count is its size.
        groups: dict[int, int] = {}
        for node, c in enumerate(self.caps):
            groups[c] = groups.get(c, 0) | 1 << node
        self.full_groups = tuple(sorted(groups.items(), reverse=True))


# --- strategies: each returns how many GPUs to take on which nodes, or None -----------------


def _best_fit(p: Planner, n: int, exclude: int = 0) -> int | None:
    """The node with the fewest free GPUs that still holds ``n`` (lowest index on ties), or None."""
    by_free = p._by_free
    for f in range(max(n, 0), p._layout.max_cap + 1):
        nodes = by_free[f] & ~exclude
        if nodes:
            return _lowest(nodes)
    return None


def _most_free_first(p: Planner, n: int) -> Split | None:
    if p.free_total < n:
        return None
    out = []
    for f in range(p._layout.max_cap, 0, -1):
        for node in _bits(p._by_free[f]):
            take = min(f, n)
            out.append((node, take))
            n -= take
            if n == 0:
                return out
    return None  # pragma: no cover - unreachable given the free_total check


def _pool(p: Planner, n: int) -> Split | None:
    out = []
    for node in _bits(p._layout.all_nodes & ~p._by_free[0]):
        take = min(p.free_on(node), n)
        out.append((node, take))
        n -= take
        if n == 0:
            return out
    return None


def _consolidated(p: Planner, n: int) -> Split | None:
    if n <= p._layout.max_cap:
        node = _best_fit(p, n)
        return None if node is None else [(node, n)]
    out, chosen = [], 0
    for cap, group in p._layout.full_groups:
        for node in _bits(p._by_free[cap] & group):
            if cap > n:
                break
            out.append((node, cap))
            chosen |= 1 << node
            n -= cap
            if n == 0:
                return out
    node = _best_fit(p, n, exclude=chosen)
    return None if node is None else out + [(node, n)]


def _pack(p: Planner, n: int) -> Split | None:
    node = _best_fit(p, n)
    return [(node, n)] if node is not None else _most_free_first(p, n)


def _spread(p: Planner, n: int) -> Split | None:
    return _most_free_first(p, n)


def load_fraction(caps: Sequence[int], free: Callable[[int], int], node: int) -> float:
    """The share of ``node``'s GPUs that are busy (0: idle, 1: full)."""
    return (caps[node] - free(node)) / caps[node]


def _balance(p: Planner, n: int) -> Split | None:
    caps, free = p._layout.caps, p.free_on
    nodes = sorted(_bits(p._layout.all_nodes & ~p._by_free[0]), key=lambda i: (load_fraction(caps, free, i), i))
    for node in nodes:
        if free(node) >= n:
            return [(node, n)]
    out = []
    for node in nodes:
        take = min(free(node), n)
        out.append((node, take))
        n -= take
        if n == 0:
            return out
    return None


_SPLITTERS = {"pool": _pool, "consolidated": _consolidated, "pack": _pack, "spread": _spread, "balance": _balance}


class Planner:
    """Free-GPU state of a cluster plus a placement strategy.

    The engine keeps the live one; policies get copies (``View.planner()``) to try placements.
    GPUs are global indices; node ``i`` owns ``offsets[i] .. offsets[i] + caps[i] - 1``.
    """

    __slots__ = ("strategy", "_split", "_layout", "_free_mask", "_by_free", "free_total")

    def __init__(self, caps: Sequence[int], strategy: str = DEFAULT) -> None:
        if strategy not in _SPLITTERS:
            raise ValueError(f"unknown placement {strategy!r}; choose one of {', '.join(STRATEGIES)}")
        self.strategy = strategy
        self._split = _SPLITTERS[strategy]
        self._layout = layout = _Layout(caps)
        self._free_mask = (1 << layout.num_gpus) - 1  # bit g set: GPU g is free
        self._by_free = [0] * (layout.max_cap + 1)  # [f]: bit i set: node i has exactly f free GPUs
        for node, c in enumerate(layout.caps):
            self._by_free[c] |= 1 << node
        self.free_total = layout.num_gpus

    @property
    def num_gpus(self) -> int:
        return self._layout.num_gpus

    def copy(self) -> Planner:
        other = object.__new__(Planner)
        other.strategy, other._split, other._layout = self.strategy, self._split, self._layout
        other._free_mask, other._by_free, other.free_total = self._free_mask, self._by_free[:], self.free_total
        return other

    def free_on(self, node: int) -> int:
        """Free GPUs on ``node``."""
        layout = self._layout
        return (self._free_mask >> layout.offsets[node] & layout.cap_masks[node]).bit_count()

    def free_per_node(self) -> tuple[int, ...]:
        return tuple(self.free_on(node) for node in range(len(self._layout.caps)))

    def node_of(self, gpu: int) -> int:
        return self._layout.node_of[gpu]

    def is_free(self, gpu: int) -> bool:
        return bool(self._free_mask >> gpu & 1)

    def place(self, num_gpus: int) -> tuple[int, ...] | None:
        """The GPUs the strategy would give a job of ``num_gpus`` now, or None if it cannot place it."""
        if num_gpus > self.free_total:
            return None
        if self._split is _pool and num_gpus > 0:
            return self._lowest_free(num_gpus)  # what _pool's split gives, without the walk over nodes
        split = self._split(self, num_gpus)
        if split is None:
            return None
        if len(split) == 1:
            return self.on_node(*split[0])
        return tuple(sorted(g for node, k in split for g in self.on_node(node, k)))

    def _lowest_free(self, k: int) -> tuple[int, ...]:
        """The ``k`` lowest-indexed free GPUs of the cluster (there must be that many), node by node
        (small integers: the whole free mask of a large cluster is costly to take apart bit by bit)."""
        layout, out = self._layout, []
        nodes = layout.all_nodes & ~self._by_free[0]
        while True:
            node = _lowest(nodes)
            off = layout.offsets[node]
            free = self._free_mask >> off & layout.cap_masks[node]
            while free:
                low = free & -free
                out.append(off + low.bit_length() - 1)
                if len(out) == k:
                    return tuple(out)
                free ^= low
            nodes ^= 1 << node

    def claim(self, num_gpus: int) -> tuple[int, ...] | None:
        """``place`` then ``take`` in one step: the GPUs now held, or None (nothing taken)."""
        gpus = self.place(num_gpus)
        if gpus is not None:
            mask = 0
            for g in gpus:
                mask |= 1 << g
            self._flip(mask, gpus, -len(gpus))
        return gpus

    # Job-aware calls: the same as the count-only ones here; a ``sim.resources.ResourcePlanner``
    # also enforces the job's demands (GPU type and memory, shared GPUs, CPU and memory).

    def place_job(self, job) -> tuple[int, ...] | None:
        """The GPUs the strategy would give ``job`` (a Job or JobState) now, or None."""
        return self.place(job.num_gpus)

    def claim_job(self, job) -> tuple[int, ...] | None:
        """``place_job`` then ``take_job`` in one step: the GPUs now held, or None (nothing taken)."""
        return self.claim(job.num_gpus)

    def take_job(self, gpus: Sequence[int], job) -> None:
        """Give ``gpus`` to ``job``, all or none; ValueError says why they cannot be its."""
        self.take(gpus)

    def release_job(self, gpus: Sequence[int], job) -> None:
        """Take ``gpus`` back from ``job``."""
        self.release(gpus)

    def shares(self, job) -> bool:
        """Whether ``job`` takes a share of a GPU rather than whole GPUs (never, here)."""
        return False

    def has_room(self) -> bool:
        """Whether any job could still get a GPU."""
        return self.free_total > 0

    def on_node(self, node: int, k: int) -> tuple[int, ...]:
        """The ``k`` lowest-indexed free GPUs of ``node`` (it must have them)."""
        layout = self._layout
        off = layout.offsets[node]
        mask = self._free_mask >> off & layout.cap_masks[node]
        out = []
        while len(out) < k:
            low = mask & -mask
            out.append(off + low.bit_length() - 1)
            mask ^= low
        return tuple(out)

    def nodes_with(self, k: int) -> list[int]:
        """Nodes with at least ``k`` free GPUs, in index order."""
        nodes = 0
        for f in range(max(k, 0), self._layout.max_cap + 1):
            nodes |= self._by_free[f]
        return list(_bits(nodes))

    def take(self, gpus: Sequence[int]) -> None:
        """Mark ``gpus`` busy, all or none; ValueError names a GPU that is missing, repeated or busy."""
        mask, gpus = self._mask_of(gpus)
        if mask & self._free_mask != mask:
            g = next(g for g in gpus if not self.is_free(g))
            raise ValueError(f"GPU {g} (node {self.node_of(g)}) is not free")
        self._flip(mask, gpus, -len(gpus))

    def release(self, gpus: Sequence[int]) -> None:
        """Mark ``gpus`` free, all or none; ValueError names a GPU that is missing, repeated or free."""
        mask, gpus = self._mask_of(gpus)
        if mask & self._free_mask:
            g = next(g for g in gpus if self.is_free(g))
            raise ValueError(f"GPU {g} (node {self.node_of(g)}) is already free")
        self._flip(mask, gpus, len(gpus))

    def _flip(self, mask: int, gpus: Sequence[int], change: int) -> None:
        """Toggle ``gpus`` (their bit mask ``mask``; all free, or all busy; ``change`` GPUs more free)
        and move their nodes between free counts."""
        layout, by_free = self._layout, self._by_free
        old = self._free_mask
        new = self._free_mask = old ^ mask
        for node in {layout.node_of[g] for g in gpus}:
            off, cap_mask = layout.offsets[node], layout.cap_masks[node]
            bit = 1 << node
            by_free[(old >> off & cap_mask).bit_count()] ^= bit
            by_free[(new >> off & cap_mask).bit_count()] |= bit
        self.free_total += change

    def _mask_of(self, gpus: Sequence[int]) -> tuple[int, Sequence[int]]:
        """The bit mask of ``gpus`` and the GPUs as ints; ValueError for a non-index, a GPU that does
        not exist, or one named twice."""
        total, mask = self._layout.num_gpus, 0
        for g in gpus:
            if type(g) is not int or not 0 <= g < total or mask >> g & 1:
                break  # the checked path below says what is wrong, or converts (numpy integers)
            mask |= 1 << g
        else:
            return mask, gpus
        checked = self._checked(gpus)
        mask = 0
        for g in checked:
            mask |= 1 << g
        return mask, checked

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

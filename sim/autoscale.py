"""Elastic clusters: an autoscaler turns nodes on and off as the queue grows and drains.

The run's cluster is the largest the autoscaler may use; it starts with ``initial_nodes`` of them
on (the first ones), the rest off (their GPUs out of the pool). Every ``interval`` seconds the
engine shows the autoscaler an ``AutoscaleView`` and applies its ``Scale``: a node asked on is
provisioned for ``provisioning_delay`` seconds, then its GPUs join the pool (event ``node_on``);
a node asked off must be on and idle, and leaves at once (``node_off``). A node costs
``node_hour_cost`` (a number, or a table by GPU type with ``*`` as default) per hour from the
moment it is asked on (provisioning is paid) until it is off. Never fewer than ``min_nodes`` on.

Autoscalers are pluggable like policies: any object with ``interval`` and
``scale(view) -> Scale``; the built-in ``queue`` is below, and ``package.module:Class`` loads
another (that runs its code, as a policy loaded that way does). ``Scaling`` (at the end) is the
engine's side, mixed into ``sim.engine._Engine``.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sim.errors import GpusimError
from sim.model import NODE_OFF, NODE_ON


@dataclass(frozen=True)
class Scale:
    """An autoscaler's answer: nodes to turn on, nodes to turn off (indices)."""

    on: tuple[int, ...] = ()
    off: tuple[int, ...] = ()


@dataclass(frozen=True)
class AutoscaleView:
    """What an autoscaler decides from, at time ``now``. Per node: its GPUs (``caps``), GPU type,
    state (``"on"``, ``"booting"``, ``"off"``) and free GPUs (0 unless on); the pending jobs'
    GPU counts in arrival order."""

    now: float
    caps: tuple[int, ...]
    types: tuple[str, ...]
    states: tuple[str, ...]
    free: tuple[int, ...]
    pending_gpus: tuple[int, ...]


@dataclass
class QueueAutoscaler:
    """Scale on the queue: turn on enough off nodes (cheapest first, then lowest index) to cover
    the pending GPU demand the free and booting GPUs cannot; turn off nodes that have been idle
    for ``idle_timeout`` seconds while nothing is pending."""

    interval: float = 300.0
    idle_timeout: float = 1800.0
    costs: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._idle_since: dict[int, float] = {}

    def scale(self, view: AutoscaleView) -> Scale:
        on, off = [], []
        demand = sum(view.pending_gpus)
        supply = sum(f for f, s in zip(view.free, view.states) if s == "on") + \
            sum(c for c, s in zip(view.caps, view.states) if s == "booting")
        if demand > supply:
            spare = sorted((i for i, s in enumerate(view.states) if s == "off"),
                           key=lambda i: (_cost(self.costs, view.types[i]), i))
            for i in spare:
                if supply >= demand:
                    break
                on.append(i)
                supply += view.caps[i]
        for i, s in enumerate(view.states):
            idle = s == "on" and view.free[i] == view.caps[i]
            if not idle:
                self._idle_since.pop(i, None)
                continue
            since = self._idle_since.setdefault(i, view.now)
            if not view.pending_gpus and view.now - since >= self.idle_timeout:
                off.append(i)
                del self._idle_since[i]
        return Scale(tuple(on), tuple(off))


BUILT_IN = {"queue": QueueAutoscaler}


@dataclass(frozen=True)
class Autoscale:
    """The elastic cluster's settings and its autoscaler (see the module docstring)."""

    scaler: object
    min_nodes: int = 0
    initial_nodes: int | None = None
    provisioning_delay: float = 0.0
    node_hour_cost: Mapping[str, float] = field(default_factory=lambda: {"*": 1.0})

    def check(self, num_nodes: int) -> None:
        if not (0 <= self.min_nodes <= num_nodes):
            raise GpusimError(f"autoscale: min_nodes must be between 0 and the cluster's {num_nodes} nodes, "
                              f"got {self.min_nodes}")
        if not (self.min_nodes <= self.initial <= num_nodes):
            raise GpusimError(f"autoscale: initial_nodes must be between min_nodes and {num_nodes}, got {self.initial}")

    @property
    def initial(self) -> int:
        """Nodes on at time 0 (the first ones): ``initial_nodes``, else ``min_nodes``."""
        return self.min_nodes if self.initial_nodes is None else self.initial_nodes

    def cost(self, gpu_type: str) -> float:
        return _cost(self.node_hour_cost, gpu_type)


def _cost(costs: Mapping[str, float], gpu_type: str) -> float:
    return float(costs.get(gpu_type, costs.get("*", 1.0)))


def _number(value, name: str, low: float = 0.0, integer: bool = False):
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not math.isfinite(value) or value < low:
        kind = "an integer" if integer else "a number"
        raise GpusimError(f"'autoscale.{name}' must be {kind} >= {low:g}, got {value!r}")
    return value


def from_settings(settings: Mapping) -> Autoscale:
    """An Autoscale from a config table: ``name`` (``queue`` or ``module:Class``), ``interval``,
    ``idle_timeout``, ``min_nodes``, ``initial_nodes``, ``provisioning_delay``, ``node_hour_cost``
    (a number or a table by GPU type), and ``args`` (a table for an outside autoscaler)."""
    known = {"name", "interval", "idle_timeout", "min_nodes", "initial_nodes", "provisioning_delay",
             "node_hour_cost", "args"}
    bad = set(settings) - known
    if bad:
        raise GpusimError(f"unknown key {'autoscale.' + sorted(map(str, bad))[0]!r} (known: {', '.join(sorted(known))})")
    cost = settings.get("node_hour_cost", 1.0)
    if isinstance(cost, Mapping):
        costs = {str(k): _number(v, f"node_hour_cost.{k}") for k, v in cost.items()}
    else:
        costs = {"*": _number(cost, "node_hour_cost")}
    name = settings.get("name", "queue")
    if not isinstance(name, str):
        raise GpusimError(f"'autoscale.name' must be an autoscaler's name or module:Class, got {name!r}")
    args = settings.get("args", {})
    if not isinstance(args, Mapping):
        raise GpusimError("'autoscale.args' must be a table")
    if name in BUILT_IN:
        scaler = QueueAutoscaler(_number(settings.get("interval", 300.0), "interval", 1e-9),
                                 _number(settings.get("idle_timeout", 1800.0), "idle_timeout"), costs)
    elif isinstance(name, str) and ":" in name:
        module, _, cls = name.partition(":")
        try:
            scaler = getattr(importlib.import_module(module), cls)(**args)
        except (ImportError, AttributeError, TypeError) as err:
            raise GpusimError(f"autoscale: cannot load {name!r}: {err}") from None
        if not (hasattr(scaler, "scale") and _positive(getattr(scaler, "interval", None))):
            raise GpusimError(f"autoscale: {name!r} needs a scale(view) method and a positive interval")
    else:
        raise GpusimError(f"unknown autoscaler {name!r}; choose one of {', '.join(BUILT_IN)} or give module:Class")
    initial = settings.get("initial_nodes")
    return Autoscale(scaler, _number(settings.get("min_nodes", 0), "min_nodes", integer=True),
                     None if initial is None else _number(initial, "initial_nodes", integer=True),
                     _number(settings.get("provisioning_delay", 0.0), "provisioning_delay"), costs)


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def checked(scale, view: AutoscaleView) -> tuple[Sequence[int], Sequence[int]]:
    """An autoscaler's Scale, validated: real nodes, on only for off nodes, off only for idle on nodes."""
    if not isinstance(scale, Scale):
        raise GpusimError(f"autoscaler at t={view.now:g}s returned {scale!r}, not a Scale")
    n = len(view.caps)
    for i in (*scale.on, *scale.off):
        if not (isinstance(i, int) and 0 <= i < n):
            raise GpusimError(f"autoscaler at t={view.now:g}s named node {i!r}; the cluster has nodes 0..{n - 1}")
    for i in scale.on:
        if view.states[i] != "off":
            raise GpusimError(f"autoscaler at t={view.now:g}s turned on node {i}, which is {view.states[i]}")
    for i in scale.off:
        if view.states[i] != "on" or view.free[i] != view.caps[i]:
            raise GpusimError(f"autoscaler at t={view.now:g}s turned off node {i}, which is not on and idle")
    return sorted(set(scale.on)), sorted(set(scale.off))


class Scaling:
    """The engine's side of autoscaling, mixed into ``sim.engine._Engine`` (which owns the
    calendar, the planner and the log): the autoscaler is asked every ``interval`` seconds, nodes
    boot after the provisioning delay and join the pool, idle nodes leave it, and cost, node-hours
    and peak nodes are counted. Set up only in runs with an autoscaler."""

    def _apply_scaling(self, now: float) -> None:
        """After the instant's arrivals, before the policy: nodes that finished booting join the
        pool, then the autoscaler decides (seeing the queue the policy is about to see)."""
        for node in sorted(self.due_boots):
            self._node_on(node, now)
        self.due_boots.clear()
        if self.tick_due:
            self._apply_tick(now)

    def _setup_autoscale(self) -> None:
        self._node_layout()
        a, nodes = self.autoscale, self.cluster.nodes
        a.check(len(nodes))
        self.node_state = ["on" if i < a.initial else "off" for i in range(len(nodes))]
        self.billed_from = {i: 0.0 for i in range(a.initial)}
        self.on_from = {i: 0.0 for i in range(a.initial)}
        for i in range(a.initial, len(nodes)):
            self.planner.take(self.node_gpus[i])
        self.scale_stats = {"cost": 0.0, "node_seconds": 0.0, "on_gpu_seconds": 0.0, "peak_nodes": a.initial,
                            "model": a}
        if self.states:
            self._at(self.states[0].submit_time, self._on_tick)

    def _on_tick(self, _event) -> None:
        if self.done < len(self.states):
            self.tick_due = self.pass_due = True
        self._settle()

    def _on_boot(self, event) -> None:
        self.due_boots.append(event.value)
        self.pass_due = True
        self._settle()

    def _apply_tick(self, now: float) -> None:
        self.tick_due = False
        a = self.autoscale
        free = self.planner.free_per_node()
        view = AutoscaleView(now, tuple(len(g) for g in self.node_gpus), tuple(n.gpu_type for n in self.cluster.nodes),
                             tuple(self.node_state), tuple(f if s == "on" else 0 for f, s in zip(free, self.node_state)),
                             tuple(s.num_gpus for s in self.pending.values()))
        on, off = checked(a.scaler.scale(view), view)
        for node in on:
            self.node_state[node] = "booting"
            self.billed_from[node] = now
            if a.provisioning_delay > 0:
                self._at(now + a.provisioning_delay, self._on_boot, node)
            else:
                self._node_on(node, now)
        live = sum(s != "off" for s in self.node_state)
        for node in off:
            if live <= a.min_nodes:
                break  # never fewer than min_nodes
            live -= 1
            self.planner.take(self.node_gpus[node])
            self.node_state[node] = "off"
            self._bill(node, now)
            self.events.add(now, NODE_OFF, -1, self.node_gpus[node])
        self.scale_stats["peak_nodes"] = max(self.scale_stats["peak_nodes"], live)
        # Keep deciding while anything can change; a run where nothing runs, nothing is to arrive
        # or boot and the autoscaler asks for nothing is stalled (and would tick forever).
        stalled = not (on or off or self.running or self.due_boots or "booting" in self.node_state) \
            and self.next_arrival == len(self.states)
        if not stalled:
            self._at(now + a.scaler.interval, self._on_tick)

    def _node_on(self, node: int, now: float) -> None:
        self.node_state[node] = "on"
        self.on_from[node] = now
        self.planner.release(self.node_gpus[node])
        self.events.add(now, NODE_ON, -1, self.node_gpus[node])

    def _bill(self, node: int, now: float) -> None:
        """Charge a node from when it was asked on to ``now`` (and count its GPU-seconds on)."""
        stats, start = self.scale_stats, self.billed_from.pop(node)
        stats["node_seconds"] += now - start
        stats["cost"] += (now - start) / 3600.0 * self.autoscale.cost(self.cluster.nodes[node].gpu_type)
        if node in self.on_from:
            stats["on_gpu_seconds"] += (now - self.on_from.pop(node)) * len(self.node_gpus[node])

"""Synthetic workloads: Poisson arrivals at a target offered load on a given cluster.

Offered load = arrival rate × E[num_gpus] × E[duration] / cluster GPUs. Arrivals, job sizes and
durations each come from their own named stream of the seed, so the same seed gives every policy
the same jobs, and changing the size mix does not change the arrival times' underlying draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.errors import GpusimError
from sim.model import Job
from sim.rng import stream

DISTRIBUTIONS = {"exponential": ("mean",), "lognormal": ("mu", "sigma"), "constant": ("value",)}


@dataclass(frozen=True)
class Durations:
    """A duration distribution in seconds: ``exponential(mean)``, ``lognormal(mu, sigma)`` (of ln s)
    or ``constant(value)``, clipped to ``[low, high]``."""

    kind: str = "lognormal"
    params: tuple[float, ...] = (7.0, 1.5)
    low: float = 1.0
    high: float = math.inf

    def __post_init__(self) -> None:
        names = DISTRIBUTIONS.get(self.kind)
        if names is None:
            raise GpusimError(f"unknown duration distribution {self.kind!r}; choose one of {', '.join(DISTRIBUTIONS)}")
        if len(self.params) != len(names):
            raise GpusimError(f"{self.kind} durations take {len(names)} parameter(s) ({', '.join(names)}), got {len(self.params)}")
        if not all(math.isfinite(p) for p in self.params):
            raise GpusimError(f"{self.kind} duration parameters must be finite numbers, got {self.params}")
        if self.kind != "lognormal" and self.params[0] <= 0 or self.kind == "lognormal" and self.params[1] < 0:
            raise GpusimError(f"{self.kind} duration parameters out of range: {self.params}")
        if not 0 < self.low <= self.high:
            raise GpusimError(f"duration clip range must satisfy 0 < low <= high, got [{self.low}, {self.high}]")

    @classmethod
    def parse(cls, text: str) -> Durations:
        """``KIND:P1[,P2]`` as on the command line, e.g. ``lognormal:7,1.5`` or ``exponential:3600``."""
        kind, _, rest = text.partition(":")
        try:
            params = tuple(float(p) for p in rest.split(",")) if rest else ()
        except ValueError:
            raise GpusimError(f"durations {text!r}: parameters must be numbers, e.g. lognormal:7,1.5") from None
        try:
            return cls(kind.strip(), params)
        except GpusimError as err:
            raise GpusimError(f"durations {text!r}: {err}") from None

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "exponential":
            x = rng.exponential(self.params[0], n)
        elif self.kind == "lognormal":
            x = rng.lognormal(self.params[0], self.params[1], n)
        else:
            x = np.full(n, self.params[0])
        return np.clip(x, self.low, self.high)

    def mean(self) -> float:
        """The mean of the clipped distribution, exactly."""
        a, b = self.low, self.high
        if self.kind == "constant":
            return min(max(self.params[0], a), b)
        if self.kind == "exponential":
            m = self.params[0]
            upper = 0.0 if math.isinf(b) else math.exp(-b / m)
            # E[clip(X, a, b)] = a + ∫_a^b P(X > x) dx for X ≥ 0
            return a + m * (math.exp(-a / m) - upper)
        mu, s = self.params
        if s == 0:
            return min(max(math.exp(mu), a), b)
        phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731  (standard normal CDF)
        za = (math.log(a) - mu) / s
        zb = math.inf if math.isinf(b) else (math.log(b) - mu) / s
        body = math.exp(mu + s * s / 2) * (phi(zb - s) - phi(za - s))
        return a * phi(za) + body + (0.0 if math.isinf(b) else b * (1 - phi(zb)))


def parse_sizes(text: str) -> tuple[tuple[int, float], ...]:
    """``1:0.7,2:0.1,4:0.1,8:0.1`` → ((1, 0.7), ...); probabilities are normalised."""
    sizes = []
    for part in text.split(","):
        gpus, _, prob = part.partition(":")
        try:
            sizes.append((int(gpus), float(prob) if prob else 1.0))
        except ValueError:
            raise GpusimError(f"sizes {text!r}: each entry is GPUS:PROBABILITY, e.g. 1:0.7,2:0.3") from None
    if any(g < 1 or not (0 <= p < math.inf) for g, p in sizes) or sum(p for _, p in sizes) <= 0:
        raise GpusimError(f"sizes {text!r}: GPU counts must be >= 1 and probabilities >= 0, not all 0")
    return tuple(sizes)


@dataclass(frozen=True)
class Workload:
    """A synthetic workload: ``jobs`` jobs arriving as a Poisson process at offered ``load``."""

    jobs: int = 1000
    load: float = 0.8
    sizes: tuple[tuple[int, float], ...] = ((1, 0.7), (2, 0.1), (4, 0.1), (8, 0.1))
    durations: Durations = Durations()

    def __post_init__(self) -> None:
        if not isinstance(self.jobs, int) or isinstance(self.jobs, bool) or self.jobs < 1:
            raise GpusimError(f"a synthetic workload needs a whole number of jobs >= 1, got {self.jobs!r}")
        if not (isinstance(self.load, (int, float)) and math.isfinite(self.load) and self.load > 0):
            raise GpusimError(f"load must be a finite positive number, got {self.load!r}")

    def arrival_rate(self, cluster_gpus: int) -> float:
        """Jobs per second that offer ``load`` to ``cluster_gpus`` GPUs."""
        total = sum(p for _, p in self.sizes)
        mean_gpus = sum(g * p for g, p in self.sizes) / total
        return self.load * cluster_gpus / (mean_gpus * self.durations.mean())

    def generate(self, cluster_gpus: int, seed: int) -> tuple[Job, ...]:
        """The jobs, first arrival at time 0, ids ``j0, j1, ...``."""
        gaps = stream(seed, "arrivals").exponential(1 / self.arrival_rate(cluster_gpus), self.jobs)
        gaps[0] = 0.0
        submit = np.cumsum(gaps)
        counts = np.array([g for g, _ in self.sizes])
        probs = np.array([p for _, p in self.sizes], dtype=float)
        gpus = stream(seed, "sizes").choice(counts, size=self.jobs, p=probs / probs.sum())
        duration = self.durations.sample(stream(seed, "durations"), self.jobs)
        return tuple(Job(f"j{i}", float(submit[i]), int(gpus[i]), float(duration[i])) for i in range(self.jobs))

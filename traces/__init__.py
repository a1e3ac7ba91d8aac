"""Workloads: trace readers producing gpusim's canonical job list, synthetic generators, samples."""

from pathlib import Path

#: The bundled sample trace (Philly VC b436b2) and the cluster it is sized for.
SAMPLE = Path(__file__).resolve().parent / "samples" / "philly_b436b2.csv"
SAMPLE_CLUSTER = "8x8"

"""GPU type names and the GPU catalog; they live in the core (``sim.gpu_types``), since cluster
files are read there, and are re-exported here for the calibration code that has always used them."""

from sim.gpu_types import ALIASES, CATALOG, KNOWN, GpuType, canonical, gpu_memory_mib, lookup, matches

__all__ = ["ALIASES", "CATALOG", "KNOWN", "GpuType", "canonical", "gpu_memory_mib", "lookup", "matches"]

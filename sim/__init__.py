"""gpusim's simulation core: model, placement, engine, metrics, RNG streams.

The core imports neither ``policies`` nor ``traces`` nor ``calibrate``; the outer ring
(``sim.experiment``, ``sim.cli``) wires them together.
"""

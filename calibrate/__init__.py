"""Calibration from real Keras training runs: the model zoo and profiler (``zoo``, ``runner``; need
TensorFlow or another Keras 3 backend), the profile format (``profile``), the speed-model fit and
third-party imports (``fit``, ``gavel``, ``show``), and its use in simulation (``speed``).
Shipped profiles live in ``calibrate/profiles/``.
"""

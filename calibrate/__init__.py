"""Calibration from real Keras training runs (profiling, fitting, shipped profiles): not built yet."""

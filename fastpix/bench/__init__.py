"""Benchmarks: one harness, one module per area, results as rows with their environment."""

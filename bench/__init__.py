"""Benchmarks: `python -m bench.kernel` (the conversion kernel), `python -m bench.e2e`."""

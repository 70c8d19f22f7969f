"""What the end-to-end, fault and browser tests and the benchmarks share."""

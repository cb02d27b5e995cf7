"""Benchmark scripts of sparsecodec; results are written to benchmarks/results/."""

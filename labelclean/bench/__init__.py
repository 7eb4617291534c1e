"""Benchmarks that reproduce the paper's tables; run ``python -m labelclean.bench --help``."""

"""Benchmarks of the pipeline against baselines measured in the same run (not tests): `make bench`."""

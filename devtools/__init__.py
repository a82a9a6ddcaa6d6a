"""Helpers for development, tests, benchmarks and demos: process control of the local
services, the numpy twin of the generator, synthetic prediction drops, timed Ray jobs. Never
shipped to Spark or Ray (they get ``salary/`` only)."""

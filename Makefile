# The README's commands. Each one runs set-up first (idempotent, fast when done).
SHELL := /bin/bash
ROWS ?= 1000000
# file (a folder in .local/) or hdfs (a single-node HDFS on loopback, started for the demo)
LAKE ?= file
export LAKE

.PHONY: setup demo test test-fast test-cluster test-hosts lint ui drop bench bench-scale clean

setup:
	@bash scripts/setup.sh

## Run the whole pipeline through Airflow on the embedded default: salary_training, then a new
## drop through salary_batch_predict. LAKE=hdfs for the lake on a local HDFS.
demo: setup
	@bash scripts/demo.sh $(ROWS)

## Lint, then the whole test suite (slow, service-backed tests included), then the cluster test
## on one Docker host (what CI runs). The test on several simulated hosts is `make test-hosts`: with
## it CI ran past its 90 minutes on a slow day (docs/deployment.md, "CI's time").
test: setup lint
	@bash scripts/setup.sh --browser
	@source scripts/env.sh && python -m pytest -m "not cluster"
	@$(MAKE) --no-print-directory test-cluster

## The docker compose stack for real: starts a Docker engine of its own when none answers (as
## root), builds the images (stand-ins where no registry is reachable), drives the stack through
## its REST API, hdfs dfs, a browser and docker, under faults; down -v at the end.
test-cluster: setup
	@bash scripts/setup.sh --cluster
	@source scripts/env.sh && python -m pytest -m "cluster and not hosts" tests/deploy

## Several hosts on this machine (as root): a head host and worker hosts, each a network namespace
## with its own Docker engine, joined as docs/multi-host.md says; a host cut off mid-run.
test-hosts: setup
	@bash scripts/setup.sh --cluster
	@source scripts/env.sh && python -m pytest -m hosts tests/deploy/hosts

## The fast tests only (no spark-submit, no Airflow runs, no Docker).
test-fast: setup
	@source scripts/env.sh && python -m pytest -m "not slow"

## ruff (with Airflow's AIR rules) and mypy over the package, our Airflow pieces and the DAGs.
lint: setup
	@source scripts/env.sh && ruff check . && mypy

## A drop of NAME with ROWS new people (FILES Parquet files, _SUCCESS last) in the lake's
## drops/incoming/: salary_batch_predict picks it up when the scheduler runs (make ui).
NAME ?=
FILES ?= 1
drop: setup
	@test -n "$(NAME)" || { echo "usage: make drop NAME=<drop name> [ROWS=100000] [FILES=1] [LAKE=hdfs]" >&2; exit 2; }
	@source scripts/env.sh && python scripts/make_drop.py "$(NAME)" --rows $(if $(filter command line,$(origin ROWS)),$(ROWS),100000) --files $(FILES)

## Airflow web UI with our DAGs on http://127.0.0.1:8080 (airflow standalone).
ui: setup
	@bash scripts/ui.sh

## Every stage against its baseline, measured in one run (bench/run.py; 3M, 10M and 30M rows).
BENCH_ROWS ?= 3000000 10000000 30000000
bench: setup
	@source scripts/env.sh && python -m bench.run --rows $(BENCH_ROWS)

## Ten times the report's rows: each stage's work per row at 300M against 30M, memory, disk (about 20 min).
bench-scale: setup
	@source scripts/env.sh && python -m bench.run --stages scale

## Remove the local Airflow home, lake and build output (the cached venv stays).
clean:
	rm -rf .local build .venv

"""The deployment's Airflow pools, from ``config/airflow_pools.json`` (the format of ``airflow
pools import``): each one missing is created; one that exists is left as it is, slots an operator
set in Admin > Pools included. Run by set-up (the embedded default's metadata DB), by the tests'
and the benchmark's Airflow, and by the compose stack's ``airflow-init``, after ``airflow db
migrate``: a task whose pool does not exist is never scheduled, and Airflow says so only in the
scheduler's log.

    python -m salary_airflow.pools config/airflow_pools.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def read_pools(path: Path) -> dict[str, dict[str, Any]]:
    """The pools the file declares; a clear error for one that ``airflow pools import`` would
    refuse or that could never run a task (no slot). Reads only the file (no Airflow, no DB)."""
    raw = json.loads(path.read_text())
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected an object of pools by name")
    for name, pool in raw.items():
        if not isinstance(pool, dict) or not isinstance(pool.get("description"), str):
            raise ValueError(f"{path}: pool {name!r} needs a description")
        if not isinstance(pool.get("slots"), int) or isinstance(pool["slots"], bool) or pool["slots"] < 1:
            raise ValueError(f"{path}: pool {name!r} needs slots, a whole number of at least 1")
    return raw


def ensure_pools(path: Path) -> list[str]:
    """Create the file's pools missing from the metadata DB; the names created."""
    from airflow.models.pool import Pool

    created = []
    for name, pool in read_pools(path).items():
        if Pool.get_pool(name) is None:
            Pool.create_or_update_pool(name, slots=pool["slots"], description=pool["description"],
                                       include_deferred=bool(pool.get("include_deferred", False)))
            created.append(name)
    return created


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Create the deployment's missing Airflow pools")
    parser.add_argument("pools_file", type=Path)
    args = parser.parse_args(argv)
    created = ensure_pools(args.pools_file)
    print(f"pools created: {', '.join(created)}" if created else "pools: all there")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

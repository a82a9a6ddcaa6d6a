"""The Salary pages' load time as the lake grows: each page through a real api-server (the
plugin, a viewer's token), on a lake of 5 versions and 20 drops (the baseline) and on one of 50
versions and 200 drops, for a file lake and for HDFS (a local NameNode and DataNode).

    python -m bench.ui_pages [--rounds 5] [--no-hdfs]

Prints the median seconds of each page and large/small; writes bench/results/ui_pages.json.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from devtools.airflow_services import airflow_services
from devtools.services import free_port
from devtools.services import hdfs as local_hdfs
from devtools.ui_lake import populate, prediction_run_id, training_run_id

REPO = Path(__file__).resolve().parents[1]
SIZES = {"small": (5, 20), "large": (50, 200)}
PAGES = {"model": "salary/model", "chart": "salary/model/chart.svg", "drops": "salary/drops",
         "training run": f"salary/runs/salary_training/{quote(training_run_id(4))}",
         "prediction run": f"salary/runs/salary_batch_predict/{quote(prediction_run_id(1))}"}


@contextmanager
def pages_server(lake_root: str, home: Path) -> Iterator[tuple[str, str]]:
    """An api-server with the plugin on ``lake_root``: (base URL, a viewer's token)."""
    with airflow_services(home, REPO / "dags", components=("api-server",),
                          AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO / "plugins"),
                          AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="False",
                          AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="viewer:viewer",
                          AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(64),
                          AIRFLOW_VAR_LAKE_ROOT=lake_root) as services:
        base = services.base_url
        services.wait_healthy()
        password = services.passwords()["viewer"]
        token = requests.post(f"{base}/auth/token", json={"username": "viewer", "password": password},
                              timeout=30).json()["access_token"]
        yield base, token


def timings(base: str, token: str, rounds: int) -> dict[str, float]:
    """Median seconds per page (first load of each discarded: imports and connections)."""
    out = {}
    for name, path in PAGES.items():
        url = f"{base}/{path}"
        seconds = []
        for _ in range(rounds + 1):
            t = time.perf_counter()
            resp = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=120)
            seconds.append(time.perf_counter() - t)
            resp.raise_for_status()
        out[name] = statistics.median(seconds[1:])
    return out


def measure(kind: str, root_of: Any, rounds: int, work: Path) -> dict[str, dict[str, float]]:
    results = {}
    for size, (versions, drops) in SIZES.items():
        lake_root = root_of(size)
        populate(lake_root, versions, drops)
        with pages_server(lake_root, work / f"{kind}-{size}-home") as (base, token):
            results[size] = timings(base, token, rounds)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-hdfs", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "ui_pages.json")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ui-pages-") as tmp:
        work = Path(tmp)
        results["file"] = measure("file", lambda size: f"file://{work}/{size}-lake", args.rounds, work)
        if not args.no_hdfs:
            ports = local_hdfs.Ports(free_port(), free_port(), free_port(), free_port(), free_port())
            local_hdfs.start(work / "hdfs", ports)
            try:
                results["hdfs"] = measure("hdfs", lambda size: f"{ports.uri}/{size}-lake", args.rounds, work)
            finally:
                local_hdfs.stop(work / "hdfs")
    print(f"{'page (median s)':<28}{'small':>10}{'large':>10}{'ratio':>8}   small = 5 versions, 20 drops; "
          f"large = 50, 200")
    for kind, by_size in results.items():
        for page in PAGES:
            small, large = by_size["small"][page], by_size["large"][page]
            print(f"{kind + ' ' + page:<28}{small:>10.3f}{large:>10.3f}{large / small:>8.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What the cluster test modules share: names, the training trigger, and small readers of the
stack's state (Ray jobs and nodes, prediction runs, asset events, drop manifests)."""

from __future__ import annotations

import json
import re
import time

import numpy as np

TRAINING, PREDICT = "salary_training", "salary_batch_predict"
SPARK_TASKS = ("generate_dataset", "etl_benchmark", "top_earners", "age_distribution")
ALL_TASKS = {*SPARK_TASKS, "tune_model", "promote_model"}
SMALL_ROWS, FAULT_ROWS = 20_000, 1_000_000
HOSTS_RUN = "1M rows: a third host joins, worker-1 cut off twice"  # the multi-host run's phase
LAKE = "/lake"
GiB = 1024**3
SCALED_RUN = "scaled run, scheduler, Postgres, NameNode and triggerer restarted"  # its phase and timer


def path_segment(run_id: str) -> str:
    """The lake's folder name for a run id, by docs/pipeline.md's rule (every character outside
    [A-Za-z0-9._-] becomes _, then leading and trailing . and _ go)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", run_id).strip("._")


def run_training(stack, rows: int, phase: str, during=None, seed: int = 7) -> tuple[str, dict]:
    """Trigger salary_training through the REST API and wait for its end; ``during(run_id)``
    acts on the stack while it runs. Returns the run id and its task instances."""
    stack.sampler.phase = phase
    t0 = time.monotonic()
    run_id = stack.trigger(TRAINING, {"rows": rows, "seed": seed})
    if during is not None:
        during(run_id)
    state = stack.wait_for_run(TRAINING, run_id)
    stack.timer(f"{phase}: salary_training {rows:,} rows", time.monotonic() - t0)
    stack.sampler.phase = "between runs"
    tis = stack.task_instances(TRAINING, run_id)
    assert state == "success", {k: (v["state"], v["try_number"]) for k, v in tis.items()}
    return run_id, tis


def answering(stack) -> bool:
    """The api-server answers and reaches its database."""
    status, body = stack.http("GET", "/api/v2/monitor/health")
    return status == 200 and json.loads(body)["metadatabase"]["status"] == "healthy"


def ray_jobs(stack) -> list[dict]:
    """Every job the Ray cluster knows, from its Jobs API (with the token, as a client would)."""
    out = stack.exec("airflow-api-server", "curl", "-fsS", "-H", f"Authorization: Bearer {stack.env['RAY_AUTH_TOKEN']}",
                     "http://ray-head:8265/api/jobs/").stdout
    return json.loads(out)


def ray_node_ips(stack) -> set[str]:
    ips = set()
    for service in ("ray-head", "ray-worker"):
        for cid in stack.containers(service):
            networks = json.loads(stack.docker("inspect", cid).stdout)[0]["NetworkSettings"]["Networks"]
            ips |= {net["IPAddress"] for net in networks.values()}
    return ips


def people(rows: int, seed: int, start_id: int, ages: tuple[int, int] | None = None,
           pay_rise: float = 0.0) -> dict[str, np.ndarray]:
    """New people as a producer sends them, salary included (the live MSE is measured), from the
    generator ``make drop`` uses; ``ages`` and a ``pay_rise`` (a fraction, for everyone) make a
    changed world."""
    from devtools.synthetic import World
    from devtools.synthetic import people as synthetic
    from salary.config import load_settings

    spec = load_settings().dataset
    everyone = (spec.truth.age_min, spec.truth.age_max, pay_rise * 100)
    df = synthetic(rows, seed, spec, start_id=start_id, world=World(ages=ages, pay_rise=everyone if pay_rise else None))
    return {column: df[column].to_numpy(copy=True) for column in df.columns}


GOOD_ROWS, BAD_AGES, NULL_ACTIVE, REPEATED = 5_000, 40, 25, 10


def predict_runs(stack) -> list[dict]:
    return stack.api("GET", f"/dags/{PREDICT}/dagRuns?limit=100")["dag_runs"]


def wait_until(predicate, timeout: float, what: str, interval: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def asset_events(stack, name: str) -> list[dict]:
    (asset,) = [a for a in stack.api("GET", "/assets?limit=100")["assets"] if a["name"] == name]
    return stack.api("GET", f"/assets/events?asset_id={asset['id']}&limit=100")["asset_events"]


def manifest(stack, drop: str) -> dict:
    return json.loads(stack.hdfs_cat(f"{LAKE}/predictions/{drop}/_MANIFEST.json"))


def reason(stack, drop: str) -> str:
    return json.loads(stack.hdfs_cat(f"{LAKE}/drops/rejected/{drop}/_REASON.json"))["reason"]

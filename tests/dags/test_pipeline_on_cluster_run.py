"""The whole pipeline on a multi-node loopback cluster: a Spark standalone master + worker, a
Ray head + a second Ray node (127.0.0.2 and 127.0.0.3) and a real HDFS (NameNode + DataNode +
WebHDFS), all started by our scripts. salary_training runs end to end with an hdfs:// lake
root, then salary_batch_predict on every kind of drop as two overlapping runs (two Airflow
homes, one lake), through real Airflow, spark-submit, the Ray Jobs API, WebHDFS and the
trigger path. Only connections and the lake root differ from the embedded default.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import threading
import urllib.request

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from devtools.synthetic import people
from salary.lake import CURRENT, SUCCESS, Lake, join
from salary.lake.fsspec_store import FsspecStore
from salary.model.features import features
from salary.model.registry import champion, load_version
from salary.runtime.job import parse_summaries
from salary.schema import LABEL
from tests.helpers import airflow, json_rows, lake_io, put

STORE = FsspecStore()

pytestmark = pytest.mark.slow

GOOD_ROWS = 20_000
BAD_AGES, NULL_ACTIVE = 30, 20


def task_states(env: dict[str, str], dag_id: str) -> dict[str, str]:
    run_id = json_rows(airflow(env, "dags", "list-runs", dag_id, "-o", "json"))[0]["run_id"]
    return {s["task_id"]: s["state"] for s in json_rows(airflow(env, "tasks", "states-for-dag-run", dag_id, run_id,
                                                          "-o", "json"))}


@pytest.fixture(scope="module")
def cluster(hdfs, spark_standalone, ray_two_nodes, settings) -> tuple[Lake, dict[str, str]]:
    """The lake on HDFS and the connections to the Spark and Ray clusters."""
    master, _ = spark_standalone
    lake = Lake(f"{hdfs}/cluster-lake", settings.lake)
    port = int(ray_two_nodes.rsplit(":", 1)[1])
    env = {"AIRFLOW_VAR_LAKE_ROOT": lake.root, "SALARY_LAKE_ROOT": lake.root,
           "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": master}),
           "AIRFLOW_CONN_RAY_DEFAULT": json.dumps({"conn_type": "ray", "host": "127.0.0.1", "port": port})}
    return lake, env


def fresh_home(tmp_path_factory, cluster_env: dict[str, str]) -> dict[str, str]:
    home = tmp_path_factory.mktemp("airflow")
    env = {**os.environ, **cluster_env, "AIRFLOW_HOME": str(home)}
    airflow(env, "db", "migrate")
    return env


@pytest.fixture(scope="module")
def trained(tmp_path_factory, cluster):
    """salary_training on the cluster, lake on HDFS: a champion model to predict with."""
    lake, cluster_env = cluster
    env = fresh_home(tmp_path_factory, cluster_env)
    proc = airflow(env, "dags", "test", "salary_training", "-c", json.dumps({"rows": 20_000, "seed": 5}),
                   check=False, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return lake, task_states(env, "salary_training"), proc.stdout + proc.stderr


def test_training_runs_end_to_end_on_hdfs(trained):
    lake, states, _ = trained
    assert set(states.values()) == {"success"}, states
    fs, curated = STORE.filesystem(lake.curated)
    version = fs.cat_file(f"{curated}/{CURRENT}").decode().strip()
    assert fs.exists(f"{curated}/{version}/{SUCCESS}")
    assert champion(lake_io(lake))["version"]
    for job in ("etl_benchmark", "top_earners", "age_distribution"):
        assert fs.find(STORE.filesystem(join(lake.root, "reports", job))[1]), job


@pytest.fixture(scope="module")
def drops(trained, settings):
    """Every kind of drop in incoming/: good ones, bad ones and ones still being written."""
    lake, *_ = trained
    good = people(GOOD_ROWS, seed=1, spec=settings.dataset, start_id=10**9)
    good.loc[: BAD_AGES - 1, "age"] = 130
    good["is_active"] = good["is_active"].astype("boolean")
    good.loc[BAD_AGES: BAD_AGES + NULL_ACTIVE - 1, "is_active"] = pd.NA
    put(join(lake.incoming, "good.parquet"), pa.Table.from_pandas(good, preserve_index=False))
    batch = people(3_000, seed=2, spec=settings.dataset, start_id=2 * 10**9, with_salary=False)
    put(join(lake.incoming, "batch", "part-0.parquet"), pa.Table.from_pandas(batch[:1000], preserve_index=False))
    put(join(lake.incoming, "batch", "part-1.parquet"), pa.Table.from_pandas(batch[1000:], preserve_index=False))
    STORE.write_atomic(join(lake.incoming, "batch", SUCCESS), b"")
    sample = pa.Table.from_pandas(people(10, seed=3, spec=settings.dataset), preserve_index=False)
    put(join(lake.incoming, "corrupt.parquet"), b"PAR1 this is not parquet")
    put(join(lake.incoming, "empty.parquet"), b"")
    put(join(lake.incoming, "missing_column.parquet"), sample.drop_columns(["signup_date"]))
    put(join(lake.incoming, "wrong_type.parquet"), sample.set_column(1, "age", pa.array(["x"] * 10)))
    put(join(lake.incoming, "writing", "part-0.parquet"), sample)  # no _SUCCESS yet
    put(join(lake.incoming, "copying.parquet._COPYING_"), sample)
    return {"good.parquet": good, "batch": batch}


SPARK_JOBS = ("generate_dataset", "etl_benchmark", "top_earners", "age_distribution")


def test_spark_tasks_ran_on_the_standalone_worker(trained, spark_standalone):
    _, _, log = trained
    master, webui_port = spark_standalone
    jobs = {doc["job"]: doc for doc in parse_summaries(log)}
    for job in SPARK_JOBS:
        spark = jobs[job]["spark"]
        assert spark["master"] == master, job
        executors = {e["id"]: e["total_tasks"] for e in spark["executors"]}
        assert sum(n for eid, n in executors.items() if eid != "driver") > 0, (job, executors)
        assert executors.get("driver", 0) == 0, (job, executors)  # the client-mode driver ran none
    state = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{webui_port}/json/", timeout=10).read())
    finished = {app["name"] for app in state["completedapps"]}
    assert set(SPARK_JOBS) <= finished  # each job names its application after itself


def test_tune_trials_ran_on_both_ray_nodes(trained):
    lake, states, log = trained
    tune = next(doc for doc in parse_summaries(log) if doc["job"] == "tune_model")
    metrics = STORE.read_json(join(tune["output"], "metrics.json"))
    nodes = {trial["node_ip"] for trial in metrics["trials"]}
    assert nodes == {"127.0.0.2", "127.0.0.3"}, metrics["trials"]


@pytest.fixture(scope="module")
def predicted(trained, drops, tmp_path_factory, settings, cluster):
    """Two salary_batch_predict runs at the same time on the same lake (two Airflow homes),
    started by hand (`dags test`: no triggering event): each lists what waits in incoming/."""
    lake, *_ = trained
    envs = [fresh_home(tmp_path_factory, cluster[1]) for _ in range(2)]
    procs: list[subprocess.CompletedProcess] = [None, None]  # type: ignore[list-item]

    def run(i: int) -> None:
        procs[i] = airflow(envs[i], "dags", "test", "salary_batch_predict", check=False, timeout=1200)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for proc in procs:
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    jobs = [next((d for d in parse_summaries(p.stdout + p.stderr) if d.get("job") == "predict_drops"),
                 {"drops": []}) for p in procs]
    states = [task_states(env, "salary_batch_predict") for env in envs]
    return lake, jobs, states, [p.stdout + p.stderr for p in procs]


COMPLETE = {"good.parquet", "batch", "corrupt.parquet", "empty.parquet", "missing_column.parquet",
            "wrong_type.parquet"}


def test_each_complete_drop_is_claimed_by_exactly_one_run(predicted):
    lake, jobs, states, logs = predicted
    for s in states:  # both ran, or the later one found nothing left and skipped
        assert set(s.values()) in ({"success"}, {"skipped"}), s
    assert {"success"} in [set(s.values()) for s in states]
    claimed = [[d["drop"] for d in job["drops"]] for job in jobs]
    assert sorted(claimed[0] + claimed[1]) == sorted(COMPLETE)  # all of them, none twice
    assert all("Ray job" in log and "JOB_SUMMARY" in log for log in logs)


def test_drops_still_being_written_stay_in_incoming(predicted):
    lake, *_ = predicted
    fs, incoming = STORE.filesystem(lake.incoming)
    assert sorted(p.rsplit("/", 1)[1] for p in fs.ls(incoming, detail=False)) == ["copying.parquet._COPYING_",
                                                                                  "writing"]


@pytest.mark.parametrize(("drop", "reason"), [
    ("corrupt.parquet", "not a readable Parquet file"),
    ("empty.parquet", "empty file (0 bytes)"),
    ("missing_column.parquet", "missing column 'signup_date'"),
    ("wrong_type.parquet", "column 'age' has type string, expected an integer type"),
])
def test_bad_drops_are_rejected_whole_with_their_reason(predicted, drop, reason):
    lake, *_ = predicted
    fs, folder = STORE.filesystem(join(lake.rejected_drops, drop))
    assert reason in STORE.read_json(join(lake.rejected_drops, drop, "_REASON.json"))["reason"]
    assert fs.exists(f"{folder}/{drop}")  # the data itself is kept next to its reason
    assert not fs.exists(STORE.filesystem(lake.predictions(drop))[1])


def test_partly_bad_drop_predicts_valid_rows_and_rejects_the_rest(predicted):
    lake, *_ = predicted
    manifest = STORE.read_json(join(lake.predictions("good.parquet"), "_MANIFEST.json"))
    assert manifest["rows_in"] == GOOD_ROWS
    assert manifest["rows_predicted"] == GOOD_ROWS - BAD_AGES - NULL_ACTIVE
    assert manifest["rows_rejected"] == BAD_AGES + NULL_ACTIVE
    assert manifest["rejected_by_reason"] == {"age_out_of_range": BAD_AGES, "null_is_active": NULL_ACTIVE}
    fs, rows = STORE.filesystem(join(lake.rejected_drops, "good.parquet", "rows.parquet"))
    with fs.open(rows, "rb") as fh:
        rejected = pq.read_table(io.BytesIO(fh.read())).to_pandas()
    assert len(rejected) == BAD_AGES + NULL_ACTIVE and set(rejected["reject_reason"]) == {"age_out_of_range",
                                                                                       "null_is_active"}
    assert fs.exists(STORE.filesystem(join(lake.processed, "good.parquet"))[1])


def read_predictions(lake: Lake, drop: str) -> pd.DataFrame:
    fs, path = STORE.filesystem(join(lake.predictions(drop), "predictions.parquet"))
    with fs.open(path, "rb") as fh:
        return pq.read_table(io.BytesIO(fh.read())).to_pandas()


@pytest.mark.parametrize("drop", ["good.parquet", "batch"])
def test_predictions_match_the_champion_applied_locally(predicted, drops, drop):
    lake, *_ = predicted
    out = read_predictions(lake, drop)
    model, manifest = load_version(lake_io(lake), champion(lake_io(lake))["version"])
    expected = model.predict(features(out, pd.Timestamp(manifest["as_of"]).date(), manifest["features"]))
    np.testing.assert_allclose(out["prediction"].to_numpy(), expected, rtol=1e-9)
    assert set(out["model_version"]) == {manifest["version"]}
    source = drops[drop]
    assert set(out["id"]) <= set(source["id"]) and len(out) == STORE.read_json(
        join(lake.predictions(drop), "_MANIFEST.json"))["rows_predicted"]
    fs, csv = STORE.filesystem(join(lake.predictions(drop), "predictions.csv"))
    assert fs.cat_file(csv).decode().count("\n") == len(out) + 1
    assert fs.exists(STORE.filesystem(join(lake.predictions(drop), SUCCESS))[1])


def test_monitoring_records_drift_and_live_error(predicted):
    lake, *_ = predicted
    good = STORE.read_json(join(lake.predictions("good.parquet"), "monitoring.json"))
    assert set(good["psi"]) == {"age", "is_active", "tenure_years"}
    assert max(good["psi"].values()) < 0.05 and good["drifted"] == []  # same distribution as training
    assert good["live"]["rows_with_label"] == GOOD_ROWS - BAD_AGES - NULL_ACTIVE
    assert good["live"]["mse_over_floor"] < 1.3
    batch = STORE.read_json(join(lake.predictions("batch"), "monitoring.json"))
    assert "live" not in batch and LABEL not in read_predictions(lake, "batch").columns


def test_nothing_is_left_claimed_or_staged(predicted):
    lake, *_ = predicted
    fs, claimed = STORE.filesystem(join(lake.drops, "claimed"))
    assert not fs.exists(claimed) or fs.ls(claimed, detail=False) == []
    _, staging = STORE.filesystem(join(lake.root, lake.layout.staging, "predict"))
    assert not fs.exists(staging) or fs.find(staging) == []

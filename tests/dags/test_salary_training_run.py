"""salary_training end to end through real Airflow (`airflow dags test`) and real spark-submit.

Outputs are checked against an independent computation (DuckDB over the same raw files).
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from devtools.services import spark as spark_services
from salary.lake import CURRENT, Lake, application_record, failure_record, path_segment
from salary.runtime.job import parse_summaries
from salary.runtime.version import code_version
from tests.helpers import airflow, free_port, json_rows, local

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ROWS = 30_000
SEED = 11


def summaries(log_text: str) -> dict[str, dict]:
    return {doc["job"]: doc for doc in parse_summaries(log_text)}


def latest_run(env: dict[str, str]) -> tuple[str, dict[str, str]]:
    runs = json_rows(airflow(env, "dags", "list-runs", "salary_training", "-o", "json"))
    run_id = max(runs, key=lambda r: r["run_after"])["run_id"]
    states = json_rows(airflow(env, "tasks", "states-for-dag-run", "salary_training", run_id, "-o", "json"))
    return run_id, {s["task_id"]: s["state"] for s in states}


@pytest.fixture(scope="module")
def history_server(tmp_path_factory, settings):
    """A Spark History Server on loopback over the lake's spark-events/ (as `make ui` starts one)."""
    lake_dir = tmp_path_factory.mktemp("lake")
    root = tmp_path_factory.mktemp("history")
    lake = Lake(f"file://{lake_dir}", settings.lake)
    url = spark_services.start_history(root, lake.spark_events, port=free_port())
    yield lake_dir, url
    spark_services.stop_history(root)


@pytest.fixture(scope="module")
def stack(settings, ray_cluster, history_server, tmp_path_factory):
    """A fresh Airflow home (SQLite), an empty file lake, a Ray head and a History Server, in the
    environment of `make` (the spark_default connection names the History Server)."""
    home = tmp_path_factory.mktemp("airflow")
    lake_dir, history_url = history_server
    spark_conn = {"conn_type": "spark", "host": "local[*]", "extra": {"history_url": history_url}}
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW_VAR_LAKE_ROOT": f"file://{lake_dir}",
           "SALARY_LAKE_ROOT": f"file://{lake_dir}", "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps(spark_conn)}
    airflow(env, "db", "migrate")
    return env, lake_dir, Lake(f"file://{lake_dir}", settings.lake)


@pytest.fixture(scope="module")
def first_run(stack):
    env, lake_dir, lake = stack
    proc = airflow(env, "dags", "test", "salary_training", "-c", json.dumps({"rows": ROWS, "seed": SEED}),
                   check=False, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    run_id, states = latest_run(env)
    return proc.stdout + proc.stderr, run_id, states


def test_every_task_succeeds_and_logs_its_summary(first_run):
    log, _, states = first_run
    assert states == dict.fromkeys(["generate_dataset", "etl_benchmark", "top_earners", "age_distribution",
                                    "tune_model", "promote_model"], "success")
    jobs = summaries(log)
    assert set(jobs) == set(states)  # promote_model's log ends with its decision too
    assert jobs.pop("promote_model")["promoted"] in (True, False)
    for job in jobs.values():
        assert job["stage_seconds"] and job["seconds"] > 0 and job["output"]
    for name in ("generate_dataset", "etl_benchmark", "top_earners", "age_distribution"):
        spark = jobs[name]["spark"]  # where the tasks' time went: a profile of each Spark job
        assert spark["task_cpu_seconds"] > 0 and spark["task_run_seconds"] > 0, (name, spark)
        assert spark["task_run_seconds"] <= jobs[name]["seconds"] * 2 + 1, (name, spark)  # local[2]: 2 task slots


def test_each_spark_task_links_its_application_in_the_history_server(first_run, stack, history_server):
    """The job records its application id; the task log names it with its History Server page,
    which lists the application's completed stages from its compressed event log in the lake."""
    log, run_id, _ = first_run
    _, lake_dir, lake = stack
    _, history_url = history_server
    events = Path(local(lake.spark_events))
    for task in ("generate_dataset", "etl_benchmark", "top_earners", "age_distribution"):
        app_id = json.loads(Path(local(application_record(lake.root, task, run_id, 1))).read_text())["application_id"]
        assert summaries(log)[task]["spark"]["application_id"] == app_id
        url = f"{history_url}/history/{app_id}/stages/"
        assert f"Spark application {app_id}: {url}" in log
        assert [p.name for p in (events / f"eventlog_v2_{app_id}").glob("events_*")][0].endswith(".zstd")
        # Finished applications appear within the server's update interval (5 s).
        page = _wait_for_page(url)
        completed = re.search(r"Completed Stages \((\d+)\)", page)
        assert completed and int(completed.group(1)) >= 1, (task, page[:500])
        app = json.loads(_wait_for_page(f"{history_url}/api/v1/applications/{app_id}"))
        assert task in app["name"] and app["attempts"][0]["completed"], app
    # What the task's link opens, in a browser: the application's stages.
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from devtools.browser import chromium

    with chromium() as driver:
        driver.get(url)
        WebDriverWait(driver, 60).until(lambda d: "Completed Stages" in d.find_element(By.TAG_NAME, "body").text)
        assert "Stages for All Jobs" in driver.find_element(By.TAG_NAME, "body").text


def _wait_for_page(url: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return resp.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_generated_dataset_and_its_manifest(first_run, stack, settings):
    _, lake_dir, lake = stack
    manifest = json.loads(Path(local(lake.generated_chunk), "_MANIFEST.json").read_text())
    raw = duckdb.sql(f"select * from read_parquet('{local(lake.generated_chunk)}/*.parquet')")
    assert manifest["rows"] == ROWS and manifest["seed"] == SEED
    assert manifest["raw_rows"] == raw.count("*").fetchone()[0] == ROWS + manifest["duplicate_rows"]
    assert manifest["noise_floor_mse"] == settings.dataset.truth.noise_floor_mse
    assert raw.aggregate("count(distinct id), min(id), max(id)").fetchone() == (ROWS, 0, ROWS - 1)


@pytest.fixture(scope="module")
def reference(first_run, stack, settings):
    """The ETL and both queries computed independently by DuckDB from the raw files."""
    _, _, lake = stack
    t = settings.dataset.truth
    con = duckdb.connect()
    con.execute(f"""
        create view raw as select * from read_parquet('{local(lake.generated_chunk)}/*.parquet');
        create view valid as
            select distinct id, trim(name) as name, age, salary, cast(signup_date as date) as signup_date, is_active
            from raw where id is not null and name is not null and trim(name) <> '' and age is not null
            and salary is not null and signup_date is not null and is_active is not null
            and age between {t.age_min} and {t.age_max};
    """)
    return con


def test_etl_matches_an_independent_computation(first_run, stack, reference):
    log, run_id, _ = first_run
    _, _, lake = stack
    metrics = json.loads(Path(local(lake.report("etl_benchmark", run_id)), "metrics.json").read_text())
    assert summaries(log)["etl_benchmark"] == metrics  # the task log's last line is the stored metrics
    curated = local(lake.curated_version(run_id))
    con = reference
    assert metrics["rows_in"] == con.sql("select count(*) from raw").fetchone()[0]
    assert metrics["rows_out"] == con.sql("select count(*) from valid").fetchone()[0]
    assert metrics["rows_in"] == metrics["rows_out"] + metrics["rows_rejected"] + metrics["duplicates_dropped"]
    # The curated dataset is exactly the valid rows, normalised.
    con.execute(f"create view curated as select id, name, age, salary, signup_date, is_active "
                f"from read_parquet('{curated}/*.parquet')")
    diff = con.sql("(select * from valid except select * from curated) "
                   "union all (select * from curated except select * from valid)").fetchall()
    assert diff == []
    types = {r[0]: r[1] for r in con.sql("describe curated").fetchall()}
    assert types["signup_date"] == "DATE"
    # Every rejected row is kept with its reason.
    rejected_files = f"{local(lake.rejected_rows(run_id))}/*/*.parquet"
    rejected = con.sql(f"select reject_reason, count(*) from read_parquet('{rejected_files}', hive_partitioning=true) "
                       "group by 1").fetchall()
    assert dict(rejected) == metrics["rejected_by_reason"]
    assert sum(metrics["rejected_by_reason"].values()) == metrics["rows_rejected"] > 0
    assert Path(local(lake.curated), CURRENT).read_text().strip() == path_segment(run_id)
    assert (Path(curated) / "_SUCCESS").exists() and (Path(curated) / "_MANIFEST.json").exists()


def _report_table(lake: Lake, job: str, run_id: str, table: str) -> list[tuple]:
    return [tuple(r.values()) for r in pq.read_table(f"{local(lake.report(job, run_id))}/{table}").to_pylist()]


def test_top_earners_match_duckdb(first_run, stack, reference, settings):
    _, run_id, _ = first_run
    _, _, lake = stack
    expected = reference.sql(f"select id, name, age, salary from valid order by salary desc, id asc "
                             f"limit {settings.queries.top_n}").fetchall()
    assert _report_table(lake, "top_earners", run_id, "top_earners") == expected
    bands = _report_table(lake, "top_earners", run_id, "salary_by_age_band")
    assert sum(b[1] for b in bands) == reference.sql("select count(*) from valid").fetchone()[0]
    assert bands[0][0] == "18-24"
    first = reference.sql("select count(*), round(avg(salary), 2), min(salary), max(salary) from valid "
                          "where age between 18 and 24").fetchone()
    assert (bands[0][1], bands[0][2], bands[0][4], bands[0][5]) == first


def test_age_distribution_matches_duckdb(first_run, stack, reference, settings):
    _, run_id, _ = first_run
    _, _, lake = stack
    k = settings.queries.extreme_k
    young = reference.sql(f"select id, name, age, salary from valid where is_active order by age, id limit {k}")
    old = reference.sql(f"select id, name, age, salary from valid where is_active order by age desc, id limit {k}")
    assert _report_table(lake, "age_distribution", run_id, "youngest") == young.fetchall()
    assert _report_table(lake, "age_distribution", run_id, "oldest") == old.fetchall()
    hist = reference.sql("select age, count(*) from valid where is_active group by age order by age").fetchall()
    assert _report_table(lake, "age_distribution", run_id, "age_histogram") == hist


def test_bad_chunk_fails_etl_with_the_column_and_type_and_nothing_downstream(first_run, stack):
    """A raw chunk with age as text: the ETL names it, no retry, no query runs, nothing is published."""
    env, lake_dir, lake = stack
    _, good_run, _ = first_run
    bad = Path(local(lake.raw)) / "bad_types"
    bad.mkdir()
    pq.write_table(pa.table({"id": [1], "name": ["x"], "age": ["thirty"], "salary": [1.0],
                             "signup_date": pa.array([0], pa.timestamp("us")), "is_active": [True]}),
                   bad / "part-0.parquet")
    (bad / "_SUCCESS").touch()
    try:
        proc = airflow(env, "dags", "test", "salary_training", "-c", json.dumps({"rows": ROWS, "seed": SEED}),
                       check=False, timeout=1200)
    finally:
        for f in bad.iterdir():
            f.unlink()
        bad.rmdir()
    log = proc.stdout + proc.stderr
    run_id, states = latest_run(env)
    assert run_id != good_run
    assert states == {"generate_dataset": "success", "etl_benchmark": "failed",
                      "top_earners": "upstream_failed", "age_distribution": "upstream_failed",
                      "tune_model": "upstream_failed", "promote_model": "upstream_failed"}
    assert f"raw chunk {lake.raw}/bad_types: column 'age' has type string, expected an integer type" in log
    # The operator failed from the job's failure record in the lake, with the job's own message.
    assert ("etl_benchmark: the job rejected its input: raw chunk " in log and "(not retrying)" in log)
    record = json.loads(Path(local(failure_record(lake.root, "etl_benchmark", run_id, 1))).read_text())
    assert record["kind"] == "bad_input" and "column 'age' has type string" in record["message"]
    assert summaries(log)["generate_dataset"]["skipped"] is True  # same rows and seed: not regenerated
    # Nothing of the failed run is visible; the previous version stays current.
    assert not Path(local(lake.curated_version(run_id))).exists()
    assert Path(local(lake.curated), CURRENT).read_text().strip() == path_segment(good_run)


def test_model_is_tuned_on_ray_published_and_promoted(first_run, stack, settings):
    log, run_id, _ = first_run
    _, _, lake = stack
    summary = summaries(log)["tune_model"]
    assert summary["cluster_cpus"] == 2 and summary["trials"] == 8  # every trial ran: no target on few rows
    test = summary["test"]
    assert test["mse"] < test["mean_baseline_mse"] / 3  # learned something (the report's model did not)
    assert test["mse_over_floor"] < 1.1
    folder = Path(local(lake.model_version(run_id)))
    manifest = json.loads((folder / "manifest.json").read_text())
    search = json.loads((folder / "metrics.json").read_text())["search"]
    assert search["target_mse_over_floor"] is None and search["reused_trial_model"] is False  # ~1,000 validation rows
    assert set(manifest["sha256"]) == {"model.joblib", "ml_model.pkl", "scaler.pkl"}
    assert manifest["features"] == ["age", "is_active", "tenure_years"] and manifest["preset"] == "default"
    # The commit and sources the job ran from (its copy of the code has no .git), in the manifest
    # and in every summary.
    assert manifest["code_version"] == code_version(REPO) == summary["code_version"]
    assert summaries(log)["etl_benchmark"]["code_version"] == code_version(REPO)
    champion = json.loads(Path(local(lake.models), "champion").read_text())
    assert champion["version"] == run_id and champion["test_mse"] == test["mse"]
    decision = json.loads(Path(local(lake.models), "decisions", f"{path_segment(run_id)}.json").read_text())
    assert decision["promoted"] is True and decision["reason"] == "no champion yet"
    assert decision["trigger"] == {"run_type": "manual", "events": []}
    # Its pictures, and the task log says where they are.
    assert {"index.html", "predicted_vs_actual.png", "trials.png"} <= {p.name for p in (folder / "_pictures").iterdir()}
    assert f"pictures of model {run_id}: {lake.model_version(run_id)}/_pictures/index.html" in log
    # The Ray job's own log lines are in the Airflow task log.
    assert "[ray] " in log and "best of 8 trials" in log

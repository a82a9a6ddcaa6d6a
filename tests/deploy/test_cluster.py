"""The cluster deployment, started for real: `docker compose up` of the shipped files on a real
Docker engine, then used as a user uses it (REST API, `hdfs dfs`, a browser, `docker`), under
faults, and torn down. The stack comes from the ``stack`` fixture in conftest.py.

Order matters (pytest runs a module top to bottom): a clean training run and batch
prediction first, then security, then faults and scaling on the same stack.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import time
from pathlib import Path
from urllib.parse import quote

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cluster_stack import OUT, PROJECT

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

TRAINING, PREDICT = "salary_training", "salary_batch_predict"
SPARK_TASKS = ("generate_dataset", "etl_benchmark", "top_earners", "age_distribution")
ALL_TASKS = {*SPARK_TASKS, "tune_model", "promote_model"}
SMALL_ROWS, FAULT_ROWS = 20_000, 1_000_000
LAKE = "/lake"
GiB = 1024**3


def path_segment(run_id: str) -> str:
    """The lake's folder name for a run id (the README's rule: every non-[A-Za-z0-9._-] -> _)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", run_id)


def run_training(stack, rows: int, phase: str, during=None) -> tuple[str, dict]:
    """Trigger salary_training through the REST API and wait for its end; ``during(run_id)``
    acts on the stack while it runs. Returns the run id and its task instances."""
    stack.sampler.phase = phase
    t0 = time.monotonic()
    run_id = stack.trigger(TRAINING, {"rows": rows, "seed": 7})
    if during is not None:
        during(run_id)
    state = stack.wait_for_run(TRAINING, run_id)
    stack.timer(f"{phase}: salary_training {rows:,} rows", time.monotonic() - t0)
    stack.sampler.phase = "between runs"
    tis = stack.task_instances(TRAINING, run_id)
    assert state == "success", {k: (v["state"], v["try_number"]) for k, v in tis.items()}
    return run_id, tis


# -- start-up -------------------------------------------------------------------------------------

def test_every_service_is_running_and_healthy(stack):
    rows = [json.loads(line) for line in stack.compose("ps", "-a", "--format", "json").stdout.splitlines()]
    services = {row["Service"]: row for row in rows}
    assert set(services) == {"postgres", "airflow-init", "airflow-api-server", "airflow-scheduler",
                             "airflow-dag-processor", "airflow-triggerer", "spark-master", "spark-worker",
                             "namenode", "datanode", "ray-head", "ray-worker"}
    assert services["airflow-init"]["State"] == "exited" and services["airflow-init"]["ExitCode"] == 0
    for name, row in services.items():
        if name != "airflow-init":
            assert row["State"] == "running", row
            assert row["Health"] in ("healthy", ""), row  # ray-worker has no health check


def test_only_the_airflow_ui_is_published_beyond_localhost(stack):
    public = []
    for cid in stack.docker("ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}").stdout.split():
        info = json.loads(stack.docker("inspect", cid).stdout)[0]
        service = info["Config"]["Labels"]["com.docker.compose.service"]
        for port, bindings in (info["NetworkSettings"]["Ports"] or {}).items():
            for b in bindings or []:
                if b["HostIp"] not in ("127.0.0.1",):
                    public.append((service, port))
    assert sorted(set(public)) == [("airflow-api-server", "8080/tcp")]


def test_every_service_has_a_memory_limit(stack):
    for cid in stack.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}").stdout.split():
        info = json.loads(stack.docker("inspect", cid).stdout)[0]
        assert info["HostConfig"]["Memory"] > 0, info["Name"]


# -- a training run through the REST API ---------------------------------------------------------

@pytest.fixture(scope="module")
def training(stack):
    run_id, tis = run_training(stack, SMALL_ROWS, "20k-row training run")
    return run_id, tis


def test_training_run_succeeds_with_every_task(training):
    _, tis = training
    assert set(tis) == ALL_TASKS
    assert {ti["state"] for ti in tis.values()} == {"success"}


@pytest.mark.parametrize("task_id", SPARK_TASKS)
def test_spark_task_log_has_spark_submit_output_and_ends_with_its_summary(stack, training, task_id):
    run_id, tis = training
    lines = stack.task_log(TRAINING, run_id, task_id, tis[task_id]["try_number"])
    assert any(line.startswith("Spark-Submit cmd: spark-submit --master spark://spark-master:7077") for line in lines)
    assert any("salary.runtime: stage session took" in line for line in lines)  # the driver's own output
    job_lines = lines[: next(i for i, line in enumerate(lines) if line == "::group::Post Execute")]
    summary = job_lines[-1]
    assert "JOB_SUMMARY" in summary, job_lines[-5:]
    doc = json.loads(summary.split("JOB_SUMMARY", 1)[1])
    assert doc["job"] == task_id and doc["run_id"] == run_id


def test_tune_model_log_streams_the_ray_job(stack, training):
    run_id, tis = training
    lines = stack.task_log(TRAINING, run_id, "tune_model", tis["tune_model"]["try_number"])
    assert any(line.startswith("submitted Ray job ") and "http://ray-head:8265" in line for line in lines)
    ray_lines = [line for line in lines if line.startswith("[ray] ")]
    assert len(ray_lines) > 10 and "JOB_SUMMARY" in ray_lines[-1]


def test_promote_model_log_ends_with_its_decision(stack, training):
    run_id, tis = training
    lines = stack.task_log(TRAINING, run_id, "promote_model", tis["promote_model"]["try_number"])
    # The function's own last line comes just before Airflow's "Done. Returned value was: ...".
    done = next(i for i, line in enumerate(lines) if line.startswith("Done. Returned value was:"))
    doc = json.loads(lines[done - 1].split("JOB_SUMMARY", 1)[1])
    assert doc["job"] == "promote_model" and doc["promoted"] is True, doc


def test_no_secret_appears_in_any_task_log(stack, training):
    run_id, tis = training
    secret_values = [stack.env[k] for k in ("RAY_AUTH_TOKEN", "SPARK_AUTH_SECRET", "POSTGRES_PASSWORD",
                                            "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET")]
    for task_id, ti in tis.items():
        text = "\n".join(stack.task_log(TRAINING, run_id, task_id, ti["try_number"]))
        assert not any(value in text for value in secret_values), task_id


def test_tune_trials_ran_on_both_ray_nodes(stack, training):
    run_id, _ = training
    metrics = json.loads(stack.hdfs_cat(f"{LAKE}/models/salary/{path_segment(run_id)}/metrics.json"))
    nodes = {trial["node_ip"] for trial in metrics["trials"]}
    assert nodes == ray_node_ips(stack), metrics["trials"]


def ray_jobs(stack) -> list[dict]:
    """Every job the Ray cluster knows, from its Jobs API (with the token, as a client would)."""
    out = stack.exec("airflow-api-server", "curl", "-fsS", "-H", f"Authorization: Bearer {stack.env['RAY_AUTH_TOKEN']}",
                     "http://ray-head:8265/api/jobs/").stdout
    return json.loads(out)


def test_tune_model_was_deferred_and_links_to_its_ray_job(stack, training):
    """While its Ray job ran the task held no worker slot; the task's extra link opens the job."""
    run_id, tis = training
    lines = stack.task_log(TRAINING, run_id, "tune_model", tis["tune_model"]["try_number"])
    assert any("Pausing task as DEFERRED" in line for line in lines)
    links = stack.api("GET", f"/dags/{TRAINING}/dagRuns/{quote(run_id, safe='')}/taskInstances/tune_model/links")
    (job,) = [j for j in ray_jobs(stack) if (j.get("metadata") or {}).get("airflow_run_id") == run_id
              and j["metadata"]["airflow_task_id"] == "tune_model"]
    port = stack.env.get("RAY_DASHBOARD_PORT", "8265")  # the dashboard's published loopback port
    assert links["extra_links"]["Ray job"] == f"http://127.0.0.1:{port}/#/jobs/{job['submission_id']}"


def test_the_ui_offers_a_form_for_ray_connections(stack):
    meta = stack._request("GET", "/ui/connections/hook_meta")
    (ray,) = [m for m in meta if m["connection_type"] == "ray"]
    assert ray["hook_name"] == "Ray"
    assert ray["standard_fields"]["password"]["title"] == "Auth token"
    assert ray["standard_fields"]["login"]["hidden"] is True
    assert "dashboard_url" in ray["extra_fields"]


def ray_node_ips(stack) -> set[str]:
    ips = set()
    for service in ("ray-head", "ray-worker"):
        for cid in stack.containers(service):
            networks = json.loads(stack.docker("inspect", cid).stdout)[0]["NetworkSettings"]["Networks"]
            ips |= {net["IPAddress"] for net in networks.values()}
    return ips


# -- the lake, seen with `hdfs dfs` ----------------------------------------------------------------

def test_lake_has_curated_data_reports_model_and_champion(stack, training):
    run_id, _ = training
    run = path_segment(run_id)
    assert stack.hdfs_cat(f"{LAKE}/datasets/curated/_CURRENT").strip() == run
    assert "_SUCCESS" in stack.hdfs_ls(f"{LAKE}/datasets/curated/{run}")
    for report in ("etl_benchmark", "top_earners", "age_distribution"):
        assert run in stack.hdfs_ls(f"{LAKE}/reports/{report}"), report
    assert {"model.joblib", "manifest.json", "metrics.json"} <= set(stack.hdfs_ls(f"{LAKE}/models/salary/{run}"))
    assert json.loads(stack.hdfs_cat(f"{LAKE}/models/salary/champion"))["version"] == run_id
    assert stack.hdfs_ls(f"{LAKE}/_staging/etl_benchmark") == []  # published, nothing left half-written


def test_top_earners_equal_an_independent_computation_over_the_curated_files(stack, training, tmp_path):
    run = path_segment(training[0])
    curated = stack.hdfs_get(f"{LAKE}/datasets/curated/{run}", tmp_path / "curated")
    report = stack.hdfs_get(f"{LAKE}/reports/top_earners/{run}/top_earners", tmp_path / "report")
    theirs = pq.read_table(report).to_pylist()
    n = len(theirs)
    assert n == 100  # the DAG's default top_n
    ours = duckdb.sql(f"SELECT id, name, age, salary FROM read_parquet('{curated}/*.parquet') "
                      f"ORDER BY salary DESC, id ASC LIMIT {n}").fetchall()
    assert [(r["id"], r["name"], r["age"], r["salary"]) for r in theirs] == ours
    rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{curated}/*.parquet')").fetchone()[0]
    assert 0.98 * SMALL_ROWS < rows <= SMALL_ROWS  # distinct people minus the rows with injected nulls


# -- drops put with `hdfs dfs -put`, predicted by salary_batch_predict -----------------------------

def people(rows: int, seed: int, start_id: int) -> dict[str, np.ndarray]:
    """New people with the columns a producer sends (salary present: the live MSE is measured)."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 81, rows)
    active = rng.random(rows) < 0.6
    signup = np.datetime64("2026-01-01") - rng.integers(0, 3650, rows).astype("timedelta64[D]")
    tenure = (np.datetime64("2026-01-01") - signup).astype(float) / 365.25
    salary = (30000 + 2200 * (age - 18) - 30 * (age - 18) ** 2 + 12000 * active + 4000 * np.sqrt(tenure)
              + 800 * active * tenure + rng.normal(0, 5000, rows))
    return {"id": np.arange(start_id, start_id + rows, dtype=np.int64),
            "name": np.array(["Alice", "Bob", "Chen", "Dana"])[rng.integers(0, 4, rows)],
            "age": age.astype(np.int64), "salary": np.round(salary, 2), "signup_date": signup,
            "is_active": active}


GOOD_ROWS, BAD_AGES, NULL_ACTIVE, REPEATED = 5_000, 40, 25, 10


@pytest.fixture(scope="module")
def drops(stack, training, tmp_path_factory):
    """Four drops, put as a user puts files into HDFS, then one salary_batch_predict run."""
    folder = tmp_path_factory.mktemp("drops")
    good = pa.table(people(GOOD_ROWS, 1, 10**9))
    cols = people(GOOD_ROWS, 2, 2 * 10**9)
    cols["age"][:BAD_AGES] = 130
    is_active = pa.array(cols.pop("is_active"), mask=np.arange(GOOD_ROWS) >= GOOD_ROWS - NULL_ACTIVE)
    bad_rows = pa.table({**cols, "is_active": is_active})
    bad_rows = pa.concat_tables([bad_rows, bad_rows.slice(BAD_AGES, REPEATED)])  # ids sent twice
    files = {"good.parquet": good, "bad_rows.parquet": bad_rows,
             "missing_column.parquet": pa.table(people(100, 3, 3 * 10**9)).drop_columns(["signup_date"])}
    for name, table in files.items():
        pq.write_table(table, folder / name)
    (folder / "corrupt.parquet").write_bytes(b"PAR1" + secrets.token_bytes(2000))
    # Event-driven: unpaused, the DAG waits for the drops asset's watcher (in the triggerer).
    stack.api("PATCH", f"/dags/{PREDICT}", {"is_paused": False})
    wait_until(lambda: "for complete drops every" in stack.compose("logs", "airflow-triggerer").stdout, 180,
               "the drop watcher to start")
    before = {r["dag_run_id"] for r in predict_runs(stack)}
    stack.sampler.phase = "batch prediction"
    for name in (*files, "corrupt.parquet"):
        stack.hdfs_put(folder / name, f"{LAKE}/drops/incoming/{name}")
    t0 = time.monotonic()
    wait_until(lambda: stack.hdfs("-test", "-e", f"{LAKE}/predictions/good.parquet/_SUCCESS",
                                  check=False).returncode == 0, 600, "good.parquet to be published", interval=0.5)
    stack.timer("drop arrival (hdfs dfs -put done) -> published _SUCCESS, event-driven", time.monotonic() - t0)
    wait_until(lambda: len({*stack.hdfs_ls(f"{LAKE}/drops/processed"), *stack.hdfs_ls(f"{LAKE}/drops/rejected")}) == 4
               and all(r["state"] in ("success", "failed") for r in predict_runs(stack)), 900, "every drop to be done")
    stack.timer("four drops put -> all published or rejected, event-driven", time.monotonic() - t0)
    # Paused again so that the training runs of the fault tests (promotions) start no runs of it.
    stack.api("PATCH", f"/dags/{PREDICT}", {"is_paused": True})
    return [r for r in predict_runs(stack) if r["dag_run_id"] not in before]


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


def test_drops_start_prediction_runs_by_themselves(stack, drops):
    """No run was triggered by hand: the watcher's asset events started them, and they all succeeded."""
    assert drops and all(r["run_type"] == "asset_triggered" for r in drops), drops
    assert {r["state"] for r in drops} == {"success"}, drops
    events = [e for e in asset_events(stack, "salary_drops") if e["extra"].get("from_trigger")]
    fired = sorted(d for e in events for d in e["extra"]["payload"]["drops"])
    assert fired == sorted(["good.parquet", "bad_rows.parquet", "missing_column.parquet", "corrupt.parquet"])


def test_promotion_is_an_event_of_the_champion_asset(stack, training):
    run_id, _ = training
    promoted = [e for e in asset_events(stack, "salary_champion") if e["source_run_id"] == run_id]
    assert [e["source_task_id"] for e in promoted] == ["promote_model"]
    assert promoted[0]["extra"]["version"] == run_id and promoted[0]["extra"]["promoted"] is True


def manifest(stack, drop: str) -> dict:
    return json.loads(stack.hdfs_cat(f"{LAKE}/predictions/{drop}/_MANIFEST.json"))


def reason(stack, drop: str) -> str:
    return json.loads(stack.hdfs_cat(f"{LAKE}/drops/rejected/{drop}/_REASON.json"))["reason"]


def test_good_drop_is_predicted_once_with_every_row(stack, drops):
    assert stack.hdfs_ls(f"{LAKE}/predictions") == ["bad_rows.parquet", "good.parquet"]
    doc = manifest(stack, "good.parquet")
    assert (doc["rows_in"], doc["rows_predicted"], doc["rows_rejected"]) == (GOOD_ROWS, GOOD_ROWS, 0)
    assert {"predictions.parquet", "predictions.csv", "monitoring.json", "_SUCCESS"} <= set(
        stack.hdfs_ls(f"{LAKE}/predictions/good.parquet"))


def test_bad_rows_are_rejected_with_reasons_and_counts_reconcile(stack, drops, tmp_path):
    doc = manifest(stack, "bad_rows.parquet")
    assert doc["rows_in"] == GOOD_ROWS + REPEATED == doc["rows_predicted"] + doc["rows_rejected"]
    assert doc["rejected_by_reason"] == {"age_out_of_range": BAD_AGES, "null_is_active": NULL_ACTIVE,
                                         "duplicate_id": REPEATED}
    rows = pq.read_table(stack.hdfs_get(f"{LAKE}/drops/rejected/bad_rows.parquet/rows.parquet",
                                        tmp_path / "rows.parquet")).to_pylist()
    assert len(rows) == BAD_AGES + NULL_ACTIVE + REPEATED
    assert {r["reject_reason"] for r in rows} == {"age_out_of_range", "null_is_active", "duplicate_id"}
    predicted = pq.read_table(stack.hdfs_get(f"{LAKE}/predictions/bad_rows.parquet/predictions.parquet",
                                             tmp_path / "predicted.parquet")).column("id").to_pylist()
    assert len(predicted) == len(set(predicted)) == doc["rows_predicted"]  # each id once


@pytest.mark.parametrize(("drop", "why"), [("corrupt.parquet", "not a readable Parquet file"),
                                           ("missing_column.parquet", "missing column 'signup_date'")])
def test_unusable_drops_are_rejected_whole_with_their_reason(stack, drops, drop, why):
    assert why in reason(stack, drop)
    assert drop in stack.hdfs_ls(f"{LAKE}/drops/rejected/{drop}")  # the data itself, next to its reason


def test_nothing_is_left_claimed_staged_or_waiting(stack, drops):
    assert stack.hdfs_ls(f"{LAKE}/drops/incoming") == []
    assert stack.hdfs_ls(f"{LAKE}/drops/claimed") == []
    assert sorted(stack.hdfs_ls(f"{LAKE}/drops/processed")) == ["bad_rows.parquet", "good.parquet"]
    staged = stack.hdfs("-ls", "-R", f"{LAKE}/_staging/predict", check=False).stdout.splitlines()
    assert [line for line in staged if line.startswith("-")] == []  # folders may stay; no file


# -- the UI in a real browser ----------------------------------------------------------------------

def test_the_ui_shows_the_run_and_its_tasks_in_a_browser(stack, training):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    run_id, _ = training
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={OUT / 'chromium-profile'}-{secrets.token_hex(4)}", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        wait = WebDriverWait(driver, 60)
        driver.get(stack.ui + "/")
        wait.until(ec.presence_of_element_located((By.NAME, "username"))).send_keys("admin")
        driver.find_element(By.NAME, "password").send_keys(stack.env["AIRFLOW_ADMIN_PASSWORD"])
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda d: "/auth/login" not in d.current_url)
        driver.get(f"{stack.ui}/dags/{TRAINING}/runs/{run_id}")
        wait.until(lambda d: all(t in d.find_element(By.TAG_NAME, "body").text for t in ALL_TASKS))
        body = driver.find_element(By.TAG_NAME, "body").text
        assert run_id in body and "Success" in body
        driver.save_screenshot(str(OUT / "ui-salary_training-run.png"))
    finally:
        driver.quit()


# -- security --------------------------------------------------------------------------------------

def test_ray_jobs_api_refuses_clients_without_the_token(stack):
    url = "http://ray-head:8265/api/jobs/"
    code = "curl -s -o /dev/null -w '%{http_code}' "
    assert stack.exec("airflow-api-server", "bash", "-c", code + url).stdout == "401"
    assert stack.exec("airflow-api-server", "bash", "-c", code + "-H 'Authorization: Bearer wrong' " + url).stdout \
        in ("401", "403")
    with_token = code + f"-H 'Authorization: Bearer {stack.env['RAY_AUTH_TOKEN']}' " + url
    assert stack.exec("airflow-api-server", "bash", "-c", with_token).stdout == "200"


def test_ray_gcs_refuses_clients_without_the_token(stack):
    probe = ("import ray; ray.init(address='ray-head:6379', log_to_driver=False); "
             "print('CONNECTED', len(ray.nodes()))")
    proc = stack.exec("airflow-api-server", "env", "RAY_AUTH_MODE=token", "RAY_AUTH_TOKEN=not-the-token",
                      "timeout", "120", "python", "-c", probe, check=False, timeout=180)
    assert proc.returncode != 0 and "CONNECTED" not in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_spark_master_refuses_a_driver_without_the_secret(stack):
    # The api-server container has no SPARK_AUTH_SECRET, so no spark-defaults.conf: an outsider.
    job = ("from pyspark.sql import SparkSession; SparkSession.builder.getOrCreate().range(10).count(); "
           "print('R' + 'AN')")
    since = stack.exec("spark-master", "date", "-u", "+%Y-%m-%dT%H:%M:%SZ").stdout.strip()
    proc = stack.exec("airflow-api-server", "bash", "-c",
                      f"echo \"{job}\" > /tmp/probe.py && timeout 150 spark-submit --master spark://spark-master:7077 "
                      "--conf spark.ui.enabled=false /tmp/probe.py", check=False, timeout=240)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "RAN" not in output, output[-2000:]
    assert "All masters are unresponsive! Giving up." in output, output[-2000:]
    master_log = stack.compose("logs", "--since", since, "spark-master").stdout
    assert "Expected SaslMessage, received something else" in master_log  # refused for want of auth


# -- faults on the real cluster --------------------------------------------------------------------

def spark_app_running(stack, name: str) -> bool:
    state = json.loads(stack.exec("spark-master", "curl", "-fsS", "http://localhost:8080/json/").stdout)
    return any(app["name"] == name for app in state.get("activeapps", []))


@pytest.fixture(scope="module")
def faulted_run(stack, training):
    """A 1M-row run during which the spark-worker container is killed mid-ETL and the ray-worker
    container mid-tuning; each comes back as an operator would bring it back."""
    events: dict[str, str] = {}

    def during(run_id: str) -> None:
        stack.wait_for_task(TRAINING, run_id, "etl_benchmark", {"running"})
        deadline = time.monotonic() + 300
        while not spark_app_running(stack, "etl_benchmark") and time.monotonic() < deadline:
            time.sleep(1)
        time.sleep(4)  # its executors are at work
        stack.docker("kill", *stack.containers("spark-worker"))
        events["spark-worker killed while etl_benchmark was"] = stack.task_instances(TRAINING, run_id)[
            "etl_benchmark"]["state"]
        time.sleep(10)
        stack.compose("up", "-d", "--wait", "spark-worker")
        # Deferred: submitted, the triggerer follows the job and no worker slot is held.
        stack.wait_for_task(TRAINING, run_id, "tune_model", {"deferred"}, timeout=1500)
        time.sleep(15)  # trials spread over both nodes
        stack.docker("kill", *stack.containers("ray-worker"))
        events["ray-worker killed while tune_model was"] = stack.task_instances(TRAINING, run_id)[
            "tune_model"]["state"]
        time.sleep(10)
        stack.compose("up", "-d", "--wait", "ray-worker")

    run_id, tis = run_training(stack, FAULT_ROWS, "1M-row run, spark-worker and ray-worker killed", during)
    (OUT / "faults.json").write_text(json.dumps({"run_id": run_id, "events": events,
                                                 "tries": {k: v["try_number"] for k, v in tis.items()}}, indent=2))
    return run_id, tis, events


def test_killing_the_spark_and_ray_workers_mid_run_loses_nothing(stack, faulted_run):
    run_id, tis, events = faulted_run
    # Each kill hit its task while it ran (tune_model deferred: its Ray job was running).
    assert events == {"spark-worker killed while etl_benchmark was": "running",
                      "ray-worker killed while tune_model was": "deferred"}, events
    assert {ti["state"] for ti in tis.values()} == {"success"}
    run = path_segment(run_id)
    # One curated version and one model for the run, published whole; nothing half-written.
    assert stack.hdfs_cat(f"{LAKE}/datasets/curated/_CURRENT").strip() == run
    assert stack.hdfs_ls(f"{LAKE}/datasets/curated").count(run) == 1
    etl = json.loads(stack.hdfs_cat(f"{LAKE}/reports/etl_benchmark/{run}/metrics.json"))
    assert etl["rows_in"] == etl["rows_rejected"] + etl["duplicates_dropped"] + etl["rows_out"]
    assert 0.98 * FAULT_ROWS < etl["rows_out"] <= FAULT_ROWS
    assert "_SUCCESS" in stack.hdfs_ls(f"{LAKE}/datasets/curated/{run}")
    assert stack.hdfs_ls(f"{LAKE}/_staging/etl_benchmark") == []
    assert "metrics.json" in stack.hdfs_ls(f"{LAKE}/models/salary/{run}")


def test_the_1m_row_run_fits_in_8_gib(stack, faulted_run):
    peak = stack.sampler.peaks["1M-row run, spark-worker and ray-worker killed"]["sum_bytes"]
    assert 0 < peak < 8 * GiB, peak / GiB


@pytest.fixture(scope="module")
def scaled_run(stack, faulted_run):
    """Two Spark workers and two Ray workers, and the scheduler container restarted mid-run."""
    t0 = time.monotonic()
    stack.compose("up", "-d", "--wait", "--scale", "spark-worker=2", "--scale", "ray-worker=2")
    stack.timer("scale to 2 spark-workers + 2 ray-workers", time.monotonic() - t0)
    events: dict[str, str] = {}

    def during(run_id: str) -> None:
        stack.wait_for_task(TRAINING, run_id, "etl_benchmark", {"running"})
        events["scheduler restarted while etl_benchmark was"] = stack.task_instances(TRAINING, run_id)[
            "etl_benchmark"]["state"]
        stack.compose("restart", "airflow-scheduler")
        stack.wait_for_task(TRAINING, run_id, "tune_model", {"deferred"}, timeout=1500)
        time.sleep(10)  # its job's log is streaming through the triggerer
        events["triggerer restarted while tune_model was"] = stack.task_instances(TRAINING, run_id)[
            "tune_model"]["state"]
        stack.compose("restart", "airflow-triggerer")

    run_id, tis = run_training(stack, SMALL_ROWS, "scaled run, scheduler and triggerer restarted", during)
    return run_id, tis, events


def test_restarting_the_scheduler_mid_run_completes_the_run_once(stack, scaled_run):
    run_id, tis, events = scaled_run
    assert events == {"scheduler restarted while etl_benchmark was": "running",
                      "triggerer restarted while tune_model was": "deferred"}
    assert {ti["state"] for ti in tis.values()} == {"success"}
    assert tis["etl_benchmark"]["try_number"] >= 2  # its process died with the scheduler: retried
    run = path_segment(run_id)
    assert stack.hdfs_ls(f"{LAKE}/datasets/curated").count(run) == 1
    assert stack.hdfs_ls(f"{LAKE}/models/salary").count(run) == 1
    assert stack.hdfs_ls(f"{LAKE}/_staging/etl_benchmark") == []


def test_a_restarted_triggerer_re_attaches_to_the_ray_job_instead_of_running_it_again(stack, scaled_run):
    run_id, tis, _ = scaled_run
    assert tis["tune_model"]["try_number"] == 1
    jobs = [job for job in ray_jobs(stack) if (job.get("metadata") or {}).get("airflow_run_id") == run_id
            and job["metadata"].get("airflow_task_id") == "tune_model"]
    assert [job["status"] for job in jobs] == ["SUCCEEDED"], jobs
    lines = stack.task_log(TRAINING, run_id, "tune_model", 1)
    assert sum("following Ray job" in line for line in lines) >= 2  # the trigger started again after the restart


def test_work_lands_on_the_added_workers(stack, scaled_run):
    run_id, _, _ = scaled_run
    for index in (1, 2):  # each Spark worker ran executors of this run's applications
        worker = stack.exec("spark-worker", "curl", "-fsS", "http://localhost:8081/json/", index=index)
        state = json.loads(worker.stdout)
        apps = {e["appdesc"]["name"] for e in state["finishedexecutors"] + state["executors"]}
        assert apps & set(SPARK_TASKS), (index, apps)
    metrics = json.loads(stack.hdfs_cat(f"{LAKE}/models/salary/{path_segment(run_id)}/metrics.json"))
    nodes = {trial["node_ip"] for trial in metrics["trials"]}
    assert len(ray_node_ips(stack)) == 3 and len(nodes & ray_node_ips(stack)) >= 2, (nodes, ray_node_ips(stack))


def test_peak_memory_is_recorded(stack, scaled_run):
    stack.sampler.sample()
    doc = json.loads((OUT / "docker-stats.json").read_text())
    assert {"20k-row training run", "1M-row run, spark-worker and ray-worker killed"} <= set(doc)
    summary = {phase: round(p["sum_bytes"] / GiB, 2) for phase, p in doc.items()}
    (OUT / "docker-stats-summary.json").write_text(json.dumps(summary, indent=2))
    print("peak summed container memory (GiB) per phase:", summary, "; timings:", stack.timer.steps,
          f"; at {dt.datetime.now(dt.UTC):%H:%M}", sep="\n")


def test_artifacts_are_kept_for_ci(stack):
    assert Path(OUT / "ui-salary_training-run.png").stat().st_size > 10_000
    assert json.loads((OUT / "timings.json").read_text())

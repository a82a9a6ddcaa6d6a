"""Users, roles and what they see, on the stack: the FAB auth manager's admin (from .env) adds a
Viewer through the FAB users API; the viewer reads DAGs, runs, logs and the Salary pages and is
refused triggering, unpausing, clearing and connections (REST and in Chromium); in the browser the
Salary model page's chart and pictures load, the drifted drop shows its reasons, and a Spark
task's "Spark application" link opens its stages in the History Server."""

from __future__ import annotations

import json
import secrets
from urllib.parse import quote

import pytest
from cluster_helpers import PREDICT, TRAINING, manifest

from devtools.cluster_stack import OUT

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


@pytest.fixture(scope="module")
def viewer(stack) -> dict[str, str]:
    """A user with the role Viewer, added by the admin through the FAB auth manager's users API."""
    user = {"username": "viewer", "password": secrets.token_urlsafe(16)}
    status, body = stack.http("POST", "/auth/fab/v1/users", {
        **user, "email": "viewer@salary.invalid", "first_name": "Vera", "last_name": "Viewer",
        "roles": [{"name": "Viewer"}]}, stack.token())
    assert status in (200, 201), body[:500]
    status, body = stack.http("POST", "/auth/token", user)
    assert status in (200, 201), body[:500]
    return {**user, "token": json.loads(body)["access_token"]}


def test_the_admin_is_the_one_from_env_and_no_default_password_works(stack):
    for password in ("admin", "airflow", ""):
        status, _ = stack.http("POST", "/auth/token", {"username": "admin", "password": password})
        assert status in (400, 401, 403, 422), password
    status, body = stack.http("GET", "/auth/fab/v1/users/admin", None, stack.token())
    assert status == 200 and [r["name"] for r in json.loads(body)["roles"]] == ["Admin"], body[:300]


def test_a_viewer_reads_dags_runs_logs_and_the_salary_pages(stack, training, viewer):
    run_id, tis = training
    run = quote(run_id, safe="")
    token = viewer["token"]
    for path in ("/api/v2/dags", f"/api/v2/dags/{TRAINING}/dagRuns", f"/api/v2/dags/{TRAINING}/dagRuns/{run}",
                 f"/api/v2/dags/{TRAINING}/dagRuns/{run}/taskInstances",
                 f"/api/v2/dags/{TRAINING}/dagRuns/{run}/taskInstances/etl_benchmark/logs/"
                 f"{tis['etl_benchmark']['try_number']}?full_content=true",
                 "/salary/model", "/salary/api/model", "/salary/drops", f"/salary/runs/{TRAINING}/{run}"):
        status, body = stack.http("GET", path, None, token)
        assert status == 200, (path, status, body[:300])
    assert json.loads(stack.http("GET", "/salary/api/model", None, token)[1])["champion"]["version"]


def test_a_viewer_cannot_trigger_unpause_clear_or_touch_connections(stack, training, viewer):
    run_id, _ = training
    token = viewer["token"]
    refused = {
        "trigger": ("POST", f"/api/v2/dags/{TRAINING}/dagRuns", {"logical_date": None}),
        "unpause": ("PATCH", f"/api/v2/dags/{PREDICT}", {"is_paused": False}),
        "clear": ("POST", f"/api/v2/dags/{TRAINING}/clearTaskInstances",
                  {"dag_run_id": run_id, "task_ids": ["top_earners"], "dry_run": False}),
        "list connections": ("GET", "/api/v2/connections", None),
        "add a connection": ("POST", "/api/v2/connections", {"connection_id": "x", "conn_type": "http"}),
        "edit a connection": ("PATCH", "/api/v2/connections/spark_default", {"connection_id": "spark_default",
                                                                             "conn_type": "spark", "host": "x"}),
        "add a user": ("POST", "/auth/fab/v1/users", {"username": "x", "password": "x", "email": "x@x.invalid",
                                                      "first_name": "x", "last_name": "x"}),
    }
    runs_before = stack.api("GET", f"/dags/{TRAINING}/dagRuns?limit=100")["total_entries"]
    got = {what: stack.http(method, path, body, token)[0] for what, (method, path, body) in refused.items()}
    assert got == dict.fromkeys(refused, 403), got
    # Nothing happened: no new run, the DAG still paused, and the admin may do what the viewer may not.
    assert stack.api("GET", f"/dags/{TRAINING}/dagRuns?limit=100")["total_entries"] == runs_before
    assert stack.api("GET", f"/dags/{PREDICT}")["is_paused"] is True
    assert stack.http("GET", "/api/v2/connections", None, stack.token())[0] == 200


def test_in_chromium_the_viewer_sees_the_model_the_drifted_drop_and_the_spark_stages(stack, training, viewer):
    """Part of what a viewer does in the UI, in a real browser, with screenshots kept for CI."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from devtools.browser import chromium, log_in

    run_id, _ = training
    changed = manifest(stack, "changed-1.parquet")  # the drifted drop of test_cluster_6_drift
    links = stack.api("GET", f"/dags/{TRAINING}/dagRuns/{quote(run_id, safe='')}/taskInstances/etl_benchmark/links")
    with chromium() as driver:
        wait = WebDriverWait(driver, 90)
        log_in(driver, stack.ui, viewer["username"], viewer["password"])

        driver.get(f"{stack.ui}/plugin/salary-model")  # Browse > Salary model
        frame = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "iframe[title='Salary model']"))[0]
        driver.switch_to.frame(frame)
        chart = wait.until(lambda d: d.find_elements(By.ID, "history-chart"))[0]
        wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", chart))
        driver.find_element(By.CSS_SELECTOR, "a[href*='versions/']").click()  # a version: its pictures
        picture = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "img[alt$='.png']"))[0]
        driver.execute_script("arguments[0].scrollIntoView()", picture)
        wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", picture))
        driver.switch_to.default_content()
        driver.save_screenshot(str(OUT / "ui-salary-model.png"))

        run = quote(changed["run"], safe="")
        driver.get(f"{stack.ui}/dags/{PREDICT}/runs/{run}/plugin/salary-run")  # the run's Salary tab
        frame = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "iframe[title='Salary']"))[0]
        driver.switch_to.frame(frame)
        section = wait.until(lambda d: [s for s in d.find_elements(By.CSS_SELECTOR, "section.unhealthy")
                                        if "changed-1.parquet" in s.text])[0]
        assert "PSI of age" in section.text and "above the threshold" in section.text, section.text
        assert "a model-health event was sent" in section.text, section.text
        driver.switch_to.default_content()
        driver.save_screenshot(str(OUT / "ui-salary-drifted-drop.png"))

        # What the UI's buttons send (with the session's token cookie), sent from the page: refused.
        asks = {"trigger": ("POST", f"/api/v2/dags/{TRAINING}/dagRuns", {"logical_date": None}),
                "unpause": ("PATCH", f"/api/v2/dags/{PREDICT}", {"is_paused": False}),
                "clear": ("POST", f"/api/v2/dags/{TRAINING}/clearTaskInstances",
                          {"dag_run_id": run_id, "task_ids": ["top_earners"], "dry_run": False}),
                "edit a connection": ("PATCH", "/api/v2/connections/spark_default",
                                      {"connection_id": "spark_default", "conn_type": "spark", "host": "x"})}
        statuses = {what: driver.execute_async_script(
            "const [method, path, body, done] = arguments;"
            "fetch(path, {method, credentials: 'same-origin', headers: {'Content-Type': 'application/json'},"
            " body: JSON.stringify(body)}).then(r => done(r.status), e => done(String(e)));", method, path, body)
            for what, (method, path, body) in asks.items()}
        assert statuses == dict.fromkeys(asks, 403), statuses

        driver.get(links["extra_links"]["Spark application"])  # etl_benchmark's link
        wait.until(lambda d: "Completed Stages" in d.find_element(By.TAG_NAME, "body").text)
        assert "Stages for All Jobs" in driver.find_element(By.TAG_NAME, "body").text
        driver.save_screenshot(str(OUT / "ui-spark-history-stages.png"))

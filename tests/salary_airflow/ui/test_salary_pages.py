"""The Salary pages in a real Airflow api-server (plugins/ folder, simple auth manager with an
admin and a viewer), reached as a user would: over HTTP with Airflow's tokens, and in headless
Chromium through the UI's login and navigation."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from urllib.parse import quote

import jwt
import pytest
import requests

from devtools.airflow_services import airflow_services
from devtools.ui_lake import populate, prediction_run_id, training_run_id
from salary.lake import path_segment

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
SCREENSHOTS = REPO / "build" / "screenshots"
VERSION = path_segment(training_run_id(3))
PAGES = ["salary/model", "salary/model/chart.svg", "salary/api/model", f"salary/model/versions/{VERSION}",
         "salary/drops", f"salary/runs/salary_training/{quote(training_run_id(3))}",
         f"salary/runs/salary_batch_predict/{quote(prediction_run_id(0))}",
         f"salary/pictures/model/{VERSION}/test_predictions.png", "salary/pictures/drop/drop-0009.parquet/psi.png"]


@pytest.fixture(scope="module")
def ui(tmp_path_factory, settings):
    root = tmp_path_factory.mktemp("ui")
    lake_root = f"file://{root}/lake"
    populate(lake_root, versions=8, drops=40, settings=settings)
    secret = secrets.token_urlsafe(64)
    with airflow_services(root / "home", REPO / "dags", components=("api-server",),
                          AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO / "plugins"),
                          AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="False",
                          AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin,viewer:viewer",
                          AIRFLOW__API_AUTH__JWT_SECRET=secret, AIRFLOW_VAR_LAKE_ROOT=lake_root) as services:
        services.wait_healthy()
        services.secret = secret
        yield services


def token(ui, user: str) -> str:
    resp = requests.post(f"{ui.base_url}/auth/token", json={"username": user, "password": ui.passwords()[user]},
                         timeout=30)
    resp.raise_for_status()
    return resp.json()["access_token"]


def get(ui, path: str, bearer: str | None = None, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return requests.get(f"{ui.base_url}/{path}", headers=headers, timeout=30, **kwargs)


@pytest.mark.parametrize("path", PAGES)
def test_no_page_answers_without_a_token(ui, path):
    resp = get(ui, path)
    assert resp.status_code == 401, resp.text
    assert "Salary" not in resp.text and "drop-" not in resp.text


def test_an_expired_or_forged_token_is_refused(ui):
    claims = jwt.decode(token(ui, "viewer"), options={"verify_signature": False})
    header = jwt.get_unverified_header(token(ui, "viewer"))
    now = int(time.time())
    expired = jwt.encode({**claims, "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}, ui.secret,
                         algorithm=header["alg"])
    forged = jwt.encode({**claims, "exp": now + 3600}, "not-the-secret-" + ui.secret, algorithm=header["alg"])
    for path in ("salary/model", "salary/pictures/drop/drop-0009.parquet/psi.png"):
        resp = get(ui, path, expired)
        assert (resp.status_code, resp.json()["detail"]) == (401, "Token Expired")
        assert get(ui, path, forged).status_code == 403


@pytest.mark.parametrize("path", PAGES)
def test_a_viewer_reads_every_page(ui, path):
    resp = get(ui, path, token(ui, "viewer"))
    assert resp.status_code == 200, resp.text


def test_a_viewer_cannot_trigger_unpause_or_clear(ui):
    viewer = {"Authorization": f"Bearer {token(ui, 'viewer')}"}
    api = f"{ui.base_url}/api/v2/dags/salary_training"
    assert requests.post(f"{api}/dagRuns", json={"logical_date": None}, headers=viewer, timeout=30).status_code == 403
    assert requests.patch(api, json={"is_paused": False}, headers=viewer, timeout=30).status_code == 403
    assert requests.post(f"{api}/clearTaskInstances", json={"dry_run": True}, headers=viewer,
                         timeout=30).status_code == 403


@pytest.mark.parametrize("path", [
    "salary/pictures/drop/..%2F..%2Fmodels%2Fsalary/champion", "salary/pictures/drop/%2Fetc%2Fpasswd/psi.png",
    "salary/pictures/drop/drop-0009.parquet/..%2F..%2F..%2Fchampion", "salary/pictures/drop/.hidden/psi.png",
    "salary/pictures/drop/a%00b/psi.png", "salary/pictures/drop/drop-0009.parquet/monitoring.json",
    "salary/pictures/drop/drop-0009.parquet/index.html", "salary/pictures/curated/x/psi.png",
    "salary/model/versions/%2E%2E", "salary/runs/salary_training/..%2F..",
    "salary/runs/other_dag/run1", "salary/model/versions/no-such-version",
])
def test_names_outside_the_pages_are_not_found(ui, path):
    assert get(ui, path, token(ui, "viewer")).status_code == 404


def test_pictures_are_streamed_png(ui):
    resp = get(ui, "salary/pictures/drop/drop-0009.parquet/psi.png", token(ui, "viewer"), stream=True)
    assert resp.headers["content-type"] == "image/png" and resp.headers.get("transfer-encoding") == "chunked"
    assert next(resp.iter_content(8)) == b"\x89PNG\r\n\x1a\n"


def test_a_run_page_shows_its_small_drops_pooled_and_why_each_was_not_judged_alone(ui):
    page = get(ui, f"salary/runs/salary_batch_predict/{quote(prediction_run_id(1))}", token(ui, "viewer")).text
    assert '<section class="pool drifted"><h3>2 drops too small to judge alone, pooled (1,200 rows): drifted' in page
    assert page.count("600 rows, fewer than the 1,000 drift is judged on: PSI recorded, not judged") == 2
    assert page.count("on the 1,200 rows of 2 drops too small to judge alone, pooled</li>") == 2
    assert "pooled" not in get(ui, f"salary/runs/salary_batch_predict/{quote(prediction_run_id(0))}",
                               token(ui, "viewer")).text


def test_a_pool_too_small_to_judge_says_its_drops_wait_and_names_the_earlier_runs_ones():
    from salary_airflow.ui.app import pooled_section

    section = pooled_section({"drops": ["a", "b"], "carried": ["a"], "rows": 800, "judged": False, "drifted": [],
                              "psi": {"age": 0.3}})
    assert "2 drops too small to judge alone, pooled (800 rows): not judged yet (too few rows)" in section
    assert "<p>from earlier runs: a</p>" in section and 'class="pool"' in section


def test_the_model_history_names_every_version_and_the_champion(ui):
    doc = get(ui, "salary/api/model", token(ui, "viewer")).json()
    assert [v["version"] for v in doc["versions"]] == [path_segment(training_run_id(i)) for i in range(8)]
    assert sum(v["champion"] for v in doc["versions"]) == 1 and doc["champion"]["version"]


def test_in_a_browser_a_viewer_sees_the_model_and_a_drifted_drop(ui):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from devtools.browser import chromium, log_in

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as driver:
        wait = WebDriverWait(driver, 60)
        log_in(driver, ui.base_url, "viewer", ui.passwords()["viewer"])
        driver.get(f"{ui.base_url}/plugin/salary-model")
        frame = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "iframe[title='Salary model']"))[0]
        driver.switch_to.frame(frame)
        chart = wait.until(lambda d: d.find_elements(By.ID, "history-chart"))[0]
        wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", chart))
        assert "8 versions" in driver.find_element(By.TAG_NAME, "body").text
        driver.switch_to.default_content()
        driver.save_screenshot(str(SCREENSHOTS / "salary-model.png"))

        run = quote(prediction_run_id(0), safe="")
        driver.get(f"{ui.base_url}/dags/salary_batch_predict/runs/{run}/plugin/salary-run")  # the run's Salary tab
        frame = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "iframe[title='Salary']"))[0]
        driver.switch_to.frame(frame)
        section = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "section.unhealthy"))[0]
        assert "PSI of age 0.900 above the threshold" in section.text
        assert "a model-health event was sent" in section.text
        psi = section.find_element(By.CSS_SELECTOR, "img[alt='psi.png']")
        driver.execute_script("arguments[0].scrollIntoView()", section)
        wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", psi))
        driver.switch_to.default_content()
        driver.save_screenshot(str(SCREENSHOTS / "salary-drop-verdict.png"))

        # A trigger, sent as the UI's own code sends it (the session's token cookie): refused.
        status = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch('/api/v2/dags/salary_training/dagRuns', {method: 'POST', credentials: 'same-origin',"
            " headers: {'Content-Type': 'application/json'}, body: JSON.stringify({logical_date: null})})"
            ".then(r => done(r.status), e => done(String(e)));")
        assert status == 403, status

        driver.get(f"{ui.base_url}/plugin/salary-drops")
        frame = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "iframe[title='Salary drops']"))[0]
        driver.switch_to.frame(frame)
        rows = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "table.drops tr"))
        assert len(rows) == 1 + 39  # 40 drops, one rejected whole (no health record)
        assert "unhealthy" in driver.find_element(By.TAG_NAME, "body").text
        driver.switch_to.default_content()
        driver.save_screenshot(str(SCREENSHOTS / "salary-drops.png"))

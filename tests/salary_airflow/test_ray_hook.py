"""RayHook: the Jobs API address and, for a token-authenticated cluster, the bearer header."""

from __future__ import annotations

import json

import pytest

from salary_airflow.hooks.ray import RayHook


@pytest.fixture
def conn(monkeypatch):
    def make(**fields) -> RayHook:
        monkeypatch.setenv("AIRFLOW_CONN_RAY_HOOK_TEST", json.dumps({"conn_type": "ray", **fields}))
        return RayHook("ray_hook_test")

    return make


def test_token_from_the_connection_password_is_sent_as_a_bearer_header(conn):
    hook = conn(host="ray-head", port=8265, password="s3cr3t")
    assert hook.address == "http://ray-head:8265"
    assert hook.headers == {"Authorization": "Bearer s3cr3t"}


def test_no_password_and_no_ray_token_sends_no_authorization_header(conn, monkeypatch):
    for var in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE"):
        monkeypatch.delenv(var, raising=False)
    hook = conn(host="127.0.0.1", schema="https")
    assert hook.address == "https://127.0.0.1:8265"
    assert hook.headers == {}


def test_no_password_falls_back_to_the_token_file_ray_clients_use(conn, monkeypatch, tmp_path):
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    (tmp_path / "token").write_text("from-file\n")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "token"))
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    assert conn(host="127.0.0.1").headers == {"Authorization": "Bearer from-file"}
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    assert conn(host="127.0.0.1").headers == {}


def test_job_link_prefers_the_dashboard_url_a_browser_reaches(conn):
    assert conn(host="ray-head").job_url("a b") == "http://ray-head:8265/#/jobs/a%20b"
    hook = conn(host="ray-head", extra=json.dumps({"dashboard_url": "http://127.0.0.1:18265/"}))
    assert hook.job_url("j1") == "http://127.0.0.1:18265/#/jobs/j1"

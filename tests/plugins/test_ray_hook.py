"""RayHook: the Jobs API address and, for a token-authenticated cluster, the bearer header."""

from __future__ import annotations

import json

import pytest
from hooks.ray import RayHook


@pytest.fixture
def conn(monkeypatch):
    def make(**fields) -> RayHook:
        monkeypatch.setenv("AIRFLOW_CONN_RAY_HOOK_TEST", json.dumps({"conn_type": "http", **fields}))
        return RayHook("ray_hook_test")

    return make


def test_token_from_the_connection_password_is_sent_as_a_bearer_header(conn):
    hook = conn(host="ray-head", port=8265, password="s3cr3t")
    assert hook.address == "http://ray-head:8265"
    assert hook.headers == {"Authorization": "Bearer s3cr3t"}


def test_no_password_sends_no_authorization_header(conn):
    hook = conn(host="127.0.0.1", schema="https")
    assert hook.address == "https://127.0.0.1:8265"
    assert hook.headers == {}

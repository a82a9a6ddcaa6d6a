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


def test_the_connection_is_looked_up_once_per_hook(conn, monkeypatch):
    hook = conn(host="ray-head", port=8265, password="s3cr3t")
    calls = []
    lookup = RayHook.get_connection
    monkeypatch.setattr(RayHook, "get_connection", classmethod(lambda cls, cid: calls.append(cid) or lookup(cid)))
    assert (hook.address, hook.headers, hook.address) == ("http://ray-head:8265", {"Authorization": "Bearer s3cr3t"},
                                                          "http://ray-head:8265")
    assert calls == ["ray_hook_test"]

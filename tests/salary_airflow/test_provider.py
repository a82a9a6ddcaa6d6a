"""Airflow discovers our provider (salary_airflow.provider, the installed entry point): the `ray` connection type with
its form, the Ray job extra link and the triggers."""

from __future__ import annotations

import json


def test_airflow_knows_the_ray_connection_type_and_its_form():
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    hook = pm.hooks["ray"]
    assert (hook.hook_class_name, hook.hook_name, hook.package_name) == ("salary_airflow.hooks.ray.RayHook", "Ray",
                                                                           "salary-pipeline")
    behaviour = pm.field_behaviours["ray"]
    assert behaviour["relabeling"]["password"] == "Auth token" and "login" in behaviour["hidden_fields"]
    assert "extra__ray__dashboard_url" in pm.connection_form_widgets
    assert "salary_airflow.operators.ray.RayJobLink" in pm.extra_links_class_names
    assert "salary_airflow.operators.spark.SparkApplicationLink" in pm.extra_links_class_names


def test_every_class_the_provider_names_imports():
    import importlib

    from salary_airflow.provider import get_provider_info

    info = get_provider_info()
    names = [c["hook-class-name"] for c in info["connection-types"]] + info["extra-links"]
    for name in names:
        module, cls = name.rsplit(".", 1)
        assert hasattr(importlib.import_module(module), cls), name
    for trigger in info["triggers"]:
        for module in trigger["python-modules"]:
            importlib.import_module(module)


def test_the_test_button_reports_an_unreachable_cluster(monkeypatch):
    from salary_airflow.hooks.ray import RayHook

    monkeypatch.setenv("AIRFLOW_CONN_RAY_DOWN", json.dumps({"conn_type": "ray", "host": "127.0.0.1", "port": 1}))
    ok, message = RayHook("ray_down").test_connection()
    assert ok is False and "127.0.0.1:1" in message

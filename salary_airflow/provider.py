"""Provider info of the salary pipeline, read by Airflow's ProvidersManager (entry point
``apache_airflow_provider``). Airflow 3.3 builds connection forms from this metadata
(``conn-fields``, ``ui-field-behaviour``) without importing the hook."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "salary-pipeline",
        "name": "Salary pipeline",
        "description": "Ray Jobs API hook, deferrable Ray job operator and trigger, drop-arrival triggers.",
        "connection-types": [{
            "connection-type": "ray",
            "hook-class-name": "salary_airflow.hooks.ray.RayHook",
            "hook-name": "Ray",
            "ui-field-behaviour": {
                "hidden-fields": ["login"],
                "relabeling": {"host": "Ray head (dashboard) host", "port": "Dashboard port",
                               "schema": "Scheme", "password": "Auth token"},
                "placeholders": {"host": "ray-head", "port": "8265", "schema": "http or https",
                                 "password": "the cluster's RAY_AUTH_TOKEN (token authentication)"},
            },
            "conn-fields": {
                "dashboard_url": {
                    "label": "Dashboard URL for browsers",
                    "description": "Where a browser reaches the dashboard (the task's 'Ray job' link), "
                                   "when it differs from host:port",
                    "schema": {"type": ["string", "null"]},
                },
            },
        }],
        "extra-links": ["salary_airflow.operators.ray.RayJobLink",
                        "salary_airflow.operators.spark.SparkApplicationLink"],
        "triggers": [{"integration-name": "Ray", "python-modules": ["salary_airflow.triggers.ray"]},
                     {"integration-name": "Salary drops", "python-modules": ["salary_airflow.triggers.drops"]}],
    }

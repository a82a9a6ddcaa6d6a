"""The Salary pages in the Airflow UI: the model (champion, history, each version's pictures),
the drops (verdicts), and a tab on each salary_training and salary_batch_predict run.

Airflow loads this file from its plugins folder ([core] plugins_folder, set by scripts/env.sh
and the image). The pages are a FastAPI app mounted at /salary; each one checks Airflow's own
authentication and authorisation (salary_airflow/ui/app.py), since Airflow does not for plugin apps.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from salary_airflow.ui.app import create_app


class SalaryUiPlugin(AirflowPlugin):
    name = "salary_ui"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/salary", "name": "Salary pages"}]
    external_views = [
        {"name": "Salary model", "href": "salary/model", "url_route": "salary-model", "destination": "nav",
         "category": "browse"},
        {"name": "Salary drops", "href": "salary/drops", "url_route": "salary-drops", "destination": "nav",
         "category": "browse"},
        # A tab on every run page; the page says when the DAG is not one of ours.
        {"name": "Salary", "href": "salary/runs/{DAG_ID}/{RUN_ID}", "url_route": "salary-run",
         "destination": "dag_run"},
    ]

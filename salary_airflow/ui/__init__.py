"""The Salary pages inside the Airflow UI: what they show (``catalog``, read from the lake) and
the FastAPI app that serves them behind Airflow's auth (``app``); plugins/salary_ui.py mounts it."""

"""Shared code of the salary pipeline: Spark jobs, Ray jobs and Airflow plugins import it."""

__version__ = "0.1.0"

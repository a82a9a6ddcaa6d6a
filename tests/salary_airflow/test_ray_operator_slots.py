"""While Ray jobs run, a deferred RayJobOperator holds no worker slot: with parallelism 1, two
tune_model-like tasks run their Ray jobs side by side through the real scheduler and triggerer;
the same tasks in blocking mode run one after the other (the limit is real)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from devtools.airflow_services import airflow, airflow_services
from salary.runtime.ray import job_runtime_env

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
JOB_SECONDS = 12
ENTRYPOINT = (f"python -c \"import time; from salary.runtime.job import summary_line; time.sleep({JOB_SECONDS}); "
              "print(summary_line({'job': 'sleep'}))\"")

DAG = textwrap.dedent('''
    import datetime as dt
    from airflow.sdk import DAG
    from salary_airflow.operators.jobs import RayPipelineJobOperator

    ENTRYPOINT = {entrypoint!r}
    for deferrable in (True, False):
        with DAG(dag_id=f"two_ray_jobs_{{'deferrable' if deferrable else 'blocking'}}", schedule=None,
                 catchup=False, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)):
            for name in ("tune_a", "tune_b"):
                RayPipelineJobOperator(task_id=name, entrypoint=ENTRYPOINT, runtime_env={runtime_env!r},
                               deferrable=deferrable, poll_interval=1, retries=0)
''')


def job_windows(ray_address: str, dag_id: str, run_id: str) -> list[tuple[float, float]]:
    from ray.job_submission import JobSubmissionClient

    from salary_airflow.operators.ray import submission_id

    client = JobSubmissionClient(ray_address)
    infos = [client.get_job_info(submission_id(dag_id, task, run_id, 1)) for task in ("tune_a", "tune_b")]
    return sorted((info.start_time / 1000, info.end_time / 1000) for info in infos)


def test_deferred_ray_jobs_hold_no_worker_slot(tmp_path, ray_cluster):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "two_ray_jobs.py").write_text(DAG.format(entrypoint=ENTRYPOINT, runtime_env=job_runtime_env(REPO)))
    with airflow_services(tmp_path / "home", dags, AIRFLOW__CORE__PARALLELISM="1") as services:
        windows = {}
        for mode in ("deferrable", "blocking"):
            dag_id = f"two_ray_jobs_{mode}"
            services.wait_for_dag(dag_id)
            airflow(services.env, "dags", "trigger", dag_id)
            (run,) = services.wait_for_runs(dag_id, 1, timeout=600)
            assert run["state"] == "success", services.task_states(dag_id, run["run_id"])
            windows[mode] = job_windows(ray_cluster, dag_id, run["run_id"])
    print("Ray job windows (start, end) relative to the first start, parallelism 1:",
          {mode: [(round(s - w[0][0], 1), round(e - w[0][0], 1)) for s, e in w] for mode, w in windows.items()})
    # With one slot, the second job can start while the first runs only if the first task gave
    # its slot back (deferred). Measured: the second started 0.6-5.6 s after the first.
    (a_start, a_end), (b_start, _) = windows["deferrable"]
    assert b_start < a_end - 2, f"deferred: the second job waited for the first: {windows}"
    (a_start, a_end), (b_start, _) = windows["blocking"]
    assert b_start >= a_end, f"blocking: parallelism 1 should have serialised the jobs: {windows}"

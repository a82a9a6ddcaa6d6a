"""Clients without the cluster's secrets are refused by Ray (Jobs API, GCS) and the Spark master."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


def test_ray_jobs_api_refuses_clients_without_the_token(stack):
    url = "http://ray-head:8265/api/jobs/"
    code = "curl -s -o /dev/null -w '%{http_code}' "
    assert stack.exec("airflow-api-server", "bash", "-c", code + url).stdout == "401"
    assert stack.exec("airflow-api-server", "bash", "-c", code + "-H 'Authorization: Bearer wrong' " + url).stdout \
        in ("401", "403")
    with_token = code + f"-H 'Authorization: Bearer {stack.env['RAY_AUTH_TOKEN']}' " + url
    assert stack.exec("airflow-api-server", "bash", "-c", with_token).stdout == "200"


def test_ray_gcs_refuses_clients_without_the_token(stack):
    probe = ("import ray; ray.init(address='ray-head:6379', log_to_driver=False); "
             "print('CONNECTED', len(ray.nodes()))")
    proc = stack.exec("airflow-api-server", "env", "RAY_AUTH_MODE=token", "RAY_AUTH_TOKEN=not-the-token",
                      "timeout", "120", "python", "-c", probe, check=False, timeout=180)
    assert proc.returncode != 0 and "CONNECTED" not in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_spark_master_refuses_a_driver_without_the_secret(stack):
    # The api-server container has no SPARK_AUTH_SECRET, so no spark-defaults.conf: an outsider.
    job = ("from pyspark.sql import SparkSession; SparkSession.builder.getOrCreate().range(10).count(); "
           "print('R' + 'AN')")
    since = stack.exec("spark-master", "date", "-u", "+%Y-%m-%dT%H:%M:%SZ").stdout.strip()
    proc = stack.exec("airflow-api-server", "bash", "-c",
                      f"echo \"{job}\" > /tmp/probe.py && timeout 150 spark-submit --master spark://spark-master:7077 "
                      "--conf spark.ui.enabled=false /tmp/probe.py", check=False, timeout=240)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "RAN" not in output, output[-2000:]
    assert "All masters are unresponsive! Giving up." in output, output[-2000:]
    master_log = stack.compose("logs", "--since", since, "spark-master").stdout
    assert "Expected SaslMessage, received something else" in master_log  # refused for want of auth

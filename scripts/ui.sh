#!/usr/bin/env bash
# The Airflow web UI (airflow standalone: api-server, scheduler, dag-processor, triggerer)
# with our DAGs, on http://127.0.0.1:8080. Ctrl-C stops it.
set -euo pipefail
source "$(dirname "$0")/env.sh"
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT=${AIRFLOW_UI_PORT:-8080}
echo "[ui] http://127.0.0.1:$AIRFLOW__API__PORT  user 'admin', password in $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
echo "[ui] DAGs start paused: unpause salary_training, then Trigger (with params) from its page;"
echo "[ui] unpause salary_batch_predict and put drops with: python scripts/make_drop.py NAME --rows N"
echo "[ui] lake: $SALARY_LAKE_ROOT"
python "$REPO/scripts/ray_local.py" start "$SALARY_RAY_DIR"
hdfs_started=no
if [ "${LAKE:-file}" = hdfs ] && ! python "$REPO/scripts/hdfs_local.py" status "$SALARY_HDFS_DIR"; then
    python "$REPO/scripts/hdfs_local.py" start "$SALARY_HDFS_DIR"
    hdfs_started=yes
fi
cleanup() {
    python "$REPO/scripts/ray_local.py" stop "$SALARY_RAY_DIR"
    [ "$hdfs_started" = yes ] && python "$REPO/scripts/hdfs_local.py" stop "$SALARY_HDFS_DIR"
    return 0
}
trap cleanup EXIT
airflow standalone

#!/usr/bin/env bash
# The Airflow web UI with our DAGs on http://127.0.0.1:8080: the api-server, scheduler,
# dag-processor and triggerer of the embedded default, each started in its own session and
# stopped by its PID's process group (Ctrl-C, SIGTERM or exit). Everything binds loopback:
# the api-server listens on 127.0.0.1, and the scheduler's and triggerer's log servers (which
# `airflow standalone` binds on every interface) are not started: the api-server reads the
# task logs from $AIRFLOW_HOME/logs on this machine.
set -euo pipefail
source "$(dirname "$0")/env.sh"
port=${AIRFLOW_UI_PORT:-8080}
export AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT=$port
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$port/execution/
echo "[ui] http://127.0.0.1:$port  user 'admin', password in $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
echo "[ui] DAGs start paused: unpausing one never starts a run at once (the first scheduled run is"
echo "[ui] its next cron time); Trigger (with params) runs salary_training now."
echo "[ui] unpause salary_batch_predict and put drops with: python scripts/make_drop.py NAME --rows N"
echo "[ui] lake: $SALARY_LAKE_ROOT; logs of each component in $AIRFLOW_HOME/<component>.log"
echo "[ui] Spark History Server: http://127.0.0.1:$SALARY_SPARK_HISTORY_PORT (each Spark task's 'Spark application' link)"
python "$REPO/scripts/services.py" ray start "$SALARY_RAY_DIR"
hdfs_started=no
if [ "${LAKE:-file}" = hdfs ] && ! python "$REPO/scripts/services.py" hdfs status "$SALARY_HDFS_DIR"; then
    python "$REPO/scripts/services.py" hdfs start "$SALARY_HDFS_DIR"
    hdfs_started=yes
fi
pids=()
stopping=no
cleanup() {
    [ "$stopping" = yes ] && return 0
    stopping=yes
    echo "[ui] stopping"
    for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    for _ in $(seq 1 60); do
        alive=no
        for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=yes; done
        [ "$alive" = no ] && break
        sleep 0.5
    done
    for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
    python "$REPO/scripts/services.py" spark-history stop "$SALARY_SPARK_HISTORY_DIR"
    python "$REPO/scripts/services.py" ray stop "$SALARY_RAY_DIR"
    [ "$hdfs_started" = yes ] && python "$REPO/scripts/services.py" hdfs stop "$SALARY_HDFS_DIR"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# Over the lake's spark-events/ (config/pipeline.toml [lake] spark_events), where the tasks write.
python "$REPO/scripts/services.py" spark-history start "$SALARY_SPARK_HISTORY_DIR" \
    --port "$SALARY_SPARK_HISTORY_PORT" --log-dir "$SALARY_LAKE_ROOT/spark-events"
start() {
    local name=$1
    shift
    setsid airflow "$@" >>"$AIRFLOW_HOME/$name.log" 2>&1 &
    pids+=("$!")
}
start api-server api-server --host 127.0.0.1 --port "$port" --workers 1
start scheduler scheduler --skip-serve-logs
start dag-processor dag-processor
start triggerer triggerer --skip-serve-logs
for _ in $(seq 1 120); do
    curl -fsS "http://127.0.0.1:$port/api/v2/monitor/health" >/dev/null 2>&1 && break
    sleep 1
done
echo "[ui] ready: http://127.0.0.1:$port (Ctrl-C stops everything)"
while :; do
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || { echo "[ui] a component (pid $pid) exited; see $AIRFLOW_HOME/*.log" >&2; exit 1; }
    done
    sleep 2
done

#!/usr/bin/env bash
# The whole pipeline through real Airflow (`airflow dags test`: the scheduler's semantics, in
# one process) on the embedded default: salary_training, then a drop of new people and
# salary_batch_predict on it; after each, what ran, how long, and where. LAKE=hdfs puts the
# lake on a local single-node HDFS.
set -euo pipefail
source "$(dirname "$0")/env.sh"
rows=${1:-1000000}
log="$REPO/.local/demo-$(date -u +%Y%m%dT%H%M%SZ).log"
mkdir -p "$REPO/.local"
echo "[demo] salary_training with rows=$rows (nightly default: 30,000,000; ROWS=30000000 make demo for the report's size)"
echo "[demo] lake: $SALARY_LAKE_ROOT   Airflow home: $AIRFLOW_HOME"
echo "[demo] full Airflow output: $log"
# A local Ray head on loopback for tune_model (Jobs API on :8265), stopped by PID on exit
# unless one was already running (make ui, or an earlier demo still up).
ray_started=no
if ! python "$REPO/scripts/services.py" ray status "$SALARY_RAY_DIR"; then
    python "$REPO/scripts/services.py" ray start "$SALARY_RAY_DIR"
    ray_started=yes
fi
hdfs_started=no
if [ "${LAKE:-file}" = hdfs ] && ! python "$REPO/scripts/services.py" hdfs status "$SALARY_HDFS_DIR"; then
    python "$REPO/scripts/services.py" hdfs start "$SALARY_HDFS_DIR"
    hdfs_started=yes
fi
cleanup() {
    [ "$ray_started" = yes ] && python "$REPO/scripts/services.py" ray stop "$SALARY_RAY_DIR"
    [ "$hdfs_started" = yes ] && python "$REPO/scripts/services.py" hdfs stop "$SALARY_HDFS_DIR"
    return 0
}
trap cleanup EXIT
start=$(date +%s)
status=0
bash "$REPO/scripts/dags_test.sh" salary_training -c "{\"rows\": $rows}" >"$log" 2>&1 || status=$?
echo "[demo] airflow dags test finished in $(( $(date +%s) - start )) s (exit $status)"
python "$REPO/scripts/run_summary.py" salary_training || status=$?
if [ "$status" = 0 ]; then
    drop="demo-$(date -u +%Y%m%dT%H%M%SZ)"
    python "$REPO/scripts/make_drop.py" "$drop" --rows "${DROP_ROWS:-100000}" --files 2
    start=$(date +%s)
    bash "$REPO/scripts/dags_test.sh" salary_batch_predict >>"$log" 2>&1 || status=$?
    echo "[demo] salary_batch_predict finished in $(( $(date +%s) - start )) s (exit $status)"
    python "$REPO/scripts/run_summary.py" salary_batch_predict || status=$?
fi
if [ "$status" != 0 ]; then
    echo "[demo] the run failed; the last lines of $log:" >&2
    tail -n 40 "$log" >&2
fi
exit "$status"

#!/usr/bin/env bash
# `airflow dags test DAG [options]` (a whole run in this process, deferred tasks' triggers run
# inline), then the triggers those tasks left in the metadata DB are deleted, as a triggerer
# deletes unused ones. Without that, the next triggerer (`make ui`) would pick them up for tasks
# long finished and cancel them: a cancelled trigger stops its Ray job against a head that the
# demo has stopped. Exit status: the run's.
set -uo pipefail
status=0
airflow dags test "$@" || status=$?
python -c 'from airflow.models.trigger import Trigger; Trigger.clean_unused()' || { [ "$status" = 0 ] && status=1; }
exit "$status"

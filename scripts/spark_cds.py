"""Build the JVM class-data-sharing archive that cuts the Spark driver's start-up.

    python scripts/spark_cds.py ARCHIVE      # idempotent: nothing to do when it exists

Runs a small Spark workload of the kind our jobs do (Parquet write and read, an aggregation,
a window, a sort) in a driver started with ``-XX:ArchiveClassesAtExit``: the JVM dumps the
classes it loaded, pre-parsed, into ARCHIVE. Drivers started with ``-XX:SharedArchiveFile``
(config/pipeline.toml, ``__SPARK_CDS__``) map it instead of loading and verifying ~10,000
classes from jars. The archive is only valid for this JVM and this pyspark's jars, so its name
carries both versions (scripts/env.sh). ``-Xshare:auto`` makes a stale or missing archive a
warning, never a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
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


def build(archive: Path) -> bool:
    if archive.exists():
        return False
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="spark-cds-") as tmp:
        script = Path(tmp, "workload.py")
        script.write_text(WORKLOAD)
        partial = archive.with_suffix(f".{os.getpid()}.tmp")
        proc = subprocess.run(
            ["spark-submit", "--master", "local[2]", "--conf", "spark.ui.enabled=false",
             "--conf", f"spark.driver.extraJavaOptions=-XX:ArchiveClassesAtExit={partial}",
             str(script), str(Path(tmp, "data"))],
            capture_output=True, text=True, env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"})
        if proc.returncode != 0 or not partial.exists():
            partial.unlink(missing_ok=True)
            print(proc.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"could not build the CDS archive {archive}")
        partial.rename(archive)
    return True


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        raise SystemExit(__doc__)
    built = build(Path(args[0]))
    print(f"{'built' if built else 'kept'} {args[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build the JVMs' ahead-of-time caches that cut a Spark job's start-up and its JIT warm-up.

    python -m devtools.build.spark_cds CACHE LAUNCHER_CACHE   # idempotent: nothing to do when they exist

Runs a small Spark workload of the kind our jobs do (Parquet write and read, an aggregation,
a window, a sort) in a driver started with ``-XX:AOTCacheOutput`` (Java 25, JEPs 483, 514 and
515; the JVM of devtools/build/java_home.py): at exit the JVM writes the classes it loaded and
linked, and the profiles of the methods it ran, into CACHE. Drivers started with
``-XX:AOTCache`` (config/pipeline.toml, ``__SPARK_CDS__``) map it instead of loading and
verifying ~10,000 classes from jars, and their JIT compiles the hot code sooner. The cache is
only valid for this JVM and this Spark home's jars, so its name carries the lock's hash
(scripts/env.sh). A stale or missing cache is an error message on stderr (the JVMs' log goes
there: salary.config's ``JVM_LOG_TO_STDERR``), never a failure.

LAUNCHER_CACHE is the same for spark-submit's launcher, the short JVM that only builds the
driver's command line on its stdout: written from a submission run with $SPARK_LAUNCHER_OPTS
(scripts/env.sh: C1 only, serial GC, this cache), it takes the launcher from ~0.3 s to ~0.1 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from salary.config import JVM_LOG_TO_STDERR

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


def dump(cache: Path, workload: str, options: Callable[[Path], tuple[list[str], dict[str, str]]]) -> bool:
    """Run ``workload`` through spark-submit with ``options(partial)`` (its arguments before the
    script, its environment over ours), which make a JVM dump the cache ``partial``; publish
    that as ``cache``. Nothing to do when ``cache`` exists."""
    if cache.exists():
        return False
    cache.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="spark-cds-") as tmp:
        script = Path(tmp, "workload.py")
        script.write_text(workload)
        partial = cache.with_suffix(f".{os.getpid()}.tmp")
        args, env = options(partial)
        proc = subprocess.run(["spark-submit", *args, str(script), str(Path(tmp, "data"))], capture_output=True,
                              text=True, env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", **env})
        if proc.returncode != 0 or not partial.exists():
            partial.unlink(missing_ok=True)
            print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"could not build the AOT cache {cache}")
        partial.rename(cache)
    return True


def build(cache: Path) -> bool:
    """The driver's cache: the driver JVM writes it after ``WORKLOAD``, with the drivers'
    collector (config/pipeline.toml)."""
    return dump(cache, WORKLOAD, lambda partial: (
        ["--master", "local[2]", "--conf", "spark.ui.enabled=false", "--conf",
         f"spark.driver.extraJavaOptions=-XX:+UseParallelGC {JVM_LOG_TO_STDERR} -XX:AOTCacheOutput={partial}"], {}))


def launcher_options(cache: Path, configured: str) -> str:
    """$SPARK_LAUNCHER_OPTS for the run that writes ``cache``: the configured options without
    the cache they map (it does not exist yet)."""
    kept = [o for o in configured.split() if not o.startswith("-XX:AOTCache=")]
    return " ".join([*kept, f"-XX:AOTCacheOutput={cache}"])


def build_launcher(cache: Path) -> bool:
    """The launcher's cache: the launcher JVM of a submission of an empty script dumps it."""
    configured = os.environ.get("SPARK_LAUNCHER_OPTS", "")
    return dump(cache, "", lambda partial: (
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

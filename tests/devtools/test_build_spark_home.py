"""devtools.build.spark_home: the Spark home spark-submit runs from, and what a real driver gets from it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from devtools.build.spark_home import build

REPO = Path(__file__).resolve().parents[2]


def fake_pyspark(root: Path, jars: tuple[str, ...] = ("spark-core_2.13-4.2.0.jar", "spark-mllib_2.13-4.2.0.jar",
                                                       "spark-mllib-local_2.13-4.2.0.jar")) -> Path:
    src = root / "pyspark"
    (src / "bin").mkdir(parents=True)
    (src / "bin" / "spark-submit").write_text("#!/bin/sh\n")
    (src / "python" / "lib").mkdir(parents=True)
    (src / "python" / "lib" / "pyspark.zip").write_bytes(b"")
    (src / "jars").mkdir()
    for jar in jars:
        (src / "jars" / jar).write_bytes(b"")
    (src / "__init__.py").write_text("")
    return src


def test_the_home_links_pyspark_but_its_python_zips_and_spark_ml(tmp_path):
    src, home = fake_pyspark(tmp_path), tmp_path / "home"
    assert build(home, src) is True
    assert sorted(p.name for p in home.iterdir()) == ["__init__.py", "bin", "jars"]
    assert (home / "bin").readlink() == src / "bin"
    assert not (home / "jars").is_symlink()
    assert sorted(p.name for p in (home / "jars").iterdir()) == ["spark-core_2.13-4.2.0.jar",
                                                                 "spark-mllib-local_2.13-4.2.0.jar"]
    assert (home / "jars" / "spark-core_2.13-4.2.0.jar").readlink() == src / "jars" / "spark-core_2.13-4.2.0.jar"


def test_a_second_build_changes_nothing_and_an_upgrade_is_followed(tmp_path):
    src, home = fake_pyspark(tmp_path), tmp_path / "home"
    build(home, src)
    assert build(home, src) is False
    (src / "jars" / "spark-core_2.13-4.2.0.jar").rename(src / "jars" / "spark-core_2.13-4.3.0.jar")
    (src / "sbin").mkdir()
    assert build(home, src) is True
    assert sorted(p.name for p in (home / "jars").iterdir()) == ["spark-core_2.13-4.3.0.jar",
                                                                 "spark-mllib-local_2.13-4.2.0.jar"]
    assert (home / "sbin").readlink() == src / "sbin"


def test_a_folder_that_is_not_a_pip_pyspark_is_refused(tmp_path):
    (tmp_path / "bin").mkdir()
    with pytest.raises(SystemExit, match="no jars/ folder"):
        build(tmp_path / "home", tmp_path)


DRIVER = """import pyspark, py4j
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
try:
    spark._jvm.java.lang.Class.forName("org.apache.spark.ml.Pipeline")
    ml = True
except Exception:
    ml = False
print("DRIVER", pyspark.__file__, py4j.__file__, ml)
spark.stop()
"""


@pytest.mark.slow
def test_a_driver_imports_the_compiled_pyspark_and_has_no_spark_ml(tmp_path):
    """Through the environment every command gets (scripts/env.sh): pyspark and py4j come from
    site-packages, not from the source-only zips Spark puts first on the PYTHONPATH."""
    assert os.environ.get("SPARK_HOME", "").endswith("spark-home"), "scripts/env.sh sets SPARK_HOME"
    app = tmp_path / "driver.py"
    app.write_text(DRIVER)
    proc = subprocess.run(["spark-submit", "--master", "local[1]", "--conf", "spark.ui.enabled=false", str(app)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("DRIVER "))
    pyspark_file, py4j_file, ml = line.split()[1:]
    assert ".zip" not in pyspark_file and "site-packages" in pyspark_file
    assert ".zip" not in py4j_file
    assert ml == "False"


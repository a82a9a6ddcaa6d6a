from __future__ import annotations

import os
from pathlib import Path

import pytest

from salary.config import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def pyfiles_zip() -> None:
    """Jobs import the package from build/salary.zip: rebuild it from this checkout."""
    import runpy

    runpy.run_path(str(REPO / "scripts" / "build_pyfiles.py"))["build"](REPO)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def spark():
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (
        SparkSession.builder.master("local[1]")
        .appName("salary-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    yield session
    session.stop()

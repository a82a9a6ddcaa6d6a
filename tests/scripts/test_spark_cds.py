"""scripts/spark_cds.py: the options its launcher archive is dumped with."""

from __future__ import annotations

import runpy
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
launcher_options = runpy.run_path(str(REPO / "scripts" / "spark_cds.py"))["launcher_options"]


def test_the_launcher_archive_is_dumped_with_the_configured_options_but_the_archive_they_map(tmp_path):
    configured = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:SharedArchiveFile=/c/l.jsa -Xshare:auto"
    assert launcher_options(tmp_path / "new.jsa", configured) == (
        f"-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:ArchiveClassesAtExit={tmp_path / 'new.jsa'}")

"""devtools.build.spark_cds: the options its launcher archive is dumped with."""

from __future__ import annotations

from devtools.build.spark_cds import launcher_options


def test_the_launcher_archive_is_dumped_with_the_configured_options_but_the_archive_they_map(tmp_path):
    configured = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:SharedArchiveFile=/c/l.jsa -Xshare:auto"
    assert launcher_options(tmp_path / "new.jsa", configured) == (
        f"-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:ArchiveClassesAtExit={tmp_path / 'new.jsa'}")

"""devtools.build.spark_cds: the options its launcher cache is written with."""

from __future__ import annotations

from devtools.build.spark_cds import launcher_options


def test_the_launcher_cache_is_written_with_the_configured_options_but_the_cache_they_map(tmp_path):
    configured = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xlog:disable -XX:AOTCache=/c/l.aot"
    assert launcher_options(tmp_path / "new.aot", configured) == (
        f"-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xlog:disable -XX:AOTCacheOutput={tmp_path / 'new.aot'}")

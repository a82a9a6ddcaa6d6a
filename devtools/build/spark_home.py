"""Build the Spark home our spark-submit runs from: the pip-installed pyspark, less two costs.

    python -m devtools.build.spark_home DIR      # idempotent; SPARK_HOME=DIR (scripts/env.sh, Dockerfile)

pip's pyspark is a Spark home of its own (jars/, bin/, sbin/) that also carries
python/lib/pyspark.zip and the py4j zip: source-only copies of the installed packages, which
Spark's PythonRunner puts first on the PYTHONPATH of every driver and Python worker. Python
cannot cache bytecode for modules in a zip, so every Spark task compiled all of pyspark again:
`import pyspark` took 0.53 s under spark-submit against 0.09 s from the installed package (its
bytecode compiled by pip). DIR links every entry of the installed pyspark except ``python``: Spark
finds its jars and scripts as before, the zips' paths lead nowhere, and Python imports the same
pyspark and py4j from site-packages, compiled. jars/ is a folder of links to the installed jars
but ``LEFT_OUT_JARS`` (below).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

LEFT_OUT = frozenset({"python"})
# Jars of the pip-installed Spark that the pipeline does not use and every session pays for:
# spark-mllib's session extension (a ServiceLoader provider) registers its functions through
# Scala reflection when a session starts: without it a trivial job's session took 0.9 s instead
# of 1.6-1.9 s here (its first action 0.2 s more). Our model is scikit-learn on Ray; a job that
# wants pyspark.ml needs this jar back.
LEFT_OUT_JARS = ("spark-mllib_",)


def pyspark_dir() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def sync(folder: Path, links: dict[str, Path], folders: frozenset[str] = frozenset()) -> bool:
    """Make ``folder`` hold exactly ``links`` (name -> target) and the real subfolders
    ``folders``; whether anything changed."""
    folder.mkdir(parents=True, exist_ok=True)
    changed = False
    for entry in folder.iterdir():
        if entry.name in folders and entry.is_dir() and not entry.is_symlink():
            continue
        if entry.is_symlink() and links.get(entry.name) == entry.readlink():
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
        changed = True
    for name, target in links.items():
        if not (folder / name).is_symlink():
            (folder / name).symlink_to(target)
            changed = True
    for name in folders:
        if not (folder / name).is_dir():
            (folder / name).mkdir()
            changed = True
    return changed


def build(home: Path, source: Path) -> bool:
    """Make ``home`` link every entry of the installed pyspark ``source`` but ``python``, with
    jars/ a folder of links to its jars but ``LEFT_OUT_JARS``; whether anything changed."""
    if not (source / "jars").is_dir():
        raise SystemExit(f"{source} is not a pip-installed pyspark (no jars/ folder)")
    top = {e.name: e for e in source.iterdir() if e.name not in LEFT_OUT and e.name != "jars"}
    jars = {j.name: j for j in (source / "jars").iterdir() if not j.name.startswith(LEFT_OUT_JARS)}
    changed = sync(home, top, folders=frozenset({"jars"}))
    return sync(home / "jars", jars) or changed


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        raise SystemExit(__doc__)
    changed = build(Path(args[0]), pyspark_dir())
    print(f"{'built' if changed else 'kept'} {args[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build build/salary.zip, the shared package shipped to Spark with --py-files.

Run by setup and by the test session, so a job never imports a stale copy of the package.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build(repo: Path = REPO) -> Path:
    out = repo / "build" / "salary.zip"
    out.parent.mkdir(exist_ok=True)
    tmp = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted((repo / "salary").rglob("*.py")):
            zf.write(path, path.relative_to(repo).as_posix())
    tmp.replace(out)
    return out


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO))

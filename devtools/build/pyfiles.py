"""Build build/salary.zip, the shared package shipped to Spark with --py-files.

Run by setup (``python -m devtools.build.pyfiles``), the image build and the test session, so a
job never imports a stale copy of the package.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from devtools.services import REPO


def build(repo: Path = REPO) -> Path:
    out = repo / "build" / "salary.zip"
    out.parent.mkdir(exist_ok=True)
    tmp = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted((repo / "salary").rglob("*.py")):
            zf.write(path, path.relative_to(repo).as_posix())
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    print(build(Path(args[0]) if args else REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())

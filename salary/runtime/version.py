"""Which code a job ran: the git commit and a hash of the sources that shape a model.

Computed where the code is a checkout or an image (Airflow, a developer's shell) and handed
to the jobs as ``SALARY_CODE_VERSION`` (Ray: the runtime env; Spark: spark-submit's
environment), because a job's own copy (a Spark --py-files zip, a Ray working_dir) carries no
``.git``. The image records its commit at build time (``SALARY_GIT_COMMIT``). Stdlib only.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

CODE_VERSION_ENV = "SALARY_CODE_VERSION"
COMMIT_ENV = "SALARY_GIT_COMMIT"
# What a model's behaviour depends on: the package, the job entry points and the settings.
CODE_GLOBS = ("salary/**/*.py", "jobs/*.py", "config/*.toml")
REPO = Path(__file__).resolve().parents[2]


def source_hash(repo: Path) -> str:
    """A content hash of the package, the jobs and the config in ``repo``."""
    digest = hashlib.sha256()
    for path in sorted({p for pattern in CODE_GLOBS for p in repo.glob(pattern)}):
        digest.update(path.relative_to(repo).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return f"sha256:{digest.hexdigest()[:16]}"


def git_commit(repo: Path) -> str:
    """The checked-out commit (``+dirty`` when tracked files differ from it), the image's
    build-time commit, or ``no-git``."""
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return os.environ.get(COMMIT_ENV) or "no-git"
    return f"{head}+dirty" if dirty else head


def code_version(repo: Path = REPO) -> str:
    """``<commit> <source hash>``, e.g. ``3bcab93... sha256:1f2e...``."""
    return f"{git_commit(repo)} {source_hash(repo)}"


def current() -> str:
    """The code version of the running job: what the submitter passed, else this checkout's."""
    if os.environ.get(CODE_VERSION_ENV):
        return os.environ[CODE_VERSION_ENV]
    if (REPO / "jobs").is_dir() and (REPO / "config").is_dir():
        return code_version(REPO)
    return "unknown (submitted without SALARY_CODE_VERSION)"

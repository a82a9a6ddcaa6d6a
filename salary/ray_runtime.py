"""The runtime env every Ray job of ours is submitted with (no Ray import: DAG files use it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Code and config ship as the job's working_dir; data, caches and tests do not.
WORKING_DIR_EXCLUDES = (".git", ".local", ".venv", "build", "tests", "bench", "**/__pycache__")


def job_runtime_env(repo: Path) -> dict[str, Any]:
    return {"working_dir": str(repo), "excludes": list(WORKING_DIR_EXCLUDES)}

"""The runtime env of our Ray jobs: the code ships as working_dir, its version is recorded."""

from __future__ import annotations

import shutil
from pathlib import Path

from salary.ray_runtime import code_version, job_runtime_env

REPO = Path(__file__).resolve().parents[2]


def copy_code(dest: Path) -> Path:
    for folder in ("salary", "jobs", "config"):
        shutil.copytree(REPO / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def test_code_version_follows_the_code_and_config_only(tmp_path):
    repo = copy_code(tmp_path)
    first = code_version(repo)
    assert first == code_version(REPO) and first.startswith("sha256:")
    (repo / "README.md").write_text("docs do not change what a model does")
    assert code_version(repo) == first
    (repo / "config" / "pipeline.toml").write_text((repo / "config" / "pipeline.toml").read_text() + "\n# x\n")
    second = code_version(repo)
    assert second != first
    (repo / "salary" / "model.py").write_text((repo / "salary" / "model.py").read_text() + "\n")
    assert code_version(repo) not in (first, second)


def test_jobs_get_the_version_as_an_environment_variable():
    env = job_runtime_env(REPO)
    assert env["working_dir"] == str(REPO)
    assert env["env_vars"] == {"SALARY_CODE_VERSION": code_version(REPO)}

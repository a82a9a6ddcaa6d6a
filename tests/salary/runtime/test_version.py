"""The code version recorded in job summaries and model manifests: commit + source hash."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from salary.runtime.ray import job_runtime_env
from salary.runtime.version import COMMIT_ENV, code_version, git_commit, source_hash

REPO = Path(__file__).resolve().parents[3]


def copy_code(dest: Path) -> Path:
    for folder in ("salary", "jobs", "config"):
        shutil.copytree(REPO / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def test_source_hash_follows_the_code_and_config_only(tmp_path):
    repo = copy_code(tmp_path)
    first = source_hash(repo)
    assert first == source_hash(REPO) and first.startswith("sha256:")
    (repo / "README.md").write_text("docs do not change what a model does")
    assert source_hash(repo) == first
    (repo / "config" / "pipeline.toml").write_text((repo / "config" / "pipeline.toml").read_text() + "\n# x\n")
    second = source_hash(repo)
    assert second != first
    module = repo / "salary" / "model" / "features.py"
    module.write_text(module.read_text() + "\n")
    assert source_hash(repo) not in (first, second)


def test_commit_of_a_checkout_is_marked_dirty_when_tracked_files_changed(tmp_path, monkeypatch):
    monkeypatch.delenv(COMMIT_ENV, raising=False)
    repo = copy_code(tmp_path)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x")
    head = git(repo, "rev-parse", "HEAD")
    assert git_commit(repo) == head
    (repo / "untracked.txt").write_text("not part of the commit, not a change to it")
    assert git_commit(repo) == head
    (repo / "jobs" / "tune_model.py").write_text("changed\n")
    assert git_commit(repo) == f"{head}+dirty"
    assert code_version(repo) == f"{head}+dirty {source_hash(repo)}"


def test_without_git_the_image_commit_is_used(tmp_path, monkeypatch):
    repo = copy_code(tmp_path)  # no .git: as in the image
    monkeypatch.setenv(COMMIT_ENV, "abc123")
    assert code_version(repo) == f"abc123 {source_hash(repo)}"
    monkeypatch.delenv(COMMIT_ENV)
    assert git_commit(repo) == "no-git"


def test_jobs_ship_the_package_jobs_and_config_only():
    env = job_runtime_env(REPO)
    assert env["working_dir"] == str(REPO)
    for excluded in ("tests", "devtools", "salary_airflow", "dags", ".git", ".local"):
        assert excluded in env["excludes"]
    assert not {"salary", "jobs", "config"} & set(env["excludes"])

"""The README's layout table names every top-level entry and every module of our packages, and
its links lead somewhere."""

from __future__ import annotations

import fnmatch
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("salary", "salary_airflow", "devtools", "bench", "jobs", "dags", "scripts")


def layout_rows(readme: str) -> list[tuple[set[str], set[str]]]:
    """(names in the first cell, names in the row) for each row of the "Layout" table."""
    section = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = line.split("|")
        if line.startswith("| `") and len(cells) > 3:
            rows.append((set(re.findall(r"`([^`]+)`", cells[1])), set(re.findall(r"`([^`]+)`", line))))
    return rows


def tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [p for p in out.splitlines() if (REPO / p).exists()]


def named(path: str, rows: list[tuple[set[str], set[str]]]) -> bool:
    """A file is named by its path, or by its path below a folder that its row names first
    (``hooks/ray.py`` or ``ray.py`` in the row of ``salary_airflow/``)."""
    parts = path.split("/")
    folders = {"/".join(parts[:i]) + "/" for i in range(1, len(parts))}
    for first, every in rows:
        if any(fnmatch.fnmatch(path, n) for n in every):
            return True
        below = {path[len(f):] for f in folders & first}
        if below and (below | {parts[-1]}) & every:
            return True
    return False


def test_the_layout_table_names_every_top_level_entry():
    rows = layout_rows((REPO / "README.md").read_text())
    firsts = set().union(*(first for first, _ in rows))
    tops = {p.split("/")[0] + ("/" if "/" in p else "") for p in tracked()}
    missing = sorted(t for t in tops - {"README.md", ".gitignore", ".dockerignore", ".ci/"}
                     if not any(fnmatch.fnmatch(t, n) or t == n for n in firsts))
    assert missing == [], f"not in README's layout table: {missing}"


def test_the_layout_table_names_every_module_of_our_packages():
    rows = layout_rows((REPO / "README.md").read_text())
    modules = [p for p in tracked() if p.split("/")[0] in PACKAGES and p.endswith((".py", ".sh"))
               and not p.endswith("__init__.py")]
    assert len(modules) > 50
    missing = [m for m in modules if not named(m, rows)]
    assert missing == [], f"not in README's layout table: {missing}"


def test_the_readme_is_a_front_page_and_its_links_resolve():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        assert (REPO / target).exists(), target
    for doc in (REPO / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", doc.read_text()):
            assert (doc.parent / target).exists(), f"{doc.name}: {target}"

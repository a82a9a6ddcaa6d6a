"""The benchmarks are not tests, but they must keep running: each module imports what it uses,
and each command parses its arguments (a moved function broke one unnoticed once)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULES = sorted(p.stem for p in (REPO / "bench").glob("*.py"))
COMMANDS = sorted(p.stem for p in (REPO / "bench").glob("*.py") if "__main__" in p.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("module", COMMANDS)
def test_each_benchmark_command_starts(module):
    proc = subprocess.run([sys.executable, "-m", f"bench.{module}", "--help"], capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage:" in proc.stdout


@pytest.mark.slow
def test_every_benchmark_module_imports():
    code = "; ".join(f"import bench.{m}" for m in MODULES if m != "__init__")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {"run", "gridsearch", "np_generate", "duckdb_etl"} <= set(COMMANDS)

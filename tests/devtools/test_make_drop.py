"""`make drop` / scripts/make_drop.py (devtools.make_drop): a complete drop, or a clear error."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from devtools.make_drop import main

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "make_drop.py"


def test_a_drop_is_complete_with_its_marker_last(tmp_path):
    assert main(["batch", "--rows", "1000", "--files", "3", "--lake-root", f"file://{tmp_path}"]) == 0
    drop = tmp_path / "drops" / "incoming" / "batch"
    parts = sorted(p.name for p in drop.glob("*.parquet"))
    assert parts == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert (drop / "_SUCCESS").exists()
    table = pq.read_table(drop)
    assert table.num_rows == 1000 and {"id", "age", "is_active", "signup_date", "salary"} <= set(table.column_names)


@pytest.mark.parametrize(("argv", "message"), [
    (["--rows", "5", "--files", "6"], "need 1 <= --files <= --rows"),
    (["--rows", "0"], "need 1 <= --files <= --rows"),
])
def test_impossible_sizes_are_refused(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main(["x", *argv, "--lake-root", f"file://{tmp_path}"])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_a_name_in_use_is_refused_and_the_drop_kept(tmp_path, capsys):
    main(["batch", "--rows", "10", "--lake-root", f"file://{tmp_path}"])
    with pytest.raises(SystemExit):
        main(["batch", "--rows", "10", "--lake-root", f"file://{tmp_path}"])
    assert "already exists: pick another NAME" in capsys.readouterr().err
    assert pq.read_table(tmp_path / "drops" / "incoming" / "batch").num_rows == 10


@pytest.mark.skipif(not shutil.which("python3", path="/usr/bin"), reason="no system python3")
def test_a_python_without_the_venv_gets_told_how_to_run_it(tmp_path):
    proc = subprocess.run(["/usr/bin/python3", str(SCRIPT), "x"], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert proc.returncode == 1
    assert "make drop NAME=" in proc.stderr and "Traceback" not in proc.stderr


def test_a_changed_world_shifts_ages_and_raises_pay_in_a_band(tmp_path):
    lake = f"file://{tmp_path}"
    main(["same", "--rows", "20000", "--seed", "5", "--lake-root", lake])
    main(["changed", "--rows", "20000", "--seed", "5", "--lake-root", lake, "--ages", "50-80",
          "--pay-rise", "60-80:20"])
    same = pq.read_table(tmp_path / "drops" / "incoming" / "same").to_pandas()
    changed = pq.read_table(tmp_path / "drops" / "incoming" / "changed").to_pandas()
    assert same["age"].min() == 18 and changed["age"].between(50, 80).all()
    old = changed["age"] >= 60
    # Same seed, same draws apart from age: the raise shows as 20% more on the band, nothing elsewhere.
    assert changed.loc[old, "salary"].mean() > 1.15 * same.loc[same["age"] >= 60, "salary"].mean()


@pytest.mark.parametrize("argv", [["--ages", "80-50"], ["--ages", "x"], ["--pay-rise", "60-80"]])
def test_a_malformed_world_is_a_usage_error(tmp_path, capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        main(["x", "--rows", "10", "--lake-root", f"file://{tmp_path}", *argv])
    assert exit_.value.code == 2 and "LOW-HIGH" in capsys.readouterr().err
